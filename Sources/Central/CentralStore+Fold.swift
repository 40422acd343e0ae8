import Foundation
import GRDB
import SyncCore

extension CentralStore {
    /// Stores changes in their aggregates' histories (a change seen before is ignored), refolds
    /// every aggregate touched, publishes the rows and conflict records that changed, and
    /// recomputes the totals of the offices concerned. Returns how many changes were new.
    static func ingest(_ db: Database, changes: [Change], from writer: OfficeCode) throws -> Int {
        var touched: Set<String> = []
        var touchedRows: Set<String> = []
        var new = 0
        var clock = try centreClock(db)
        let rehomed = try rehomedOffices(db)
        let writerHome = rehomed[writer.rawValue] ?? writer.rawValue
        for change in changes {
            // A row keeps its owner office for life (or until its office is merged into another);
            // the centre writes to offices' rows only through the fold's ownership rules.
            if writer != .central, let owner = try String.fetchOne(
                db, sql: "SELECT office FROM record WHERE tbl = ? AND id = ?", arguments: [change.table.rawValue, change.id.rawValue]),
                owner != writer.rawValue && owner != writerHome {
                throw CentralError(.forbidden, "forbidden_owner", "\(change.table.rawValue) \(change.id) belongs to office \(owner), not \(writer)",
                                   hint: "An office writes only its own records.")
            }
            let aggregate = try aggregateID(db, change)
            try db.execute(
                sql: "INSERT OR IGNORE INTO history(tbl, id, aggregate, hlc, op, fields) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [change.table.rawValue, change.id.rawValue, aggregate, change.hlc.description, change.op.rawValue,
                            try encode(change.fields)])
            if db.changesCount > 0 { new += 1 }
            touched.insert(aggregate)
            touchedRows.insert("\(change.table.rawValue)|\(change.id.rawValue)")
            clock.observe(change.hlc, nowMilliseconds: HybridLogicalClock.wallMilliseconds())
        }
        try saveCentreClock(db, clock)
        var offices: Set<String> = []
        for aggregate in touched.sorted() {
            offices.formUnion(try refold(db, aggregate: aggregate, republish: touchedRows, rehomed: rehomed))
        }
        for office in offices.sorted() where office != OfficeCode.central.rawValue {
            try recomputeTotals(db, office: OfficeCode(unchecked: office))
        }
        return new
    }

    /// The aggregate a change belongs to: a project with its ledger and resolutions, or a plan line.
    static func aggregateID(_ db: Database, _ change: Change) throws -> String {
        switch change.table {
        case .project, .planLine, .program:
            return change.id.rawValue
        case .disbursement, .conflictResolution, .projectEvent:
            let field = change.table == .conflictResolution ? "aggregate_id" : "project_id"
            if let id = change.fields[field]?.text { return id }
            if let known = try String.fetchOne(
                db, sql: "SELECT aggregate FROM history WHERE tbl = ? AND id = ? LIMIT 1",
                arguments: [change.table.rawValue, change.id.rawValue]) {
                return known
            }
            throw CentralError.badRequest("\(change.table.rawValue) \(change.id) names no \(field) and is not known to the centre",
                                          hint: "Send the whole row the first time it is pushed.")
        }
    }

    /// Refolds one aggregate and writes what changed; returns the offices whose records changed.
    /// Rows in `republish` get a new log position even when unchanged: a writer whose change was
    /// refused must pull the row that stood, or its replica would keep the refused value.
    static func refold(_ db: Database, aggregate: String, republish: Set<String> = [], rehomed: [String: String]) throws -> Set<String> {
        let decoder = JSONDecoder()
        var changes: [Change] = []
        for row in try Row.fetchAll(db, sql: "SELECT tbl, id, hlc, op, fields FROM history WHERE aggregate = ?", arguments: [aggregate]) {
            guard let table = SyncedTable(rawValue: row["tbl"]), let op = ChangeOperation(rawValue: row["op"]) else { continue }
            changes.append(Change(
                table: table, id: RowID(unchecked: row["id"]), op: op, hlc: try HLCTimestamp(parsing: row["hlc"]),
                fields: try decoder.decode([String: FieldValue].self, from: Data((row["fields"] as String).utf8))))
        }
        let result = AggregateFold.fold(aggregateID: aggregate, changes: changes, rehomed: rehomed)
        var offices: Set<String> = []
        for row in result.rows {
            if try putRecord(db, table: row.table.rawValue, id: row.id, office: row.office, aggregate: aggregate,
                             fields: row.state.fields, clocks: row.state.clocks, deletedAt: row.state.deletedAt?.description, held: row.held,
                             force: republish.contains("\(row.table.rawValue)|\(row.id)")) {
                offices.insert(row.office)
            }
        }
        // Conflict records are published like any record, to the office they belong to; one the
        // fold no longer produces (a late change re-decided it) becomes a tombstone.
        var current: Set<String> = []
        for conflict in result.conflicts {
            current.insert(conflict.id)
            if try putRecord(db, table: "conflict", id: conflict.id, office: conflict.office, aggregate: aggregate,
                             fields: conflict.publishedFields(), clocks: [:], deletedAt: nil, held: false) {
                offices.insert(conflict.office)
            }
        }
        for row in try Row.fetchAll(
            db, sql: "SELECT id, office FROM record WHERE aggregate = ? AND tbl = 'conflict' AND deleted_at IS NULL", arguments: [aggregate])
        where !current.contains(row["id"]) {
            try db.execute(sql: "UPDATE record SET deleted_at = ?, seq = ? WHERE tbl = 'conflict' AND id = ?",
                           arguments: [HLCTimestamp.zero.description, try nextSeq(db), row["id"] as String])
            offices.insert(row["office"])
        }
        return offices
    }

    /// Writes a record if it differs from what is stored, giving it a new log position. Returns whether it changed.
    static func putRecord(_ db: Database, table: String, id: String, office: String, aggregate: String?,
                          fields: [String: FieldValue], clocks: [String: HLCTimestamp], deletedAt: String?, held: Bool,
                          force: Bool = false) throws -> Bool {
        let encodedFields = try encode(fields)
        let encodedClocks = try encode(clocks)
        if !force, let existing = try Row.fetchOne(
            db, sql: "SELECT office, fields, clocks, deleted_at, held FROM record WHERE tbl = ? AND id = ?", arguments: [table, id]),
            existing["office"] == office, existing["fields"] == encodedFields, existing["clocks"] == encodedClocks,
            (existing["deleted_at"] as String?) == deletedAt, (existing["held"] as Bool) == held {
            return false
        }
        try db.execute(
            sql: """
                INSERT INTO record(tbl, id, office, fields, clocks, deleted_at, seq, aggregate, held) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(tbl, id) DO UPDATE SET office = excluded.office, fields = excluded.fields, clocks = excluded.clocks,
                    deleted_at = excluded.deleted_at, seq = excluded.seq, aggregate = excluded.aggregate, held = excluded.held
                """,
            arguments: [table, id, office, encodedFields, encodedClocks, deletedAt, try nextSeq(db), aggregate, held])
        return true
    }

    static func centreClock(_ db: Database) throws -> HybridLogicalClock {
        let latest = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'hlc'").flatMap { try? HLCTimestamp(parsing: $0) }
        return HybridLogicalClock(node: OfficeCode.central.rawValue, latest: latest ?? .zero)
    }

    static func saveCentreClock(_ db: Database, _ clock: HybridLogicalClock) throws {
        try db.execute(sql: "INSERT INTO meta(key, value) VALUES ('hlc', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       arguments: [clock.latest.description])
    }
}
