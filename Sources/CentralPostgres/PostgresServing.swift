import Central
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Which centre serves from a PostgreSQL record (`promo.serving`, one row): two or more centres
/// on different machines may be given the same `store.postgres_url`, and one of them serves while
/// the others wait (docs/OPERATIONS.md, "A standby centre"). The serving centre renews its lease
/// in every pass of its record (``PostgresStoreFollower/catchUp(storePath:to:lease:logger:onBackend:)``),
/// so a pass, and with it every acknowledgement, is refused once another centre took over: a
/// centre that lost the lease can never tell an office "kept" again. A waiting centre takes over
/// when it has watched the lease go unrenewed for the holder's whole lease, reading PostgreSQL
/// without a failure all that time (its own clock, not a comparison of two machines' clocks), and
/// then rebuilds its store from the record before it serves.
public struct ServingLease: Sendable {
    /// This centre's name in the lease (``holder(dataDirectory:)``).
    public let holder: String
    /// This process: renewals match it too, so that of two processes under one name (a data
    /// folder copied with its `centre.id`, a second `serve` by hand) only the last to take the
    /// lease can renew it, and the other's passes are refused.
    public let incarnation = UUID().uuidString.lowercased()
    /// How long the holder may go without renewing before another centre takes over.
    public let duration: Duration

    /// A lease for `holder`, renewed at least every third of `duration` by the record's passes.
    public init(holder: String, duration: Duration) {
        self.holder = holder
        self.duration = duration
    }

    /// The name of the centre whose data folder is `directory`: `host/machine/identifier`, the
    /// machine's from `/etc/machine-id` and the identifier made once and kept in `centre.id` there
    /// (owner-only). A folder copied to another machine (to seed a standby), even a clone with the
    /// same host name, brings the first one's name: the new machine takes a name of its own.
    public static func holder(dataDirectory directory: String) throws -> String {
        if let kept = try existingHolder(dataDirectory: directory) { return kept }
        let file = directory + "/centre.id"
        let name = "\(machine)/\(UUID().uuidString.prefix(8).lowercased())"
        guard FileManager.default.createFile(atPath: file, contents: Data((name + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CentralError(
                .internalServerError, .storage, "cannot write \(file)", hint: "The data folder must be writable by the service user.")
        }
        return name
    }

    /// The name this machine's centre of the data folder `directory` already has
    /// (``holder(dataDirectory:)``), or nil when it has none here yet: no `centre.id`, or one
    /// brought from another machine. Writes nothing (for the centre's commands).
    public static func existingHolder(dataDirectory directory: String) throws -> String? {
        let file = directory + "/centre.id"
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        guard let kept = try? String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) else {
            throw CentralError(
                .internalServerError, .storage, "cannot read \(file)", hint: "It names this centre; make it readable by the service user.")
        }
        if kept.hasPrefix(machine + "/") { return kept }
        // Named by 1.6.0 or 1.6.1 (host/identifier): kept, so that an upgrade does not change
        // the name the lease is held under.
        let parts = kept.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2, parts[0] == ProcessInfo.processInfo.hostName { return kept }
        return nil
    }

    /// This machine: its host name and the first 12 characters of `/etc/machine-id`.
    private static var machine: String {
        let id = (try? String(contentsOfFile: "/etc/machine-id", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines).prefix(12)
        return ProcessInfo.processInfo.hostName + (id.map { "/\($0)" } ?? "")
    }

    /// The lease as PostgreSQL holds it.
    public struct Held: Sendable, Equatable, CustomStringConvertible {
        /// The centre that serves.
        public var holder: String
        /// When it last renewed (PostgreSQL's clock, as text: only compared for a change).
        public var renewedAt: String
        /// Its lease, in seconds.
        public var seconds: Int

        /// A lease as read from `promo.serving`.
        public init(holder: String, renewedAt: String, seconds: Int) {
            self.holder = holder
            self.renewedAt = renewedAt
            self.seconds = seconds
        }

        /// The holder and its lease, for the log.
        public var description: String { "\(holder) (lease \(seconds) s)" }
    }

    /// Another centre holds the lease: this one must not acknowledge anything again.
    public struct TakenOver: Error, CustomStringConvertible {
        /// Who holds it now (nil: nobody, the row was removed by hand).
        public var by: String?
        /// What happened and what the centre does, for the log and the exit message.
        public var description: String {
            "another centre (\(by ?? "none")) took over the PostgreSQL record; this centre stopped serving and waits as a standby when started again"
        }

        /// The taking-over inside `error`, as a pass or a transaction reports it.
        public static func within(_ error: any Error) -> TakenOver? {
            if let taken = error as? TakenOver { return taken }
            if let transaction = error as? PostgresTransactionError, let inner = transaction.closureError { return within(inner) }
            if let central = error as? CentralError, let inner = central.underlying { return within(inner) }
            return nil
        }
    }

    /// Gives the lease up, when this process holds it: a centre that fails on its way to serving
    /// lets a standby take over at once instead of after the lease.
    public func release(location: PostgresLocation, logger: Logger) async {
        do {
            try await location.withClient(logger: logger) { client in
                _ = try await client.query(
                    "DELETE FROM promo.serving WHERE id = 1 AND holder = \(holder) AND incarnation = \(incarnation)", logger: logger)
            }
        } catch {
            logger.warning("could not give the serving lease up; a standby takes over once it runs out", metadata: ["error": "\(error)"])
        }
    }

    /// Gives up the lease held under the name `holder`, whichever of its processes holds it
    /// (`promo-central store lease --release`, after stopping that centre for a planned switch):
    /// a waiting centre takes over at its next look instead of after the lease. A process still
    /// serving under that name cannot renew it again, so its next pass stops it. Returns whether
    /// `holder` held the lease.
    public static func giveUp(holder: String, at location: PostgresLocation, logger: Logger) async throws -> Bool {
        try await location.withClient(logger: logger) { client in
            try await client.withConnection { connection in
                guard try await hasLeaseTable(connection, logger: logger) else { return false }
                return try await !connection.query(
                    "DELETE FROM promo.serving WHERE id = 1 AND holder = \(holder) RETURNING holder", logger: logger
                ).collect().isEmpty
            }
        }
    }

    /// Who holds the lease on the record at `location`, since when, and how long ago it was last
    /// renewed (PostgreSQL's clock), for `promo-central store lease`; nil when no centre holds it.
    public static func describe(at location: PostgresLocation, logger: Logger) async throws -> String? {
        try await location.withClient(logger: logger) { client in try await client.withConnection { try await describe($0, logger: logger) } }
    }

    /// ``describe(at:logger:)`` through `connection`.
    static func describe(_ connection: PostgresConnection, logger: Logger) async throws -> String? {
        guard try await hasLeaseTable(connection, logger: logger) else { return nil }
        var line: String?
        for try await (holder, since, age, seconds) in try await connection.query(
            """
            SELECT holder, to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                extract(epoch FROM clock_timestamp() - renewed_at)::float8, lease_seconds
            FROM promo.serving WHERE id = 1
            """, logger: logger
        ).decode((String, String, Double, Int).self) {
            let state = age <= Double(seconds) ? "serving" : "silent for longer than its lease: a standby takes over"
            line = "\(holder) holds the lease since \(since), renewed \(String(format: "%.1f", age)) s ago (lease \(seconds) s): \(state)"
        }
        return line
    }

    /// Where a centre's store stands against the record's lease, for a command about to write
    /// into it (``standing(of:at:logger:)``).
    public enum Standing: Sendable, Equatable {
        /// The centre holds the lease and renews it, having written the record last (or no centre
        /// wrote it yet); or nobody holds the lease and nobody else wrote the record last: its
        /// store is the one kept, and a command's write reaches the record with its next pass.
        case serving
        /// The centre holds the lease but has not renewed it for `silentFor` seconds, longer than
        /// its lease (stopped, or dead): a standby may take over at any moment, and this store
        /// would then be superseded.
        case silent(silentFor: Double, seconds: Int)
        /// The centre holds the lease but `writer` (another centre) wrote the record last: it is
        /// taking over, its store being rebuilt from the record.
        case takingOver(from: String)
        /// Another centre holds the lease (serving when `silentFor` is within its lease): this
        /// store is a standby's, moved aside and rebuilt from the record when it takes over, so a
        /// command's write here would be lost.
        case standby(holder: String, silentFor: Double, seconds: Int)
        /// No centre holds the lease, but `writer` (another centre) made the record's last pass:
        /// this store is rebuilt when this centre next serves.
        case superseded(writer: String)
    }

    /// Where the store of the centre named `holder` (nil: a data folder without a name here yet,
    /// which holds no lease) stands against the record at `location`: the lease and the record's
    /// last writer, read in one transaction.
    public static func standing(of holder: String?, at location: PostgresLocation, logger: Logger) async throws -> Standing {
        try await location.checkLogin(logger: logger)
        return try await location.withClient(logger: logger) { client in
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
                var writer: String?
                for try await name in try await connection.query("SELECT value FROM promo.follow_mark WHERE key = 'writer'", logger: logger)
                    .decode(String.self)
                {
                    writer = name
                }
                let other = writer.flatMap { $0 == holder ? nil : $0 }
                guard try await hasLeaseTable(connection, logger: logger) else { return .serving }
                for try await (name, age, seconds) in try await connection.query(
                    "SELECT holder, extract(epoch FROM clock_timestamp() - renewed_at)::float8, lease_seconds FROM promo.serving WHERE id = 1",
                    logger: logger
                ).decode((String, Double, Int).self) {
                    guard name == holder else { return .standby(holder: name, silentFor: age, seconds: seconds) }
                    if let other { return .takingOver(from: other) }
                    return age > Double(seconds) ? .silent(silentFor: age, seconds: seconds) : .serving
                }
                return other.map { .superseded(writer: $0) } ?? .serving
            }
        }
    }

    /// Whether the database has the lease's table (a copy made before 1.6.0 that no centre of
    /// 1.6.0 or later has served from has not).
    static func hasLeaseTable(_ connection: PostgresConnection, logger: Logger) async throws -> Bool {
        for try await found in try await connection.query("SELECT to_regclass('promo.serving') IS NOT NULL", logger: logger).decode(Bool.self) {
            return found
        }
        return false
    }

    /// The centre serving from the record at `location` now: one whose lease was renewed within
    /// twice its length (PostgreSQL's clock). Nil when none does, or the database predates leases.
    public static func serving(at location: PostgresLocation, logger: Logger) async throws -> Held? {
        try await location.withClient(logger: logger) { client in try await client.withConnection { try await serving($0, logger: logger) } }
    }

    /// ``serving(at:logger:)`` through `connection`.
    static func serving(_ connection: PostgresConnection, logger: Logger) async throws -> Held? {
        guard try await hasLeaseTable(connection, logger: logger) else { return nil }
        var held: Held?
        for try await (name, renewed, seconds) in try await connection.query(
            """
            SELECT holder, renewed_at::text, lease_seconds FROM promo.serving
            WHERE id = 1 AND renewed_at > clock_timestamp() - make_interval(secs => lease_seconds * 2)
            """, logger: logger
        ).decode((String, String, Int).self) {
            held = Held(holder: name, renewedAt: renewed, seconds: seconds)
        }
        return held
    }

    /// Renews the lease inside a pass's transaction, and holds its row until that transaction ends:
    /// a centre taking over waits for the pass and then sees it renewed. Throws ``TakenOver`` when
    /// another centre holds the lease.
    func renew(_ connection: PostgresConnection, logger: Logger) async throws {
        let seconds = Int(duration.components.seconds)
        let renewed = try await connection.query(
            """
            UPDATE promo.serving SET renewed_at = clock_timestamp(), lease_seconds = \(seconds)
            WHERE id = 1 AND holder = \(holder) AND incarnation = \(incarnation) RETURNING holder
            """,
            logger: logger
        ).collect()
        guard renewed.isEmpty else { return }
        var current: String?
        for try await name in try await connection.query("SELECT holder FROM promo.serving WHERE id = 1", logger: logger).decode(String.self) {
            current = name
        }
        throw TakenOver(by: current)
    }

    /// Returns once this centre holds the lease: at once when nobody holds it or this centre
    /// already did (a restart); otherwise after watching the holder's lease go unrenewed for its
    /// whole length. `poll` is how often PostgreSQL is asked; `waiting` hears who serves, each
    /// time that changes. Any failure to read starts the watch again. Returns the centre it took
    /// the lease from: nil when the lease was free or already this centre's (only this centre's
    /// passes wrote the record since it last held it, as far as the lease knows).
    @discardableResult
    public func acquire(location: PostgresLocation, poll: Duration = .seconds(1), logger: Logger, waiting: @Sendable (Held) -> Void = { _ in })
        async throws -> Held?
    {
        var watched: (lease: Held, since: ContinuousClock.Instant)?
        var announced: String?
        var migrated = false
        // Migrations and looks log only what fails (below), not once a second.
        var quiet = logger
        quiet.logLevel = .error
        try await location.checkLogin(logger: quiet)
        while true {
            try Task.checkCancellation()
            do {
                let (looking, migrate) = (watched, !migrated)
                let outcome = try await location.withClient(logger: quiet) { [quiet] client in
                    if migrate { try await PostgresStoreCopy.migrate(client, logger: quiet) }
                    return try await attempt(client, watched: looking, logger: quiet)
                }
                migrated = true
                switch outcome {
                case .acquired(let previous):
                    guard let previous, previous.holder != holder else { return nil }
                    logger.notice(
                        "took over the PostgreSQL record from a silent centre",
                        metadata: ["store.previous": "\(previous.holder)", "store.lease": "\(previous.seconds)"])
                    return previous
                case .held(let lease):
                    if watched?.lease != lease { watched = (lease, .now) }
                    if announced != lease.holder {
                        announced = lease.holder
                        waiting(lease)
                    }
                }
            } catch {
                // A login PostgreSQL refuses (a wrong password, a missing database) stays refused:
                // said once, with the fix, rather than again and again.
                if PostgresLocation.isRefusedLogin(error) { throw error }
                // The holder may be renewing through what this centre cannot reach: watch again.
                watched = nil
                logger.warning("cannot read who serves the PostgreSQL record; trying again", metadata: ["error": "\(error)"])
            }
            try await Task.sleep(for: poll)
        }
    }

    /// Runs `body` (a long rebuild of the store after taking over) while renewing the lease every
    /// third of its length, so that no other centre takes it meanwhile. Throws ``TakenOver``, once
    /// `body` is done, if a renewal found another centre holding it. A renewal PostgreSQL leaves
    /// unanswered is not waited for once `body` is done: it is left to end by itself, and the
    /// record's first pass, which renews the lease in its own transaction, finds out whether this
    /// centre still holds it. Nothing is cancelled: a task cancelled as it enters a PostgresNIO
    /// call can wait forever for a connection.
    public func holding<T: Sendable>(location: PostgresLocation, logger: Logger, _ body: () async throws -> T) async throws -> T {
        let done = Flag()
        let taken = Lost()
        Task {
            var next = ContinuousClock.now + duration / 3
            while !done.isSet {
                try? await Task.sleep(for: .milliseconds(100))
                guard !done.isSet, ContinuousClock.now >= next else { continue }
                next = ContinuousClock.now + duration / 3
                do {
                    try await location.withClient(logger: logger) { client in
                        try await client.withTransaction(logger: logger) { try await renew($0, logger: logger) }
                    }
                } catch {
                    if let lost = TakenOver.within(error) {
                        taken.value.withLock { $0 = lost }
                        return
                    }
                    logger.warning("could not renew the serving lease; trying again", metadata: ["error": "\(error)"])
                }
            }
        }
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        done.set()
        if let lost = taken.value.withLock({ $0 }) { throw lost }
        return try result.get()
    }

    enum Outcome: Sendable {
        case acquired(previous: Held?)
        case held(Held)
    }

    /// One look at the lease: taken when free, this centre's, or watched unrenewed for long enough.
    private func attempt(_ client: PostgresClient, watched: (lease: Held, since: ContinuousClock.Instant)?, logger: Logger) async throws -> Outcome {
        let seconds = Int(duration.components.seconds)
        let (holder, incarnation) = (self.holder, self.incarnation)
        return try await client.withTransaction(logger: logger) { connection in
            // Taking the lease over is durable (and on the synchronous standbys) before this
            // centre acts on it, whatever the role or database sets.
            try await connection.query("SET LOCAL synchronous_commit = on", logger: logger)
            var current: Held?
            for try await (name, renewed, leaseSeconds) in try await connection.query(
                "SELECT holder, renewed_at::text, lease_seconds FROM promo.serving WHERE id = 1 FOR UPDATE", logger: logger
            ).decode((String, String, Int).self) {
                current = Held(holder: name, renewedAt: renewed, seconds: leaseSeconds)
            }
            guard let current else {
                let inserted = try await connection.query(
                    """
                    INSERT INTO promo.serving(id, holder, incarnation, since, renewed_at, lease_seconds)
                    VALUES (1, \(holder), \(incarnation), clock_timestamp(), clock_timestamp(), \(seconds)) ON CONFLICT (id) DO NOTHING
                    RETURNING holder
                    """, logger: logger
                ).collect()
                // Another centre inserted first: look again next time.
                return inserted.isEmpty ? .held(Held(holder: "?", renewedAt: "", seconds: seconds)) : .acquired(previous: nil)
            }
            let silentLongEnough =
                watched.map { $0.lease == current && ContinuousClock.now - $0.since >= .seconds(current.seconds) } ?? false
            if current.holder == holder {
                // This centre started again: the lease is this process's from now on, but not
                // renewed here. Only its record's passes renew it, so a centre that fails on its
                // way to serving (and is started again and again) lets a standby take over.
                try await connection.query("UPDATE promo.serving SET incarnation = \(incarnation) WHERE id = 1", logger: logger)
                return .acquired(previous: current)
            }
            guard silentLongEnough else { return .held(current) }
            try await connection.query(
                """
                UPDATE promo.serving SET holder = \(holder), incarnation = \(incarnation), since = clock_timestamp(),
                    renewed_at = clock_timestamp(), lease_seconds = \(seconds)
                WHERE id = 1
                """, logger: logger)
            return .acquired(previous: current)
        }
    }
}

/// A flag one task sets and another reads.
final class Flag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

/// The taking-over a heartbeat met, for the task it renews for.
private final class Lost: Sendable {
    let value = Mutex<ServingLease.TakenOver?>(nil)
}
