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

    public init() {}
}

/// How an office is, for monitoring: exit code 0, 1 or 2 of `promo-sync status`.
public enum Health: String, Codable, Sendable, Comparable {
    case ok
    case degraded
    case broken

    public var exitCode: Int32 {
        switch self {
        case .ok: 0
        case .degraded: 1
        case .broken: 2
        }
    }

    public static func < (lhs: Health, rhs: Health) -> Bool { lhs.exitCode < rhs.exitCode }
}

/// The status of an office as `promo-sync status --json` prints it (schema in docs/OPERATIONS.md).
public struct StatusReport: Codable, Sendable {
    public struct Daemon: Codable, Sendable {
        public var running: Bool
        public var pid: Int32?
        public var state: String?
        public var heartbeatAt: Date?
        public var nextAttemptAt: Date?
    }

    public struct Pending: Codable, Sendable {
        public var changes: Int
        public var changesets: Int
        public var oldestAt: Date?
        public var oldestAgeSeconds: Int?
    }

    public struct LastError: Codable, Sendable {
        public var message: String
        public var hint: String?
        public var at: Date?
        public var transient: Bool
    }

    public var health: Health
    public var exitCode: Int32
    /// Why the health is not ok, one sentence each.
    public var reasons: [String]
    public var office: String?
    public var central: String?
    public var daemon: Daemon
    public var pending: Pending
    public var lastPushAt: Date?
    public var lastPullAt: Date?
    public var lastAttemptAt: Date?
    public var lastContactAt: Date?
    /// Whether the last attempt reached the centre (nil before any attempt).
    public var centralReachable: Bool?
    public var cursor: Int64?
    public var epoch: String?
    public var lastSequence: Int64?
    public var lastAcknowledgedSequence: Int64?
    public var openConflicts: Int
    public var lastVerifyAt: Date?
    public var lastVerifyResult: String?
    public var lastError: LastError?
    /// The changeset the centre refused for one of its rows, until it is retried or withdrawn.
    public var refused: ChangesetRefusal?
    /// The last time the office re-sent what the centre lacked (restored or rolled back), and why.
    public var lastRepairAt: Date?
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
                "the centre refused changeset \(refusal.sequence)\(refusal.table.map { " for \($0) \(refusal.id ?? "")" } ?? "") (\(refusal.code)); nothing after it is pushed until it is fixed or withdrawn"
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
