import Foundation
import Logging
import Replica
import ServiceLifecycle
import SyncAgent
import SyncCore
import SyncTesting
import Testing
import Transport

/// A replica file deleted or replaced under a running daemon (docs/OPERATIONS.md, "A replica
/// deleted under the daemon"), and a data folder that cannot be written: nothing unpushed is lost,
/// the daemon stops with the right command, and status names it.
@Suite struct LostReplicaTests {
    /// Runs the daemon against `replica` with a centre that refuses connections (so that local
    /// changes stay unpushed) until it stops by itself after `act`; returns how it stopped, and
    /// fails if it has not stopped 60 s after.
    static func runDaemonUntilItStops(_ replica: Replica, whileRunning act: @Sendable () throws -> Void) async throws -> SyncAgentError? {
        let client = CentralClient(baseURL: "http://127.0.0.1:1", token: "unused", http: HTTPClient())
        var logger = Logger(label: "test-daemon")
        logger.logLevel = .critical
        var schedule = DaemonSchedule()
        schedule.wakeCheckInterval = .milliseconds(100)
        schedule.initialBackoff = .milliseconds(100)
        let cycles = Counter()
        let daemon = SyncDaemon(engine: SyncEngine(replica: replica, client: client, logger: logger), schedule: schedule, logger: logger) { _ in
            cycles.increment()
        }
        let group = ServiceGroup(configuration: .init(services: [daemon], logger: logger))
        let finished = Counter()
        let running = Task {
            defer { finished.increment() }
            try await group.run()
        }
        try await waitUntil { cycles.value >= 1 }
        try act()
        do {
            try await waitUntil { finished.value > 0 }
        } catch {
            await group.triggerGracefulShutdown()  // it never noticed: stop it, and fail
            throw error
        }
        do {
            try await running.value
            return nil
        } catch {
            return error as? SyncAgentError
        }
    }

    @Test func aReplicaDeletedUnderTheDaemonIsSavedAndTheRebuildTakesItsChangesBack() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "79", central: central)
            try await office.engine.runCycle()
            // Offline work the centre has not seen: a project (with its "created" event) and a plan line.
            try office.addProject(code: "HCM-2025-07")
            try office.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 4_200_000_000, note: "chưa đồng bộ")
            let unpushed = try office.replica.pendingSummary().changes
            #expect(unpushed == 3)
            let path = office.replica.path

            let stopped = try await Self.runDaemonUntilItStops(office.replica) {
                try FileManager.default.removeItem(atPath: path)
            }
            #expect(stopped?.code == .replicaLost)
            #expect(stopped?.message.contains("was deleted while the daemon had it open") == true)
            #expect(stopped?.message.contains("\(unpushed) unpushed changes") == true)
            #expect(stopped?.hint?.contains("promo-sync resync --rebuild") == true)
            let copies = Replica.rescueCopies(beside: path)
            #expect(copies.count == 1)
            #expect(FilePermissions.mode(at: copies[0]) == 0o600)

            // Every command that opens the replica now points at the rebuild, and so does status.
            #expect {
                _ = try Replica.open(at: path)
            } throws: { error in
                let error = error as? ReplicaError
                return error?.code == .notInitialised && error?.message.contains(copies[0]) == true
                    && error?.hint?.contains("resync --rebuild") == true
            }

            let outcome = try await ReplicaRebuilder.rebuild(
                at: path, rescued: ReplicaRebuilder.rescue(at: path), settings: nil,
                client: office.engine.client, configuration: .init(), logger: office.engine.logger)
            #expect(outcome.rescuedChanges == 3)
            #expect(outcome.rescueCopies == copies)
            #expect(Replica.rescueCopies(beside: path).isEmpty)
            #expect(FileManager.default.fileExists(atPath: copies[0] + ".restored"))
            let rebuilt = try Replica.open(at: path)
            #expect(try rebuilt.pendingSummary().changes == 0)
            #expect(try central.store.projects(office: "79").compactMap { $0.fields["code"]?.text } == ["HCM-2025-07"])
            let plan = try await rebuilt.database.read { try Int64.fetchOne($0, sql: "SELECT sum(amount) FROM plan_line") }
            #expect(plan == 4_200_000_000)
        }
    }

    @Test func aReplicaReplacedUnderTheDaemonIsNoticedAndStatusNamesTheRebuild() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "80", central: central)
            try await office.engine.runCycle()
            let older = office.directory.path + "/older.sqlite"
            try await office.replica.database.writeWithoutTransaction { try $0.execute(sql: "VACUUM INTO ?", arguments: [older]) }
            try office.addProject(code: "TN-2025-03")
            let path = office.replica.path

            let stopped = try await Self.runDaemonUntilItStops(office.replica) {
                // An old copy put back over the live file (rename is what `cp` over `mv` and restores do).
                _ = rename(older, path)
            }
            #expect(stopped?.code == .replicaLost)
            #expect(stopped?.message.contains("was replaced by another file") == true)

            // The file at the path opens (it is a replica), but status is broken and names the command.
            let status = try Replica.open(at: path).status()
            #expect(status.rescueCopies.count == 1)
            let report = StatusReport.evaluate(status, now: Date(), thresholds: .init(), isRunning: { _ in false })
            #expect(report.health == .broken)
            #expect(report.reasons.contains { $0.contains(status.rescueCopies[0]) && $0.contains("promo-sync resync --rebuild") })

            // The rebuild keeps the newer values: the project made after the copy was taken.
            let outcome = try await ReplicaRebuilder.rebuild(
                at: path, rescued: ReplicaRebuilder.rescue(at: path), settings: nil,
                client: office.engine.client, configuration: .init(), logger: office.engine.logger)
            #expect(outcome.rescueCopies.count == 1)
            #expect(try central.store.projects(office: "80").compactMap { $0.fields["code"]?.text } == ["TN-2025-03"])
        }
    }

    /// The built binaries: status on a data folder its user cannot write still shows the office, the
    /// centre and the last pull, says what is wrong and exits 2; the daemon on a folder with a
    /// rescue copy refuses to start with exit 78 (the unit's RestartPreventExitStatus).
    @Test func theCommandsSayWhatIsWrongWithTheFolder() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "96", central: central)
            try await office.engine.runCycle()
            let folder = office.directory.path
            try await office.replica.database.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
            try office.replica.database.close()
            // As after a clean stop: the write-ahead log is made again on the next open, which is what
            // a folder that cannot be written refuses (with the log present, SQLite writes through it).
            for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: office.replica.path + suffix) }

            // Root writes anywhere: run status as `nobody` then, which owns the folder but may not write it.
            let asRoot = geteuid() == 0
            if asRoot { _ = try await CommandPermissionTests.run("/usr/bin/chown", ["-R", "nobody", folder], absolute: true) }
            try CommandPermissionTests.setMode(0o500, folder)
            defer { try? CommandPermissionTests.setMode(0o700, folder) }
            let status =
                asRoot
                ? try await CommandPermissionTests.run(
                    "/usr/bin/setpriv",
                    [
                        "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        Executables.path("promo-sync"), "status", "--data-dir", folder,
                    ], absolute: true)
                : try await CommandPermissionTests.run("promo-sync", ["status", "--data-dir", folder])
            #expect(status.status == 2, "\(status.output)")
            #expect(status.output.contains("the data folder \(folder) is not writable by"), "\(status.output)")
            #expect(status.output.contains("promo-sync office 96 → \(central.url)"), "\(status.output)")
            #expect(!status.output.contains("last pull:     never"), "\(status.output)")
            #expect(!status.output.contains("PRAGMA"), "\(status.output)")
            try CommandPermissionTests.setMode(0o700, folder)

            // A rescue copy waiting: the daemon will not start on the file beside it.
            let replica = try Replica.open(at: office.replica.path)
            _ = try replica.saveRescueCopy()
            try replica.database.close()
            let daemon = try await CommandPermissionTests.run("promo-sync", ["daemon", "--data-dir", folder])
            #expect(daemon.status == 78, "\(daemon.output)")
            #expect(daemon.output.contains("resync --rebuild"), "\(daemon.output)")
        }
    }
}
