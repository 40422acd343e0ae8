import Foundation
import Logging
import Replica
import ServiceLifecycle
import SyncCore
import SyncTesting
import Synchronization
import Testing
import Transport

@testable import SyncAgent

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct DaemonTests {
    @Test func notifyMessagesReachTheSocket() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("notify.sock")
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": path])
        #expect(notifier.notify("READY=1\nSTATUS=syncing"))
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        #expect(n > 0)
        #expect(String(decoding: buffer.prefix(max(0, n)), as: UTF8.self) == "READY=1\nSTATUS=syncing")
        #expect(SystemdNotifier(environment: [:]).notify("READY=1") == false)
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000"]) == .seconds(30))
    }

    @Test func theDaemonPushesSoonAfterALocalWriteAndStopsGracefully() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "79", central: central)
            var schedule = DaemonSchedule()
            schedule.interval = .seconds(3_600)  // only a local write can wake it within the test
            schedule.wakeCheckInterval = .milliseconds(50)
            let cycles = Counter()
            var logger = Logger(label: "test-daemon")
            logger.logLevel = .warning
            let daemon = SyncDaemon(engine: office.engine, schedule: schedule, logger: logger) { _ in cycles.increment() }
            let group = ServiceGroup(configuration: .init(services: [daemon], logger: logger))
            let running = Task { try await group.run() }

            try await waitUntil { cycles.value >= 1 }
            try office.addProject(code: "LIVE-1")
            try await waitUntil {
                (try? central.store.recordCounts().first { $0.office == "79" && $0.table == "project" }?.live) == 1
            }
            #expect(try office.replica.status().agentState != nil)
            await group.triggerGracefulShutdown()
            try await running.value
            let status = try office.replica.status()
            #expect(status.agentState == "stopped")
            #expect(status.daemonPID == nil)
            #expect(status.pending.changes == 0)
        }
    }

    /// Local writes one after another are each pushed by a cycle that does not pull while the last
    /// pull is recent (``DaemonSchedule/pullAfterLocalWrite``): the office's acknowledgement does
    /// not wait for a pull each time. The pull left out follows that long after the last write.
    @Test func localWritesInARowArePushedWithoutAPullEachAndThePullFollows() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "79", central: central)
            var schedule = DaemonSchedule()
            schedule.interval = .seconds(3_600)  // only local writes, and the pull they leave out, wake it
            schedule.wakeCheckInterval = .milliseconds(20)
            schedule.pullAfterLocalWrite = .seconds(8)
            let cycles = Mutex<[CycleReport]>([])
            var logger = Logger(label: "test-daemon")
            logger.logLevel = .warning
            let daemon = SyncDaemon(engine: office.engine, schedule: schedule, logger: logger) { result in
                if case .success(let report) = result { cycles.withLock { $0.append(report) } }
            }
            let group = ServiceGroup(configuration: .init(services: [daemon], logger: logger))
            let running = Task { try await group.run() }
            try await waitUntil { cycles.withLock { $0.count } >= 1 }
            #expect(cycles.withLock { $0[0].pagesPulled } >= 1, "the first cycle pulls")
            let started = ContinuousClock.now
            for round in 1...3 {
                try office.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: Int64(round), note: nil)
                try await waitUntil { cycles.withLock { $0.reduce(0) { $0 + $1.changesPushed } } == round }
            }
            let writing = ContinuousClock.now - started
            let afterWrites = cycles.withLock { Array($0.dropFirst()) }
            // Within the 8 s since the first cycle's pull, no cycle pulled; the pull follows by
            // itself, though the daemon's interval is an hour. (A machine that took 6 s to push
            // three rows may have pulled in between: then neither is known.)
            if writing < .seconds(6) {
                #expect(afterWrites.allSatisfy { $0.pagesPulled == 0 }, "\(afterWrites)")
                try await waitUntil(upTo: .seconds(30)) { cycles.withLock { $0.dropFirst(1 + afterWrites.count).contains { $0.pagesPulled > 0 } } }
            }
            await group.triggerGracefulShutdown()
            try await running.value
        }
    }

    /// Runs `body` while `office`'s daemon runs with the file watcher as its only wake within a
    /// test (its other waits last an hour), after its first cycle; stops it gracefully afterwards.
    func withWatchedDaemon(_ office: OfficeFixture, _ body: () async throws -> Void) async throws {
        var schedule = DaemonSchedule()
        schedule.interval = .seconds(3_600)
        schedule.wakeCheckInterval = .seconds(3_600)
        let wake = WakeSignal()
        let watcher = try #require(FileWatcher.start(path: office.replica.path, wake: wake))
        let cycles = Counter()
        var logger = Logger(label: "test-daemon")
        logger.logLevel = .warning
        let daemon = SyncDaemon(engine: office.engine, schedule: schedule, logger: logger, wake: wake) { _ in cycles.increment() }
        let group = ServiceGroup(configuration: .init(services: [daemon], logger: logger))
        let running = Task { try await group.run() }
        let result: Result<Void, any Error>
        do {
            try await waitUntil { cycles.value >= 1 }
            try await body()
            result = .success(())
        } catch {
            result = .failure(error)
        }
        // A shutdown ends the hour-long wait at once.
        await group.triggerGracefulShutdown()
        try await running.value
        withExtendedLifetime(watcher) {}
        try result.get()
    }

    @Test func theFileWatcherWakesTheDaemonOnACommitByAnotherProgram() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "82", central: central)
            try await withWatchedDaemon(office) {
                // Another program (the sqlite3 shell) commits a row.
                let shell = try ChildProcess(
                    path: "/usr/bin/sqlite3",
                    arguments: [
                        office.replica.path,
                        "INSERT INTO plan_line(id, office, year, fund_source, amount, note) VALUES ('\(RowID.make().rawValue)', '82', 2025, 'local', 1000, NULL)",
                    ], environment: ProcessInfo.processInfo.environment)
                shell.waitUntilExit()
                try await waitUntil {
                    (try? central.store.recordCounts().first { $0.office == "82" && $0.table == "plan_line" }?.live) == 1
                }
            }
        }
    }

    /// A program that keeps the replica open commits while the daemon waits: its write-ahead log
    /// is written, and wakes the daemon, before the commit is visible to a reader (SQLite makes it
    /// visible in shared memory, which raises no file event), and no event follows. Each of these
    /// commits must still be pushed at once, not at the next periodic look (an hour here).
    @Test func commitsOfAProgramThatKeepsTheReplicaOpenArePushedAtOnce() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "83", central: central)
            try await withWatchedDaemon(office) {
                // The other program: a connection of its own, open throughout, as a data-entry tool's.
                let writer = try Replica.open(at: office.replica.path)
                for round in 1...6 {
                    // The daemon is idle, waiting, when the commit comes: past its cycle and the
                    // looks after its own writes' events (SyncDaemon's settle checks).
                    try await Task.sleep(for: .milliseconds(1_500))
                    try writer.data.addPlanLine(year: 2025, fundSource: .local, amount: Int64(round), note: nil)
                    // Well under the hour, and generous for a loaded machine.
                    try await waitUntil(upTo: .seconds(30)) {
                        (try? central.store.recordCounts().first { $0.office == "83" && $0.table == "plan_line" }?.live) == round
                    }
                }
            }
        }
    }

    /// While another process syncs the replica (a person's `promo-sync sync`, `outbox` or
    /// `resync`, holding its SyncLock), the daemon's cycle waits for it, and goes on once it ends.
    @Test func theDaemonDoesNotSyncBesideAnotherProcess() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "84", central: central)
            @Sendable func pushed() -> Int { (try? central.store.recordCounts().first { $0.office == "84" && $0.table == "plan_line" }?.live) ?? 0 }
            try await withWatchedDaemon(office) {
                let other = try #require(try SyncLock.take(replicaPath: office.replica.path))
                #expect(try SyncLock.take(replicaPath: office.replica.path) == nil)
                try office.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 1, note: nil)
                try await Task.sleep(for: .milliseconds(1_500))
                #expect(pushed() == 0)
                other.release()
                try await waitUntil(upTo: .seconds(30)) { pushed() == 1 }
            }
            // Created readable by all: a command run as another user can take it too.
            let mode = try FileManager.default.attributesOfItem(atPath: SyncLock.path(replicaPath: office.replica.path))[.posixPermissions] as? Int
            #expect(mode == 0o644)
        }
    }

    @Test func whileTheCentreIsDownTheDaemonRecordsOfflineAndBacksOff() async throws {
        let fixture: OfficeFixture = try await withLiveCentral { central in try OfficeFixture(office: "80", central: central) }
        // The centre is down: port 1 on loopback refuses every connection (a port the stopped
        // centre had could be taken by a parallel test's server, which would answer 401).
        let client = CentralClient(baseURL: "http://127.0.0.1:1", token: "unused", http: HTTPClient())
        let office = (replica: fixture.replica, engine: SyncEngine(replica: fixture.replica, client: client, logger: Logger(label: "test-office")))
        var schedule = DaemonSchedule()
        schedule.initialBackoff = .milliseconds(200)
        let attempts = Counter()
        var logger = Logger(label: "test-daemon")
        logger.logLevel = .critical
        let daemon = SyncDaemon(engine: office.engine, schedule: schedule, logger: logger) { result in
            if case .failure(let e) = result, e.isTransient { attempts.increment() }
        }
        let group = ServiceGroup(configuration: .init(services: [daemon], logger: logger))
        let running = Task { try await group.run() }
        try await waitUntil { attempts.value >= 2 }
        let status = try office.replica.status()
        #expect(["offline", "syncing"].contains(status.agentState ?? ""))
        #expect(status.lastErrorTransient)
        #expect(status.failingSince != nil)
        await group.triggerGracefulShutdown()
        try await running.value
    }
}

/// The daemon's decision after a cycle, with the jitter given: no clock, no socket.
@Suite struct DaemonScheduleTests {
    @Test func afterACycleTheDaemonWaitsBacksOffOrWaitsLongByWhatHappened() {
        var schedule = DaemonSchedule()
        schedule.interval = .seconds(30)
        schedule.initialBackoff = .seconds(1)
        schedule.maxBackoff = .seconds(60)
        schedule.permanentFailureRetry = .seconds(300)
        let offline = SyncAgentError(.transport, "connection refused", transient: true)
        let busy = SyncAgentError(.transport, "503", transient: true, centralAnswered: true)
        let refused = SyncAgentError(.transport, "401", transient: false, centralAnswered: true)

        let ok = schedule.next(after: .success(CycleReport()), failures: 4, random: 0.5)
        #expect(ok == .init(state: "idle", wait: .seconds(30), failures: 0))
        #expect(ok.wakeOnLocalWrite)
        // Full jitter: the ceiling doubles with each failure, the draw picks within it.
        #expect(schedule.next(after: .failure(offline), failures: 0, random: 1) == .init(state: "offline", wait: .seconds(1), failures: 1))
        #expect(schedule.next(after: .failure(busy), failures: 3, random: 1) == .init(state: "backing_off", wait: .seconds(8), failures: 4))
        #expect(schedule.next(after: .failure(busy), failures: 3, random: 0.25).wait == .seconds(2))
        #expect(schedule.next(after: .failure(busy), failures: 40, random: 1).wait == .seconds(60))
        // Never a busy loop, even with a draw of 0.
        #expect(schedule.next(after: .failure(offline), failures: 2, random: 0).wait == .milliseconds(100))
        let failed = schedule.next(after: .failure(refused), failures: 0, random: 0.9)
        #expect(failed == .init(state: "failed", wait: .seconds(300), failures: 1))
        // While the centre fails, a local write does not cut the wait short.
        #expect(!failed.wakeOnLocalWrite)
    }
}

@Suite struct DaemonControlTests {
    @Test func aWakeRequestCutsTheWaitShort() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "91", central: central)
            var schedule = DaemonSchedule()
            schedule.interval = .seconds(3_600)
            schedule.wakeCheckInterval = .milliseconds(50)
            let cycles = Counter()
            var logger = Logger(label: "test-daemon")
            logger.logLevel = .warning
            let wake = WakeSignal()
            let daemon = SyncDaemon(engine: office.engine, schedule: schedule, logger: logger, wake: wake) { _ in cycles.increment() }
            let group = ServiceGroup(configuration: .init(services: [daemon], logger: logger))
            let running = Task { try await group.run() }
            try await waitUntil { cycles.value >= 1 }
            wake.request()
            try await waitUntil { cycles.value >= 2 }
            await group.triggerGracefulShutdown()
            try await running.value
        }
    }

    @Test func aGracefulStopDuringASyncLosesNothingAndARestartContinues() async throws {
        try await withLiveCentral { central in
            var config = SyncEngineConfiguration()
            config.maxChangesPerChangeset = 5
            let office = try OfficeFixture(office: "92", central: central, configuration: config)
            for i in 0..<400 { try office.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: Int64(i + 1), note: nil) }
            var logger = Logger(label: "test-daemon")
            logger.logLevel = .warning
            let daemon = SyncDaemon(engine: office.engine, schedule: DaemonSchedule(), logger: logger)
            let group = ServiceGroup(configuration: .init(services: [daemon], logger: logger))
            let running = Task { try await group.run() }
            try await waitUntil { (try? office.replica.status().lastAckedSequence.rawValue) ?? 0 >= 3 }
            await group.triggerGracefulShutdown()
            try await running.value

            // Stopped between steps: what the centre applied is exactly what the office recorded.
            let status = try office.replica.status()
            let centre = try #require(try central.store.offices().first { $0.code.rawValue == "92" })
            #expect(centre.lastSequence == status.lastAckedSequence)
            #expect(status.pending.changes > 0, "the stop came before the end of the push")
            // A restart continues where it stopped, with nothing lost or applied twice.
            let report = try await office.engine.runCycle()
            #expect(report.duplicatesAcknowledged <= 1)
            #expect(try office.replica.pendingSummary().changes == 0)
            let lines = try central.store.recordCounts().first { $0.office == "92" && $0.table == "plan_line" }
            #expect(lines?.live == 400)
        }
    }

    @Test func officeMetricsAreInPrometheusFormat() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "86", central: central)
            try office.addProject(code: "M-1")
            try office.addProject(code: "M-2")
            let before = OfficeMetrics.exposition(
                status: try office.replica.status(),
                report: StatusReport.evaluate(try office.replica.status(), now: Date(), thresholds: .init(), isRunning: { _ in false }),
                counters: try office.replica.counters())
            #expect(before.contains("promo_sync_pending_changes 4"))  // two projects and their "created" events
            #expect(before.contains("promo_sync_health 1"))
            try await office.engine.runCycle()
            let after = OfficeMetrics.exposition(
                status: try office.replica.status(),
                report: StatusReport.evaluate(try office.replica.status(), now: Date(), thresholds: .init(), isRunning: { _ in false }),
                counters: try office.replica.counters())
            #expect(after.contains("promo_sync_pending_changes 0"))
            #expect(after.contains("promo_sync_changes_pushed_total 4"))
            #expect(after.contains("promo_sync_health 0"))
            #expect(after.contains("# TYPE promo_sync_cycles_total counter"))
        }
    }
}

/// A token rotated at the centre and written to the office's token file takes effect in the
/// running daemon: it notices the file changed, leaves its wait after the refused token and syncs,
/// without a restart.
@Suite struct TokenRotationTests {
    @Test func aRotatedTokenWorksWithoutRestartingTheDaemon() async throws {
        try await withLiveCentral { central in
            let fixture = try OfficeFixture(office: "86", central: central)
            let tokenPath = fixture.directory.file("office.token")
            let client = CentralClient(baseURL: central.url, tokenSource: try TokenFileSource(path: tokenPath), http: HTTPClient())
            var logger = Logger(label: "test-daemon")
            logger.logLevel = .critical
            let engine = SyncEngine(replica: fixture.replica, client: client, logger: logger)
            try await engine.runCycle()

            // The centre rotates the token; the old one is refused and the daemon waits, broken.
            let fresh = try central.store.rotateToken(OfficeCode(unchecked: "86"))
            var schedule = DaemonSchedule()
            schedule.interval = .seconds(3_600)
            schedule.permanentFailureRetry = .seconds(3_600)  // only the token file can cut the wait short
            schedule.wakeCheckInterval = .milliseconds(50)
            let cycles = Counter()
            let daemon = SyncDaemon(engine: engine, schedule: schedule, logger: logger) { _ in cycles.increment() }
            let group = ServiceGroup(configuration: .init(services: [daemon], logger: logger))
            let running = Task { try await group.run() }
            try await waitUntil { cycles.value >= 1 && (try? fixture.replica.status().agentState) == "failed" }
            #expect(try fixture.replica.status().lastError?.contains("(401)") == true)

            // The new token is written to the file: the daemon picks it up by itself.
            try fixture.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 1_000, note: nil)
            try FileManager.default.removeItem(atPath: tokenPath)
            try TokenFile.write(fresh, to: tokenPath)
            try await waitUntil { (try? fixture.replica.status().lastError) == nil && (try? fixture.replica.status().pending.changes) == 0 }
            #expect(try central.store.recordCounts().first { $0.office == "86" && $0.table == "plan_line" }?.live == 1)
            await group.triggerGracefulShutdown()
            try await running.value
        }
    }
}
