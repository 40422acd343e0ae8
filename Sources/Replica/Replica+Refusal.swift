import Foundation
import GRDB
import SyncCore
import WireFormat

/// A changeset the centre refused for what one of its rows says (docs/SECURITY.md, the trust
/// boundary): nothing of it was applied, and the office's later work waits behind it until the
/// row is fixed (`promo-sync outbox retry`) or withdrawn (`promo-sync outbox withdraw`).
public struct ChangesetRefusal: Sendable, Equatable, Codable {
    /// The sequence of the refused changeset: the oldest not acknowledged.
    public var sequence: ChangesetSequence
    /// The centre's error code: `forbidden_writer`, `forbidden_owner`, `unknown_parent`, `bad_request`, `aggregate_full`.
    public var code: String
    /// The centre's message.
    public var message: String
    /// The row the centre named, when it named one.
    public var table: String?
    /// The id of the row the centre named; nil when it named none.
    public var id: String?
    /// The named row as people know it (`project KC-01 (id)`), when this office holds it.
    public var row: String?

    /// Creates a refusal from the centre's error body and the sequence of the changeset it answered.
    public init(sequence: ChangesetSequence, code: String, message: String, table: String?, id: String?) {
        self.sequence = sequence
        self.code = code
        self.message = message
        self.table = table
        self.id = id
    }

    /// What to run: withdraw the named row, or retry after fixing it.
    public var hint: String {
        let withdraw = table.flatMap { t in id.map { "promo-sync outbox withdraw \(t) \($0)" } } ?? "promo-sync outbox withdraw TABLE ID"
        return
            "Fix that row and run: promo-sync outbox retry; or take the change back: \(withdraw) (the centre's version, if any, comes back; the withdrawn values are kept in promo-sync outbox show)"
    }
}

/// A local change the office withdrew after the centre refused it, kept so that nothing is lost.
public struct WithdrawnChange: Sendable, Equatable {
    /// The synced table of the withdrawn row.
    public var table: String
    /// The withdrawn row's id.
    public var id: String
    /// The row's values when it was withdrawn (JSON), nil if the row was already deleted locally.
    public var fields: String?
    /// Why it was withdrawn: the centre's refusal (`code: message`), or "withdrawn by the office".
    public var reason: String
    /// When it was withdrawn, in UTC as `Timestamps` writes it.
    public var withdrawnAt: String
}

extension Replica {
    /// Records that the centre refused changeset `sequence`; cleared when a changeset of that
    /// sequence is acknowledged, or by ``retryRefused()`` and ``withdraw(table:id:now:)``.
    public func recordRefusal(_ refusal: ChangesetRefusal) throws(ReplicaError) {
        try write("recording a refused changeset") { db in
            var refusal = refusal
            if let table = refusal.table.flatMap(SyncedTable.init(rawValue:)), let id = refusal.id { refusal.row = try Self.rowLabel(db, table, id) }
            try State.set(db, .refusal, String(decoding: try JSONEncoder().encode(refusal), as: UTF8.self))
        }
    }

    /// The refusal waiting to be dealt with, if any.
    public func refusal() throws(ReplicaError) -> ChangesetRefusal? {
        try read("reading the refused changeset") { db in try Self.refusal(db) }
    }

    static func refusal(_ db: Database) throws -> ChangesetRefusal? {
        try State.get(db, .refusal).flatMap { try? JSONDecoder().decode(ChangesetRefusal.self, from: Data($0.utf8)) }
    }

    /// Makes the changesets not yet acknowledged again from the outbox, with the rows' current
    /// values: after the row the centre refused was fixed locally.
    public func retryRefused() throws(ReplicaError) {
        try write("retrying the refused changeset") { db in try Self.unmakeRefusedChangesets(db) }
    }

    /// Withdraws this office's pending change of one row: the changesets not yet acknowledged are
    /// made again without it (``rewriteUnsentChangesets(_:_:)``), the row's outbox entries go, its
    /// local values are kept in `_sync_withdrawn`, and the row is deleted locally without being
    /// captured (the caller then fetches the centre's version, if the centre has one). Every other
    /// pending change stays, as it was made, and is pushed again.
    @discardableResult
    public func withdraw(table: SyncedTable, id: String, now: Date = Date()) throws(ReplicaError) -> WithdrawnChange {
        try write("withdrawing a change") { db in
            let pending =
                try Bool.fetchOne(
                    db, sql: "SELECT EXISTS(SELECT 1 FROM _sync_outbox WHERE tbl = ? AND row_id = ?)", arguments: [table.tableID, id]) ?? false
            guard pending else {
                throw ReplicaError(
                    .invalidInput, "\(table.rawValue) \(id) has no change waiting to be pushed",
                    hint: "See promo-sync outbox show for the row the centre refused.")
            }
            let reason = try Self.refusal(db).map { "\($0.code): \($0.message)" } ?? "withdrawn by the office"
            let withdrawn = SyncedRowKey(table, id)
            try Self.refusedOldest(db)
            try Self.rewriteUnsentChangesets(db) { SyncedRowKey($0.table, $0.id.rawValue) == withdrawn ? nil : $0 }
            return try CaptureTriggers.suspended(db) { try Self.keepAside(db, table: table, id: id, reason: reason, now: now) }
        }
    }

    /// Moves one row's pending changes out of the outbox into `_sync_withdrawn`, with the row's
    /// local values, and deletes the row locally. The caller has taken the row's changes out of
    /// every changeset not yet acknowledged (none may carry them) and suspended capture.
    static func keepAside(_ db: Database, table: SyncedTable, id: String, reason: String, now: Date) throws -> WithdrawnChange {
        var fields: String?
        if let row = try Row.fetchOne(db, sql: "SELECT \(table.idAndColumnList) FROM \(table.rawValue) WHERE id = ?", arguments: [id]) {
            var values: [String: FieldValue] = [:]
            for (index, column) in table.columns.enumerated() { values[column.name] = Self.fieldValue(row[index + 1]) }
            fields = FieldCoding.encode(values)
        }
        let withdrawn = WithdrawnChange(table: table.rawValue, id: id, fields: fields, reason: reason, withdrawnAt: Timestamps.format(now))
        try db.execute(
            sql: "INSERT INTO _sync_withdrawn(tbl, row_id, fields, reason, withdrawn_at) VALUES (?, ?, ?, ?, ?)",
            arguments: [withdrawn.table, withdrawn.id, withdrawn.fields, withdrawn.reason, withdrawn.withdrawnAt])
        try db.execute(sql: "DELETE FROM _sync_outbox WHERE tbl = ? AND row_id = ?", arguments: [table.tableID, id])
        // An outbox entry's `seq` is a plain rowid, reused once the highest entries go: a changeset
        // must not cover numbers past the last entry left, or the next write would count as in it
        // (never sent, and deleted when that changeset is acknowledged).
        try db.execute(
            sql: """
                UPDATE _sync_changeset SET last_seq = (SELECT coalesce(max(seq), 0) FROM _sync_outbox)
                WHERE last_seq > (SELECT coalesce(max(seq), 0) FROM _sync_outbox)
                """)
        try db.execute(sql: "DELETE FROM \(table.rawValue) WHERE id = ?", arguments: [id])
        try DigestCache.markChanged(db, table, id)
        return withdrawn
    }

    /// The changes withdrawn so far, newest first.
    public func withdrawnChanges() throws(ReplicaError) -> [WithdrawnChange] {
        try read("reading withdrawn changes") { db in
            try Row.fetchAll(db, sql: "SELECT tbl, row_id, fields, reason, withdrawn_at FROM _sync_withdrawn ORDER BY id DESC").map {
                WithdrawnChange(table: $0["tbl"], id: $0["row_id"], fields: $0["fields"], reason: $0["reason"], withdrawnAt: $0["withdrawn_at"])
            }
        }
    }

    /// Makes the changesets not yet acknowledged again for `promo-sync outbox retry` (a person
    /// fixed the refused row), the chain continuing from the last acknowledged one: the refused
    /// row's changes with its current values (its status as sealed), every other change as it
    /// was made, so status steps sealed into changesets of their own (``sealPending(_:now:)``)
    /// still reach the centre one at a time. A refusal that names no row unmakes them all, to be
    /// made anew from the outbox with the rows' current values.
    static func unmakeRefusedChangesets(_ db: Database) throws {
        let oldest = try refusedOldest(db)
        let refused = try refusal(db).flatMap { refusal in
            refusal.table.flatMap(SyncedTable.init(rawValue:)).flatMap { table in refusal.id.map { SyncedRowKey(table, $0) } }
        }
        try State.set(db, .refusal, nil)
        guard let oldest else { return }
        guard let refused else {
            try db.execute(sql: "DELETE FROM _sync_changeset")
            try State.set(db, .lastSequence, String(oldest.sequence - 1))
            try State.set(db, .lastHash, oldest.previousHash)
            return
        }
        let current = try Row.fetchOne(db, sql: refused.table.selectColumnsByIDSQL, arguments: [refused.id])
        try rewriteUnsentChangesets(db) { change in
            guard SyncedRowKey(change.table, change.id.rawValue) == refused, change.op == .upsert else { return change }
            // Deleted since: the delete waits in the outbox.
            guard let current else { return nil }
            var fixed = change
            for (index, column) in refused.table.columns.enumerated() where column.name != "status" && change.fields[column.name] != nil {
                fixed.fields[column.name] = fieldValue(current[index])
            }
            return fixed
        }
    }

    /// Makes the changesets not yet acknowledged again with `rewrite` applied to each of their
    /// changes (nil takes it out), chained anew from the last acknowledged one. Each keeps what it
    /// was made with: its outbox entries, values and clocks, so status moves sealed apart
    /// (``sealPending(_:now:)``) still reach the centre one at a time; one left with no change
    /// goes. The refusal is cleared: the changesets are pushed again, and the centre refuses again
    /// a row they still carry. Only for changesets the centre holds none of: the caller has checked
    /// that the oldest was refused (``refusedOldest(_:)``), or made them again itself since.
    static func rewriteUnsentChangesets(_ db: Database, _ rewrite: (Change) throws -> Change?) throws {
        try remakeUnsentChangesets(db) { unsent in
            try unsent.map { made in
                var made = made
                made.changes = try made.changes.compactMap(rewrite)
                return made
            }
        }
        try State.set(db, .refusal, nil)
    }

    /// Splits the oldest changeset not yet acknowledged in two, each half keeping its changes,
    /// their order and clocks, and the rest following them: the centre found it too heavy to
    /// refold at once (`changeset_too_heavy`, a forced resync of an office with large projects)
    /// and applied none of it. The first half covers no outbox entry (acknowledged, it takes none:
    /// they go with the second). Returns false, changing nothing, when it holds a single change.
    public func splitOldestUnsent() throws(ReplicaError) -> Bool {
        try write("splitting a changeset the centre found too heavy") { db in
            let covered = try Int64.fetchOne(db, sql: "SELECT coalesce(min(seq), 1) - 1 FROM _sync_outbox") ?? 0
            var split = false
            try Self.remakeUnsentChangesets(db) { unsent in
                guard let oldest = unsent.first, oldest.changes.count > 1 else { return unsent }
                split = true
                let half = oldest.changes.count / 2
                return [
                    Unsent(changes: Array(oldest.changes[..<half]), createdAt: oldest.createdAt, lastSeq: covered),
                    Unsent(changes: Array(oldest.changes[half...]), createdAt: oldest.createdAt, lastSeq: oldest.lastSeq),
                ] + unsent.dropFirst()
            }
            return split
        }
    }

    /// A changeset not yet acknowledged as it was made: its changes, when, and the last outbox
    /// entry it covers (acknowledged, it takes the entries up to that one).
    struct Unsent {
        var changes: [Change]
        var createdAt: Int64
        var lastSeq: Int64
    }

    /// Makes the changesets not yet acknowledged again as `remake` gives them (one with no change
    /// goes), chained anew from the last acknowledged one.
    static func remakeUnsentChangesets(_ db: Database, _ remake: ([Unsent]) throws -> [Unsent]) throws {
        let made = try Row.fetchAll(db, sql: "SELECT seq, previous_hash, body, created_at, last_seq FROM _sync_changeset ORDER BY seq")
        guard let oldest = made.first else { return }
        var office: OfficeCode?
        let unsent = try made.map { row in
            let changeset = try Changeset(jsonData: row["body"])
            office = changeset.office
            return Unsent(changes: changeset.changes, createdAt: row["created_at"], lastSeq: row["last_seq"])
        }
        guard let office else { return }
        try db.execute(sql: "DELETE FROM _sync_changeset")
        var sequence: Int64 = oldest["seq"]
        var previous: String = oldest["previous_hash"]
        for made in try remake(unsent) where !made.changes.isEmpty {
            let changeset = Changeset(office: office, sequence: ChangesetSequence(sequence), previousHash: previous, changes: made.changes)
            try db.execute(
                sql: "INSERT INTO _sync_changeset(seq, hash, previous_hash, change_count, body, created_at, last_seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [sequence, changeset.hash, previous, made.changes.count, changeset.jsonData(), made.createdAt, made.lastSeq])
            sequence += 1
            previous = changeset.hash
        }
        try State.set(db, .lastSequence, String(sequence - 1))
        try State.set(db, .lastHash, previous)
    }

    /// The oldest changeset not yet acknowledged, nil when none is; only when the centre refused it:
    /// a refused changeset was not applied, and none after it was sent (changesets are sent in
    /// order), so the centre holds none of them and they may be made again.
    @discardableResult
    private static func refusedOldest(_ db: Database) throws -> (sequence: Int64, previousHash: String)? {
        guard let refusal = try refusal(db) else {
            throw ReplicaError(.invalidInput, "the centre has refused no changeset of this office", hint: "Nothing to do; see promo-sync status.")
        }
        guard let oldest = try Row.fetchOne(db, sql: "SELECT seq, previous_hash FROM _sync_changeset ORDER BY seq LIMIT 1") else { return nil }
        guard (oldest["seq"] as Int64) == refusal.sequence.rawValue else {
            throw ReplicaError(
                .invalidInput, "changeset \(refusal.sequence) is no longer the oldest waiting to be pushed",
                hint: "Run promo-sync sync first; the refusal may be stale.")
        }
        return (oldest["seq"], oldest["previous_hash"])
    }
}
