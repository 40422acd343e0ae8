import Foundation
import Logging
import Replica
import ServiceLifecycle
import SyncCore
import Synchronization

/// How the daemon schedules cycles.
public struct DaemonSchedule: Sendable {
    /// Time between cycles when nothing happens locally (pulls what the centre has).
    public var interval: Duration = .seconds(30)
    /// How often to look for local writes, so a write is pushed soon after it commits.
    public var wakeCheckInterval: Duration = .seconds(1)
    /// First wait after a transient failure; doubles each time up to ``maxBackoff``.
    public var initialBackoff: Duration = .seconds(1)
    public var maxBackoff: Duration = .seconds(300)
    /// Wait after a failure that retrying will not cure (a refused token), before trying again anyway.
    public var permanentFailureRetry: Duration = .seconds(300)

    public init() {}

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
    public let engine: SyncEngine
    public let schedule: DaemonSchedule
    public let logger: Logger
    /// Called after the first cycle and after every cycle (for the systemd watchdog and readiness).
    public let onCycle: @Sendable (Result<CycleReport, SyncAgentError>) async -> Void
    /// Requests from outside (`promo-sync sync --now`) to sync at once.
    public let wake: WakeSignal

    public init(engine: SyncEngine, schedule: DaemonSchedule = .init(), logger: Logger, wake: WakeSignal = WakeSignal(),
                onCycle: @escaping @Sendable (Result<CycleReport, SyncAgentError>) async -> Void = { _ in }) {
        self.engine = engine
        self.schedule = schedule
        self.logger = logger
        self.wake = wake
        self.onCycle = onCycle
    }

    public func run() async throws {
        let pid = ProcessInfo.processInfo.processIdentifier
        let replica = engine.replica
        var failures = 0
        let office = try replica.settings().office
        logger.info("daemon started", metadata: ["sync.office": "\(office)"])
        while !Task.isShuttingDownGracefully {
            try? replica.recordAgentState("syncing", pid: pid)
            // A cycle is never cancelled halfway: each page and acknowledgement is its own
            // transaction, and shutdown waits for the cycle to end.
            let result: Result<CycleReport, SyncAgentError>
            do { result = .success(try await engine.runCycle()) } catch { result = .failure(error) }
            await onCycle(result)

            let wait: Duration
            switch result {
            case .success:
                failures = 0
                wait = schedule.interval
                try? replica.recordAgentState("idle", nextAttemptAt: Date() + wait.timeInterval, pid: pid)
            case .failure(let error) where error.isTransient:
                failures += 1
                wait = schedule.backoff(afterFailures: failures, random: Double.random(in: 0...1))
                let state = error.centralAnswered ? "backing_off" : "offline"
                try? replica.recordAgentState(state, nextAttemptAt: Date() + wait.timeInterval, pid: pid)
            case .failure:
                failures += 1
                wait = schedule.permanentFailureRetry
                try? replica.recordAgentState("failed", nextAttemptAt: Date() + wait.timeInterval, pid: pid)
            }
            // While the centre fails, a local write does not cut the backoff short.
            await waitForWork(upTo: wait, wakeOnLocalWrite: failures == 0)
        }
        try? replica.recordAgentState("stopped", pid: nil)
        logger.info("daemon stopped")
    }

    /// Sleeps until `limit` passes, a local write arrives, or shutdown begins.
    private func waitForWork(upTo limit: Duration, wakeOnLocalWrite: Bool) async {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        let mark = (try? engine.replica.outboxHighWaterMark()) ?? 0
        while clock.now < deadline, !Task.isShuttingDownGracefully {
            let step = min(schedule.wakeCheckInterval, deadline - clock.now)
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: step) }
            } catch {
                return
            }
            if wake.consume() { return }
            if wakeOnLocalWrite, let now = try? engine.replica.outboxHighWaterMark(), now != mark { return }
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

/// A flag set from outside the loop (a signal handler) that makes the daemon sync at once.
public final class WakeSignal: Sendable {
    private let requested = Mutex(false)
    public init() {}
    /// Asks for a cycle now.
    public func request() { requested.withLock { $0 = true } }
    /// Takes the request, if any.
    func consume() -> Bool { requested.withLock { value in defer { value = false }; return value } }
}
