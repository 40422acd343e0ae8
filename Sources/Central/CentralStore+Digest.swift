import Foundation
import GRDB
import SyncCore
import Synchronization
import WireFormat

/// Digest trees per office and set of columns (``DigestTree/columnSchema(_:)``), kept until the
/// office's records change. Keyed by the set of columns, not by the schema number the office
/// sends: an office sending a new number with every request would otherwise have its whole tree
/// built again each time.
final class DigestCache: Sendable {
    struct Key: Hashable {
        let office: String
        let schema: Int?
    }
    let trees = Mutex<[Key: (position: Int64, tree: DigestTree)]>([:])
    /// Trees being built for a request, which later requests for the same key wait for.
    let builds = Mutex<[Key: Task<DigestTree, any Error>]>([:])
}

extension CentralStore {
    /// The hash tree of an office's live rows (docs/PROTOCOL.md, `GET /v1/digest`), with the
    /// columns of replica schema `schema` (the office's, from its `Promo-Schema-Version`; nil: all
    /// of this release's), so an office of an older release compares what it can hold.
    public func digestTree(for office: OfficeCode, schema: Int? = nil) throws(CentralError) -> DigestTree {
        do {
            return try database.read { db in
                let position = try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM record WHERE office = ?", arguments: [office.rawValue]) ?? 0
                let key = DigestCache.Key(office: office.rawValue, schema: DigestTree.columnSchema(schema))
                if let cached = digestCache.trees.withLock({ $0[key] }), cached.position == position {
                    return cached.tree
                }
                let tables = SyncedTable.allCases.map { "'\($0.rawValue)'" }.joined(separator: ",")
                var builder = DigestTree.Builder(schema: key.schema)
                var values: [FieldValue] = []
                let cursor = try Row.fetchCursor(
                    db, sql: "SELECT tbl, id, fields FROM record WHERE office = ? AND tbl IN (\(tables)) AND deleted_at IS NULL",
                    arguments: [office.rawValue])
                while let row = try cursor.next() {
                    // Columns by position (tbl, id, fields): by name, each was hashed per row.
                    guard let table = SyncedTable(rawValue: row[0]) else { continue }
                    try FieldCoding.decode(row[2] as String, columnsOf: table, into: &values)
                    builder.add(table: table, id: row[1], values: values)
                }
                let tree = builder.tree()
                digestCache.trees.withLock { $0[key] = (position, tree) }
                return tree
            }
        } catch {
            throw CentralError.storage(error, during: "computing digests")
        }
    }

    /// The centre's current version of some of an office's rows (tombstones included).
    public func records(for office: OfficeCode, table: SyncedTable, ids: [String]) throws(CentralError) -> [PulledRecord] {
        do {
            return try database.read { db in
                var out: [PulledRecord] = []
                for id in ids {
                    guard
                        let row = try Row.fetchOne(
                            db, sql: "SELECT fields, deleted_at, seq FROM record WHERE tbl = ? AND id = ? AND office = ?",
                            arguments: [table.rawValue, id, office.rawValue])
                    else { continue }
                    out.append(
                        PulledRecord(
                            cursor: PullCursor(row["seq"]), table: table.rawValue, id: id, office: office,
                            deleted: (row["deleted_at"] as String?) != nil,
                            fields: try FieldCoding.decode(row["fields"] as String)))
                }
                return out
            }
        } catch {
            throw CentralError.storage(error, during: "reading records")
        }
    }
}
