import Foundation
import Replica
import SyncTesting
import Testing

/// `promo-sync sync --now` with a daemon running (the built binaries): it asks the daemon and
/// waits for a cycle that ends after the request and pulls, however soon after another cycle it
/// comes (the replica keeps times to the second), and says what the daemon did.
@Suite struct SyncNowTests {
    @Test func syncNowWaitsForTheDaemonsWholeCycleEvenRightAfterAnother() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "79", central: central)
            let folder = office.directory.path
            // Only a request makes it sync again within the test.
            let daemon = try ChildProcess(
                path: Executables.path("promo-sync"), arguments: ["daemon", "--data-dir", folder, "--interval", "3600"],
                environment: ProcessInfo.processInfo.environment)
            defer {
                daemon.terminate()
                daemon.waitUntilExit()
            }
            try await waitUntil { (try? office.replica.status().agentState) == "idle" }
            for round in 1...3 {
                // A row for the centre to hold, so each request has something to push and pull.
                try office.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: Int64(round), note: nil)
                let started = ContinuousClock.now
                let outcome = try await CommandPermissionTests.run("promo-sync", ["sync", "--now", "--data-dir", folder, "--timeout", "20"])
                #expect(outcome.status == 0, "round \(round): \(outcome.output)")
                #expect(outcome.output.contains("the daemon synced: 0 changes pending"), "round \(round): \(outcome.output)")
                #expect(ContinuousClock.now - started < .seconds(15), "round \(round)")
            }
        }
    }
}
