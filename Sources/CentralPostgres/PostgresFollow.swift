import Central
import Foundation
import GRDB
import Logging
import PostgresNIO
import SyncCore
import Synchronization

/// Keeps a PostgreSQL copy of the central store current while the centre serves from SQLite
/// (`promo-central store follow`; docs/OPERATIONS.md, "The centre in PostgreSQL"): reporting tools
/// and the ministry's own replication, backups and monitoring see the store within seconds.
///
/// The store only ever appends to its logs (`changeset`, `journal`, `history`, by `position`) and
/// gives a record a new `seq` whenever it changes, so a pass copies what lies past the marks the
/// last pass left: its new log entries and the records whose `seq` passed the mark, plus the few
/// small tables whole (offices, visits, totals pending, meta, dashboard users). Each pass is one
/// PostgreSQL transaction with its marks, so a pass cut short leaves the copy as the last one did.
/// A store whose epoch changed (restored from a backup) or whose log is behind the copy (rolled
/// back) is refused: such a store is copied again into a new database.
public enum PostgresStoreFollower {
    /// What one pass copied.
    public struct Pass: Sendable, Equatable {
        /// Rows past the marks, per log table and `record` (the small tables copied whole on
        /// every pass are not counted).
        public var rows: [String: Int] = [:]
        /// The marks the copy now stands at.
        public var position: Int64 = 0
        /// The record mark: the largest `seq` of the records copied; the next pass copies the records past it.
        public var seq: Int64 = 0

        /// Rows copied past the marks, over every table in `rows`.
        public var total: Int { rows.values.reduce(0, +) }
        /// Where the copy stands after the pass.
        public var mark: LogMark { LogMark(logPosition: position, recordPosition: seq) }
    }

    /// The tables copied whole on every pass (a few hundred rows at most).
    static let wholeTables = ["meta", "office", "office_seen", "totals_pending", "dashboard_user"]

    /// Rows read from the store per page: fewer changesets, which carry their bodies (up to
    /// `limits.max_body_bytes` each, usually a few kilobytes).
    static func pageSize(_ table: String) -> Int { table == "changeset" ? 200 : 5_000 }

    /// One follower at a time per database: a pass holds this advisory lock for its transaction.
    static let lockKey: Int64 = 0x7072_6F6D_6F66  // "promof"

    /// Where a copy stands in the store's logs, recorded with the copy (`promo.follow_mark`): the
    /// epoch; the last log position and the chain hash there (a store rolled back and written
    /// again past it has another hash at that position); the last record `seq`, login `id` and
    /// history `rowid` (the history is keyed by aggregate, and its rows are only ever appended, so
    /// their rowids only grow); and the first login id the store still keeps (it prunes old ones).
    struct Marks: Equatable {
        var epoch: String
        var position: Int64
        var hash: String
        var seq: Int64
        var login: Int64
        var history: Int64
        var firstLogin: Int64 = 0

        static func read(_ db: Database) throws -> Marks {
            let mark = try CentralStore.logMark(db)
            return Marks(
                epoch: try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'epoch'") ?? "",
                position: mark.logPosition, hash: try hash(db, at: mark.logPosition),
                seq: mark.recordPosition,
                login: try Int64.fetchOne(db, sql: "SELECT coalesce(max(id), 0) FROM dashboard_login") ?? 0,
                history: try Int64.fetchOne(db, sql: "SELECT coalesce(max(rowid), 0) FROM history") ?? 0,
                firstLogin: try Int64.fetchOne(db, sql: "SELECT coalesce(min(id), 0) FROM dashboard_login") ?? 0)
        }

        /// The chain hash of the journal entry or changeset at `position` ("" before the first).
        static func hash(_ db: Database, at position: Int64) throws -> String {
            try String.fetchOne(
                db, sql: "SELECT hash FROM journal WHERE position = ?1 UNION ALL SELECT chain_hash FROM changeset WHERE position = ?1 LIMIT 1",
                arguments: [position]) ?? ""
        }

        /// Whether a store at these marks continues the `copy`: at or past each of its marks, with
        /// the copy's chain hash at the copy's last position (`hashThere`, read from the store).
        func continues(_ copy: Marks, hashThere: String) -> Bool {
            position >= copy.position && seq >= copy.seq && history >= copy.history && login >= copy.login && hashThere == copy.hash
        }

        /// Whether a store at these marks stands exactly where the `copy` does.
        func standsAt(_ copy: Marks) -> Bool {
            epoch == copy.epoch && position == copy.position && hash == copy.hash && seq == copy.seq && history == copy.history
                && login == copy.login
        }

        func save(_ connection: PostgresConnection, logger: Logger) async throws {
            try await connection.query("DELETE FROM promo.follow_mark", logger: logger)
            try await connection.query(
                """
                INSERT INTO promo.follow_mark(key, value) VALUES ('epoch', \(epoch)), ('position', \(String(position))), ('hash', \(hash)),
                    ('seq', \(String(seq))), ('login', \(String(login))), ('history', \(String(history)))
                """, logger: logger)
        }

        static func load(_ connection: PostgresConnection, logger: Logger) async throws -> Marks? {
            var values: [String: String] = [:]
            for try await (key, value) in try await connection.query("SELECT key, value FROM promo.follow_mark", logger: logger).decode(
                (String, String).self)
            {
                values[key] = value
            }
            func number(_ key: String) -> Int64? { values[key].flatMap { Int64($0) } }
            guard let epoch = values["epoch"], let hash = values["hash"], let position = number("position"), let seq = number("seq"),
                let login = number("login"), let history = number("history")
            else { return nil }
            return Marks(epoch: epoch, position: position, hash: hash, seq: seq, login: login, history: history)
        }
    }

    /// Copies what the store holds past the copy's marks, in one PostgreSQL transaction that holds
    /// the follower's lock, from one snapshot of the store read after the lock was taken: a
    /// second follower waits, then finds nothing new. `onBackend` learns the PostgreSQL backend
    /// running the pass, so that a caller whose pass hangs can end it.
    /// With `lease`, the pass renews it first (``ServingLease``) and is refused when another
    /// centre took it over. A `follower` pass (`store follow`) is refused while a centre's lease on
    /// the database is fresh: that centre keeps the record current, and a follower on another
    /// folder (a standby's) would write a stale store into it.
    public static func catchUp(
        storePath: String, to client: PostgresClient, lease: ServingLease? = nil, follower: Bool = false, logger: Logger,
        onBackend: @escaping @Sendable (Int32) -> Void = { _ in }
    ) async throws -> Pass {
        var readOnly = Configuration()
        readOnly.readonly = true
        readOnly.busyMode = .timeout(10)
        let pool = try DatabasePool(path: storePath, configuration: readOnly)
        defer { try? pool.close() }
        try await PostgresStoreCopy.checkSchema(pool, storePath: storePath)
        try await PostgresStoreCopy.migrate(client, logger: logger)
        return try await client.withTransaction(logger: logger) { connection in
            for try await pid in try await connection.query("SELECT pg_backend_pid()", logger: logger).decode(Int32.self) { onBackend(pid) }
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
            // The record's promise is PostgreSQL's commit: durable (and on the synchronous standbys)
            // whatever the role or database sets.
            // A centre whose machine vanishes mid-pass must not hold the pass's locks (and the
            // serving lease's row) until the kernel gives up on the connection hours later.
            try await connection.query(
                """
                SELECT set_config('synchronous_commit', 'on', true), set_config('tcp_keepalives_idle', '5', true),
                    set_config('tcp_keepalives_interval', '2', true), set_config('tcp_keepalives_count', '3', true),
                    set_config('tcp_user_timeout', '10000', true)
                """, logger: logger)
            try await lease?.renew(connection, logger: logger)
            if follower, let serving = try await ServingLease.serving(connection, logger: logger) {
                throw CentralError(
                    .conflict, .configuration,
                    "promo-central \(serving.holder) serves with this database as its durable record and keeps it current",
                    hint: "store follow is not needed there (docs/OPERATIONS.md, \"A standby centre\").")
            }
            guard let marks = try await Marks.load(connection, logger: logger) else {
                throw CentralError(
                    .conflict, .configuration, "the PostgreSQL database holds no copy of a centre to keep current",
                    hint: "Copy the store first: promo-central store migrate --to URL (it records where follow starts).")
            }
            // Every page of the pass from one snapshot: readers of the copy see a state the store had.
            let source = try pool.makeSnapshot()
            let (target, hashAtMark) = try await source.read { db in (try Marks.read(db), try Marks.hash(db, at: marks.position)) }
            guard target.epoch == marks.epoch else {
                throw CentralError(
                    .conflict, .configuration,
                    "the store's epoch is \(target.epoch) and the copy's \(marks.epoch): the centre was restored from a backup",
                    hint: "Copy the restored store into a new, empty database (promo-central store migrate --to URL) and point readers at it.")
            }
            guard target.continues(marks, hashThere: hashAtMark) else {
                throw CentralError(
                    .conflict, .configuration,
                    "the store's log does not continue the copy's (the copy stands at position \(marks.position), the store at \(target.position)\(hashAtMark == marks.hash ? "" : ", with another entry there")): the store was rolled back",
                    hint: "Copy the store into a new, empty database (promo-central store migrate --to URL).")
            }
            var pass = Pass(position: target.position, seq: target.seq)
            let layout = try await source.read { db in
                try Dictionary(
                    uniqueKeysWithValues: PostgresStoreCopy.tables.map { table in
                        let key = try PostgresStoreCopy.keyColumns(db, table)
                        return (table, (columns: try PostgresStoreCopy.columns(db, table), key: key))
                    })
            }
            let slices: [(table: String, key: String, after: Int64, through: Int64)] =
                wholeTables.map { ($0, "rowid", .min, .max) } + [
                    ("changeset", "position", marks.position, target.position),
                    ("journal", "position", marks.position, target.position),
                    ("history", "rowid", marks.history, target.history),
                    ("dashboard_login", "id", marks.login, target.login),
                    ("record", "seq", marks.seq, target.seq),
                ]
            try await connection.query("SET LOCAL search_path TO promo", logger: logger)
            for slice in slices {
                let (columns, key) = layout[slice.table]!
                // The logs only grow: their new rows go straight in. A record that changed, and the
                // small tables, go through a staging table and replace what the copy held.
                let staged = slice.table == "record" || wholeTables.contains(slice.table)
                let into = staged ? "\(slice.table)_in" : slice.table
                if staged {
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "CREATE TEMP TABLE \(into) (LIKE promo.\(slice.table)) ON COMMIT DROP"), logger: logger)
                }
                let copied = try await PostgresStoreCopy.copyRows(
                    from: source, table: slice.table, by: slice.key, after: slice.after, through: slice.through, columns: columns,
                    into: into, connection: connection, logger: logger)
                if !wholeTables.contains(slice.table) { pass.rows[slice.table] = copied }
                guard staged else { continue }
                let names = columns.map(\.name)
                let keyList = key.joined(separator: ", ")
                if wholeTables.contains(slice.table) {
                    // Rows gone from the store (a totals pass done, a fleet limit cleared) go here too.
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "DELETE FROM promo.\(slice.table) WHERE (\(keyList)) NOT IN (SELECT \(keyList) FROM \(into))"),
                        logger: logger)
                }
                let updates = names.filter { !key.contains($0) }.map { "\($0) = EXCLUDED.\($0)" }
                try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            INSERT INTO promo.\(slice.table)(\(names.joined(separator: ", "))) SELECT \(names.joined(separator: ", ")) FROM \(into)
                            ON CONFLICT (\(keyList)) DO \(updates.isEmpty ? "NOTHING" : "UPDATE SET " + updates.joined(separator: ", "))
                            """), logger: logger)
            }
            // The logins the store no longer keeps (it keeps the last 100,000) go from the copy too.
            try await connection.query("DELETE FROM promo.dashboard_login WHERE id < \(target.firstLogin)", logger: logger)
            try await target.save(connection, logger: logger)
            // Which centre wrote the record last: a centre keeps its own store only when it did
            // (PostgresStoreRestore.prepare). A pass without a lease leaves it unknown.
            if let lease {
                try await connection.query("INSERT INTO promo.follow_mark(key, value) VALUES ('writer', \(lease.holder))", logger: logger)
            }
            return pass
        }
    }
}

extension PostgresStoreFollower {
    /// One pass (``catchUp(storePath:to:lease:logger:onBackend:)``) into `target`, with a client of
    /// its own, ended after `timeout` (``pass(storePath:client:lease:timeout:logger:)``).
    public static func pass(
        storePath: String, into target: PostgresLocation, lease: ServingLease? = nil, follower: Bool = false, timeout: Duration, logger: Logger
    ) async throws -> Pass {
        try await target.withClient(logger: logger) { client in
            try await pass(storePath: storePath, client: client, lease: lease, follower: follower, timeout: timeout, logger: logger)
        }
    }

    /// One pass through `client`, ended after `timeout`: its backend is terminated from another
    /// connection (a backend waiting for a synchronous standby does not notice its client going
    /// away), so that passes that hang do not pile up holding locks. Throws `busy` when the time ran out.
    public static func pass(
        storePath: String, client: PostgresClient, lease: ServingLease? = nil, follower: Bool = false, timeout: Duration, logger: Logger
    ) async throws -> Pass {
        let backend = BackendID()
        let pass = try await withThrowingTaskGroup(of: Pass?.self) { group -> Pass? in
            group.addTask {
                try await catchUp(storePath: storePath, to: client, lease: lease, follower: follower, logger: logger) { pid in
                    backend.pid.withLock { $0 = pid }
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            guard let first: Pass? = try await group.next() else { return nil }
            group.cancelAll()
            guard first == nil else { return first }
            // Out of time. The pass is cancelled first, so that a COPY stops before its next write
            // (PostgresNIO traps when COPY data meets a connection PostgreSQL ended: "Copy mode is
            // only supported for extended queries"); what still waits on PostgreSQL a second later
            // (a commit held for a synchronous standby) is ended from another connection.
            let ended = Flag()
            let terminating = Task {
                try? await Task.sleep(for: .seconds(1))
                if !ended.isSet, let pid = backend.pid.withLock({ $0 }) {
                    _ = try? await client.query("SELECT pg_terminate_backend(\(pid))", logger: logger)
                }
            }
            while true {
                do {
                    guard try await group.next() != nil else { break }
                } catch {
                    continue
                }
            }
            ended.set()
            // Only its sleep is cancelled: it then ends nothing.
            terminating.cancel()
            await terminating.value
            return nil
        }
        guard let pass else {
            throw CentralError(
                .serviceUnavailable, .busy, "a pass into PostgreSQL took longer than \(timeout) and its backend was ended",
                hint: "Is PostgreSQL waiting for a synchronous standby that is gone? (docs/OPERATIONS.md, \"When the copy's database fails over\")")
        }
        return pass
    }
}

/// The PostgreSQL backend running a pass, once it is known.
private final class BackendID: Sendable {
    let pid = Mutex<Int32?>(nil)
}
