import Foundation
import GRDB
import SyncCore
import WireFormat

extension Replica {
    /// The hash tree of this office's own rows, computed like the centre's.
    /// Every row is hashed; ``storedDigestTree(full:)`` hashes only the rows changed since it last ran.
    public func digestTree() throws(ReplicaError) -> DigestTree {
        let office = try settings().office
        return try read("computing digests") { db in try Self.digestTree(db, office: office.rawValue) }
    }

    static func digestTree(_ db: Database, office: String) throws -> DigestTree {
        var tree = DigestTree.Builder()
        var values: [FieldValue] = []
        for table in SyncedTable.allCases {
            // Columns by position, in the table's order: looking each up by name hashed it per row.
            let count = table.columns.count
            let cursor = try Row.fetchCursor(
                db, sql: "SELECT \(table.idAndColumnList) FROM \(table.rawValue) WHERE office = ?", arguments: [office])
            while let row = try cursor.next() {
                values.removeAll(keepingCapacity: true)
                for index in 0..<count { values.append(Self.fieldValue(row[index + 1])) }
                tree.add(table: table, id: row[0], values: values)
            }
        }
        return tree.tree()
    }

    /// Applies the centre's versions of some rows (fetched to repair differences) in one
    /// transaction, without moving the pull cursor. Local changes waiting to be pushed are kept.
    public func applyRecords(_ records: [PulledRecord]) throws(ReplicaError) {
        _ = try write("applying fetched records") { db in
            try CaptureTriggers.suspended(db) {
                let pending = try Self.pendingChanges(db)
                var upserts = try WholeRowUpserts(db)
                for record in records {
                    guard let table = SyncedTable(rawValue: record.table) else { continue }
                    _ = try Self.applySynced(db, table: table, record: record, pending: pending, upserts: &upserts)
                }
            }
        }
    }

    /// Queues rows to be pushed again (rows the centre lacks), whole (``queueWhole(_:_:office:id:)``):
    /// only rows this office may send as its own; a resolution of the centre the centre lost stays local.
    public func queueForPush(table: SyncedTable, ids: [String]) throws(ReplicaError) {
        try write("queueing rows for push") { db in
            let office = try State.get(db, .office) ?? ""
            for id in ids { _ = try Self.queueWhole(db, table, office: office, id: id) }
        }
    }
}
