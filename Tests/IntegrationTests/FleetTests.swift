import Central
import Foundation
import Replica
import SyncAgent
import SyncCore
import SyncTesting
import Testing
import Transport
import WireFormat

/// Versions on the wire and the centre's rollout limits (docs/OPERATIONS.md, "Rolling out a
/// release"): an office outside them is refused with 426 naming what to upgrade, keeps its
/// pending work, and syncs again as soon as the limits allow it, without a restart.
@Suite struct FleetTests {
    @Test func aFrozenRolloutRefusesTheNewReleaseKeepsItsWorkAndLetsItGoOnceLifted() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "79", central: central)
            try await office.engine.runCycle()
            try office.replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 3_000_000_000, note: "đợt 1")
            try central.store.setFleetLimits(FleetLimits(maxOfficeVersion: "1.0.0"))

            let refused = await #expect(throws: SyncAgentError.self) { try await office.engine.runCycle() }
            #expect(refused?.isTransient == false)
            #expect(refused?.message.contains("the centre has frozen the rollout at 1.0.0") == true, "\(refused?.message ?? "")")
            #expect(refused?.hint?.contains("Go back to promo-sync 1.0.0") == true)
            #expect(try office.replica.pendingSummary().changes == 1)
            #expect(try central.store.recordCounts().filter { $0.office == "79" && $0.table == "plan_line" }.isEmpty)
            let status = StatusReport.evaluate(try office.replica.status(), now: Date(), thresholds: .init(), isRunning: { _ in false })
            #expect(status.health == .broken)

            // Lifted while serving: the next cycle goes through with what waited.
            try central.store.setFleetLimits(FleetLimits())
            let report = try await office.engine.runCycle()
            #expect(report.changesPushed == 1)
            #expect(try office.replica.pendingSummary().changes == 0)

            // The fleet listing knows what the office runs; both limit changes are journaled
            // (and replayed by the audit withLiveCentral runs).
            let entry = try #require(try central.store.fleet().first { $0.office.rawValue == "79" })
            #expect(entry.software == SoftwareVersion.current && entry.protocolVersion == WireProtocol.version)
            #expect(entry.schemaVersion == Replica.schemaVersion && entry.seenAt != nil)
            #expect(try central.store.journalEntries(from: 0, limit: 1_000).filter { $0.kind == "fleet_limits_set" }.count == 2)
        }
    }

    /// What an office says of itself rides on its next request. Cycles that only push (writes in
    /// a row) keep the last judgement, but not one made after a failure: the centre would go on
    /// showing an office as broken that is well again.
    @Test func aPushOnlyCycleAfterAFailureSendsAFreshJudgement() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "79", central: central)
            try await office.engine.runCycle()
            func reported() throws -> OfficeReport.Health? { try central.store.fleet().first { $0.office.rawValue == "79" }?.report?.health }
            try office.replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 1_000_000, note: nil)
            try central.store.setFleetLimits(FleetLimits(maxOfficeVersion: "1.0.0"))
            await #expect(throws: SyncAgentError.self) { try await office.engine.runCycle(pushOnly: true) }
            try central.store.setFleetLimits(FleetLimits())

            // The first request after the refusal carries the judgement made after it.
            #expect(try await office.engine.runCycle(pushOnly: true).changesPushed == 1)
            #expect(try reported() == .broken)
            // The next carries the judgement made after that cycle went well.
            try office.replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 2_000_000, note: nil)
            #expect(try await office.engine.runCycle(pushOnly: true).changesPushed == 1)
            #expect(try reported() == .ok)
        }
    }

    @Test func anOldReleaseBelowTheMinimumAndANewerProtocolAreRefusedWithWhatToUpgrade() async throws {
        try await withLiveCentral { central in
            let token = try central.addOffice("80")
            try central.store.setFleetLimits(FleetLimits(minOfficeVersion: "1.1.0"))
            func get(_ headers: [(String, String)]) async throws -> (Int, String?, String) {
                let response = try await HTTPClient().send(
                    HTTPRequest(
                        method: "GET", url: central.url + "/v1/office",
                        headers: [("Authorization", "Bearer \(token)")] + headers))
                let error = try? JSONDecoder().decode(ErrorResponse.self, from: response.body)
                return (response.status, error?.error.code, error?.error.message ?? "")
            }
            // An office before 1.1.0 sends no version: it runs 1.0.0.
            let old = try await get([])
            #expect(old.0 == 426 && old.1 == "upgrade_office" && old.2.contains("runs promo-sync 1.0.0"), "\(old)")
            let older = try await get([("Promo-Software-Version", "1.0.9")])
            #expect(older.0 == 426 && older.1 == "upgrade_office")
            // A build before the release it leads to is older than that release.
            let preRelease = try await get([("Promo-Software-Version", "1.1.0~git20261204.abc1234")])
            #expect(preRelease.0 == 426 && preRelease.1 == "upgrade_office")
            let current = try await get([("Promo-Software-Version", "1.1.0"), ("Promo-Protocol-Version", "1")])
            #expect(current.0 == 200)
            // An office newer than the centre: upgrade the centre first.
            let newer = try await get([("Promo-Software-Version", "2.0.0"), ("Promo-Protocol-Version", "2")])
            #expect(newer.0 == 426 && newer.1 == "upgrade_centre" && newer.2.contains("speaks up to 1"), "\(newer)")
            let garbage = try await get([("Promo-Software-Version", "latest")])
            #expect(garbage.0 == 400)

            // Limits the operator cannot mean are refused before anything is written.
            #expect(throws: CentralError.self) { try central.store.setFleetLimits(FleetLimits(minOfficeVersion: "1.2.0", maxOfficeVersion: "1.1.0")) }
            #expect(throws: CentralError.self) { try central.store.setFleetLimits(FleetLimits(maxOfficeVersion: "soon")) }
            #expect(try central.store.fleetLimits() == FleetLimits(minOfficeVersion: "1.1.0"))
        }
    }

    @Test func releaseNumbersOrderAsAptDoes() {
        func n(_ text: String) -> ReleaseNumber { ReleaseNumber(text)! }
        #expect(n("1.1.0~git20261204.abc1234") < n("1.1.0"))
        #expect(n("1.0.9") < n("1.1.0~git20261204.abc1234"))
        #expect(n("1.9.0") < n("1.10.0"))
        #expect(n("1.1.0+upgrade1") == n("1.1.0"))
        #expect(ReleaseNumber("1.1") == nil && ReleaseNumber("v1.1.0") == nil && ReleaseNumber("1.-1.0") == nil)
    }
}
