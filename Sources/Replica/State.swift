import GRDB

/// Keys of the replica's `_sync_state` table: settings and sync bookkeeping.
enum StateKey: String, CaseIterable {
    case office
    case centralURL = "central_url"
    case tokenFile = "token_file"
    case epoch, cursor
    /// Changesets after this sequence were made from this replica, so it holds their rows: pulls
    /// skip the centre's unchanged echoes of them. 0 for a replica that made its whole chain.
    case ownSince = "own_since"
    case lastSequence = "last_sequence"
    case lastHash = "last_hash"
    case lastAckedSequence = "last_acked_sequence"
    case hlc
    case lastPushAt = "last_push_at"
    case lastPullAt = "last_pull_at"
    case lastAttemptAt = "last_attempt_at"
    case lastContactAt = "last_contact_at"
    case lastError = "last_error"
    case lastErrorHint = "last_error_hint"
    case lastErrorAt = "last_error_at"
    case lastErrorTransient = "last_error_transient"
    case failingSince = "failing_since"
    case agentState = "agent_state"
    case nextAttemptAt = "next_attempt_at"
    case daemonPID = "daemon_pid"
    case daemonHeartbeatAt = "daemon_heartbeat_at"
    case epochMismatch = "epoch_mismatch"
    case lastVerifyAt = "last_verify_at"
    case lastVerifyResult = "last_verify_result"
    /// The changeset the centre refused for one of its rows (``ChangesetRefusal``, as JSON).
    case refusal
    /// The last time the office healed a centre that lacked what it had acknowledged, and how.
    case lastRepairAt = "last_repair_at"
    case lastRepair = "last_repair"
    /// The last time a sync cycle continued this replica's chain from the centre's by itself
    /// (``Replica/lastRejoin()``): at most once a day.
    case lastRejoinAt = "last_rejoin_at"
    /// The version of the stored digests (``DigestCache/version``) once they are built, or the
    /// token of a build under way.
    case digests
    /// The release of the daemon that last started on this replica.
    case daemonRelease = "daemon_release"
}

/// Reads and writes `_sync_state`.
enum State {
    static func get(_ db: Database, _ key: StateKey) throws -> String? {
        try String.fetchOne(db, sql: "SELECT value FROM _sync_state WHERE key = ?", arguments: [key.rawValue])
    }

    static func set(_ db: Database, _ key: StateKey, _ value: String?) throws {
        if let value {
            try db.execute(
                sql: "INSERT INTO _sync_state(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                arguments: [key.rawValue, value])
        } else {
            try db.execute(sql: "DELETE FROM _sync_state WHERE key = ?", arguments: [key.rawValue])
        }
    }

    static func int(_ db: Database, _ key: StateKey) throws -> Int64? {
        try get(db, key).flatMap { Int64($0) }
    }

    static func all(_ db: Database) throws -> [String: String] {
        var out: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT key, value FROM _sync_state") {
            out[row["key"]] = row["value"]
        }
        return out
    }
}
