import Foundation
import GRDB
import SyncCore
import WireFormat

/// What `promo-sync init` records in the replica: who this office is and where its centre is.
public struct ReplicaSettings: Sendable, Equatable {
    /// The office this replica belongs to; its commands write as this office.
    public var office: OfficeCode
    /// The centre's base URL (`https://…`); the configuration's `central.url` overrides it.
    public var centralURL: String
    /// The path of the file holding the office's token; the configuration's token file overrides it.
    public var tokenFile: String

    /// Creates settings from their parts.
    public init(office: OfficeCode, centralURL: String, tokenFile: String) {
        self.office = office
        self.centralURL = centralURL
        self.tokenFile = tokenFile
    }
}

/// The office's local SQLite replica (WAL mode): its data, the outbox of captured changes, the
/// changesets waiting for acknowledgement and the sync state.
public final class Replica: Sendable {
    /// The file this replica lives in.
    public let path: String
    /// The connection pool: one writer and concurrent readers.
    public let database: DatabasePool
    /// Fault seams for tests.
    public let faults: FaultInjector
    /// The file this replica opened (device and inode), to notice it deleted or replaced under a
    /// running daemon (``fileProblem()``).
    let openedFile: FileIdentity?

    /// The replica file name inside a data folder.
    public static let fileName = "replica.sqlite"

    private init(path: String, database: DatabasePool, faults: FaultInjector) {
        self.path = path
        self.database = database
        self.faults = faults
        self.openedFile = FileIdentity(path: path)
    }

    static func configuration() -> Configuration {
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.foreignKeysEnabled = true
        // 8 MiB of page cache per connection: an office's inserts arrive roughly in id order
        // (time-ordered ids), so a larger cache only adds to the resident set (docs/BENCHMARKS.md).
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA cache_size = -8192") }
        config.label = "replica"
        return config
    }

    /// Opens the file's connections. Every commit waits for the disk (`synchronous = FULL`; GRDB's
    /// WAL pools default to NORMAL, under which a power cut may lose the last commits): a captured
    /// write or a changeset made to be sent that was reported done must survive one. Only what
    /// the office gets again after a cut commits without waiting (``writeRecoverable(_:_:)``).
    static func openPool(_ path: String) throws -> DatabasePool {
        let pool = try DatabasePool(path: path, configuration: configuration())
        try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
        return pool
    }

    /// Creates a new replica at `path` and records its settings.
    public static func create(at path: String, settings: ReplicaSettings, faults: FaultInjector = FaultInjector()) throws(ReplicaError) -> Replica {
        if FileManager.default.fileExists(atPath: path) {
            throw ReplicaError(
                .alreadyExists, "a replica already exists at \(path)",
                hint: "Use it as it is, or move it aside first if you really mean to start over.")
        }
        let replica: Replica
        do {
            // The replica holds public money records: its owner only. The empty file is made
            // with that mode before SQLite opens it, because SQLite gives the `-wal` and `-shm`
            // files it makes the mode of the database file at that moment, whatever the umask.
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw ReplicaError(
                    .storage, "cannot create the replica file \(path)",
                    hint: "Check that the data folder exists and is writable by the service user.")
            }
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
            let pool = try openPool(path)
            try Schema.migrator().migrate(pool)
            replica = Replica(path: path, database: pool, faults: faults)
            try pool.write { db in try recordNewReplica(db, settings: settings) }
        } catch {
            throw ReplicaError.wrap(error, during: "creating the replica")
        }
        return replica
    }

    /// The state of a replica just made: who it is, and an empty chain and cursor.
    static func recordNewReplica(_ db: Database, settings: ReplicaSettings) throws {
        try State.set(db, .office, settings.office.rawValue)
        try State.set(db, .centralURL, settings.centralURL)
        try State.set(db, .tokenFile, settings.tokenFile)
        try State.set(db, .lastSequence, "0")
        try State.set(db, .lastHash, Changeset.genesisHash)
        try State.set(db, .cursor, "0")
    }

    /// Opens an existing replica and brings its schema up to date.
    public static func open(at path: String, faults: FaultInjector = FaultInjector()) throws(ReplicaError) -> Replica {
        guard FileManager.default.fileExists(atPath: path) else {
            if let copy = rescueCopies(beside: path).last {
                throw ReplicaError(
                    .notInitialised, "no replica at \(path); the daemon saved what it held to \(copy) when the file was deleted under it",
                    hint: "Run: promo-sync resync --rebuild (it makes a new replica from the centre and takes the saved unpushed changes back)")
            }
            throw ReplicaError(
                .notInitialised, "no replica at \(path)",
                hint:
                    "A new office: promo-sync init --office CODE --central URL --token-file FILE. An office whose replica was lost: promo-sync resync --rebuild --office CODE --central URL --token-file FILE (everything comes back from the centre)"
            )
        }
        do {
            let pool = try openPool(path)
            try refuseNewerSchema(pool, path: path)
            try Schema.migrator().migrate(pool)
            // What an older release pulled but could not apply, now that this one can.
            try pool.write { db in try CaptureTriggers.suspended(db) { try applyDeferred(db) } }
            let replica = Replica(path: path, database: pool, faults: faults)
            _ = try replica.settings()
            return replica
        } catch let error as ReplicaError {
            throw error
        } catch {
            throw ReplicaError.wrap(error, during: "opening the replica")
        }
    }

    /// Refuses a replica that a later release migrated: this release would not know its columns'
    /// meaning, and its capture triggers would record changes it cannot send. (Releases before
    /// 1.2.0 lack this check; docs/OPERATIONS.md says how to roll an office back.)
    static func refuseNewerSchema(_ pool: DatabasePool, path: String) throws {
        let known = Set(Schema.migrator().migrations)
        let applied = try pool.read { db -> [String] in
            guard try db.tableExists("grdb_migrations") else { return [] }
            return try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
        }
        if let newer = applied.filter({ !known.contains($0) }).sorted().last {
            throw ReplicaError(
                .storage,
                "the replica \(path) was migrated by a later release of promo-sync (schema \(newer)); this is \(SoftwareVersion.current) (schema v\(schemaVersion))",
                hint:
                    "Install the later release again. To go back to this one, move the replica aside and run promo-sync resync --rebuild (docs/OPERATIONS.md, \"Rolling out a release\")."
            )
        }
    }

    /// The settings recorded by `init`.
    public func settings() throws(ReplicaError) -> ReplicaSettings {
        do {
            return try database.read { db in
                guard let office = try State.get(db, .office),
                    let url = try State.get(db, .centralURL),
                    let token = try State.get(db, .tokenFile)
                else {
                    throw ReplicaError(
                        .damaged, "the replica has no office settings",
                        hint: "It was not made by promo-sync init; create a new one with promo-sync init.")
                }
                return ReplicaSettings(office: OfficeCode(unchecked: office), centralURL: url, tokenFile: token)
            }
        } catch {
            throw ReplicaError.wrap(error, during: "reading the settings")
        }
    }

    /// Refuses this replica if other users could read or change it (see ``checkPermissions(at:)``).
    public func checkPermissions() throws(ReplicaError) {
        try Self.checkPermissions(at: path)
    }

    /// Refuses the replica at `path` before anything opens it when other users could read or
    /// change it: the file (or its `-wal` and `-shm` files) readable by others or writable by its
    /// group or others, or the folder holding it writable by its group or others (who could put a
    /// `-wal` there for the next open to replay, or swap the file). Every `promo-sync` command
    /// calls this before opening the replica; the rule for each kind of file is
    /// `FilePermissions`'s. Files that are not there are not checked.
    public static func checkPermissions(at path: String) throws(ReplicaError) {
        let folder = (path as NSString).deletingLastPathComponent
        let files: [(FilePermissions.Kind, String, String)] = [
            (.database, "the replica", path),
            (.database, "the replica's write-ahead log", path + "-wal"),
            (.database, "the replica's shared-memory file", path + "-shm"),
            (.dataFolder, "the data folder", folder.isEmpty ? "." : folder),
        ]
        for (kind, name, file) in files {
            if let problem = FilePermissions.check(kind, name: name, path: file) {
                throw ReplicaError(.unsafePermissions, problem.message, hint: problem.hint)
            }
        }
    }

    /// Runs a read inside the replica, wrapping failures.
    func read<T: Sendable>(_ operation: String, _ body: @Sendable (Database) throws -> T) throws(ReplicaError) -> T {
        do { return try database.read(body) } catch { throw ReplicaError.wrap(error, during: operation) }
    }

    /// Runs a write transaction, wrapping failures.
    func write<T: Sendable>(_ operation: String, _ body: @Sendable (Database) throws -> T) throws(ReplicaError) -> T {
        do { return try database.write(body) } catch { throw ReplicaError.wrap(error, during: operation) }
    }

    /// A transaction holding only what the office gets again if a power cut loses it: it commits
    /// without an fsync (the next durable commit carries it to disk; SQLite's write-ahead log
    /// keeps commits in order, so a cut loses a tail of them, never one from the middle). Such are
    /// a pulled page with its cursor (the next pull fetches it again), an acknowledgement (the
    /// changeset, made durably, is sent again and the centre answers `duplicate`), and the
    /// daemon's state for status (the daemon writes it anew when it starts). `unless`, asked just
    /// before the transaction by the same connection, tells when this one holds more and must wait
    /// for the disk after all (SQLite takes the setting when a transaction begins).
    func writeRecoverable<T: Sendable>(
        _ operation: String, unless mustWait: @escaping @Sendable (Database) throws -> Bool = { _ in false },
        _ body: @escaping @Sendable (Database) throws -> T
    ) throws(ReplicaError) -> T {
        do {
            return try database.writeWithoutTransaction { db in
                let recoverable = try !mustWait(db)
                if recoverable { try db.execute(sql: "PRAGMA synchronous = NORMAL") }
                defer { if recoverable { try? db.execute(sql: "PRAGMA synchronous = FULL") } }
                var result: T?
                try db.inTransaction {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch {
            throw ReplicaError.wrap(error, during: operation)
        }
    }
}
