import Foundation
import GRDB
import SyncCore
import WireFormat

extension CentralStore {
    /// Stores changes in their aggregates' histories (a change seen before is ignored), refolds
    /// every aggregate touched, publishes the rows and conflict records that changed, and marks
    /// the totals of the offices concerned for recomputation. Returns how many changes were new.
    ///
    /// `sequence` is the writer's changeset: a row published exactly as the office sent it is an
    /// echo that office already holds, and its pulls skip it (docs/PROTOCOL.md, `own_since`).
    /// `position` is the changeset's or journal entry's that carries the changes: each history row
    /// keeps it with the writer. The centre's clock takes in the changes at `now` to the second,
    /// the time the changeset or journal entry records, so a replay moves it the same way.
    /// With `refusals`, what the owners' checks (``WriteAuthorization``) refuse is recorded there
    /// instead of thrown (`audit verify` only). With `limits` (an office's push as it arrives, not
    /// a replay), what the push may make the centre refold is bounded and charged to the office.
    static func ingest(
        _ db: Database, changes: [Change], from writer: OfficeCode, sequence: ChangesetSequence? = nil,
        position: Int64, at now: Date, refusals: RuleRefusals? = nil, limits: WriteLimits? = nil, read: ReadHistories? = nil
    ) throws -> Int {
        var touchedRows: Set<SyncedRowKey> = []
        var byAggregate: [String: [Change]] = [:]
        // What the writer sent whole, per row, as encoded for its history: candidates for echo marking.
        var sentWhole: [SyncedRowKey: String] = [:]
        let marksEchoes = writer != .central && sequence != nil
        var hadHistory: [String: Bool] = [:]
        // The aggregates this batch added a change to (not every change is new: one the centre
        // holds already, same row and stamp, is ignored).
        var grew: Set<String> = []
        var new = 0
        var clock = try centreClock(db)
        let merges = try MergeMap(db)
        let rehomed = merges.rehomed
        var records = try RecordWriter(db)
        var authorization = writer == .central ? nil : try WriteAuthorization(db, writer: writer, merges: merges, batch: changes)
        let hasHistory = try DirectStatement(db, "SELECT EXISTS(SELECT 1 FROM history WHERE aggregate = ?)")
        let insertHistory = try DirectStatement(
            db, "INSERT OR IGNORE INTO history(tbl, id, aggregate, hlc, op, fields, writer, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        let wall = UInt64(max(0, now.timeIntervalSince1970.rounded(.down))) * 1000
        // The aggregate of each row met in this batch: a row's later change in the same batch
        // belongs where its first went (records are written after the loop).
        var batchAggregates: [SyncedRowKey: String] = [:]
        for change in changes {
            let key = SyncedRowKey(change.table, change.id.rawValue)
            let stored = try records.lookup.stored(change.table, change.id.rawValue)
            let earlier = batchAggregates[key]
            let aggregate = try stored?.aggregate ?? earlier ?? aggregateID(change)
            batchAggregates[key] = aggregate
            // An office's change is checked against what the centre stores, never against what the
            // changeset says: the row's owner, its parent's owner, the conflict it resolves.
            do {
                try authorization?.check(db, change, stored: stored, seenInBatch: earlier != nil, aggregate: aggregate, records: records.lookup)
            } catch let refusal as CentralError {
                guard let refusals else { throw refusal }
                refusals.all.append(refusal)
            }
            if hadHistory[aggregate] == nil {
                try hasHistory.bind(.text(aggregate))
                hadHistory[aggregate] = try hasHistory.step() && hasHistory.integer(0) != 0
                hasHistory.finish()
            }
            let fields = FieldCoding.encode(change.fields)
            try insertHistory.bind(
                .text(change.table.rawValue), .text(change.id.rawValue), .text(aggregate), .text(change.hlc.description),
                .text(change.op.rawValue), .text(fields), .text(writer.rawValue), .integer(position))
            try insertHistory.run()
            if db.changesCount > 0 {
                new += 1
                grew.insert(aggregate)
            }
            byAggregate[aggregate, default: []].append(change)
            touchedRows.insert(key)
            if marksEchoes, change.op == .upsert, change.fields.count == change.table.columns.count { sentWhole[key] = fields }
            clock.observe(change.hlc, nowMilliseconds: wall)
        }
        try saveCentreClock(db, clock)
        // An office's changes the centre held already change nothing: refolding their aggregates
        // anyway let an office re-send a change of each of its largest projects and hold every
        // office's writes for seconds, as often as it liked.
        let folding = byAggregate.keys.filter { writer == .central || grew.contains($0) }.sorted()
        // Every push refolds its aggregates whole, in the one write transaction: what an office's
        // push makes the centre read back and refold is measured before any of it is (``WriteLimits``).
        if let limits, let sequence {
            let counting = try DirectStatement(db, Self.historySize)
            var work: Int64 = 0
            for aggregate in folding where hadHistory[aggregate] == true {
                // What was read before the transaction, and what was stored since (this push's changes at least).
                let before = read?.histories[aggregate]
                try counting.bind(.text(aggregate), .integer(before == nil ? 0 : read?.lastRow ?? 0))
                var (count, length) = try counting.step() ? (counting.integer(0), counting.integer(1)) : (0, 0)
                counting.finish()
                if let before { (count, length) = (count + Int64(before.changes.count), length + before.characters) }
                if let change = byAggregate[aggregate]?.first { try limits.checkSize(of: aggregate, count: count, first: change) }
                work += WriteLimits.refoldWork(changes: count, characters: length)
            }
            try limits.chargeRefold(work, to: writer, sequence: sequence)
        }
        var offices: Set<String> = []
        let caps = folding.isEmpty ? [] : try supportCaps(db)
        for aggregate in folding {
            // A new aggregate's whole history is in this batch: no need to read it back.
            let history = hadHistory[aggregate] == true ? nil : byAggregate[aggregate]
            offices.formUnion(
                try refold(
                    db, aggregate: aggregate, history: history, read: read, republish: touchedRows, rehomed: rehomed, caps: caps,
                    echo: sequence.map { (writer.rawValue, $0.rawValue, sentWhole) }, records: &records))
        }
        // Totals are recomputed once before they are next read, not after every changeset: a
        // backlog of a hundred changesets costs one recomputation.
        for office in offices.sorted() where office != OfficeCode.central.rawValue {
            try markTotalsPending(db, office: OfficeCode(unchecked: office))
        }
        return new
    }

    /// The changes of `aggregate`'s history stored after history row `afterRow` (0: all of them).
    /// The history is only ever appended to, so a row stored after another has a larger rowid.
    static func historyChanges(_ db: Database, aggregate: String, afterRow: Int64) throws -> [Change] {
        let statement = try db.cachedStatement(sql: "SELECT tbl, id, hlc, op, fields FROM history WHERE aggregate = ? AND rowid > ?")
        var changes: [Change] = []
        for row in try Row.fetchAll(statement, arguments: [aggregate, afterRow]) {
            guard let table = SyncedTable(rawValue: row["tbl"]), let op = ChangeOperation(rawValue: row["op"]) else { continue }
            changes.append(
                Change(
                    table: table, id: RowID(unchecked: row["id"]), op: op, hlc: try HLCTimestamp(parsing: row["hlc"]),
                    fields: try FieldCoding.decode(row["fields"] as String)))
        }
        return changes
    }

    /// The stored histories of the aggregates a push adds to, read and decoded before its write
    /// transaction, from a snapshot that other offices' writes do not wait for: the refold in the
    /// transaction then reads only what was stored since (this push's changes, and another
    /// write's in between). Reading and decoding a long history was about 40 % of its refold,
    /// all of it inside the lock every office's pushes wait for.
    struct ReadHistories {
        /// The last history row the snapshot held.
        let lastRow: Int64
        /// By aggregate: its changes as stored then, and their characters of fields.
        let histories: [String: (changes: [Change], characters: Int64)]
    }

    /// Reads the histories of the aggregates `changes` add to (``ReadHistories``), when they are
    /// long enough to be worth it and `office` may have them refolded now; nil otherwise, and on
    /// any error (the transaction then reads what it needs itself).
    func readHistories(of changes: [Change], office: OfficeCode, limits: WriteLimits) -> ReadHistories? {
        try? database.read { db -> ReadHistories? in
            let lookup = try RecordLookup(db)
            var aggregates: Set<String> = []
            for change in changes {
                if let aggregate = try lookup.stored(change.table, change.id.rawValue)?.aggregate ?? (try? Self.aggregateID(change)) {
                    aggregates.insert(aggregate)
                }
            }
            let lastRow = try Int64.fetchOne(db, sql: "SELECT coalesce(max(rowid), 0) FROM history") ?? 0
            let sizing = try DirectStatement(db, Self.historySize)
            var long: [String: Int64] = [:]
            var work: Int64 = 0
            for aggregate in aggregates {
                try sizing.bind(.text(aggregate), .integer(0))
                let (count, length) = try sizing.step() ? (sizing.integer(0), sizing.integer(1)) : (0, 0)
                sizing.finish()
                work += WriteLimits.refoldWork(changes: count, characters: length)
                if count >= Self.historyReadAhead { long[aggregate] = length }
            }
            // A push the limits would refuse is not read for; short histories are read in the transaction.
            guard !long.isEmpty, limits.affords(work, office: office) else { return nil }
            var histories: [String: (changes: [Change], characters: Int64)] = [:]
            for (aggregate, length) in long { histories[aggregate] = (try Self.historyChanges(db, aggregate: aggregate, afterRow: 0), length) }
            return ReadHistories(lastRow: lastRow, histories: histories)
        } ?? nil
    }

    /// How many changes an aggregate's history holds after a history row, with how many
    /// characters of fields: what refolding them costs (``WriteLimits/refoldWork(changes:characters:)``).
    static let historySize = "SELECT count(*), total(length(fields)) FROM history WHERE aggregate = ? AND rowid > ?"

    /// The fewest stored changes an aggregate's history has for a push to read it before its
    /// write transaction.
    static let historyReadAhead: Int64 = 256

    /// The aggregate a change of a row the centre does not hold yet belongs to: a project with its
    /// ledger, events and resolutions, a plan line, or a programme. A row the centre holds stays
    /// in the aggregate it was first stored in (a ledger entry never moves to another project; the
    /// fold refuses the edit as it refuses any edit of a recorded entry).
    static func aggregateID(_ change: Change) throws -> String {
        if change.table.isAggregateRoot { return change.id.rawValue }
        let field = change.table == .conflictResolution ? "aggregate_id" : "project_id"
        if let id = change.fields[field]?.text { return id }
        throw CentralError.badRequest(
            "\(change.table.rawValue) \(change.id) names no \(field) and is not known to the centre",
            hint: "Send the whole row the first time it is pushed.")
    }

    /// Refolds one aggregate and writes what changed; returns the offices whose records changed.
    /// Rows in `republish` get a new log position even when unchanged: a writer whose change was
    /// refused must pull the row that stood, or its replica would keep the refused value.
    ///
    /// `history` is the aggregate's whole history when the caller has it (a new aggregate, which
    /// therefore has no conflict records yet); otherwise it is read from the store. `echo` names
    /// the writer, its changeset and the rows it sent whole: such a row published exactly as sent
    /// is marked as that office's echo. `records` writes them and hands out their change-log positions.
    ///
    /// `read`: histories read before the write transaction (``readHistories(of:office:limits:)``):
    /// only what was stored since is read here.
    static func refold(
        _ db: Database, aggregate: String, history: [Change]? = nil, read: ReadHistories? = nil, republish: Set<SyncedRowKey> = [],
        republishConflicts: Bool = false, rehomed: [String: String], caps: [SupportCap],
        echo: (office: String, sequence: Int64, rows: [SyncedRowKey: String])? = nil,
        records: inout RecordWriter
    ) throws -> Set<String> {
        var changes: [Change] = []
        if let history {
            changes = history
        } else if let read, let before = read.histories[aggregate] {
            changes = try before.changes + historyChanges(db, aggregate: aggregate, afterRow: read.lastRow)
        } else {
            changes = try historyChanges(db, aggregate: aggregate, afterRow: 0)
        }
        let result = AggregateFold.fold(aggregateID: aggregate, changes: changes, rehomed: rehomed, caps: caps)
        var offices: Set<String> = []
        for row in result.rows {
            let key = SyncedRowKey(row.table, row.id)
            var echoOf: (office: String, sequence: Int64, sent: String)?
            if let echo, row.office == echo.office, row.state.deletedAt == nil, let sent = echo.rows[key] {
                echoOf = (echo.office, echo.sequence, sent)
            }
            if try records.put(
                table: row.table.rawValue, id: row.id, office: row.office, aggregate: aggregate,
                fields: row.state.fields, clocks: row.state.clocks, deletedAt: row.state.deletedAt?.description, held: row.held,
                force: republish.contains(key), echo: echoOf)
            {
                offices.insert(row.office)
            }
        }
        // Conflict records are published like any record, to the office they belong to; one the
        // fold no longer produces (a late change re-decided it) becomes a tombstone.
        var current: Set<String> = []
        for conflict in result.conflicts {
            current.insert(conflict.id)
            if try records.put(
                table: "conflict", id: conflict.id, office: conflict.office, aggregate: aggregate,
                fields: conflict.publishedFields(), clocks: [:], deletedAt: nil, held: false, force: republishConflicts)
            {
                offices.insert(conflict.office)
            }
        }
        let published =
            history != nil
            ? []
            : try Row.fetchAll(
                try db.cachedStatement(sql: "SELECT id, office FROM record WHERE aggregate = ? AND tbl = 'conflict' AND deleted_at IS NULL"),
                arguments: [aggregate])
        for row in published where !current.contains(row["id"]) {
            try db.execute(
                sql: "UPDATE record SET deleted_at = ?, seq = ? WHERE tbl = 'conflict' AND id = ?",
                arguments: [HLCTimestamp.zero.description, records.nextPosition(), row["id"] as String])
            offices.insert(row["office"])
        }
        return offices
    }

    /// The centre's clock now: the latest stamp it made or observed.
    public func clock() throws(CentralError) -> HLCTimestamp {
        do { return try database.read { db in try Self.centreClock(db).latest } } catch {
            throw CentralError.storage(error, during: "reading the centre's clock")
        }
    }

    static func centreClock(_ db: Database) throws -> HybridLogicalClock {
        let latest = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'hlc'").flatMap { try? HLCTimestamp(parsing: $0) }
        return HybridLogicalClock(node: OfficeCode.central.rawValue, latest: latest ?? .zero)
    }

    static func saveCentreClock(_ db: Database, _ clock: HybridLogicalClock) throws {
        try db.execute(
            sql: "INSERT INTO meta(key, value) VALUES ('hlc', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            arguments: [clock.latest.description])
    }
}
