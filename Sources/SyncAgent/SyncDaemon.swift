import Foundation
import Logging
import Replica
import ServiceLifecycle
import SyncCore
import Synchronization
import WireFormat

/// How the daemon schedules cycles.
public struct DaemonSchedule: Sendable {
    /// Time between cycles when nothing happens locally (pulls what the centre has).
    public var interval: Duration = .seconds(30)
    /// How often to look for local writes, so a write is pushed soon after it commits.
    public var wakeCheckInterval: Duration = .seconds(1)
    /// A cycle started by a local write pulls only if the last pull is at least this old: while
    /// writes keep coming, each is pushed without waiting for a pull (and the centre's totals
    /// that a pull after a push waits for), and the pull follows this long after the last.
    public var pullAfterLocalWrite: Duration = .seconds(1)
    /// How long a cycle runs before status shows the daemon `syncing`: a quick cycle (a local
    /// write pushed) does not wait for one more commit of the replica.
    public var syncingShownAfter: Duration = .seconds(1)
    /// The looks after a file event that showed nothing new, each this long after the one before.
    /// Another program's commit writes its write-ahead log, which raises the event, before it
    /// becomes visible to readers: SQLite publishes it in shared memory once the log is on disk,
    /// and that raises no event. Without these looks such a commit waited for the next periodic
    /// look (10 s with the file watcher). The first looks come every quarter of a millisecond,
    /// about as long as a log write takes to reach a server's disk, and then ever further apart:
    /// they cover a log write that takes up to about 1.3 s; a slower disk leaves the commit to the
    /// periodic look. Each look is one read of the replica.
    static let settleChecks: [Duration] = [
        .microseconds(250), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(4),
        .milliseconds(10), .milliseconds(50), .milliseconds(250), .seconds(1),
    ]
    /// First wait after a transient failure; doubles each time up to ``maxBackoff``.
    public var initialBackoff: Duration = .seconds(1)
    /// The longest wait after transient failures, however many in a row.
    public var maxBackoff: Duration = .seconds(300)
    /// Wait after a failure that retrying will not cure (a refused token), before trying again anyway.
    public var permanentFailureRetry: Duration = .seconds(300)

    /// Creates the defaults: a cycle every 30 s, local writes looked for every second, backoff from 1 s to 5 min.
    public init() {}

    /// What the daemon does after a cycle: the state status shows, how long it waits, and the
    /// count of failures in a row. `random` (0…1) spreads the backoff of offices coming back at once.
    public struct NextAttempt: Sendable, Equatable {
        /// `idle`, `backing_off` (the centre answered with a failure worth retrying), `offline`
        /// (it did not answer) or `failed` (retrying will not cure it; tried again anyway, later).
        public var state: String
        /// How long to wait before the next cycle (cut short by a local write only while `wakeOnLocalWrite`).
        public var wait: Duration
        /// Failed cycles in a row, this one included; 0 after a success.
        public var failures: Int
        /// While the centre fails, a local write does not cut the wait short.
        public var wakeOnLocalWrite: Bool { failures == 0 }
    }

    /// The decision after a cycle that ended with `result`, `failures` failures in a row before it.
    public func next(after result: Result<CycleReport, SyncAgentError>, failures: Int, random: Double) -> NextAttempt {
        switch result {
        case .success:
            return NextAttempt(state: "idle", wait: interval, failures: 0)
        case .failure(let error) where error.isTransient:
            return NextAttempt(
                state: error.centralAnswered ? "backing_off" : "offline", wait: backoff(afterFailures: failures + 1, random: random),
                failures: failures + 1)
        case .failure:
            return NextAttempt(state: "failed", wait: permanentFailureRetry, failures: failures + 1)
        }
    }

    /// The backoff before attempt `failures + 1`: exponential, capped, with full jitter so that
    /// offices coming back after an outage do not all call the centre at once.
    public func backoff(afterFailures failures: Int, random: Double) -> Duration {
        let exponent = min(failures - 1, 30)
        let ceiling = min(maxBackoff, initialBackoff * (1 << max(0, exponent)))
        let jittered = ceiling * max(0.0, min(1.0, random))
        return max(jittered, .milliseconds(100))
    }
}

/// The office daemon: sync cycles in a loop until a graceful shutdown, waking soon after a
/// local write and backing off while the centre is unreachable.
public struct SyncDaemon: Service {
    /// The engine that runs each cycle, on the daemon's replica.
    public let engine: SyncEngine
    /// When cycles run and how long failures wait.
    public let schedule: DaemonSchedule
    /// Where the daemon's start, stop and lost-file rescue are logged.
    public let logger: Logger
    /// Called after the first cycle and after every cycle (for the systemd watchdog and readiness).
    public let onCycle: @Sendable (Result<CycleReport, SyncAgentError>) async -> Void
    /// Requests from outside (`promo-sync sync --now`) to sync at once.
    public let wake: WakeSignal
    /// The wall clock (for status's "next attempt at") and the jitter of the backoff, injected so
    /// that tests decide them.
    let now: @Sendable () -> Date
    let random: @Sendable () -> Double

    /// Creates a daemon; `now` and `random` are the wall clock and the backoff's jitter, which tests replace.
    public init(
        engine: SyncEngine, schedule: DaemonSchedule = .init(), logger: Logger, wake: WakeSignal = WakeSignal(),
        onCycle: @escaping @Sendable (Result<CycleReport, SyncAgentError>) async -> Void = { _ in },
        now: @escaping @Sendable () -> Date = Date.init, random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) }
    ) {
        self.engine = engine
        self.schedule = schedule
        self.logger = logger
        self.wake = wake
        self.now = now
        self.random = random
        self.onCycle = onCycle
    }

    /// Runs cycles until a graceful shutdown, recording the daemon's state in the replica before and after each. Throws
    /// ``SyncAgentError/Code/replicaLost``, after saving a rescue copy, when the replica file was deleted or replaced under it.
    public func run() async throws {
        let pid = ProcessInfo.processInfo.processIdentifier
        let replica = engine.replica
        var failures = 0
        var lastUnsent = UnsentMark(highWater: 0, lastAcked: 0)
        let clock = ContinuousClock()
        var lastPull: ContinuousClock.Instant?
        var localWrite = false
        let office = try replica.settings().office
        try replica.recordDaemonRelease(SoftwareVersion.current)
        // At once, before the first cycle: other commands (`sync --now`, `resync --rebuild`,
        // status) learn from it that a daemon runs.
        engine.record("the daemon's state") { () throws(ReplicaError) in try replica.recordAgentState("syncing", pid: pid) }
        logger.info("daemon started", metadata: ["sync.office": "\(office)"])
        while !Task.isShuttingDownGracefully {
            if let problem = replica.fileProblem() { try await stopForLostFile(problem) }
            // Status shows "syncing" once a cycle has run for a while (DaemonSchedule.syncingShownAfter).
            let syncing = Task { [engine, pid, wait = schedule.syncingShownAfter] in
                guard (try? await Task.sleep(for: wait)) != nil else { return }
                await runBlocking {
                    engine.record("the daemon's state") { () throws(ReplicaError) in try engine.replica.recordAgentState("syncing", pid: pid) }
                }
            }
            // While local writes keep coming, they are pushed without a pull each time.
            let pushOnly = localWrite && lastPull.map { clock.now - $0 < schedule.pullAfterLocalWrite } == true
            // A cycle is never cancelled halfway: each page and acknowledgement is its own
            // transaction, and shutdown waits for the cycle to end.
            // Not beside a person's `promo-sync sync`, `outbox` or `resync` (SyncLock).
            let result: Result<CycleReport, SyncAgentError>
            do throws(SyncAgentError) {
                let waiting: @Sendable () -> Void = { [logger] in
                    logger.notice("another process is syncing the replica (promo-sync sync, outbox or resync); the cycle waits for it")
                }
                guard let lock = try await SyncLock.wait(for: replica, waiting: waiting, stop: { Task.isShuttingDownGracefully }) else {
                    syncing.cancel()
                    await syncing.value
                    break
                }
                defer { lock.release() }
                result = .success(try await engine.runCycle(now: now, pushOnly: pushOnly))
            } catch {
                result = .failure(error)
            }
            syncing.cancel()
            await syncing.value
            if case .success(let report) = result, report.pagesPulled > 0 { lastPull = clock.now }
            await onCycle(result)

            var next = schedule.next(after: result, failures: failures, random: random())
            failures = next.failures
            // The pull a push-only cycle left out follows soon, if no write comes first.
            if pushOnly, case .success(let report) = result, report.pagesPulled == 0 { next.wait = min(next.wait, schedule.pullAfterLocalWrite) }
            engine.record("the daemon's state") { () throws(ReplicaError) in
                try replica.recordAgentState(next.state, nextAttemptAt: now() + next.wait.timeInterval, pid: pid)
            }
            localWrite = await waitForWork(upTo: next.wait, wakeOnLocalWrite: next.wakeOnLocalWrite, lastUnsent: &lastUnsent)
        }
        // Deleted and then told to stop (a restart, a reboot): the rescue comes first.
        if let problem = replica.fileProblem() { try await stopForLostFile(problem) }
        engine.record("the daemon's state") { () throws(ReplicaError) in try replica.recordAgentState("stopped", pid: nil) }
        logger.info("daemon stopped")
    }

    /// The replica's file was deleted or replaced under the daemon: saves what the open connection
    /// can still read to a rescue copy beside it and stops with ``SyncAgentError/Code/replicaLost``
    /// (a person runs `resync --rebuild`). While the copy cannot be saved, the daemon keeps the
    /// file open and tries again every few seconds, even when told to stop (until systemd kills
    /// it): closing it would lose what only this process can still read.
    private func stopForLostFile(_ problem: String) async throws {
        logger.critical("\(problem): saving what it holds to a rescue copy, then stopping")
        while true {
            do {
                let copy = try engine.replica.saveRescueCopy()
                let error = SyncAgentError(
                    .replicaLost,
                    "\(problem); what it held (\(copy.unpushedChanges) unpushed changes included) is saved in \(copy.path) and the daemon stopped",
                    hint:
                        "Run promo-sync resync --rebuild: it makes a new replica from the centre and takes the saved changes back; then start the daemon again",
                    transient: false)
                logger.critical("\(error.message)", metadata: ["sync.rescue_copy": "\(copy.path)", "sync.unpushed": "\(copy.unpushedChanges)"])
                throw error
            } catch let error as ReplicaError {
                logger.critical("cannot save a rescue copy, keeping the deleted file open and trying again: \(error)")
                do { try await Task.sleep(for: .seconds(2)) } catch { usleep(2_000_000) }
            }
        }
    }

    /// Sleeps until `limit` passes, a local write arrives, a `sync --now` asks, or shutdown begins;
    /// returns whether a local write ended it. Local writes are noticed as they commit when the
    /// file watcher runs (inotify on Linux), and at the latest every
    /// ``DaemonSchedule/wakeCheckInterval`` otherwise.
    private func waitForWork(upTo limit: Duration, wakeOnLocalWrite: Bool, lastUnsent: inout UnsentMark) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        let replica = engine.replica
        // SQLite reads, off the shared threads (Blocking.swift). One that fails reads as nothing
        // waiting: the next cycle reports the replica's problem.
        let unsentMark = { () async -> UnsentMark in
            (try? await runBlocking { () throws(ReplicaError) in try replica.unsentMark() }) ?? UnsentMark(highWater: 0, lastAcked: 0)
        }
        let unsent = await unsentMark()
        // `sync --now` asked while the cycle ran: a whole cycle, at once.
        if wake.consume() { return false }
        // A write that committed while the cycle ran is pushed at once; but entries a cycle left
        // unsent, if that ever happens, do not make the daemon spin.
        if wakeOnLocalWrite, unsent.highWater != 0, unsent != lastUnsent {
            lastUnsent = unsent
            return true
        }
        return await withGracefulShutdownHandler {
            // Looks due soon after a file event that showed nothing new (``DaemonSchedule/settleChecks``).
            var settling: [Duration] = []
            while clock.now < deadline, !Task.isShuttingDownGracefully {
                let poked = await wake.wait(for: min(settling.isEmpty ? schedule.wakeCheckInterval : settling.removeFirst(), deadline - clock.now))
                if wake.consume() || Task.isShuttingDownGracefully { return false }
                // A rotated token written to the token file: try it at once.
                if engine.client.tokenSource.changed() { return false }
                if engine.replica.fileProblem() != nil { return false }
                if wakeOnLocalWrite, await unsentMark().highWater != unsent.highWater { return true }
                if poked { settling = DaemonSchedule.settleChecks }
            }
            return false
        } onGracefulShutdown: {
            wake.poke()
        }
    }
}

extension Duration {
    /// Seconds as a `TimeInterval`.
    public var timeInterval: TimeInterval {
        let (s, atto) = components
        return TimeInterval(s) + TimeInterval(atto) / 1e18
    }
}

/// Wakes the daemon's wait: `request()` asks for a cycle now (`sync --now`, SIGUSR1); `poke()`
/// only says something may have changed (a file event), and the daemon looks before it syncs.
public final class WakeSignal: Sendable {
    private struct State {
        var requested = false
        /// A poke that came while no one waited: the next wait returns at once.
        var pending = false
        var waiter: CheckedContinuation<Bool, Never>?
    }
    private let state = Mutex(State())

    /// Creates a signal with nothing requested.
    public init() {}

    /// Asks for a cycle now.
    public func request() {
        state.withLock { $0.requested = true }
        poke()
    }

    /// Ends the current wait (or the next one, if none is in progress).
    public func poke() {
        let waiter = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            guard let waiter = s.waiter else {
                s.pending = true
                return nil
            }
            s.waiter = nil
            return waiter
        }
        waiter?.resume(returning: true)
    }

    /// Ends the current wait, if any, as run out; a later wait is not affected.
    private func expire() {
        let waiter = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: false)
    }

    /// Takes the request, if any.
    func consume() -> Bool {
        state.withLock { s in
            defer { s.requested = false }
            return s.requested
        }
    }

    /// Waits until poked (returns true) or until `duration` passes (returns false).
    @discardableResult
    func wait(for duration: Duration) async -> Bool {
        let timer = Task { [weak self] in
            try? await Task.sleep(for: duration)
            if !Task.isCancelled { self?.expire() }
        }
        let poked = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let now = state.withLock { s -> Bool in
                if s.pending {
                    s.pending = false
                    return true
                }
                s.waiter = continuation
                return false
            }
            if now { continuation.resume(returning: true) }
        }
        timer.cancel()
        return poked
    }
}
