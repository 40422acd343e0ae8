import CSQLite
import Foundation
import GRDB
import SyncCore
import WireFormat

/// Where the office stands in the central change log.
public struct SyncPosition: Sendable, Equatable {
    /// The position in the centre's change log past which the next pull asks for records; 0 before the first.
    public var cursor: PullCursor
    /// The central epoch this office last synced with; nil before the first contact.
    public var epoch: Epoch?
    /// See `promo-sync`'s `own_since` in docs/PROTOCOL.md.
    public var ownSince: Int64 = 0
    /// The last changeset the centre acknowledged.
    public var lastAcked: Int64 = 0

    /// The changesets this replica made and the centre acknowledged, if any.
    public var ownChangesets: ClosedRange<Int64>? { lastAcked > ownSince ? (ownSince + 1)...lastAcked : nil }

    /// Creates a position from its parts; with no changesets acknowledged, `ownChangesets` is nil.
    public init(cursor: PullCursor, epoch: Epoch?, ownSince: Int64 = 0, lastAcked: Int64 = 0) {
        self.cursor = cursor
        self.epoch = epoch
        self.ownSince = ownSince
        self.lastAcked = lastAcked
    }
}

/// What applying one pulled page did.
public struct PullApplyResult: Sendable, Equatable {
    /// Records written from the page (synced and consolidated), whether or not some of their fields were kept local.
    public var applied: Int
    /// Fields left as they are because a local change to them is still waiting to be pushed.
    public var keptLocal: Int
    /// Records of tables this version does not know (from a newer centre); skipped, not fatal.
    /// Records, or fields of records, that this release cannot apply (a table or a column of a
    /// later release): kept in `_sync_deferred` and applied when an upgrade can.
    public var deferred: Int
    /// Pending changes kept aside (`_sync_withdrawn`) because the rows went back to an office whose
    /// merge into this one was undone (``ConsolidatedTable/recall``).
    public var keptAside = 0
    /// Whether the changesets not yet acknowledged, the oldest refused, were made again without
    /// the changes of recalled rows, which were kept aside: the refusal is cleared, and the caller
    /// pushes them again.
    public var clearedRefusal = false
}

extension Replica {
    /// The saved cursor and epoch.
    public func syncPosition() throws(ReplicaError) -> SyncPosition {
        try read("reading the sync position") { db in
            SyncPosition(
                cursor: PullCursor(try State.int(db, .cursor) ?? 0),
                epoch: try State.get(db, .epoch).map(Epoch.init),
                ownSince: try State.int(db, .ownSince) ?? 0,
                lastAcked: try State.int(db, .lastAckedSequence) ?? 0)
        }
    }

    /// Applies one page pulled from the centre and saves its cursor, all in one transaction: a
    /// crash or a stop leaves the page either wholly applied with its cursor, or not at all.
    ///
    /// Fields with a local change still waiting to be pushed keep their local value: the push
    /// carries it to the centre, whose merge decides, and a later pull brings the outcome.
    ///
    /// The page commits without waiting for the disk (`synchronous = NORMAL`): a power cut can only
    /// lose whole pages together with their cursor, which the next pull fetches again. The office's
    /// own writes keep the full durability of every other transaction. So does a page that may
    /// apply a recall (one it carries, or one waiting): a recall may make the changesets waiting
    /// again (``applyRecall(_:_:now:making:)``), and those are pushed next; lost to a power cut
    /// after the centre took them, the office would push the old ones, which the centre refuses as
    /// another changeset under a number it holds. `changesetsMadeAgain`: a page before it in the
    /// same pull made them again, and none was sent since (``PullApplyResult/clearedRefusal``).
    ///
    /// `centreClock`, the centre's clock sent with the page, moves the office's clock past it in
    /// the same transaction, so that changes made after pulling a decision are stamped after it
    /// whatever the office's wall clock says (lost with the page, it comes again with it).
    public func applyPulledPage(
        _ page: PullResponse, centreClock: HLCTimestamp? = nil, changesetsMadeAgain: Bool = false, now: Date = Date()
    ) throws(ReplicaError) -> PullApplyResult {
        let recall = ConsolidatedTable.recall.rawValue
        let carriesRecall = page.records.contains { $0.table == recall }
        let mayApplyRecall: @Sendable (Database) throws -> Bool = { db in
            try carriesRecall || Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM _sync_deferred WHERE tbl = ?)", arguments: [recall]) ?? false
        }
        return try writeRecoverable("applying a pulled page", unless: mayApplyRecall) { [faults] db in
            if let centreClock {
                var clock = try Self.officeClock(db)
                if centreClock > clock.latest {
                    clock.observe(centreClock, nowMilliseconds: HybridLogicalClock.wallMilliseconds(now))
                    try State.set(db, .hlc, clock.latest.description)
                }
            }
            // Our own capture triggers must not echo the centre's records back into the outbox.
            return try CaptureTriggers.suspended(db) {
                try Self.applyPage(db, page, making: changesetsMadeAgain ? .alreadyMadeAgain : .whenRefused, now: now, faults: faults)
            }
        }
    }

    private static func applyPage(
        _ db: Database, _ page: PullResponse, making: MakingAgain, now: Date, faults: FaultInjector
    ) throws -> PullApplyResult {
        var result = PullApplyResult(applied: 0, keptLocal: 0, deferred: 0)
        let pending = try Self.pendingChanges(db)
        var upserts = try WholeRowUpserts(db)
        var deferrals = try Deferrals(db)
        if deferrals.anyKept {
            let retried = try Self.retryRecalls(db, page: page, now: now, making: making)
            result.keptAside += retried.keptAside
            result.clearedRefusal = result.clearedRefusal || retried.clearedRefusal
        }
        for record in page.records {
            if let table = SyncedTable(rawValue: record.table) {
                let applied = try Self.applySynced(db, table: table, record: record, pending: pending, upserts: &upserts)
                result.keptLocal += applied.keptLocal
                if try deferrals.keepUnknownFields(of: record, in: table, onlyColumns: applied.onlyColumns) { result.deferred += 1 }
                result.applied += 1
            } else if let table = ConsolidatedTable(rawValue: record.table) {
                if table != .recall {
                    try Self.applyConsolidated(db, table: table, record: record)
                } else if let recalled = try Self.applyRecall(db, record, now: now, making: result.clearedRefusal ? .alreadyMadeAgain : making) {
                    result.keptAside += recalled.keptAside
                    result.clearedRefusal = result.clearedRefusal || recalled.clearedRefusal
                    try deferrals.drop(record)
                } else {
                    try deferrals.keep(record, whole: true)
                    result.deferred += 1
                    continue
                }
                result.applied += 1
            } else {
                try deferrals.keep(record, whole: true)
                result.deferred += 1
            }
        }
        try faults.check(.afterApplyBeforeCursorSave)
        try State.set(db, .cursor, String(page.nextCursor.rawValue))
        try State.set(db, .epoch, page.epoch.rawValue)
        try State.set(db, .lastPullAt, Timestamps.format(now))
        return result
    }

    /// Local changes still waiting for the centre, by row: one read of the outbox
    /// (usually empty when pulling, since a cycle pushes first) instead of a lookup per row.
    static func pendingChanges(_ db: Database) throws -> [SyncedRowKey: CaptureTriggers.RowChanges] {
        coalesce(try Row.fetchAll(db, sql: "SELECT tbl, row_id, op, cols FROM _sync_outbox ORDER BY seq")).byRow
    }

    /// What a pull brings that this release cannot apply, kept until a release that can opens the
    /// replica (``applyDeferred(_:)``): the cursor moves past a record only once it is applied or
    /// kept, so an upgrade never needs the log pulled again (docs/PROTOCOL.md, "Versions").
    struct Deferrals {
        private let db: Database
        /// Whether anything is kept: while nothing is, a record with no unknown field costs no statement.
        private(set) var anyKept: Bool

        init(_ db: Database) throws {
            self.db = db
            anyKept = try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM _sync_deferred)") ?? false
        }

        /// Keeps the fields of `record` that `table` has no column for (the rest was applied);
        /// a newer version of the record without them drops what was kept. Returns whether it kept any.
        /// `onlyColumns`: the record is already known to carry no such field (``SyncedApply``).
        mutating func keepUnknownFields(of record: PulledRecord, in table: SyncedTable, onlyColumns: Bool) throws -> Bool {
            var unknown: [String: FieldValue] = [:]
            if !onlyColumns {
                for (name, value) in record.fields where value != .null && table.column(named: name) == nil { unknown[name] = value }
            }
            if unknown.isEmpty || record.deleted {
                if anyKept { try db.execute(sql: "DELETE FROM _sync_deferred WHERE tbl = ? AND row_id = ?", arguments: [record.table, record.id]) }
                return false
            }
            var partial = record
            partial.fields = unknown
            try keep(partial, whole: false)
            return true
        }

        /// Forgets what was kept of `record`'s row: a later version of it was applied whole.
        func drop(_ record: PulledRecord) throws {
            if anyKept { try db.execute(sql: "DELETE FROM _sync_deferred WHERE tbl = ? AND row_id = ?", arguments: [record.table, record.id]) }
        }

        /// Keeps `record` (whole: a table this release does not know, or a recall that must wait; or only its unknown fields).
        mutating func keep(_ record: PulledRecord, whole: Bool) throws {
            try db.execute(
                sql: "INSERT OR REPLACE INTO _sync_deferred(tbl, row_id, office, deleted, fields, cursor, whole) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [record.table, record.id, record.office.rawValue, record.deleted, FieldCoding.encode(record.fields), record.cursor.rawValue, whole])
            anyKept = true
        }
    }

    /// Applies what an older release kept aside and this one understands: whole records of a table
    /// it now has, and fields that are now columns (written into the row the older release
    /// applied; the centre's values, so capture is off). What is still unknown stays kept.
    static func applyDeferred(_ db: Database) throws {
        let kept = try Row.fetchAll(db, sql: "SELECT tbl, row_id, office, deleted, fields, cursor, whole FROM _sync_deferred ORDER BY cursor")
        guard !kept.isEmpty else { return }
        var upserts = try WholeRowUpserts(db)
        let pending = try pendingChanges(db)
        for row in kept {
            let record = PulledRecord(
                cursor: PullCursor(row["cursor"]), table: row["tbl"], id: row["row_id"], office: OfficeCode(unchecked: row["office"]),
                deleted: row["deleted"], fields: try FieldCoding.decode(row["fields"] as String))
            let done: Bool
            if let table = SyncedTable(rawValue: record.table) {
                if row["whole"] as Bool {
                    _ = try applySynced(db, table: table, record: record, pending: pending, upserts: &upserts)
                    done = true
                } else {
                    let now = record.fields.filter { table.column(named: $0.key) != nil }
                    if !now.isEmpty {
                        let names = now.keys.sorted()
                        try db.execute(
                            sql: "UPDATE \(table.rawValue) SET \(names.map { "\($0) = ?" }.joined(separator: ", ")) WHERE id = ?",
                            arguments: StatementArguments(names.map { databaseValue(now[$0]) } + [record.id]))
                        try DigestCache.markChanged(db, table, record.id)
                    }
                    done = now.count == record.fields.count
                    if !done, !now.isEmpty {
                        try db.execute(
                            sql: "UPDATE _sync_deferred SET fields = ? WHERE tbl = ? AND row_id = ?",
                            arguments: [FieldCoding.encode(record.fields.filter { table.column(named: $0.key) == nil }), record.table, record.id])
                    }
                }
            } else if record.table == ConsolidatedTable.recall.rawValue {
                done = try applyRecall(db, record, now: Date(), making: .never) != nil
            } else if let table = ConsolidatedTable(rawValue: record.table) {
                try applyConsolidated(db, table: table, record: record)
                done = true
            } else {
                done = false
            }
            if done { try db.execute(sql: "DELETE FROM _sync_deferred WHERE tbl = ? AND row_id = ?", arguments: [record.table, record.id]) }
        }
    }

    /// The whole-row upserts of the synced tables, prepared once per page (not looked up by their
    /// SQL text per row) and bound straight from the record: the hot loop of an initial sync.
    struct WholeRowUpserts {
        private let db: Database
        private var statements: [SyncedTable: Statement] = [:]
        /// Whether the rows written are marked for the stored digests (``DigestCache``).
        let marksDigests: Bool

        init(_ db: Database) throws {
            self.db = db
            marksDigests = try DigestCache.marksChanges(db)
        }

        /// Inserts or replaces one whole row (a field the record does not carry is stored empty).
        /// Returns whether every field the record carries (but nulls) was a column of the table:
        /// counted from the values bound, so that a page of known columns costs no lookup more.
        mutating func upsert(_ table: SyncedTable, _ record: PulledRecord) throws -> Bool {
            let statement =
                try statements[table]
                ?? {
                    let made = try db.cachedStatement(sql: table.upsertSQL)
                    statements[table] = made
                    return made
                }()
            let handle = statement.sqliteStatement
            sqlite3_reset(handle)
            var code = Self.bindText(handle, 1, record.id)
            var bound = 0
            for (index, column) in table.columns.enumerated() where code == SQLITE_OK {
                let position = Int32(index + 2)
                switch record.fields[column.name] {
                case .none, .null: code = sqlite3_bind_null(handle, position)
                case .integer(let value):
                    code = sqlite3_bind_int64(handle, position, value)
                    bound += 1
                case .text(let value):
                    code = Self.bindText(handle, position, value)
                    bound += 1
                }
            }
            if code == SQLITE_OK { code = sqlite3_step(handle) }
            let message = code == SQLITE_DONE ? nil : String(cString: sqlite3_errmsg(db.sqliteConnection))
            sqlite3_reset(handle)
            if let message { throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: statement.sql) }
            var carried = 0
            for value in record.fields.values {
                if case .null = value { continue }
                carried += 1
            }
            return carried == bound
        }

        private static func bindText(_ handle: OpaquePointer?, _ position: Int32, _ text: String) -> Int32 {
            var text = text
            return text.withUTF8 { bytes in
                sqlite3_bind_text(handle, position, bytes.baseAddress, Int32(bytes.count), unsafeBitCast(-1, to: sqlite3_destructor_type.self))
            }
        }
    }

    /// What applying one of the centre's rows did.
    struct SyncedApply {
        /// Fields left as they are: a local change to them waits to be pushed.
        var keptLocal = 0
        /// Every field the record carries (but nulls) is known to be a column of its table, so
        /// nothing of it is kept for a later release; false when that was not counted.
        var onlyColumns = false
    }

    /// Applies one of the centre's rows. `pending` is what the local changes still waiting for
    /// the centre add up to, by row (`pendingChanges`).
    static func applySynced(
        _ db: Database, table: SyncedTable, record: PulledRecord, pending byRow: [SyncedRowKey: CaptureTriggers.RowChanges],
        upserts: inout WholeRowUpserts
    ) throws -> SyncedApply {
        if upserts.marksDigests { try DigestCache.mark(db, table, record.id) }
        if record.deleted {
            // A tombstone wins over local edits; the edits still reach the centre, which keeps them
            // in the tombstone.
            try db.execute(sql: "DELETE FROM \(table.rawValue) WHERE id = ?", arguments: [record.id])
            return SyncedApply()
        }
        // Usually nothing is pending (a cycle pushes before it pulls): no key is made per row then.
        let pending: CaptureTriggers.RowChanges = byRow.isEmpty ? .init() : byRow[SyncedRowKey(table, record.id)] ?? .init()
        if pending.deleted { return SyncedApply() }
        let columns = table.columns
        if pending.isEmpty {
            // The centre's whole row (a field it does not carry is empty there), inserted or
            // replacing ours: ids never change, so this is an update of every column.
            return SyncedApply(onlyColumns: try upserts.upsert(table, record))
        }
        let keep = Set(columns.enumerated().filter { index, _ in pending.contains(column: index) }.map(\.element.name))
        let values: [(any DatabaseValueConvertible)?] = columns.map { databaseValue(record.fields[$0.name]) }
        let exists = try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM \(table.rawValue) WHERE id = ?)", arguments: [record.id]) ?? false
        if !exists { return SyncedApply(keptLocal: keep.count) }
        let updatable = columns.enumerated().filter { !keep.contains($0.element.name) }
        guard !updatable.isEmpty else { return SyncedApply(keptLocal: keep.count) }
        let assignments = updatable.map { "\($0.element.name) = ?" }.joined(separator: ", ")
        let args = updatable.map { values[$0.offset] } + [record.id as (any DatabaseValueConvertible)?]
        try db.execute(sql: "UPDATE \(table.rawValue) SET \(assignments) WHERE id = ?", arguments: StatementArguments(args))
        return SyncedApply(keptLocal: keep.count)
    }

    static func applyConsolidated(_ db: Database, table: ConsolidatedTable, record: PulledRecord) throws {
        switch table {
        case .conflict:
            if record.deleted {
                try db.execute(sql: "DELETE FROM conflict WHERE id = ?", arguments: [record.id])
                return
            }
            let f = record.fields
            try db.execute(
                sql: """
                    INSERT INTO conflict(id, tbl, row_id, aggregate_id, office, writer, hlc, rule, mine, theirs, message, resolution, resolved_by)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET mine = excluded.mine, theirs = excluded.theirs, message = excluded.message,
                        resolution = excluded.resolution, resolved_by = excluded.resolved_by
                    """,
                arguments: [
                    record.id, f["table"]?.text ?? "", f["row_id"]?.text ?? "", f["aggregate_id"]?.text ?? "",
                    f["office"]?.text ?? record.office.rawValue, f["writer"]?.text ?? "", f["hlc"]?.text ?? "",
                    f["rule"]?.text ?? "", f["mine"]?.text ?? "{}", f["theirs"]?.text ?? "{}", f["message"]?.text ?? "",
                    f["resolution"]?.text, f["resolved_by"]?.text,
                ])
        case .disbursedTotal:
            if record.deleted {
                try db.execute(sql: "DELETE FROM disbursed_total WHERE id = ?", arguments: [record.id])
                return
            }
            let f = record.fields
            try db.execute(
                sql: """
                    INSERT INTO disbursed_total(id, province, year, fund_source, report_group, paid_on, amount) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET amount = excluded.amount
                    """,
                arguments: [
                    record.id, f["province"]?.text, f["year"]?.integer, f["fund_source"]?.text, f["report_group"]?.integer ?? 0,
                    f["paid_on"]?.text ?? "", f["amount"]?.integer ?? 0,
                ])
        case .provinceTotal:
            if record.deleted {
                try db.execute(sql: "DELETE FROM province_total WHERE id = ?", arguments: [record.id])
                return
            }
            try db.execute(
                sql: """
                    INSERT INTO province_total(id, province, year, fund_source, plan_amount, disbursed_amount)
                    VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET province = excluded.province, year = excluded.year,
                        fund_source = excluded.fund_source, plan_amount = excluded.plan_amount,
                        disbursed_amount = excluded.disbursed_amount
                    """,
                arguments: [
                    record.id, record.fields["province"]?.text, record.fields["year"]?.integer,
                    record.fields["fund_source"]?.text, record.fields["plan_amount"]?.integer ?? 0,
                    record.fields["disbursed_amount"]?.integer ?? 0,
                ])
        case .province:
            guard !record.deleted else { return }  // provinces are retired by merger, never erased
            try db.execute(
                sql: """
                    INSERT INTO province(code, name, kind, region) VALUES (?, ?, ?, ?)
                    ON CONFLICT(code) DO UPDATE SET name = excluded.name, kind = excluded.kind, region = excluded.region
                    """,
                arguments: [record.id, record.fields["name"]?.text, record.fields["kind"]?.text, record.fields["region"]?.text])
        case .supportCap:
            if record.deleted {
                try db.execute(sql: "DELETE FROM support_cap WHERE id = ?", arguments: [record.id])
                return
            }
            let f = record.fields
            try db.execute(
                sql: """
                    INSERT INTO support_cap(id, fund_source, category, province, max_percent_of_cost, max_amount) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET max_percent_of_cost = excluded.max_percent_of_cost, max_amount = excluded.max_amount
                    """,
                arguments: [
                    record.id, f["fund_source"]?.text, f["category"]?.text, f["province"]?.text,
                    f["max_percent_of_cost"]?.integer, f["max_amount"]?.integer,
                ])
        case .recall:
            break  // applied by ``applyRecall(_:_:now:making:)``, which may have to wait
        case .activityCategory:
            guard !record.deleted else { return }
            try db.execute(
                sql: """
                    INSERT INTO activity_category(code, name_vi, name_en, report_group, basis) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT(code) DO UPDATE SET name_vi = excluded.name_vi, name_en = excluded.name_en,
                        report_group = excluded.report_group, basis = excluded.basis
                    """,
                arguments: [
                    record.id, record.fields["name_vi"]?.text, record.fields["name_en"]?.text,
                    record.fields["report_group"]?.integer, record.fields["basis"]?.text ?? "",
                ])
        }
    }

    static func databaseValue(_ value: FieldValue?) -> (any DatabaseValueConvertible)? {
        switch value {
        case .none, .null: nil
        case .integer(let i): i
        case .text(let s): s
        }
    }
}
