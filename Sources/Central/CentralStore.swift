import Crypto
import Foundation
import GRDB
import Logging
import NIOPosix
import SyncCore
import Synchronization

/// A registered office as the centre sees it.
public struct OfficeRecord: Sendable, Equatable {
    public var code: OfficeCode
    public var lastSequence: ChangesetSequence
    public var lastHash: String
    public var revoked: Bool
    /// The office this one was merged into (`promo-central office merge`), if it was.
    public var mergedInto: OfficeCode? = nil
}

/// The centre's SQLite store: offices and their tokens, the changesets received, and every record
/// with its per-field clocks. Each record version has a position (`seq`) in one ordered change log
/// from which offices pull.
public final class CentralStore: Sendable {
    public let path: String
    public let database: DatabasePool
    public let epoch: Epoch
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
        } catch {
            throw CentralError(
                .internalServerError, .storage, "cannot open the central store at \(path): \(error)",
                hint: "Check that the data folder exists and is writable by the service user.")
        }
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
        return migrator
    }

    deinit {
        threadPool.shutdownGracefully { _ in }
    }

    // MARK: Offices

    /// Registers an office and returns its token, which is shown once and stored only as a hash.
    public func addOffice(_ code: OfficeCode, now: Date = Date()) throws(CentralError) -> String {
        let token = Self.newToken()
        do {
            try database.write { db in try Self.addOffice(db, code, tokenHash: Self.hashToken(token), now: now, position: Self.nextPosition(db)) }
        } catch {
            throw CentralError.storage(error, during: "adding office \(code)")
        }
        return token
    }

    static func addOffice(_ db: Database, _ code: OfficeCode, tokenHash: String, now: Date, position: Int64) throws {
        if try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM office WHERE code = ?)", arguments: [code.rawValue]) == true {
            throw CentralError(
                .conflict, .officeExists, "office \(code) is already registered",
                hint: "To issue a new token use: promo-central office rotate-token \(code)")
        }
        try db.execute(
            sql: "INSERT INTO office(code, token_hash, created_at, last_hash) VALUES (?, ?, ?, ?)",
            arguments: [code.rawValue, tokenHash, Timestamps.format(now), Changeset.genesisHash])
        try journal(db, .officeAdded(.init(office: code.rawValue, tokenHash: tokenHash)), at: now, position: position)
    }

    /// The office a token belongs to, if the token is known and not revoked. The token's hash is
    /// compared with every office's in constant time, so timing says nothing about which is close.
    public func authenticate(token: String) throws(CentralError) -> OfficeCode? {
        let presented = Array(Self.hashToken(token).utf8)
        do {
            let offices = try database.read { db in
                try Row.fetchAll(db, sql: "SELECT code, token_hash FROM office WHERE revoked_at IS NULL")
                    .map { (code: $0["code"] as String, hash: Array(($0["token_hash"] as String).utf8)) }
            }
            var match: String?
            for office in offices where Self.constantTimeEqual(office.hash, presented) { match = office.code }
            return match.map(OfficeCode.init(unchecked:))
        } catch {
            throw CentralError.storage(error, during: "checking a token")
        }
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    /// Issues a new token for an office (the old one stops working at once) and returns it. A
    /// revoked office stays revoked: the new token works only after ``reinstate(_:now:)``, so a
    /// routine rotation never turns back on an office someone switched off.
    public func rotateToken(_ code: OfficeCode, now: Date = Date()) throws(CentralError) -> String {
        let token = Self.newToken()
        do {
            try database.write { db in try Self.setToken(db, code, tokenHash: Self.hashToken(token), now: now, position: Self.nextPosition(db)) }
        } catch {
            throw CentralError.storage(error, during: "rotating the token of office \(code)")
        }
        return token
    }

    static func setToken(_ db: Database, _ code: OfficeCode, tokenHash: String, now: Date, position: Int64) throws {
        try db.execute(sql: "UPDATE office SET token_hash = ? WHERE code = ?", arguments: [tokenHash, code.rawValue])
        guard db.changesCount == 1 else {
            throw CentralError(.notFound, .notFound, "office \(code) is not registered", hint: "Register it with: promo-central office add \(code)")
        }
        try journal(db, .tokenRotated(.init(office: code.rawValue, tokenHash: tokenHash)), at: now, position: position)
    }

    /// Revokes an office's token: every request with it is refused until a new one is issued.
    public func revokeToken(_ code: OfficeCode, now: Date = Date()) throws(CentralError) {
        do {
            try database.write { db in try Self.revoke(db, code, now: now, position: Self.nextPosition(db)) }
        } catch {
            throw CentralError.storage(error, during: "revoking the token of office \(code)")
        }
    }

    static func revoke(_ db: Database, _ code: OfficeCode, now: Date, position: Int64) throws {
        try db.execute(sql: "UPDATE office SET revoked_at = ? WHERE code = ?", arguments: [Timestamps.format(now), code.rawValue])
        guard db.changesCount == 1 else {
            throw CentralError(.notFound, .notFound, "office \(code) is not registered", hint: "See: promo-central office list")
        }
        try journal(db, .officeRevoked(.init(office: code.rawValue)), at: now, position: position)
    }

    /// Turns a revoked office back on: its current token (the one issued last) works again.
    public func reinstate(_ code: OfficeCode, now: Date = Date()) throws(CentralError) {
        do {
            try database.write { db in try Self.reinstate(db, code, now: now, position: Self.nextPosition(db)) }
        } catch {
            throw CentralError.storage(error, during: "reinstating office \(code)")
        }
    }

    static func reinstate(_ db: Database, _ code: OfficeCode, now: Date, position: Int64) throws {
        guard let revoked = try Row.fetchOne(db, sql: "SELECT revoked_at FROM office WHERE code = ?", arguments: [code.rawValue]) else {
            throw CentralError(.notFound, .notFound, "office \(code) is not registered", hint: "See: promo-central office list")
        }
        guard (revoked["revoked_at"] as String?) != nil else {
            throw CentralError(.conflict, .notRevoked, "office \(code) is not revoked", hint: "Nothing to do.")
        }
        try db.execute(sql: "UPDATE office SET revoked_at = NULL WHERE code = ?", arguments: [code.rawValue])
        try journal(db, .officeReinstated(.init(office: code.rawValue)), at: now, position: position)
    }

    /// All registered offices.
    public func offices() throws(CentralError) -> [OfficeRecord] {
        do {
            return try database.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM office ORDER BY code").map {
                    OfficeRecord(
                        code: OfficeCode(unchecked: $0["code"]), lastSequence: ChangesetSequence($0["last_sequence"]),
                        lastHash: $0["last_hash"], revoked: ($0["revoked_at"] as String?) != nil,
                        mergedInto: ($0["merged_into"] as String?).map(OfficeCode.init(unchecked:)))
                }
            }
        } catch {
            throw CentralError.storage(error, during: "listing offices")
        }
    }

    static func newToken() -> String {
        var rng = SystemRandomNumberGenerator()
        return Hex.string((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    static func hashToken(_ token: String) -> String {
        Hex.string(SHA256.hash(data: Data(token.utf8)))
    }

    // MARK: Reference data

    /// The seed reference data of this release, which a new store publishes into the change log
    /// so that offices pull it like any record (its journal keeps what was published).
    static func referenceRecords() -> [CentreAction.PublishedRecord] {
        var records: [CentreAction.PublishedRecord] = []
        for p in ReferenceData.provinces {
            records.append(
                .init(
                    table: ConsolidatedTable.province.rawValue, id: p.code,
                    fields: [
                        "name": .text(p.name), "kind": .text(p.kind), "region": .text(p.region.rawValue),
                    ]))
        }
        for cap in ReferenceData.supportCaps { records.append(.init(table: ConsolidatedTable.supportCap.rawValue, id: cap.id, fields: capFields(cap))) }
        for c in ReferenceData.categories {
            records.append(
                .init(
                    table: ConsolidatedTable.activityCategory.rawValue, id: c.code,
                    fields: [
                        "name_vi": .text(c.nameVi), "name_en": .text(c.nameEn),
                        "report_group": .integer(Int64(c.reportGroup)), "basis": .text(c.basis),
                    ]))
        }
        return records
    }

    static func capFields(_ cap: SupportCap) -> [String: FieldValue] {
        [
            "fund_source": .text(cap.fund.rawValue), "category": .text(cap.category), "province": cap.province.map(FieldValue.text) ?? .null,
            "max_percent_of_cost": cap.maxPercentOfCost.map(FieldValue.integer) ?? .null, "max_amount": cap.maxAmount.map(FieldValue.integer) ?? .null,
        ]
    }

    /// Sets a support cap (a new one, or new limits for an existing one); offices receive it with their next pull.
    public func setCap(_ cap: SupportCap, now: Date = Date()) throws(CentralError) {
        guard ReferenceData.category(code: cap.category) != nil else {
            throw CentralError.badRequest("unknown activity category '\(cap.category)'")
        }
        if let province = cap.province, ReferenceData.province(code: province) == nil {
            throw CentralError.badRequest("unknown province '\(province)'")
        }
        if cap.maxPercentOfCost == nil && cap.maxAmount == nil { throw CentralError.badRequest("a cap needs --percent, --max or both") }
        do {
            try database.write { db in try Self.setCap(db, cap, now: now, position: Self.nextPosition(db)) }
        } catch {
            throw CentralError.storage(error, during: "setting a cap")
        }
    }

    static func setCap(_ db: Database, _ cap: SupportCap, now: Date, position: Int64) throws {
        try putCentralRecord(db, table: .supportCap, id: cap.id, fields: capFields(cap))
        try journal(
            db,
            .capSet(
                .init(
                    fund: cap.fund.rawValue, category: cap.category, province: cap.province,
                    maxPercentOfCost: cap.maxPercentOfCost, maxAmount: cap.maxAmount)), at: now, position: position)
    }

    /// Writes a record owned by the centre, giving it a new log position only if it changed.
    static func putCentralRecord(_ db: Database, table: ConsolidatedTable, id: String, fields: [String: FieldValue]) throws {
        let encoded = FieldCoding.encode(fields)
        if let existing = try String.fetchOne(db, sql: "SELECT fields FROM record WHERE tbl = ? AND id = ?", arguments: [table.rawValue, id]),
            existing == encoded
        {
            return
        }
        try db.execute(
            sql: """
                INSERT INTO record(tbl, id, office, fields, clocks, deleted_at, seq) VALUES (?, ?, 'central', ?, '{}', NULL, ?)
                ON CONFLICT(tbl, id) DO UPDATE SET fields = excluded.fields, seq = excluded.seq
                """,
            arguments: [table.rawValue, id, encoded, try nextSeq(db)])
    }

    static func nextSeq(_ db: Database) throws -> Int64 {
        var positions = try LogPositions(db)
        return positions.next()
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
