import Foundation
import GRDB
import SyncCore

/// Local changes rescued from a damaged replica: rows whose changes the centre had not acknowledged.
public struct RescuedChanges: Sendable {
    /// The damaged replica's settings, when they could be read; nil otherwise.
    public var settings: ReplicaSettings?
    /// Rows to write again, whole, per table.
    public var rows: [SyncedTable: [[String: FieldValue]]] = [:]
    /// Rows that were deleted locally and whose delete was not acknowledged.
    public var deletes: [SyncedTable: [String]] = [:]
    /// What could not be read, for the report.
    public var unreadable: [String] = []
    /// The rescue copies these changes were also read from (``Replica/rescueCopies(beside:)``).
    public var copies: [String] = []

    /// How many rows are to be written again or deleted again.
    public var count: Int { rows.values.map(\.count).reduce(0, +) + deletes.values.map(\.count).reduce(0, +) }

    /// Creates an empty rescue: no settings, no rows.
    public init() {}

    /// Adds what was rescued from a file written later: a row rescued from both keeps the later
    /// file's values (or its delete); settings come from the later file when it has them.
    public mutating func overlay(_ later: RescuedChanges) {
        settings = later.settings ?? settings
        for table in Set(rows.keys).union(later.rows.keys).union(deletes.keys).union(later.deletes.keys) {
            let replaced = Set((later.rows[table] ?? []).compactMap { $0["id"]?.text }).union(later.deletes[table] ?? [])
            rows[table] = (rows[table] ?? []).filter { !replaced.contains($0["id"]?.text ?? "") } + (later.rows[table] ?? [])
            deletes[table] = (deletes[table] ?? []).filter { !replaced.contains($0) } + (later.deletes[table] ?? [])
        }
        rows = rows.filter { !$0.value.isEmpty }
        deletes = deletes.filter { !$0.value.isEmpty }
        unreadable += later.unreadable
        copies += later.copies
    }
}

extension Replica {
    /// Reads what can still be read from a damaged replica file: its settings and the current
    /// values of every row with an unacknowledged change. Never writes to the file.
    public static func rescue(from path: String) -> RescuedChanges {
        var rescued = RescuedChanges()
        var config = Configuration()
        config.readonly = true
        guard let queue = try? DatabaseQueue(path: path, configuration: config) else {
            rescued.unreadable.append("the file cannot be opened at all")
            return rescued
        }
        defer { try? queue.close() }
        _ = try? queue.read { db in
            if let office = try? State.get(db, .office), let url = try? State.get(db, .centralURL), let token = try? State.get(db, .tokenFile) {
                rescued.settings = ReplicaSettings(office: OfficeCode(unchecked: office), centralURL: url, tokenFile: token)
            }
            guard let entries = try? Row.fetchAll(db, sql: "SELECT tbl, row_id, max(seq) AS seq, op FROM _sync_outbox GROUP BY tbl, row_id") else {
                rescued.unreadable.append("the outbox cannot be read")
                return
            }
            for entry in entries {
                guard let table = SyncedTable(tableID: entry["tbl"]) else { continue }
                let id: String = entry["row_id"]
                do {
                    if let row = try Row.fetchOne(db, sql: "SELECT * FROM \(table.rawValue) WHERE id = ?", arguments: [id]) {
                        var fields: [String: FieldValue] = ["id": .text(id)]
                        for column in table.columns { fields[column.name] = fieldValue(row[column.name]) }
                        rescued.rows[table, default: []].append(fields)
                    } else {
                        rescued.deletes[table, default: []].append(id)
                    }
                } catch {
                    rescued.unreadable.append("\(table.rawValue) \(id)")
                }
            }
        }
        return rescued
    }

    /// Writes every change into the main file and closes the replica, so the file can be moved.
    public func checkpointAndClose() throws(ReplicaError) {
        do {
            try database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
            try database.close()
        } catch {
            throw ReplicaError.wrap(error, during: "closing the replica")
        }
    }

    /// Writes rescued rows into this (new) replica as local changes, so they are captured and pushed.
    public func restore(_ rescued: RescuedChanges) throws(ReplicaError) {
        try write("restoring rescued changes") { db in
            for (table, rows) in rescued.rows {
                let names = ["id"] + table.columnNames
                let upsert = try db.makeStatement(sql: table.upsertSQL)
                for fields in rows {
                    let values: [(any DatabaseValueConvertible)?] = names.map { Self.databaseValue(fields[$0]) }
                    try upsert.execute(arguments: StatementArguments(values))
                }
            }
            for (table, ids) in rescued.deletes {
                for id in ids { try db.execute(sql: "DELETE FROM \(table.rawValue) WHERE id = ?", arguments: [id]) }
            }
        }
    }

    /// Moves `newPath` into place at `path`, keeping the old file (and its WAL) aside with a
    /// `.damaged-<time>` suffix. Returns where the old file went.
    public static func swap(rebuilt newPath: String, into path: String, now: Date = Date()) throws(ReplicaError) -> String {
        let fm = FileManager.default
        let aside = path + ".damaged-\(Int(now.timeIntervalSince1970))"
        do {
            for suffix in ["", "-wal", "-shm"] where fm.fileExists(atPath: path + suffix) {
                try fm.moveItem(atPath: path + suffix, toPath: aside + suffix)
            }
            // rename(2) within a folder is atomic: the replica path never names a half-built file.
            // The WAL files go first, so the main file never appears without them.
            for suffix in ["-wal", "-shm"] where fm.fileExists(atPath: newPath + suffix) {
                try fm.moveItem(atPath: newPath + suffix, toPath: path + suffix)
            }
            try fm.moveItem(atPath: newPath, toPath: path)
        } catch {
            throw ReplicaError(
                .storage, "could not put the rebuilt replica in place: \(error)",
                hint: "The rebuilt file is \(newPath) and the old one \(aside); move them by hand.")
        }
        return aside
    }
}
