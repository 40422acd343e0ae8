import Foundation
import GRDB
import SyncCore

/// Everything the replica knows about its sync state, read in one transaction.
public struct ReplicaStatus: Sendable {
    /// Who this office is and where its centre is, as `promo-sync init` recorded them.
    public var settings: ReplicaSettings
    /// Where pulling stands: the cursor in the centre's change log and the epoch it belongs to.
    public var position: SyncPosition
    /// What waits to be pushed.
    public var pending: PendingSummary
    /// The sequence of the last changeset this office made; 0 before the first.
    public var lastSequence: ChangesetSequence
    /// The sequence of the last changeset the centre acknowledged; 0 before the first.
    public var lastAckedSequence: ChangesetSequence
    /// When the centre last acknowledged a changeset; nil before the first.
    public var lastPushAt: Date?
    /// When a pulled page was last written; nil before the first pull.
    public var lastPullAt: Date?
    /// When a sync attempt last ended, well or not; nil before the first.
    public var lastAttemptAt: Date?
    /// The last time the centre answered at all (even with an error).
    public var lastContactAt: Date?
    /// What the last failed attempt said; nil since an attempt succeeded.
    public var lastError: String?
    /// What to do about that failure, when there is something to say.
    public var lastErrorHint: String?
    /// When an attempt last failed; kept after a success, unlike the message.
    public var lastErrorAt: Date?
    /// Whether that failure may pass by itself (the daemon retries with backoff), rather than wait for a person.
    public var lastErrorTransient: Bool
    /// Since when every attempt has failed; nil while the last attempt succeeded.
    public var failingSince: Date?
    /// What the daemon said it was doing last (idle, syncing, backing_off, offline, failed).
    public var agentState: String?
    /// When the daemon means to try again, as it last said; nil when it named no time.
    public var nextAttemptAt: Date?
    /// The process id of the daemon that last recorded its state; nil once it stopped, or if none ever ran.
    public var daemonPID: Int32?
    /// When that daemon last recorded its state (before and after each cycle); nil once it stopped.
    public var daemonHeartbeatAt: Date?
    /// The centre answered with an epoch other than the one this office synced with.
    public var epochMismatch: String?
    /// Conflict records of this office that no one has resolved yet.
    public var openConflicts: Int = 0
    /// When `promo-sync verify` (or a forced resync) last compared with the centre, and what it found.
    public var lastVerifyAt: Date?
    /// The verification's summary (`identical`, or how many ranges and rows differ).
    public var lastVerifyResult: String?
    /// The changeset the centre refused for one of its rows, until it is retried or withdrawn.
    public var refusal: ChangesetRefusal?
    /// The last time the office re-sent what a restored or rolled-back centre lacked, and why.
    public var lastRepairAt: Date?
    /// What was re-sent and why, in words.
    public var lastRepair: String?
    /// Rescue copies a daemon saved beside the replica (its file deleted or replaced under it)
    /// that no rebuild has taken back yet.
    public var rescueCopies: [String] = []
}

/// The outcome of one sync attempt, as the agent records it.
public enum AttemptOutcome: Sendable {
    case success
    case failure(message: String, hint: String?, transient: Bool, centralAnswered: Bool)
}

extension Replica {
    /// Reads the whole status. Works whether or not a daemon runs.
    public func status() throws(ReplicaError) -> ReplicaStatus {
        let settings = try settings()
        let open = try data.openConflictCount()
        var status = try read("reading the status") { db in
            let s = try State.all(db)
            let pending = try Self.pendingSummary(db)
            func date(_ key: StateKey) -> Date? { Timestamps.parse(s[key.rawValue]) }
            return ReplicaStatus(
                settings: settings,
                position: SyncPosition(
                    cursor: PullCursor(Int64(s[StateKey.cursor.rawValue] ?? "0") ?? 0),
                    epoch: s[StateKey.epoch.rawValue].map(Epoch.init)),
                pending: pending,
                lastSequence: ChangesetSequence(Int64(s[StateKey.lastSequence.rawValue] ?? "0") ?? 0),
                lastAckedSequence: ChangesetSequence(Int64(s[StateKey.lastAckedSequence.rawValue] ?? "0") ?? 0),
                lastPushAt: date(.lastPushAt), lastPullAt: date(.lastPullAt),
                lastAttemptAt: date(.lastAttemptAt), lastContactAt: date(.lastContactAt),
                lastError: s[StateKey.lastError.rawValue], lastErrorHint: s[StateKey.lastErrorHint.rawValue],
                lastErrorAt: date(.lastErrorAt), lastErrorTransient: s[StateKey.lastErrorTransient.rawValue] == "1",
                failingSince: date(.failingSince),
                agentState: s[StateKey.agentState.rawValue], nextAttemptAt: date(.nextAttemptAt),
                daemonPID: s[StateKey.daemonPID.rawValue].flatMap { Int32($0) },
                daemonHeartbeatAt: date(.daemonHeartbeatAt),
                epochMismatch: s[StateKey.epochMismatch.rawValue],
                refusal: try Self.refusal(db),
                lastRepairAt: date(.lastRepairAt), lastRepair: s[StateKey.lastRepair.rawValue])
        }
        status.openConflicts = open
        status.rescueCopies = Self.rescueCopies(beside: path)
        let verify = try read("reading the last verification") { db in
            (try State.get(db, .lastVerifyAt), try State.get(db, .lastVerifyResult))
        }
        status.lastVerifyAt = Timestamps.parse(verify.0)
        status.lastVerifyResult = verify.1
        return status
    }

    /// Records how a sync attempt ended, and adds `increments` to the counters in the same commit.
    /// It waits for the disk: the counters are exported as ever-growing totals, which a power cut
    /// must not take back (a monitor would read the drop as a restart from zero).
    public func recordAttempt(_ outcome: AttemptOutcome, at now: Date = Date(), counting increments: [String: Int64] = [:]) throws(ReplicaError) {
        try write("recording a sync attempt") { db in
            try Self.addToCounters(db, increments)
            try State.set(db, .lastAttemptAt, Timestamps.format(now))
            switch outcome {
            case .success:
                try State.set(db, .lastContactAt, Timestamps.format(now))
                try State.set(db, .failingSince, nil)
                try State.set(db, .lastError, nil)
                try State.set(db, .lastErrorHint, nil)
                try State.set(db, .lastErrorTransient, nil)
            case .failure(let message, let hint, let transient, let answered):
                if answered { try State.set(db, .lastContactAt, Timestamps.format(now)) }
                if try State.get(db, .failingSince) == nil { try State.set(db, .failingSince, Timestamps.format(now)) }
                try State.set(db, .lastError, message)
                try State.set(db, .lastErrorHint, hint)
                try State.set(db, .lastErrorAt, Timestamps.format(now))
                try State.set(db, .lastErrorTransient, transient ? "1" : "0")
            }
        }
    }

    /// Records that the office re-sent what the centre lacked (a new epoch, or acknowledged
    /// changesets it no longer holds), for `promo-sync status`.
    public func recordRepair(_ description: String, at now: Date = Date()) throws(ReplicaError) {
        try write("recording a repair") { db in try Self.recordRepair(db, description, at: now) }
    }

    /// Records a repair within the caller's transaction.
    static func recordRepair(_ db: Database, _ description: String, at now: Date) throws {
        try State.set(db, .lastRepairAt, Timestamps.format(now))
        try State.set(db, .lastRepair, description)
    }

    /// Records the outcome of a verification.
    public func recordVerification(_ result: String, at now: Date = Date()) throws(ReplicaError) {
        try write("recording a verification") { db in
            try State.set(db, .lastVerifyAt, Timestamps.format(now))
            try State.set(db, .lastVerifyResult, result)
        }
    }

    /// Records that the centre answered with an unexpected epoch (nil clears it).
    public func recordEpochMismatch(_ description: String?) throws(ReplicaError) {
        try write("recording an epoch mismatch") { db in try State.set(db, .epochMismatch, description) }
    }

    /// Records what the daemon is doing, for `promo-sync status`.
    public func recordAgentState(_ state: String, nextAttemptAt: Date? = nil, pid: Int32?, now: Date = Date()) throws(ReplicaError) {
        try writeRecoverable("recording the daemon state") { db in
            try State.set(db, .agentState, state)
            try State.set(db, .nextAttemptAt, nextAttemptAt.map(Timestamps.format))
            try State.set(db, .daemonPID, pid.map { String($0) })
            try State.set(db, .daemonHeartbeatAt, pid == nil ? nil : Timestamps.format(now))
        }
    }

    /// Adds to the daemon's counters (kept in the replica so they survive restarts).
    public func addToCounters(_ increments: [String: Int64]) throws(ReplicaError) {
        try write("counting") { db in try Self.addToCounters(db, increments) }
    }

    private static func addToCounters(_ db: Database, _ increments: [String: Int64]) throws {
        for (name, amount) in increments where amount != 0 {
            try db.execute(
                sql: """
                    INSERT INTO _sync_state(key, value) VALUES (?, ?)
                    ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + ? AS TEXT)
                    """,
                arguments: ["counter." + name, String(amount), amount])
        }
    }

    /// The counters by name.
    public func counters() throws(ReplicaError) -> [String: Int64] {
        try read("reading counters") { db in
            var out: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, value FROM _sync_state WHERE key LIKE 'counter.%'") {
                out[String((row["key"] as String).dropFirst("counter.".count))] = Int64(row["value"] as String) ?? 0
            }
            return out
        }
    }

    /// Checks the file's integrity (reads every page; slow on large replicas).
    public func integrityProblems() throws(ReplicaError) -> [String] {
        do {
            return try read("checking integrity") { db in
                let rows = try String.fetchAll(db, sql: "PRAGMA quick_check")
                return rows == ["ok"] ? [] : rows
            }
        } catch  where error.code == .damaged {
            // SQLite may refuse the check itself on a badly damaged page.
            return [error.underlying.map { "\($0)" } ?? error.message]
        }
    }
}
