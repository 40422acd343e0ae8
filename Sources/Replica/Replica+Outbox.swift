import Foundation
import GRDB
import SyncCore
import WireFormat

extension Replica {
    /// Returns the changeset to push next: the oldest one made but not yet acknowledged (re-sent
    /// byte for byte, so the centre can recognise it), or a new one made from the outbox, or nil
    /// when nothing is pending.
    ///
    /// Making a changeset and marking its outbox entries happen in one transaction, so a crash
    /// leaves either both or neither. Outbox entries stay until the centre acknowledges.
    public func nextChangeset(maxChanges: Int = 1_000, now: Date = Date()) throws(ReplicaError) -> Changeset? {
        try write("making a changeset") { db in
            if let body = try Data.fetchOne(db, sql: "SELECT body FROM _sync_changeset ORDER BY seq LIMIT 1") {
                return try Changeset(jsonData: body)
            }
            return try Self.makeChangeset(db, maxChanges: maxChanges, now: now)
        }
    }

    /// Makes the changeset that will follow the one being pushed, while that one travels and is
    /// applied, so the office's share of a push overlaps the centre's. Makes at most one ahead:
    /// nothing when two changesets already wait for acknowledgement, or nothing is pending.
    /// Returns the changeset made, if any. Sending order is unchanged (``nextChangeset`` returns
    /// the oldest), and a crash leaves a made changeset to be sent as any other.
    public func makeChangesetAhead(maxChanges: Int = 1_000, now: Date = Date()) throws(ReplicaError) -> Changeset? {
        try write("making the next changeset") { db in
            guard try Int.fetchOne(db, sql: "SELECT count(*) FROM _sync_changeset") ?? 0 < 2 else { return nil }
            return try Self.makeChangeset(db, maxChanges: maxChanges, now: now)
        }
    }

    /// Makes a changeset from the unsent outbox entries; nil when nothing is pending. Entries of
    /// updates that changed nothing are dropped on the way.
    private static func makeChangeset(_ db: Database, maxChanges: Int, now: Date) throws -> Changeset? {
        while true {
            switch try makeChangesetFromOldestEntries(db, maxChanges: maxChanges, now: now) {
            case .made(let changeset): return changeset
            case .nothingPending: return nil
            case .onlyNoOps: continue
            }
        }
    }

    /// Puts every pending outbox entry into changesets now, with the values and the clock of this
    /// moment. A status move calls it before and after it writes: capture keeps which rows changed,
    /// not their values, so steps left to be coalesced reach the centre as one jump from the last
    /// pushed status (refused as a `status_transition`), and an entry written between two moves
    /// would be judged against the later status (held as `payment_not_allowed`). Sealed before
    /// each move, every move arrives on its own, after what was written before it.
    static func sealPending(_ db: Database, now: Date) throws {
        while try makeChangeset(db, maxChanges: 1_000, now: now) != nil {}
    }

    private enum Making {
        case made(Changeset)
        case nothingPending, onlyNoOps
    }

    private static func makeChangesetFromOldestEntries(_ db: Database, maxChanges: Int, now: Date) throws -> Making {
        // 1. Take the oldest entries not yet in a changeset, 2. coalesce them per row (in the
        // order rows were first touched), 3. read the rows' current values; and take more entries
        // while those values name a parent that is first written after the cut.
        let afterSeq = try lastChangesetSeq(db)  // entries after it are in no changeset yet
        var limit = maxChanges
        var lastSeq: Int64
        var changes: [Change]
        while true {
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT tbl, row_id, op, cols, seq FROM _sync_outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                arguments: [afterSeq, limit])
            guard let lastEntry = rows.last else { return .nothingPending }
            lastSeq = lastEntry[4]
            let (order, pending) = coalesce(rows)
            changes = try capturedChanges(db, order: order, pending: pending)
            guard rows.count == limit, limit < WireProtocol.maxChangesPerChangeset,
                let more = try laterParentInsert(
                    db, of: changes, after: lastSeq, within: WireProtocol.maxChangesPerChangeset - limit, sending: Set(order.map(\.id)))
            else { break }
            limit += more
        }

        // Each change stamped with the office's clock, in order.
        let office = try State.get(db, .office) ?? ""
        var clock = try officeClock(db)
        let wall = HybridLogicalClock.wallMilliseconds(now)
        for index in changes.indices { changes[index].hlc = clock.tick(nowMilliseconds: wall) }

        // Updates that wrote the values already there change nothing: their entries go, unsent.
        if changes.isEmpty {
            try db.execute(sql: "DELETE FROM _sync_outbox WHERE seq > ? AND seq <= ?", arguments: [afterSeq, lastSeq])
            return .onlyNoOps
        }

        // 4. Chain it onto the last changeset and store it for (re-)sending.
        let sequence = ChangesetSequence((try State.int(db, .lastSequence) ?? 0) + 1)
        let previous = try State.get(db, .lastHash) ?? Changeset.genesisHash
        let changeset = Changeset(office: OfficeCode(unchecked: office), sequence: sequence, previousHash: previous, changes: changes)
        try db.execute(
            sql: "INSERT INTO _sync_changeset(seq, hash, previous_hash, change_count, body, created_at, last_seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [
                sequence.rawValue, changeset.hash, previous, changes.count, changeset.jsonData(), Int64(now.timeIntervalSince1970),
                lastSeq,
            ])
        try State.set(db, .lastSequence, String(sequence.rawValue))
        try State.set(db, .lastHash, changeset.hash)
        try State.set(db, .hlc, clock.latest.description)
        return .made(changeset)
    }

    /// The changes that coalesced outbox entries add up to, one per row in `order` that they
    /// changed: a delete, or an upsert of the columns changed with the row's current values. Their
    /// clocks are left at zero for the caller to stamp.
    static func capturedChanges(_ db: Database, order: [SyncedRowKey], pending: [SyncedRowKey: CaptureTriggers.RowChanges]) throws -> [Change] {
        var changes: [Change] = []
        changes.reserveCapacity(order.count)
        // A row's synced columns in `SyncedTable.columns` order, read by position: one statement
        // per table, from the connection's cache (this runs after every office command and on each
        // pass that widens a changeset), looked up once per call.
        var readers: [SyncedTable: Statement] = [:]
        func reader(_ table: SyncedTable) throws -> Statement {
            if let statement = readers[table] { return statement }
            let statement = try db.cachedStatement(sql: table.selectColumnsByIDSQL)
            readers[table] = statement
            return statement
        }
        for key in order {
            guard let entry = pending[key], !entry.isEmpty else { continue }
            let columns = key.table.columns
            let current = entry.deleted ? nil : try Row.fetchOne(try reader(key.table), arguments: [key.id])
            guard let current else {
                changes.append(Change(table: key.table, id: RowID(unchecked: key.id), op: .delete, hlc: .zero, fields: [:]))
                continue
            }
            var fields = [String: FieldValue](minimumCapacity: columns.count)
            for (index, column) in columns.enumerated()
            where entry.contains(column: index) {
                fields[column.name] = fieldValue(current[index])
            }
            changes.append(Change(table: key.table, id: RowID(unchecked: key.id), op: .upsert, hlc: .zero, fields: fields))
        }
        return changes
    }

    /// How many of the `window` entries after `seq` a changeset must take to reach the last of
    /// them that inserts a row these changes name as their parent (``SyncedTable/parentColumns``)
    /// and that is not among the rows `sending`; nil when none does. Values are read when a
    /// changeset is made, so a project sent in one changeset can already name a programme added
    /// after it, whose insert would come in a later one: the centre refuses such a changeset whole
    /// (`unknown_parent`), and everything after it waits. The window keeps the changeset within
    /// what the centre accepts, and the scan (the outbox has no index on rows) within a few
    /// thousand entries however long the backlog.
    static func laterParentInsert(_ db: Database, of changes: [Change], after seq: Int64, within window: Int, sending: Set<String>) throws -> Int? {
        var parents: Set<String> = []
        for change in changes where change.op == .upsert {
            for column in change.table.parentColumns {
                if case .text(let id)? = change.fields[column], !sending.contains(id) { parents.insert(id) }
            }
        }
        guard !parents.isEmpty else { return nil }
        let roots = SyncedTable.allCases.filter(\.isAggregateRoot).map { String($0.tableID) }.joined(separator: ",")
        // (A window function numbering the entries took 6 times as long as the count after.)
        let sql = """
            SELECT max(seq) FROM (SELECT seq, tbl, row_id, op FROM _sync_outbox WHERE seq > ? ORDER BY seq LIMIT ?)
            WHERE op = \(CaptureTriggers.Operation.insert.rawValue) AND tbl IN (\(roots))
              AND row_id IN (\(Array(repeating: "?", count: parents.count).joined(separator: ",")))
            """
        guard let last = try Int64.fetchOne(db, sql: sql, arguments: [seq, window] + StatementArguments(parents.sorted())) else { return nil }
        return try Int.fetchOne(db, sql: "SELECT count(*) FROM _sync_outbox WHERE seq > ? AND seq <= ?", arguments: [seq, last])
    }

    /// The last outbox entry written (0 when none ever was): what a transaction captures comes after
    /// it. (`seq` is a plain rowid, so it is reused once the highest entries are deleted; inside a
    /// command only a status move deletes any, the no-op entries it seals, and what it writes after
    /// that, a known status and an event of a known kind, is valid by construction.)
    static func lastOutboxEntry(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM _sync_outbox") ?? 0
    }

    /// Refuses the writes of the transaction when a value it captured after outbox entry `seq`
    /// breaks a rule of ``ValueRules``, with `Change.validate`: the check the centre makes of every
    /// pushed change. An office command that wrote such a value would make a changeset the centre
    /// refuses whole, and every later change of the office would wait behind it; so the command
    /// fails and nothing of it is kept (docs/CONFLICTS.md, "Invariants and where they are enforced").
    static func checkCapturedValues(_ db: Database, after seq: Int64) throws {
        let entries = try Row.fetchAll(db, sql: "SELECT tbl, row_id, op, cols FROM _sync_outbox WHERE seq > ? ORDER BY seq", arguments: [seq])
        guard !entries.isEmpty else { return }
        let office = try State.get(db, .office).map(OfficeCode.init(unchecked:))
        let (order, pending) = coalesce(entries)
        for change in try capturedChanges(db, order: order, pending: pending) where change.op == .upsert {
            do throws(SyncCoreError) { try change.validate(writer: office) } catch {
                // The row as people know it, not only its id.
                let named = "\(change.table.rawValue) \(change.id)"
                var message = error.message
                if message.hasPrefix(named) { message = try rowLabel(db, change.table, change.id.rawValue) + message.dropFirst(named.count) }
                throw ReplicaError(.invalidInput, message, hint: "Nothing was saved. Correct the value and run the command again.")
            }
        }
    }

    /// The office's clock as last saved: what it stamped and what it has seen of the centre's.
    static func officeClock(_ db: Database) throws -> HybridLogicalClock {
        HybridLogicalClock(node: try State.get(db, .office) ?? "", latest: try State.get(db, .hlc).flatMap { try? HLCTimestamp(parsing: $0) } ?? .zero)
    }

    /// Outbox entries (columns `tbl, row_id, op, cols` first, in `seq` order) added up per row: the
    /// union of changed columns and whether the row ends deleted, with the rows in the order they
    /// were first touched.
    static func coalesce(_ entries: [Row]) -> (order: [SyncedRowKey], byRow: [SyncedRowKey: CaptureTriggers.RowChanges]) {
        var order: [SyncedRowKey] = []
        var byRow: [SyncedRowKey: CaptureTriggers.RowChanges] = [:]
        for entry in entries {
            guard let table = SyncedTable(tableID: entry[0]) else { continue }
            let key = SyncedRowKey(table, entry[1])
            if byRow[key] == nil { order.append(key) }
            byRow[key, default: .init()].add(op: entry[2], cols: entry[3])
        }
        return (order, byRow)
    }

    /// The last outbox entry in a changeset made (sent or not); later entries are unsent.
    static func lastChangesetSeq(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT coalesce(max(last_seq), 0) FROM _sync_changeset") ?? 0
    }

    static func fieldValue(_ value: DatabaseValue) -> FieldValue {
        switch value.storage {
        case .null: .null
        case .int64(let i): .integer(i)
        case .string(let s): .text(s)
        case .double(let d): .integer(Int64(d))  // STRICT tables never hold REAL in synced columns
        case .blob(let b): .text(String(decoding: b, as: UTF8.self))
        }
    }

    /// Records the centre's acknowledgement of a changeset: its outbox entries and stored body go.
    public func acknowledge(_ sequence: ChangesetSequence, now: Date = Date()) throws(ReplicaError) {
        // Without waiting for the disk: lost to a power cut, the changeset is sent again and
        // acknowledged as a duplicate. Unless it clears a refusal: back after a cut, the refusal
        // would let a person's `outbox withdraw` or `retry` make again a changeset the centre holds.
        let clearsRefusal: @Sendable (Database) throws -> Bool = { db in try State.get(db, .refusal) != nil }
        try writeRecoverable("recording an acknowledgement", unless: clearsRefusal) { db in
            try db.execute(
                sql: "DELETE FROM _sync_outbox WHERE seq <= (SELECT last_seq FROM _sync_changeset WHERE seq = ?)",
                arguments: [sequence.rawValue])
            try db.execute(sql: "DELETE FROM _sync_changeset WHERE seq = ?", arguments: [sequence.rawValue])
            try State.set(db, .lastAckedSequence, String(sequence.rawValue))
            try State.set(db, .lastPushAt, Timestamps.format(now))
            // The changeset the centre refused was the oldest waiting; one acknowledged now means
            // the refusal was dealt with.
            try State.set(db, .refusal, nil)
        }
    }

    /// How much is waiting to be pushed.
    public func pendingSummary() throws(ReplicaError) -> PendingSummary {
        try read("counting pending changes") { db in try Self.pendingSummary(db) }
    }

    /// How much is waiting to be pushed. The capture triggers keep no time (a time stamp in them
    /// cost each write a statement journal; Schema `v6`), so the oldest pending change is dated by
    /// the oldest changeset made but not acknowledged: the daemon makes one as soon as it sees a
    /// write, and keeps re-sending that one while the centre cannot be reached.
    static func pendingSummary(_ db: Database) throws -> PendingSummary {
        let changes = try Int.fetchOne(db, sql: "SELECT count(*) FROM _sync_outbox") ?? 0
        let changesets = try Row.fetchOne(db, sql: "SELECT count(*) AS n, min(created_at) AS oldest FROM _sync_changeset")
        let oldest: Int64? = changesets?["oldest"]
        return PendingSummary(
            changes: changes, unacknowledgedChangesets: changesets?["n"] ?? 0,
            oldestChangeAt: oldest.map { Date(timeIntervalSince1970: TimeInterval($0)) })
    }

    /// Cheap numbers, read in one go, that change when something new waits to be pushed: the
    /// highest outbox entry not yet in a changeset (0 when none) and the last acknowledged
    /// changeset. The daemon reads them to wake soon after a local write.
    public func unsentMark() throws(ReplicaError) -> UnsentMark {
        try read("reading the outbox") { db in
            UnsentMark(
                highWater: try Int64.fetchOne(
                    db, sql: "SELECT coalesce(max(seq), 0) FROM _sync_outbox WHERE seq > ?", arguments: [try Self.lastChangesetSeq(db)]) ?? 0,
                lastAcked: try State.int(db, .lastAckedSequence) ?? 0)
        }
    }
}

/// The changes waiting for the centre.
public struct PendingSummary: Sendable, Equatable, Codable {
    /// Outbox entries not yet acknowledged (captured writes).
    public var changes: Int
    /// Changesets made and sent (or about to be) but not acknowledged.
    public var unacknowledgedChangesets: Int
    /// When the oldest unacknowledged changeset was made: as soon as the daemon saw its first
    /// change (within a second of the write while the daemon runs). Nil while no changeset is made,
    /// even if changes wait (the daemon has not seen them yet, or is not running).
    public var oldestChangeAt: Date?
}

/// What ``Replica/unsentMark()`` reads. Outbox numbers restart once the outbox empties, so the
/// acknowledged sequence tells a new entry from one a cycle left unsent.
public struct UnsentMark: Equatable, Sendable {
    /// The highest outbox entry not yet in a changeset, 0 when none.
    public var highWater: Int64
    /// The last changeset the centre acknowledged.
    public var lastAcked: Int64

    /// Wraps the two numbers.
    public init(highWater: Int64, lastAcked: Int64) {
        self.highWater = highWater
        self.lastAcked = lastAcked
    }
}
