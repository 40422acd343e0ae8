import Central
import CentralPostgres
import Foundation
import Logging
import PostgresNIO

/// The throwaway PostgreSQL cluster of `make test` (scripts/with-pg-cluster.sh), for the tests that
/// need one, and the second run of the centre's tests with every live centre's acknowledgements
/// waiting for its PostgreSQL record (`PROMO_TEST_CENTRE_RECORD=1`, scripts/test.sh).
public enum TestPostgres {
    /// The cluster's administrative address, or nil when PostgreSQL is not installed here (the
    /// tests that need it are then skipped and say so; CI requires them).
    public static let url = ProcessInfo.processInfo.environment["PROMO_TEST_POSTGRES_URL"]

    /// True in the run where every ``withLiveCentral(directory:storePath:faults:tls:audit:logger:configure:record:_:)``
    /// that is not given a record of its own serves through a PostgreSQL record in a database of
    /// its own, and is checked afterwards to equal its copy table for table.
    public static var recordsEveryCentre: Bool {
        url != nil && ProcessInfo.processInfo.environment["PROMO_TEST_CENTRE_RECORD"] == "1"
    }

    /// The cluster is not there: a test that needs it was run without scripts/with-pg-cluster.sh.
    public struct Missing: Error, CustomStringConvertible {
        /// What is missing, and how to run the tests with it.
        public var description: String {
            "PROMO_TEST_POSTGRES_URL is not set: run the tests through scripts/with-pg-cluster.sh (make test does)"
        }
    }

    /// A new, empty database in the test cluster for `body`, dropped afterwards whatever `body` does.
    public static func withDatabase<T: Sendable>(_ body: @Sendable (_ url: String) async throws -> T) async throws -> T {
        guard let admin = url else { throw Missing() }
        let name = "promo_test_\(UUID().uuidString.prefix(8).lowercased())"
        // PostgresNIO warns when a query is leased before the client's run loop has started; it waits.
        let logger = {
            var logger = Logger(label: "test-postgres")
            logger.logLevel = .error
            return logger
        }()
        let location = try PostgresLocation(url: admin, password: nil)
        try await location.withClient(logger: logger) { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        }
        let database = admin.replacingOccurrences(of: "/postgres?", with: "/\(name)?")
        let result: Result<T, any Error>
        do { result = .success(try await body(database)) } catch { result = .failure(error) }
        try await location.withClient(logger: logger) { client in
            try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE \(name) WITH (FORCE)"), logger: logger)
        }
        return try result.get()
    }

    /// The logger of the records the tests make: warnings only.
    public static var recordLogger: Logger {
        var logger = Logger(label: "test-record")
        logger.logLevel = .warning
        return logger
    }

    /// A started record of `store` in the database at `url`, the store copied there first.
    public static func record(of store: CentralStore, in url: String, logger: Logger) async throws -> PostgresRecord {
        let location = try PostgresLocation(url: url, password: nil)
        try await location.withClient(logger: logger) { client in
            _ = try await PostgresStoreCopy.copy(storePath: store.path, to: client, logger: logger)
        }
        // No idle passes: a push or a pull brings the record up to date, and the check after the test.
        // A deadline of 30 s, not the centre's 10: a hundred centres' tests at once on two cores
        // can hold a pass for longer, and a push answered 503 fails a test that is not about it
        // (the deadline itself is DurableRecordTests').
        let record = PostgresRecord(location: location, storePath: store.path, logger: logger, deadline: .seconds(30), interval: .seconds(3_600))
        try await record.start()
        return record
    }

    /// The tables in which the copy at `url` differs from the store at `storePath`, after one
    /// more pass for what the centre's commands journaled since the last push.
    public static func differingTables(storePath: String, in url: String, logger: Logger) async throws -> [String] {
        let location = try PostgresLocation(url: url, password: nil)
        return try await location.withClient(logger: logger) { client in
            _ = try await PostgresStoreFollower.pass(storePath: storePath, client: client, timeout: .seconds(60), logger: logger)
            return try await PostgresStoreCopy.differingTables(storePath: storePath, to: client, logger: logger)
        }
    }

    /// How many changesets of `office` the copy at `location` holds.
    public static func changesets(of office: String, at location: PostgresLocation, logger: Logger) async throws -> Int64 {
        try await location.withClient(logger: logger) { client in
            var count: Int64 = 0
            for try await n in try await client.query("SELECT count(*) FROM promo.changeset WHERE office = \(office)", logger: logger).decode(Int64.self) {
                count = n
            }
            return count
        }
    }
}

/// A live centre's PostgreSQL copy is not the store it records (``TestPostgres/recordsEveryCentre``).
public struct RecordDifference: Error, CustomStringConvertible {
    /// The tables whose rows differ.
    public let tables: [String]
    /// The tables, named.
    public var description: String { "the centre's PostgreSQL record differs from its store in " + tables.joined(separator: ", ") }
}
