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
    /// there), then compares every table on both sides. The copy is read in one repeatable-read
    /// transaction (one state of it, whatever writes it meanwhile), and the store is written
    /// beside its path and moved there only once it is whole and equal: a restore cut short
    /// leaves nothing that could be served.
    public static func restore(from client: PostgresClient, to storePath: String, logger: Logger) async throws -> Report {
        guard !FileManager.default.fileExists(atPath: storePath) else {
            throw CentralError(
                .conflict, .exists, "a store already exists at \(storePath)",
                hint: "Restore into a new data folder, or move the old store aside first; a restore never overwrites a store.")
        }
        let building = storePath + ".restoring"
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: building + suffix) }
        let queue = try CentralStore.makeEmpty(at: building)
        var report = Report()
        do {
            // Rows go in table by table, so a reference (an office merged into one listed after
            // it) may point ahead: checked once everything is in.
            try await queue.writeWithoutTransaction { try $0.execute(sql: "PRAGMA foreign_keys = OFF") }
            try await PostgresStoreCopy.checkSchema(queue, storePath: storePath)
            let marks = try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
                guard let marks = try await PostgresStoreFollower.Marks.load(connection, logger: logger) else {
                    throw CentralError(
                        .notFound, .configuration, "the PostgreSQL database holds no copy of a centre",
                        hint: "Give the database the centre's store was copied and followed into (store migrate, store follow, or store.postgres_url).")
                }
                for table in PostgresStoreCopy.tables {
                    report.rows.append((table, try await copy(table, from: connection, into: queue, logger: logger)))
                }
                return marks
            }
            let broken = try await queue.read { try Row.fetchAll($0, sql: "PRAGMA foreign_key_check") }
            guard broken.isEmpty else {
                throw CentralError(
                    .internalServerError, .storage, "the PostgreSQL copy holds \(broken.count) rows whose references lead nowhere",
                    hint: "Nothing was kept; the copy is not a whole store (was it written by hand?).")
            }
            let differing = try await PostgresStoreCopy.differingTables(queue, client, logger: logger)
            guard differing.isEmpty else {
                throw CentralError(
                    .internalServerError, .storage, "the restored store differs from the PostgreSQL copy in: \(differing.joined(separator: ", "))",
                    hint: "Nothing was kept. Is a centre or a follower still writing into the copy? Stop it and restore again.")
            }
            report.epoch = marks.epoch
            report.position = marks.position
            try queue.close()
            try FileManager.default.moveItem(atPath: building, toPath: storePath)
            return report
        } catch {
            try? queue.close()
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: building + suffix) }
            throw error
        }
    }

    /// What ``prepare(storePath:from:lease:takenFrom:logger:)`` did with the store before the centre serves.
    public enum Preparation: Sendable, Equatable {
        /// The store continues the record: served as it is (its first pass copies what it holds past the record).
        case kept
        /// There was no store: it was rebuilt from the record.
        case restored
        /// The store did not continue the record (behind it, or another centre served past the
        /// point where it stands): moved to `aside` and rebuilt from the record.
        case replaced(aside: String)
    }

    /// Readies the store at `storePath` to serve from its PostgreSQL record, once this centre
    /// holds the serving lease (``ServingLease``). The store is kept when it stands exactly where
    /// the record does, or when it continues the record (at or past each of its marks, with the
    /// same entry at the record's last position) and no other centre can have written the record
    /// since this one did: the record's last pass was this centre's, or (a record older than the
    /// lease) nobody else held the lease. Another centre may have written records (totals, for
    /// one) that number the same positions differently, which offices then hold. A missing store
    /// is rebuilt from the record, as is one of the record's epoch that is not kept (what it holds
    /// beyond the record was never acknowledged, and offices send it again), and a store of
    /// another epoch without offices (a data folder a command touched first), and one it cannot
    /// read (damaged, or of a schema without the tables compared); those are moved aside, never
    /// deleted. A rebuild after taking the lease `takenFrom` another centre (or finding it given
    /// up after another centre wrote the record) renews it as it goes; one after this centre's own
    /// restart does not, so a centre failing at it again and again
    /// lets a standby in. A store of another epoch with offices is kept, and the record's first
    /// pass refuses it with the reason.
    public static func prepare(
        storePath: String, from location: PostgresLocation, lease: ServingLease, takenFrom previous: ServingLease.Held?, logger: Logger
    ) async throws -> Preparation {
        let (copy, writer) = try await location.withClient(logger: logger) { client in
            try await PostgresStoreCopy.migrate(client, logger: logger)
            // The marks and their writer from one state of the record.
            return try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
                var writer: String?
                for try await name in try await connection.query("SELECT value FROM promo.follow_mark WHERE key = 'writer'", logger: logger)
                    .decode(String.self)
                {
                    writer = name
                }
                return (try await PostgresStoreFollower.Marks.load(connection, logger: logger), writer)
            }
        }
        // No copy: the first pass says so.
        guard let copy else { return .kept }
        var aside: String?
        if FileManager.default.fileExists(atPath: storePath) {
            var readOnly = Configuration()
            readOnly.readonly = true
            let read: (marks: PostgresStoreFollower.Marks, hashThere: String, empty: Bool)? = try? DatabaseQueue(
                path: storePath, configuration: readOnly
            ).inDatabase { db in
                (
                    try PostgresStoreFollower.Marks.read(db), try PostgresStoreFollower.Marks.hash(db, at: copy.position),
                    // A new store journals its reference data; it is empty of offices and their changesets.
                    try Bool.fetchOne(db, sql: "SELECT NOT EXISTS (SELECT 1 FROM office) AND NOT EXISTS (SELECT 1 FROM changeset)") ?? false
                )
            }
            // A store this release cannot judge (unreadable, of a schema without these tables)
            // is not served on trust: rebuilt like one that does not continue the record.
            let onlyThisCentreWrote = writer == lease.holder || (writer == nil && previous == nil)
            let keep =
                read.map { read in
                    read.marks.epoch != copy.epoch
                        ? !read.empty
                        : read.marks.standsAt(copy) || (onlyThisCentreWrote && read.marks.continues(copy, hashThere: read.hashThere))
                } ?? false
            if keep { return .kept }
            let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
            let moved = "\(storePath).superseded-\(stamp)"
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: storePath + suffix) {
                try FileManager.default.moveItem(atPath: storePath + suffix, toPath: moved + suffix)
            }
            aside = moved
            logger.warning(
                "the store does not continue the PostgreSQL record; it was moved aside and is rebuilt from the record",
                metadata: [
                    "store.aside": "\(moved)", "store.position": "\(read.map { "\($0.marks.position)" } ?? "unreadable")",
                    "store.record_position": "\(copy.position)", "store.epoch": "\(read?.marks.epoch ?? "unreadable")",
                ])
        }
        // After taking over (from a silent centre, or a lease another centre gave up), the rebuild
        // keeps the lease; a centre rebuilding after its own restart does not, so one that fails
        // at it again and again lets a standby in.
        let rebuild = { try await location.withClient(logger: logger) { client in try await restore(from: client, to: storePath, logger: logger) } }
        let restarted = previous == nil && (writer == nil || writer == lease.holder)
        let report = try await restarted ? rebuild() : lease.holding(location: location, logger: logger, rebuild)
        logger.notice(
            "rebuilt the store from the PostgreSQL record", metadata: ["store.epoch": "\(report.epoch)", "store.position": "\(report.position)"])
        return aside.map { .replaced(aside: $0) } ?? .restored
    }

    /// Copies one table of the copy into the store, in batches; returns how many rows.
    static func copy(_ table: String, from connection: PostgresConnection, into queue: DatabaseQueue, logger: Logger) async throws -> Int {
        let columns = try await queue.read { db in try PostgresStoreCopy.columns(db, table) }
        let rows = try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT \(PostgresStoreCopy.textColumns(columns)) FROM promo.\(table)"), logger: logger)
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
        return count
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
