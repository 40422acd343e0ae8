import CSQLite
import Crypto
import Foundation
import GRDB
import Logging
import NIOPosix
import SyncCore
import Synchronization
import WireFormat

/// A registered office as the centre sees it.
public struct OfficeRecord: Sendable, Equatable {
    /// The office's code: its province's two-digit code (`79`).
    public var code: OfficeCode
    /// The sequence of the last changeset the centre applied from this office; 0 before the first.
    public var lastSequence: ChangesetSequence
    /// The hash of that changeset, which the office's next one must name as its previous hash; ``Changeset/genesisHash`` before the first.
    public var lastHash: String
    /// Whether its token is revoked (`promo-central office revoke`): its requests are refused until it is reinstated.
    public var revoked: Bool
    /// The office this one was merged into (`promo-central office merge`), if it was.
    public var mergedInto: OfficeCode? = nil
}

/// The centre's SQLite store: offices and their tokens, the changesets received, and every record
/// with its per-field clocks. Each record version has a position (`seq`) in one ordered change log
/// from which offices pull.
public final class CentralStore: Sendable {
    /// The store file's path.
    public let path: String
    /// The SQLite pool (WAL): reads run side by side, and writes one at a time.
    public let database: DatabasePool
    /// The identity of this life of the store, made when it was created; a restore starts a new one.
    public let epoch: Epoch
    /// The seams where tests break a push on purpose; it does nothing unless a test arms it.
    public let faults: FaultInjector
    let digestCache = DigestCache()
    let logger: Logger
    /// Offices whose consolidated totals could not be recomputed, with the reason.
    let totalsFailures = Mutex<[String: String]>([:])
    /// The fleet limits as last read, and when each office's visit was last written (``FleetCache``).
    let fleetCache = Mutex(FleetCache())
    /// Threads for the store's blocking SQLite work, so the event loops keep serving other
    /// connections while a large changeset is merged (writes still run one at a time).
    let threadPool: NIOThreadPool

    /// The store file name inside a data folder.
    public static let fileName = "central.sqlite"

    /// Opens (or creates) the store at `path`.
    public convenience init(
        path: String, faults: FaultInjector = FaultInjector(), threads: Int = 4,
        logger: Logger = Logger(label: "promo-central.store")
    ) throws(CentralError) {
        try self.init(path: path, faults: faults, threads: threads, logger: logger, purpose: .serving)
    }

    /// What a store is opened for.
    enum Purpose {
        /// The centre's own store: a new one gets an epoch and the reference data (journaled).
        case serving
        /// A scratch store that `audit verify` rebuilds from the logs: left empty (the journal's
        /// first entry creates it), and written without waiting for the disk.
        case replay
    }

    /// Turns SQLite's memory statistics off for the process: they take a global mutex on every
    /// allocation (3 % of the centre's CPU in a push, docs/BENCHMARKS.md round 16). Only before
    /// SQLite's first use in the process and with no other thread using it (`serve` calls it
    /// first); returns false, changing nothing, when SQLite was already in use.
    public static func turnOffSQLiteMemoryStatistics() -> Bool {
        promo_sqlite_without_memory_statistics() == SQLITE_OK
    }

    init(path: String, faults: FaultInjector = FaultInjector(), threads: Int = 4, logger: Logger, purpose: Purpose) throws(CentralError) {
        self.path = path
        self.logger = logger
        self.faults = faults
        self.threadPool = NIOThreadPool(numberOfThreads: threads)
        threadPool.start()
        do {
            var config = Configuration()
            config.busyMode = .timeout(10)
            config.label = "central"
            // Keep the working set of a national store in memory rather than re-reading pages.
            config.prepareDatabase { db in
                try db.execute(sql: "PRAGMA cache_size = -65536; PRAGMA mmap_size = 1073741824")
            }
            // The store holds every office's records and token hashes: its owner only. A new
            // file is made with that mode before SQLite opens it, so that the `-wal` and `-shm`
            // files SQLite makes take the same mode, whatever the umask.
            if !FileManager.default.fileExists(atPath: path) { try Self.createOwnerOnly(path) }
            let pool = try DatabasePool(path: path, configuration: config)
            // An acknowledgement means the changeset is on disk: every commit waits for it
            // (GRDB's WAL pools default to NORMAL, under which a power cut loses the last commits).
            // A scratch store rebuilt by an audit is thrown away afterwards: it never waits.
            try pool.writeWithoutTransaction { try $0.execute(sql: purpose == .replay ? "PRAGMA synchronous = OFF" : "PRAGMA synchronous = FULL") }
            // A store a later release has migrated may hold what this one cannot read: it is not
            // opened, let alone written. (Only migrations show it: a later release that changes
            // what it stores registers one, even an empty one. 1.8.0's compressed bodies and
            // compact clocks came before this check, which releases up to 1.7.0 lack.)
            if try pool.read({ try Self.migrator().hasBeenSuperseded($0) }) { throw Self.newerRelease(path) }
            try Self.migrator().migrate(pool)
            self.database = pool
            self.epoch = try pool.write { db in
                if let existing = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'epoch'") {
                    return Epoch(existing)
                }
                guard purpose == .serving else { return Epoch("replay") }
                let epoch = Epoch.random()
                try Self.createStore(db, epoch: epoch, reference: Self.referenceRecords(), now: Date(), position: Self.nextPosition(db))
                return epoch
            }
        } catch let error as CentralError {
            throw error
        } catch {
            throw CentralError(
                .internalServerError, .storage, "cannot open the central store at \(path): \(error)",
                hint: "Check that the data folder exists and is writable by the service user.")
        }
    }

    /// The refusal of a store that a later release of promo-central has migrated.
    static func newerRelease(_ path: String) -> CentralError {
        CentralError(
            .internalServerError, .storage,
            "the central store at \(path) was migrated by a later release of promo-central than \(SoftwareVersion.current); this release does not open it",
            hint:
                "Install that release (or a later one) again. To go back to this release, restore a backup taken before the upgrade: "
                + "promo-central restore --from BACKUP (a new epoch: the offices send again what it lacks).")
    }

    /// Gives a new store its epoch and reference data, and opens its journal with them.
    static func createStore(_ db: Database, epoch: Epoch, reference: [CentreAction.PublishedRecord], now: Date, position: Int64) throws {
        try db.execute(sql: "INSERT INTO meta(key, value) VALUES ('epoch', ?)", arguments: [epoch.rawValue])
        for record in reference {
            guard let table = ConsolidatedTable(rawValue: record.table) else {
                throw CentralError(.internalServerError, .unknownTable, "reference data names a table '\(record.table)' this release does not know")
            }
            try putCentralRecord(db, table: table, id: record.id, fields: record.fields)
        }
        try journal(db, .created(.init(epoch: epoch.rawValue, reference: reference)), at: now, position: position)
    }

    static func migrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                    CREATE TABLE office (
                        code TEXT PRIMARY KEY NOT NULL,
                        token_hash TEXT NOT NULL UNIQUE,
                        created_at TEXT NOT NULL,
                        revoked_at TEXT,
                        last_sequence INTEGER NOT NULL DEFAULT 0,
                        last_hash TEXT NOT NULL
                    );
                    CREATE TABLE changeset (
                        office TEXT NOT NULL REFERENCES office(code),
                        sequence INTEGER NOT NULL,
                        hash TEXT NOT NULL,
                        previous_hash TEXT NOT NULL,
                        change_count INTEGER NOT NULL,
                        body BLOB NOT NULL,
                        received_at TEXT NOT NULL,
                        PRIMARY KEY (office, sequence)
                    );
                    CREATE TABLE record (
                        tbl TEXT NOT NULL,
                        id TEXT NOT NULL,
                        office TEXT NOT NULL,
                        fields TEXT NOT NULL,
                        clocks TEXT NOT NULL,
                        deleted_at TEXT,
                        seq INTEGER NOT NULL UNIQUE,
                        aggregate TEXT,
                        held INTEGER NOT NULL DEFAULT 0,
                        PRIMARY KEY (tbl, id)
                    );
                    CREATE INDEX record_office_seq ON record(office, seq);
                    CREATE INDEX record_aggregate ON record(aggregate, tbl);
                    CREATE TABLE history (
                        tbl TEXT NOT NULL,
                        id TEXT NOT NULL,
                        aggregate TEXT NOT NULL,
                        hlc TEXT NOT NULL,
                        op TEXT NOT NULL,
                        fields TEXT NOT NULL,
                        PRIMARY KEY (tbl, id, hlc)
                    );
                    CREATE INDEX history_aggregate ON history(aggregate);
                    """)
        }
        migrator.registerMigration("v2-office-merge") { db in
            try db.execute(
                sql: """
                    ALTER TABLE office ADD COLUMN merged_into TEXT REFERENCES office(code);
                    ALTER TABLE office ADD COLUMN merged_at TEXT;
                    """)
        }
        migrator.registerMigration("v3-deferred-totals-and-echoes") { db in
            // Offices whose consolidated totals must be recomputed before anyone reads totals.
            try db.execute(sql: "CREATE TABLE totals_pending (office TEXT PRIMARY KEY NOT NULL)")
            // A record version published exactly as an office sent it, in which changeset: that
            // office already holds it, and its pulls skip it.
            try db.execute(sql: "ALTER TABLE record ADD COLUMN echo_office TEXT")
            try db.execute(sql: "ALTER TABLE record ADD COLUMN echo_sequence INTEGER")
        }
        migrator.registerMigration("v4-centre-journal") { db in
            // The centre's own writes (docs/ARCHITECTURE.md, Storage). `position` is shared with
            // `changeset.position`: one order of everything that changed the store, hash-chained
            // through both tables (`journal.hash`, `changeset.chain_hash`).
            try db.execute(
                sql: """
                    CREATE TABLE journal (
                        position INTEGER PRIMARY KEY NOT NULL,
                        kind TEXT NOT NULL,
                        payload TEXT NOT NULL,
                        at TEXT NOT NULL,
                        previous_hash TEXT NOT NULL,
                        hash TEXT NOT NULL
                    );
                    ALTER TABLE changeset ADD COLUMN position INTEGER;
                    ALTER TABLE changeset ADD COLUMN chain_hash TEXT;
                    UPDATE changeset SET position = numbered.n
                        FROM (SELECT rowid AS r, row_number() OVER (ORDER BY received_at, rowid) AS n FROM changeset) AS numbered
                        WHERE changeset.rowid = numbered.r;
                    CREATE UNIQUE INDEX changeset_position ON changeset(position);
                    ALTER TABLE history ADD COLUMN writer TEXT;
                    ALTER TABLE history ADD COLUMN position INTEGER;
                    UPDATE history SET writer = substr(hlc, instr(hlc, '-') + 6);
                    """)
            // A store that already held data: what happened before was never journaled, so say so
            // in the journal's first entry (audit verify then checks the chains but cannot replay).
            // The hash is the journal's, spelled out here as this migration shipped it.
            if let epoch = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'epoch'") {
                func count(_ table: String) throws -> Int64 { try Int64.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0 }
                let changesets = try count("changeset")
                let payload = #"{"changesets":\#(changesets),"epoch":"\#(epoch)","offices":\#(try count("office")),"records":\#(try count("record"))}"#
                let position = changesets + 1
                let at = Timestamps.format(Date())
                let previous = String(repeating: "0", count: 64)
                let hash = Hex.string(SHA256.hash(data: Data("\(previous)\n\(position)\nbaseline\n\(at)\n\(payload)".utf8)))
                try db.execute(
                    sql: "INSERT INTO journal(position, kind, payload, at, previous_hash, hash) VALUES (?, 'baseline', ?, ?, ?, ?)",
                    arguments: [position, payload, at, previous, hash])
            }
        }
        migrator.registerMigration("v5-office-seen") { db in
            // When each office was last seen and what it ran: an observation, not state the logs
            // produce, so `audit verify` does not compare it.
            try db.execute(
                sql: """
                    CREATE TABLE office_seen (
                        office TEXT PRIMARY KEY NOT NULL,
                        software TEXT,
                        protocol INTEGER,
                        schema INTEGER,
                        seen_at TEXT NOT NULL
                    )
                    """)
        }
        migrator.registerMigration("v6-dashboard") { db in
            // What each office last said of itself (Promo-Office-Report, since 1.3.0), when it
            // last pulled, and the bytes it moved on the centre's day; observations like the
            // visit itself. The dashboard's people, their sessions and every login.
            try db.execute(
                sql: """
                    ALTER TABLE office_seen ADD COLUMN report_health TEXT;
                    ALTER TABLE office_seen ADD COLUMN report_reason TEXT;
                    ALTER TABLE office_seen ADD COLUMN report_pending INTEGER;
                    ALTER TABLE office_seen ADD COLUMN report_pending_since TEXT;
                    ALTER TABLE office_seen ADD COLUMN report_conflicts INTEGER;
                    ALTER TABLE office_seen ADD COLUMN report_verified_at TEXT;
                    ALTER TABLE office_seen ADD COLUMN report_verify TEXT;
                    ALTER TABLE office_seen ADD COLUMN report_epoch TEXT;
                    ALTER TABLE office_seen ADD COLUMN last_pull_at TEXT;
                    ALTER TABLE office_seen ADD COLUMN bytes_day TEXT;
                    ALTER TABLE office_seen ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
                    CREATE TABLE dashboard_user (
                        name TEXT PRIMARY KEY NOT NULL,
                        password_hash TEXT NOT NULL,
                        created_at TEXT NOT NULL,
                        disabled_at TEXT
                    );
                    CREATE TABLE dashboard_session (
                        token_hash TEXT PRIMARY KEY NOT NULL,
                        username TEXT NOT NULL REFERENCES dashboard_user(name) ON DELETE CASCADE,
                        csrf TEXT NOT NULL,
                        created_at TEXT NOT NULL,
                        expires_at TEXT NOT NULL
                    );
                    CREATE TABLE dashboard_login (
                        id INTEGER PRIMARY KEY,
                        at TEXT NOT NULL,
                        username TEXT NOT NULL,
                        address TEXT NOT NULL,
                        outcome TEXT NOT NULL
                    );
                    """)
        }
        // The rules of 1.9.0 (docs/CONFLICTS.md), applied to what earlier releases stored.
        migrator.registerMigration("v7-rules-1.9") { db in
            let aggregates = try aggregatesJudgedOtherwiseNow(db)
            guard !aggregates.isEmpty else { return }
            try applyRules(db, release: rulesRelease, aggregates: aggregates, now: Date(), position: nextPosition(db))
        }
        // The rules of 1.9.1, applied to what 1.9.0 stored.
        migrator.registerMigration("v8-rules-1.9.1") { db in
            let aggregates = try aggregatesJudgedOtherwiseSince190(db)
            guard !aggregates.isEmpty else { return }
            try applyRules(db, release: "1.9.1", aggregates: aggregates, now: Date(), position: nextPosition(db))
        }
        return migrator
    }

    deinit {
        threadPool.shutdownGracefully { _ in }
    }
}

/// Hands out change-log positions (`record.seq`) within one write transaction: the largest is
/// read once, not once per record written. Only valid while every record written in that
/// transaction takes its position from here (the fold writes hundreds per changeset).
struct LogPositions {
    private var last: Int64

    init(_ db: Database) throws {
        last = try Int64.fetchOne(try db.cachedStatement(sql: "SELECT max(seq) FROM record")) ?? 0
    }

    mutating func next() -> Int64 {
        last += 1
        return last
    }
}
