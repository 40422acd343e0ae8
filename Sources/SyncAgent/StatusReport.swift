import Foundation
import Replica
import SyncCore
import WireFormat

/// Thresholds that turn the replica's state into a health level.
public struct StatusThresholds: Sendable {
    /// Pending changes older than this make the office degraded ("behind").
    public var maxPendingAge: Duration = .seconds(15 * 60)
    /// Failing to reach the centre for longer than this makes the office degraded.
    public var maxOfflineTime: Duration = .seconds(15 * 60)
    /// No pull for longer than this makes the office degraded.
    public var maxTimeSinceLastPull: Duration = .seconds(60 * 60)

    /// Creates the default thresholds: 15 minutes for pending changes and for being offline, an hour without a pull.
    public init() {}
}

/// How an office is, for monitoring: exit code 0, 1 or 2 of `promo-sync status`.
public enum Health: String, Codable, Sendable, Comparable {
    case ok
    case degraded
    case broken

    /// The exit code of `promo-sync status` for this level: 0, 1 or 2.
    public var exitCode: Int32 {
        switch self {
        case .ok: 0
        case .degraded: 1
        case .broken: 2
        }
    }

    /// Orders the levels from ok to broken, so that the worse of two is their `max`.
    public static func < (lhs: Health, rhs: Health) -> Bool { lhs.exitCode < rhs.exitCode }
}

/// The status of an office as `promo-sync status --json` prints it (schema in docs/OPERATIONS.md).
public struct StatusReport: Codable, Sendable {
    /// The daemon as the replica last heard of it.
    public struct Daemon: Codable, Sendable {
        /// Whether the process that last recorded the daemon's state is alive.
        public var running: Bool
        /// That process's id; nil when it is not running.
        public var pid: Int32?
        /// What it said it was doing (`syncing`, `idle`, `offline`, `backing_off`, `failed`), or `not running`.
        public var state: String?
        /// When it last recorded its state; nil once it stopped.
        public var heartbeatAt: Date?
        /// When it means to try again; nil when it is not running or named no time.
        public var nextAttemptAt: Date?
    }

    /// What waits to be pushed.
    public struct Pending: Codable, Sendable {
        /// Captured writes not yet acknowledged by the centre.
        public var changes: Int
        /// Changesets made but not yet acknowledged.
        public var changesets: Int
        /// When the daemon made the oldest changeset still waiting; nil while none is made, even if changes wait.
        public var oldestAt: Date?
        /// The age of that changeset at the time of the report, in seconds; nil with `oldestAt`.
        public var oldestAgeSeconds: Int?
    }

    /// The error to act on: the last failed attempt's, or a problem found outside the recorded state.
    public struct LastError: Codable, Sendable {
        /// What went wrong.
        public var message: String
        /// What to do about it, when there is something to say.
        public var hint: String?
        /// When the attempt failed; nil for a problem found when the report was made.
        public var at: Date?
        /// Whether it may pass by itself (the daemon retries with backoff) rather than wait for a person.
        public var transient: Bool
    }

    /// The worst level any reason gives; ok when there is none.
    public var health: Health
    /// The exit code of `promo-sync status`: the health's.
    public var exitCode: Int32
    /// Why the health is not ok, one sentence each.
    public var reasons: [String]
    /// The office's code; nil when the replica could not be opened.
    public var office: String?
    /// The centre's URL the replica names; nil when it could not be opened.
    public var central: String?
    /// The daemon, as the replica last heard of it.
    public var daemon: Daemon
    /// What waits to be pushed.
    public var pending: Pending
    /// When the centre last acknowledged a changeset; nil before the first.
    public var lastPushAt: Date?
    /// When a pulled page was last written; nil before the first pull.
    public var lastPullAt: Date?
    /// When a sync attempt last ended, well or not; nil before the first.
    public var lastAttemptAt: Date?
    /// When the centre last answered at all, even with an error; nil before the first answer.
    public var lastContactAt: Date?
    /// Whether the last attempt reached the centre (nil before any attempt).
    public var centralReachable: Bool?
    /// The position in the centre's change log past which the next pull asks; nil when the replica could not be opened.
    public var cursor: Int64?
    /// The centre's epoch this office last synced with; nil before the first contact.
    public var epoch: String?
    /// The sequence of the last changeset this office made.
    public var lastSequence: Int64?
    /// The sequence of the last changeset the centre acknowledged.
    public var lastAcknowledgedSequence: Int64?
    /// Conflict records of this office that no one has resolved yet (any makes the office degraded).
    public var openConflicts: Int
    /// When `promo-sync verify` (or a forced resync) last compared with the centre; nil if never.
    public var lastVerifyAt: Date?
    /// What it found: `identical`, or how many ranges and rows differ.
    public var lastVerifyResult: String?
    /// The error to act on; nil while the last attempt succeeded and nothing else was found.
    public var lastError: LastError?
    /// The changeset the centre refused for one of its rows, until it is retried or withdrawn.
    public var refused: ChangesetRefusal?
    /// The last time the office re-sent what the centre lacked (restored or rolled back), and why.
    public var lastRepairAt: Date?
    /// What was re-sent and why, in words.
    public var lastRepair: String?

    /// The report for a replica that could not be opened.
    public static func broken(_ reason: String, hint: String?) -> StatusReport {
        StatusReport(
            health: .broken, exitCode: Health.broken.exitCode, reasons: [reason], office: nil, central: nil,
            daemon: Daemon(running: false), pending: Pending(changes: 0, changesets: 0), openConflicts: 0,
            lastError: LastError(message: reason, hint: hint, at: nil, transient: false))
    }

    /// Adds a problem found outside the replica's recorded state (its file cannot be written),
    /// first among the reasons and as the error to act on.
    public mutating func flag(_ level: Health, _ reason: String, hint: String?) {
        health = max(health, level)
        exitCode = health.exitCode
        reasons.insert(reason, at: 0)
        lastError = LastError(message: reason, hint: hint, at: nil, transient: false)
    }

    /// Evaluates a replica's state at `now`. `isRunning` tells whether a process id is alive.
    public static func evaluate(
        _ s: ReplicaStatus, now: Date, thresholds: StatusThresholds,
        isRunning: (Int32) -> Bool
    ) -> StatusReport {
        var health = Health.ok
        var reasons: [String] = []
        func flag(_ level: Health, _ reason: String) {
            health = max(health, level)
            reasons.append(reason)
        }
        let oldestAge = s.pending.oldestChangeAt.map { Int(now.timeIntervalSince($0)) }
        if let mismatch = s.epochMismatch {
            flag(.broken, mismatch)
        }
        if let copy = s.rescueCopies.last {
            flag(
                .broken,
                "the daemon found its replica deleted or replaced, saved what it held to \(copy) and stopped: run promo-sync resync --rebuild to take the saved changes back"
            )
        }
        if let refusal = s.refusal {
            flag(
                .broken,
                "the centre refused changeset \(refusal.sequence)\((refusal.row ?? refusal.table.map { "\($0) \(refusal.id ?? "")" }).map { " for \($0)" } ?? "") (\(refusal.code)); nothing after it is pushed until it is fixed or withdrawn"
            )
        }
        if let error = s.lastError, !s.lastErrorTransient, s.failingSince != nil {
            flag(.broken, "sync fails and retrying will not help: \(error)")
        }
        if let since = s.failingSince, now.timeIntervalSince(since) > thresholds.maxOfflineTime.timeInterval, s.lastErrorTransient {
            flag(.degraded, "the centre has not been reached for \(Int(now.timeIntervalSince(since)) / 60) min")
        }
        if let age = oldestAge, TimeInterval(age) > thresholds.maxPendingAge.timeInterval {
            flag(.degraded, "\(s.pending.changes) local changes wait to be pushed, the oldest for \(age / 60) min")
        }
        if let pull = s.lastPullAt {
            if now.timeIntervalSince(pull) > thresholds.maxTimeSinceLastPull.timeInterval {
                flag(.degraded, "last pull from the centre was \(Int(now.timeIntervalSince(pull)) / 60) min ago")
            }
        } else {
            flag(.degraded, "never synced with the centre yet")
        }
        if s.openConflicts > 0 {
            flag(.degraded, "\(s.openConflicts) conflicts wait for a person: promo-sync conflicts list")
        }
        let running = s.daemonPID.map(isRunning) ?? false
        // A daemon waiting after failed cycles is not in sync, however short the wait.
        if running, let state = s.agentState, ["backing_off", "offline", "failed"].contains(state) {
            let next = s.nextAttemptAt.map { "next attempt at \(Timestamps.format($0))" } ?? "next attempt not set"
            flag(
                .degraded,
                "the daemon is \(state == "offline" ? "offline" : "waiting after failed cycles") (\(next)); last error: \(s.lastError ?? "none recorded")")
        }
        // Changes no daemon has seen carry no date, so their age cannot say it: without a daemon
        // nothing pushes them.
        if !running, s.pending.changes > 0 {
            flag(.degraded, "\(s.pending.changes) local changes wait to be pushed and no daemon is running: systemctl start promo-sync (or promo-sync sync)")
        }
        return StatusReport(
            health: health, exitCode: health.exitCode, reasons: reasons,
            office: s.settings.office.rawValue, central: s.settings.centralURL,
            daemon: Daemon(
                running: running, pid: running ? s.daemonPID : nil, state: running ? s.agentState : "not running",
                heartbeatAt: s.daemonHeartbeatAt, nextAttemptAt: running ? s.nextAttemptAt : nil),
            pending: Pending(
                changes: s.pending.changes, changesets: s.pending.unacknowledgedChangesets,
                oldestAt: s.pending.oldestChangeAt, oldestAgeSeconds: oldestAge),
            lastPushAt: s.lastPushAt, lastPullAt: s.lastPullAt, lastAttemptAt: s.lastAttemptAt, lastContactAt: s.lastContactAt,
            centralReachable: s.lastAttemptAt == nil ? nil : (s.failingSince == nil || s.lastContactAt.map { $0 >= (s.lastErrorAt ?? .distantPast) } ?? false),
            cursor: s.position.cursor.rawValue, epoch: s.position.epoch?.rawValue,
            lastSequence: s.lastSequence.rawValue, lastAcknowledgedSequence: s.lastAckedSequence.rawValue,
            openConflicts: s.openConflicts, lastVerifyAt: s.lastVerifyAt, lastVerifyResult: s.lastVerifyResult,
            lastError: s.lastError.map { LastError(message: $0, hint: s.lastErrorHint, at: s.lastErrorAt, transient: s.lastErrorTransient) },
            refused: s.refusal, lastRepairAt: s.lastRepairAt, lastRepair: s.lastRepair)
    }

    /// The summary for people.
    public func humanReadable() -> String {
        func when(_ d: Date?) -> String { d.map(Timestamps.format) ?? "never" }
        var lines: [String] = []
        lines.append("promo-sync office \(office ?? "?") → \(central ?? "?")")
        lines.append("health:        \(health.rawValue.uppercased()) (exit \(exitCode))")
        for reason in reasons { lines.append("  - \(reason)") }
        lines.append("daemon:        \(daemon.running ? "running (pid \(daemon.pid.map(String.init) ?? "?"), \(daemon.state ?? "?"))" : "not running")")
        var pendingLine = "pending:       \(pending.changes) changes in \(pending.changesets) unacknowledged changesets"
        if let age = pending.oldestAgeSeconds { pendingLine += ", oldest \(age) s" }
        lines.append(pendingLine)
        lines.append("last push:     \(when(lastPushAt))")
        lines.append("last pull:     \(when(lastPullAt))")
        lines.append(
            "centre:        \(centralReachable.map { $0 ? "answered at \(when(lastContactAt))" : "unreachable since \(when(lastContactAt))" } ?? "not contacted yet")"
        )
        lines.append("cursor/epoch:  \(cursor.map(String.init) ?? "-") / \(epoch ?? "-")")
        lines.append("conflicts:     \(openConflicts) open")
        lines.append("last verify:   \(lastVerifyAt.map { "\(when($0)): \(lastVerifyResult ?? "?")" } ?? "never")")
        if let lastRepairAt { lines.append("last repair:   \(when(lastRepairAt)): \(lastRepair ?? "?")") }
        if let refused {
            lines.append("refused:       changeset \(refused.sequence): \(refused.message)")
            lines.append("  hint: \(refused.hint)")
        }
        if let e = lastError {
            lines.append("last error:    \(e.message)")
            if let hint = e.hint { lines.append("  hint: \(hint)") }
        }
        return lines.joined(separator: "\n")
    }
}

extension StatusReport {
    /// What the office tells the centre of itself (``OfficeReport``).
    public var officeReport: OfficeReport {
        OfficeReport(
            health: OfficeReport.Health(rawValue: health.rawValue) ?? .broken, reason: reasons.first, pendingChanges: pending.changes,
            pendingSince: pending.oldestAt, openConflicts: openConflicts, verifiedAt: lastVerifyAt,
            verifyResult: lastVerifyResult.map { $0 == "identical" ? "identical" : "different" }, epoch: epoch)
    }
}
