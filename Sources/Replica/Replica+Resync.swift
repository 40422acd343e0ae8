import Foundation
import GRDB
import SyncCore

extension Replica {
    /// Prepares a forced resync against the centre's view of this office's chain: every row this
    /// office owns is queued to be pushed again (the centre's merge makes re-sending harmless),
    /// except resolutions a person at the centre made (only the centre may send those: re-sent,
    /// they would be refused whole; a restored centre that lost one holds its conflict open again),
    /// changesets not yet acknowledged go back to the outbox, the chain continues from what the
    /// centre holds, and the next pull starts from the beginning of the log.
    ///
    /// Returns how many rows were queued.
    @discardableResult
    public func prepareForcedResync(centralSequence: ChangesetSequence, centralHash: String, epoch: Epoch) throws(ReplicaError) -> Int {
        try write("preparing a forced resync") { db in
            let office = try State.get(db, .office) ?? ""
            try Self.rebase(db, centralSequence: centralSequence, centralHash: centralHash)
            var queued = 0
            for table in SyncedTable.parentsFirst {
                queued += try Self.queueWhole(db, table, office: office)
            }
            try State.set(db, .epoch, epoch.rawValue)
            try State.set(db, .cursor, "0")
            try State.set(db, .epochMismatch, nil)
            return queued
        }
    }
}

extension Replica {
    /// Continues this office's changeset chain from what the centre holds, when the two disagree
    /// (a replica restored from an old backup): changesets not acknowledged go back to the outbox
    /// to be re-made on top of the centre's last one. Returns whether anything changed.
    /// `rejoinedAt`: the cycle does this by itself (``lastRejoin()``), and records when with it.
    @discardableResult
    public func rebaseChain(centralSequence: ChangesetSequence, centralHash: String, rejoinedAt: Date? = nil) throws(ReplicaError) -> Bool {
        try write("rebasing the changeset chain") { db in
            let local = try State.int(db, .lastAckedSequence) ?? 0
            let hash = try State.get(db, .lastHash)
            let unacked = try Int.fetchOne(db, sql: "SELECT count(*) FROM _sync_changeset") ?? 0
            if local == centralSequence.rawValue && unacked == 0 && hash == centralHash { return false }
            try Self.rebase(db, centralSequence: centralSequence, centralHash: centralHash)
            if let rejoinedAt { try State.set(db, .lastRejoinAt, Timestamps.format(rejoinedAt)) }
            return true
        }
    }

    /// When a sync cycle last continued this replica's chain from the centre's by itself, after
    /// the centre answered that it holds one of this office's changesets with other content (a
    /// server restored from an old backup); nil if never.
    public func lastRejoin() throws(ReplicaError) -> Date? {
        try read("reading the last rejoin") { db in Timestamps.parse(try State.get(db, .lastRejoinAt)) }
    }

    /// The rows of `table` this office may send as its own (`?2` is the office): its rows, except
    /// resolutions a person at the centre made, which only the centre sends (re-sent by an office,
    /// a changeset is refused whole). Decisions of the centre in the event log are sent: a restored
    /// centre that lost one keeps the copy as a conflict for its operator (`promo-central decisions lost`).
    static func sendable(_ table: SyncedTable) -> String {
        table == .conflictResolution ? "office = ?2 AND resolved_by = ?2" : "office = ?2"
    }

    /// Queues the rows of `table` this office may send (``sendable(_:)``), or only the one with
    /// `id`, to be pushed again whole. Changes already waiting for them become whole too: they come
    /// first in the outbox, and a changeset cut after them would carry a row the centre may lack as
    /// only the columns changed, which it refuses (found by make chaos --long: an offline office's
    /// update of a row created after the centre's backup). Returns how many rows were queued.
    static func queueWhole(_ db: Database, _ table: SyncedTable, office: String, id: String? = nil) throws -> Int {
        let rows = "FROM \(table.rawValue) WHERE \(sendable(table))" + (id == nil ? "" : " AND id = ?3")
        let arguments: StatementArguments = id.map { [table.tableID, office, $0] } ?? [table.tableID, office]
        try db.cachedStatement(sql: "UPDATE _sync_outbox SET cols = -1 WHERE tbl = ?1 AND row_id IN (SELECT id \(rows))").execute(arguments: arguments)
        try db.cachedStatement(sql: "INSERT INTO _sync_outbox(tbl, row_id, op, cols) SELECT ?1, id, 1, -1 \(rows)").execute(arguments: arguments)
        return db.changesCount
    }

    static func rebase(_ db: Database, centralSequence: ChangesetSequence, centralHash: String) throws {
        // Every entry not acknowledged becomes unsent again, to be made into new changesets.
        try db.execute(sql: "DELETE FROM _sync_changeset")
        try State.set(db, .lastSequence, String(centralSequence.rawValue))
        try State.set(db, .lastAckedSequence, String(centralSequence.rawValue))
        try State.set(db, .lastHash, centralHash)
        // Changesets up to here may hold rows this replica lacks (an old backup, a rebuilt file).
        try State.set(db, .ownSince, String(centralSequence.rawValue))
    }
}

/// What this office's lost server sent the centre, as the centre applied it (its changesets after
/// the last one the restored replica holds as acknowledged): per row, every value each column was
/// sent with, and the rows it deleted.
public struct SentChanges: Sendable {
    var values: [SyncedRowKey: [String: Set<FieldValue>]] = [:]
    var deleted: Set<SyncedRowKey> = []
    /// The latest stamp the lost server gave a change it sent.
    var latest: HLCTimestamp?

    /// Nothing sent yet.
    public init() {}

    /// Adds what `changeset` sent.
    public mutating func add(_ changeset: Changeset) {
        for change in changeset.changes {
            let key = SyncedRowKey(change.table, change.id.rawValue)
            latest = max(latest ?? change.hlc, change.hlc)
            if change.op == .delete {
                deleted.insert(key)
                continue
            }
            for (column, value) in change.fields { values[key, default: [:]][column, default: []].insert(value) }
        }
    }

    /// Whether nothing was sent.
    public var isEmpty: Bool { values.isEmpty && deleted.isEmpty }
}

extension Replica {
    /// After a rebase onto the centre's chain (a server restored from an old backup), withdraws
    /// from the outbox what the office's lost server had already sent (`sent`): a column whose
    /// value waiting to be sent is one that server sent for it, and a delete it sent. Such a
    /// change waited in the backup, and the lost server sent it and perhaps changed the column
    /// again after; sent once more, with a new clock, it would replace those later values. A value
    /// the lost server never sent (work done since the restore) stays to be sent. Returns how many
    /// rows had something withdrawn.
    public func withdrawAlreadySent(_ sent: SentChanges) throws(ReplicaError) -> Int {
        guard !sent.isEmpty else { return 0 }
        return try write("withdrawing waiting changes the lost server had sent") { db in
            // The office's clock never runs backwards, across a restore too: what it stamps from
            // now on comes after what its lost server sent (the centre refuses a change of a row
            // stamped before this office's latest change of it, as a forgery of its past).
            var clock = try Self.officeClock(db)
            if let latest = sent.latest, latest > clock.latest {
                clock.observe(latest, nowMilliseconds: HybridLogicalClock.wallMilliseconds(Date()))
                try State.set(db, .hlc, clock.latest.description)
            }
            // Only with every waiting entry unsent: a changeset made already keeps its values.
            guard try Int.fetchOne(db, sql: "SELECT count(*) FROM _sync_changeset") == 0 else { return 0 }
            let entries = try Row.fetchAll(db, sql: "SELECT tbl, row_id, op, cols, seq FROM _sync_outbox ORDER BY seq")
            let (order, pending) = Self.coalesce(entries)
            var withdrawn = 0
            for change in try Self.capturedChanges(db, order: order, pending: pending) {
                let key = SyncedRowKey(change.table, change.id.rawValue)
                var keep: Int64 = 0
                switch change.op {
                case .delete:
                    guard sent.deleted.contains(key) else { continue }
                case .upsert:
                    guard let values = sent.values[key] else { continue }
                    for (index, column) in change.table.columns.enumerated() {
                        guard let value = change.fields[column.name], values[column.name]?.contains(value) != true else { continue }
                        keep |= 1 << Int64(index)
                    }
                    if keep != 0, change.fields.count == keep.nonzeroBitCount { continue }
                }
                let arguments: StatementArguments = [change.table.tableID, key.id]
                if keep == 0 {
                    try db.execute(sql: "DELETE FROM _sync_outbox WHERE tbl = ? AND row_id = ?", arguments: arguments)
                } else {
                    // One entry in the row's first place, for the columns left to send.
                    let first = try Int64.fetchOne(db, sql: "SELECT min(seq) FROM _sync_outbox WHERE tbl = ? AND row_id = ?", arguments: arguments)
                    try db.execute(sql: "DELETE FROM _sync_outbox WHERE tbl = ? AND row_id = ? AND seq <> ?", arguments: arguments + [first])
                    try db.execute(
                        sql: "UPDATE _sync_outbox SET op = ?, cols = ? WHERE seq = ?",
                        arguments: [CaptureTriggers.Operation.update.rawValue, keep, first])
                }
                withdrawn += 1
            }
            return withdrawn
        }
    }
}
