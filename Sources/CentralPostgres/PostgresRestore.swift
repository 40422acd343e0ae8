import Central
import Foundation
import GRDB
import Logging
import PostgresNIO
import SyncCore

/// Rebuilds a central SQLite store from its PostgreSQL copy (`promo-central store restore --from
/// postgres://…`): the centre's machine is lost, and its durable record (``PostgresRecord``)
/// holds every changeset an office was told is kept. Row for row, the epoch and the log positions
/// included, so offices go on from where they stood with nothing to resend or pull again.
public enum PostgresStoreRestore {
    /// What a restore wrote.
    public struct Report: Sendable {
        /// Rows per table, in restore order.
        public var rows: [(table: String, count: Int)] = []
        /// The restored store's epoch: the copy's, unchanged.
        public var epoch: String = ""
        /// The last log position the copy held.
        public var position: Int64 = 0
    }

    /// Writes the copy in `client`'s database into a new store at `storePath` (refused if one is
    /// there), then compares every table on both sides; a store that differs is removed again.
    public static func restore(from client: PostgresClient, to storePath: String, logger: Logger) async throws -> Report {
        let queue = try CentralStore.makeEmpty(at: storePath)
        var report = Report()
        do {
            let marks = try await client.withConnection { connection in try await PostgresStoreFollower.Marks.load(connection, logger: logger) }
            guard let marks else {
                throw CentralError(
                    .notFound, .configuration, "the PostgreSQL database holds no copy of a centre",
                    hint: "Give the database the centre's store was copied and followed into (store migrate, store follow, or store.postgres_url).")
            }
            try await PostgresStoreCopy.checkSchema(queue, storePath: storePath)
            for table in PostgresStoreCopy.tables {
                let columns = try await queue.read { db in try PostgresStoreCopy.columns(db, table) }
                let select = columns.map { $0.kind == .blob ? "encode(\($0.name), 'hex')" : "\($0.name)::text" }.joined(separator: ", ")
                let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT \(select) FROM promo.\(table)"), logger: logger)
                let insert = "INSERT INTO \(table)(\(columns.map(\.name).joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", ")))"
                var batch: [[DatabaseValue]] = []
                var count = 0
                func flush() async throws {
                    let pending = batch
                    batch = []
                    try await queue.write { db in
                        let statement = try db.cachedStatement(sql: insert)
                        for values in pending { try statement.execute(arguments: StatementArguments(values)) }
                    }
                }
                for try await row in rows {
                    var values: [DatabaseValue] = []
                    for (index, cell) in row.enumerated() { values.append(try value(try cell.decode(String?.self), columns[index].kind)) }
                    batch.append(values)
                    count += 1
                    if batch.count == 5_000 { try await flush() }
                }
                try await flush()
                report.rows.append((table, count))
            }
            let differing = try await PostgresStoreCopy.differingTables(queue, client, logger: logger)
            guard differing.isEmpty else {
                throw CentralError(
                    .internalServerError, .storage, "the restored store differs from the PostgreSQL copy in: \(differing.joined(separator: ", "))",
                    hint: "Nothing was kept; report this with the PostgreSQL server's version.")
            }
            report.epoch = marks.epoch
            report.position = marks.position
            try queue.close()
            return report
        } catch {
            try? queue.close()
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: storePath + suffix) }
            throw error
        }
    }

    /// A value read as text from PostgreSQL, typed as the store's column is.
    static func value(_ text: String?, _ kind: PostgresStoreCopy.Kind) throws -> DatabaseValue {
        guard let text else { return .null }
        switch kind {
        case .integer:
            guard let number = Int64(text) else {
                throw CentralError(.internalServerError, .unreadable, "the PostgreSQL copy holds '\(text)' where the store keeps a whole number")
            }
            return number.databaseValue
        case .text: return text.databaseValue
        case .blob:
            guard let bytes = Hex.bytes(text) else {
                throw CentralError(.internalServerError, .unreadable, "the PostgreSQL copy holds bytes that are not hexadecimal")
            }
            return Data(bytes).databaseValue
        }
    }
}
