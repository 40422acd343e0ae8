import Central
import Crypto
import Foundation
import GRDB
import HTTPTypes
import Logging
import NIOSSL
import PostgresNIO
import SyncCore

/// Where a PostgreSQL database is: `postgres://USER@HOST[:PORT][,HOST[:PORT]…]/DATABASE[?sslmode=disable|prefer|require]`.
/// The password never comes from the URL or the command line (they end up in shell histories and
/// process lists): from a file (`--password-file`, owner-only) or the `PGPASSWORD` environment.
///
/// Several hosts (libpq's form) name the nodes of one replicated cluster: each connection goes to
/// the first of them, in order, that answers and is not a standby (`pg_is_in_recovery()`), so a
/// follower finds the promoted standby by itself after a failover.
public struct PostgresLocation: Sendable, CustomStringConvertible {
    /// One node of the cluster.
    public struct Node: Sendable, Equatable, CustomStringConvertible {
        /// The server's host name or address.
        public let host: String
        /// The server's port; 5432 when the URL names none.
        public let port: Int
        /// The node as `HOST:PORT` (`[ADDRESS]:PORT` for IPv6).
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// The nodes, in the order they are tried; one for a plain URL.
    public let nodes: [Node]
    /// The PostgreSQL user to connect as.
    public let user: String
    /// The database's name (the URL's path).
    public let database: String
    /// TLS to the server: `disable`, `prefer` (the default: TLS when the server offers it) or `require`.
    public let sslMode: String
    /// Whether a single node is also asked whether it is the primary (`target_session_attrs=
    /// read-write` or `primary`); a node of several always is.
    public let requiresPrimary: Bool
    /// How long a connection, and a node's answer to whether it is the primary, may take
    /// (`connect_timeout` in seconds; 5 s when not given).
    public let connectTimeout: Duration
    let password: String?

    /// The query options read from the address, as libpq spells them; any other is refused
    /// rather than ignored, so that no one believes it applies.
    static let options = ["sslmode", "target_session_attrs", "connect_timeout"]

    /// Reads a `postgres://` (or `postgresql://`) URL; refuses, as `configuration`, a URL that holds a password or lacks a host, user or database.
    public init(url: String, password: String?) throws(CentralError) {
        func refuse(_ why: String) -> CentralError {
            CentralError(
                .badRequest, .configuration, "'\(url)' is not a PostgreSQL address: \(why)",
                hint:
                    "Write postgres://USER@HOST:PORT/DATABASE, or postgres://USER@HOST1:PORT,HOST2:PORT/DATABASE for the nodes of a cluster, with ?sslmode=, target_session_attrs= or connect_timeout= if needed (the password in a file given with --password-file, or in PGPASSWORD)."
            )
        }
        guard let colon = url.range(of: "://"), ["postgres", "postgresql"].contains(url[..<colon.lowerBound]) else {
            throw refuse("it does not start with postgres://")
        }
        // The authority holds the host list, which URLComponents does not read: parse it here and
        // leave the rest (user, path, query) to URLComponents with the first host in its place.
        let afterScheme = url[colon.upperBound...]
        let authorityEnd = afterScheme.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        let at = authority.lastIndex(of: "@")
        let hostList = at.map { authority[authority.index(after: $0)...] } ?? authority
        var nodes: [Node] = []
        for entry in hostList.split(separator: ",", omittingEmptySubsequences: false) {
            guard let parts = URLComponents(string: "postgres://" + entry), let host = parts.host, !host.isEmpty, parts.path.isEmpty else {
                throw refuse(entry.isEmpty ? "it names no host" : "'\(entry)' is not HOST or HOST:PORT")
            }
            nodes.append(Node(host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: parts.port ?? 5432))
        }
        let single = (at.map { String(authority[...$0]) } ?? "") + (nodes.first.map { "\($0)" } ?? "")
        guard let parts = URLComponents(string: "postgres://" + single + afterScheme[authorityEnd...]) else { throw refuse("it is not a URL") }
        guard parts.password == nil else { throw refuse("it holds a password") }
        guard let user = parts.user, !user.isEmpty else { throw refuse("it names no user") }
        let database = String(parts.path.drop { $0 == "/" })
        guard !database.isEmpty else { throw refuse("it names no database") }
        var seen: Set<String> = []
        for item in parts.queryItems ?? [] {
            guard Self.options.contains(item.name) else {
                throw refuse(
                    item.name.isEmpty
                        ? "it has an empty option"
                        : "it sets '\(item.name)', which promo-central does not read (it reads \(Self.options.joined(separator: ", ")))")
            }
            guard let value = item.value, !value.isEmpty else { throw refuse("it gives '\(item.name)' no value") }
            guard seen.insert(item.name).inserted else { throw refuse("it sets '\(item.name)' twice (\(value) the second time)") }
        }
        func option(_ name: String) -> String? { parts.queryItems?.first { $0.name == name }?.value }
        let mode = option("sslmode") ?? "prefer"
        guard ["disable", "prefer", "require"].contains(mode) else { throw refuse("sslmode '\(mode)' is not disable, prefer or require") }
        // promo-central writes to the copy, so only a primary will do: libpq's settings that
        // accept a standby are refused.
        let attributes = option("target_session_attrs")
        if let attributes, !["read-write", "primary"].contains(attributes) {
            throw refuse("target_session_attrs '\(attributes)' would accept a standby; promo-central writes, so it takes read-write or primary")
        }
        var timeout = Duration.seconds(5)
        if let text = option("connect_timeout") {
            guard let seconds = Int(text), (1...600).contains(seconds) else {
                throw refuse("connect_timeout '\(text)' is not a whole number of seconds from 1 to 600")
            }
            timeout = .seconds(seconds)
        }
        self.requiresPrimary = attributes != nil
        self.connectTimeout = timeout
        self.nodes = nodes
        self.user = user
        self.database = database
        self.sslMode = mode
        self.password = password
    }

    /// The address as `postgres://USER@HOST:PORT[,HOST:PORT…]/DATABASE`, with no password (fit for logs).
    public var description: String { "postgres://\(user)@\(nodes.map(\.description).joined(separator: ","))/\(database)" }

    /// A client's settings for `node`: this address's user, password, database and TLS.
    public func configuration(_ node: Node) -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS =
            switch sslMode {
            case "disable": .disable
            case "require": .require(.makeClientConfiguration())
            default: .prefer(.makeClientConfiguration())
            }
        var configuration = PostgresClient.Configuration(host: node.host, port: node.port, username: user, password: password, database: database, tls: tls)
        configuration.options.connectTimeout = connectTimeout
        return configuration
    }

    /// Runs `body` with a client of this database, and stops the client afterwards. What
    /// PostgreSQL refuses comes back as a ``CentralError`` with the server's own message. With
    /// several nodes, the client is of the first that answers and is not a standby.
    @discardableResult
    public func withClient<T: Sendable>(logger: Logger, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        try await withClient(of: try await primaryNode(logger: logger), logger: logger, body)
    }

    /// The node to write to: the only one (asked only with ``requiresPrimary``), or the first of
    /// several, in order, that is not a standby. The nodes are asked all at once, each for at most
    /// `within` (``connectTimeout`` when nil), so nodes that are down cost that time once, not once
    /// each: the durable record's passes must find the primary within their own deadline. Throws
    /// naming each node and what it answered when none is a primary.
    public func primaryNode(logger: Logger, within: Duration? = nil) async throws -> Node {
        guard nodes.count > 1 || requiresPrimary else { return nodes[0] }
        let limit = within.map { min($0, connectTimeout) } ?? connectTimeout
        // A node that is down is reported below, in one line; the probing client's own complaints
        // about it (leases it could not serve) are left out of the log.
        let quiet = {
            var quiet = logger
            quiet.logLevel = .error
            return quiet
        }()
        // Per node: whether it is the primary, or what kept it from saying so in time (a client
        // keeps trying to connect to a node that is down, so the question has a deadline of its own).
        enum Answer: Sendable {
            case primary, standby, silent
            case failed(String)
        }
        let probe: @Sendable (Node) async -> Answer = { node in
            await withThrowingTaskGroup(of: Bool?.self) { group -> Answer in
                group.addTask {
                    try await withClient(of: node, logger: quiet) { client in
                        for try await inRecovery in try await client.query("SELECT pg_is_in_recovery()", logger: quiet).decode(Bool.self) {
                            return !inRecovery
                        }
                        return false
                    }
                }
                group.addTask {
                    try await Task.sleep(for: limit)
                    return nil
                }
                defer { group.cancelAll() }
                do {
                    guard let first = try await group.next(), let primary = first else { return .silent }
                    return primary ? .primary : .standby
                } catch {
                    return .failed((error as? CentralError)?.message ?? "\(error)")
                }
            }
        }
        // The first node in order that is the primary is known as soon as it and every node before
        // it have answered: a standby that is down after it costs nothing.
        let (chosen, answers) = await withTaskGroup(of: (Int, Answer).self) { group -> (Int?, [Answer?]) in
            for (index, node) in nodes.enumerated() { group.addTask { (index, await probe(node)) } }
            var answers = [Answer?](repeating: nil, count: nodes.count)
            for await (index, answer) in group {
                answers[index] = answer
                for (earlier, known) in answers.enumerated() {
                    guard let known else { break }
                    if case .primary = known {
                        group.cancelAll()
                        return (earlier, answers)
                    }
                }
            }
            return (nil, answers)
        }
        if let chosen { return nodes[chosen] }
        let passed = zip(nodes, answers).map { node, answer -> String in
            switch answer {
            case .standby: "\(node) (a standby)"
            case .failed(let message): "\(node) (\(message))"
            case .silent, .primary, nil: "\(node) (no answer within \(limit))"
            }
        }
        throw CentralError(
            .badGateway, .storage, "no primary among the nodes of \(self): \(passed.joined(separator: "; "))",
            hint: "Promote a standby (pg_ctl promote) or start the primary; the next attempt asks the nodes again.")
    }

    private func withClient<T: Sendable>(of node: Node, logger: Logger, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        // The client lives for `body` only: its pool's own warnings (a query leased before its run
        // loop started, which it waits for) are noise; what fails is thrown to `body`.
        var quiet = logger
        quiet.logLevel = .error
        let client = PostgresClient(configuration: configuration(node), backgroundLogger: quiet)
        let location = nodes.count > 1 ? "\(self) (node \(node))" : "\(self)"
        do {
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await client.run() }
                defer { group.cancelAll() }
                return try await body(client)
            }
        } catch let error as CentralError {
            throw error
        } catch let error as PostgresTransactionError where error.closureError is CentralError {
            throw error.closureError as! CentralError
        } catch {
            // A client's pool gives up on a node it cannot log in to without saying why (its own
            // error, not PostgreSQL's): one connection of its own tells (the wrong password, the
            // missing database).
            var cause: any Error = error
            if String(reflecting: type(of: error)).hasSuffix("ConnectionPoolError"), let refused = await loginProblem(node, logger: logger),
                Self.isRefusedLogin(refused)
            {
                cause = refused
            }
            throw CentralError(
                .badGateway, .storage, "PostgreSQL at \(location): \(Self.describe(cause))",
                hint: "Check the address, the user, its password and that the database exists (createdb).", underlying: cause)
        }
    }

    /// Throws, with PostgreSQL's own reason, when it refuses this address's login (the user, its
    /// password, the database: ``isRefusedLogin(_:)``) on every node that answers; what else fails
    /// (a node down) is left for the caller to meet and retry. One connection per node, not a
    /// pool's: a pool retries a refused login for a minute before it fails, and then without the
    /// reason.
    public func checkLogin(logger: Logger) async throws {
        var refused: (any Error)?
        for node in nodes {
            guard let problem = await loginProblem(node, logger: logger) else { return }
            if Self.isRefusedLogin(problem) { refused = problem }
        }
        if let refused {
            throw CentralError(
                .badGateway, .configuration, "PostgreSQL at \(self): \(Self.describe(refused))",
                hint: "Check the user, its password (--password-file, store.postgres_password_file or PGPASSWORD) and that the database exists (createdb).",
                underlying: refused)
        }
    }

    /// What one connection to `node` meets: nil when it logs in.
    private func loginProblem(_ node: Node, logger: Logger) async -> (any Error)? {
        do {
            let tls: PostgresConnection.Configuration.TLS =
                switch sslMode {
                case "disable": .disable
                case "require": .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                default: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
                }
            var configuration = PostgresConnection.Configuration(
                host: node.host, port: node.port, username: user, password: password, database: database, tls: tls)
            configuration.options.connectTimeout = .nanoseconds(Int64(connectTimeout.components.seconds) * 1_000_000_000)
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            try? await connection.close()
            return nil
        } catch {
            return error
        }
    }

    /// Whether retrying cannot help: PostgreSQL refused what was written (SQLSTATE class 23, a
    /// constraint; 42, the schema; 25006, a read-only server such as a standby), so the copy no
    /// longer fits the store and following must stop and say so.
    public static func isLasting(_ error: any Error) -> Bool {
        guard let state = sqlState(of: error) else { return false }
        return state.hasPrefix("23") || state.hasPrefix("42") || state == "25006"
    }

    /// Whether PostgreSQL refused the login itself (SQLSTATE class 28: the user or its password;
    /// 3D000: no such database): trying again cannot help until a person changes something.
    public static func isRefusedLogin(_ error: any Error) -> Bool {
        guard let state = sqlState(of: error) else { return false }
        return state.hasPrefix("28") || state == "3D000"
    }

    /// The SQLSTATE PostgreSQL answered with, looked for inside a ``CentralError`` and a
    /// transaction's error; nil for an error that did not come from the server.
    static func sqlState(of error: any Error) -> String? {
        var inner: any Error = error
        if let central = error as? CentralError, let underlying = central.underlying { inner = underlying }
        if let transaction = inner as? PostgresTransactionError, let closure = transaction.closureError ?? transaction.commitError { inner = closure }
        return (inner as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// The server's message of a PostgreSQL error, or the error as it is.
    static func describe(_ error: any Error) -> String {
        if let transaction = error as? PostgresTransactionError, let inner = transaction.closureError ?? transaction.beginError ?? transaction.commitError {
            return describe(inner)
        }
        if let psql = error as? PSQLError {
            if let message = psql.serverInfo?[.message] { return message }
            return "\(psql.code)"
        }
        return "\(error)"
    }
}

/// What `promo-central store migrate --to postgres://…` did.
public struct StoreCopyReport: Sendable {
    /// Rows copied per table, in copy order.
    public var rows: [(table: String, count: Int)] = []
    /// Tables whose content differs between the SQLite store and PostgreSQL after the copy (none
    /// when the copy is exact).
    public var differing: [String] = []
}

/// Copies a central SQLite store into an empty PostgreSQL database, row for row, in one
/// transaction, and then checks each table's digest on both sides.
public enum PostgresStoreCopy {
    /// The tables in an order their references allow.
    /// Dashboard sessions are not copied: they are a browser's, and end with the move.
    static let tables = ["meta", "office", "office_seen", "changeset", "journal", "record", "history", "totals_pending", "dashboard_user", "dashboard_login"]

    /// Brings the PostgreSQL schema up to date (``PostgresSchema``), in a transaction per migration.
    public static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        try await client.query(
            "CREATE TABLE IF NOT EXISTS public.promo_migrations (identifier text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())", logger: logger)
        var applied: Set<String> = []
        for try await id in try await client.query("SELECT identifier FROM public.promo_migrations", logger: logger).decode(String.self) { applied.insert(id) }
        for migration in PostgresSchema.migrations where !applied.contains(migration.id) {
            for attempt in 1...2 {
                do {
                    try await client.withTransaction(logger: logger) { connection in
                        for statement in migration.sql.components(separatedBy: ";\n")
                        where !statement.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                        try await connection.query("INSERT INTO public.promo_migrations(identifier) VALUES (\(migration.id))", logger: logger)
                    }
                    break
                } catch  where attempt == 1 && Self.isConcurrentRoleCreation(error) {
                    // The role promo_reporting is the cluster's, not the database's: a migration
                    // of another database in the same cluster made it between our check and our
                    // CREATE ROLE. Once more, and the check finds it.
                    continue
                }
            }
        }
    }

    /// A unique violation or duplicate object (SQLSTATE 23505, 42710): what a `CREATE ROLE` that
    /// raced another database's migration fails with.
    static func isConcurrentRoleCreation(_ error: any Error) -> Bool {
        ["23505", "42710"].contains(PostgresLocation.sqlState(of: error))
    }

    /// Copies the store at `storePath` (opened read-only, as it is) into `client`'s database, which
    /// must hold no centre yet. Refuses a store of another schema than the one the PostgreSQL
    /// tables mirror.
    public static func copy(storePath: String, to client: PostgresClient, logger: Logger) async throws -> StoreCopyReport {
        // One consistent snapshot of the store (a centre may be serving from it), read table by
        // table in pages: memory stays bounded whatever the store's size.
        let snapshotPath = storePath + ".pgcopy-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: snapshotPath) }
        // The whole store, token hashes included: made owner-only before SQLite writes into it
        // (VACUUM INTO fills an empty file), as a backup is.
        guard FileManager.default.createFile(atPath: snapshotPath, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw CentralError(
                .internalServerError, .storage, "cannot write a snapshot of the store beside it (\(snapshotPath))",
                hint: "Run the copy as the service user, with room in the data folder for one more copy of the store.")
        }
        var readOnly = Configuration()
        readOnly.readonly = true
        do {
            let live = try DatabaseQueue(path: storePath, configuration: readOnly)
            try await live.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [snapshotPath]) }
            try live.close()
        }
        let source = try DatabaseQueue(path: snapshotPath, configuration: readOnly)
        defer { try? source.close() }
        try await checkSchema(source, storePath: storePath)
        try await migrate(client, logger: logger)
        let existing = try await client.query("SELECT count(*) FROM promo.meta", logger: logger).decode(Int64.self).reduce(0) { $0 + $1 }
        guard existing == 0 else {
            throw CentralError(
                .conflict, .configuration, "the PostgreSQL database already holds a centre (promo.meta has \(existing) rows)",
                hint: "Copy into a new, empty database; a copy never merges into or overwrites another.")
        }
        var report = StoreCopyReport()
        let layout = try await source.read { db in try tables.map { ($0, try columns(db, $0)) } }
        let marks = try await source.read { db in try PostgresStoreFollower.Marks.read(db) }
        // One transaction in PostgreSQL: all tables or none, with the marks `store follow` goes on from.
        try await client.withTransaction(logger: logger) { connection in
            // COPY quotes the table's name whole: the schema comes from the search path.
            try await connection.query("SET LOCAL search_path TO promo", logger: logger)
            for (table, columns) in layout {
                let copied = try await copyRows(
                    from: source, table: table, by: "rowid", after: .min, through: .max, columns: columns, into: table, connection: connection,
                    logger: logger)
                report.rows.append((table, copied))
            }
            try await marks.save(connection, logger: logger)
        }
        report.differing = try await differingTables(source, client, logger: logger)
        return report
    }

    /// The copied tables whose rows differ between the store (as one snapshot of `source` shows
    /// it) and the PostgreSQL copy, by one digest of each table on either side.
    static func differingTables(_ source: some DatabaseReader, _ client: PostgresClient, logger: Logger) async throws -> [String] {
        try await checkSchema(source, storePath: "")
        let here = try await source.read { db in
            try tables.map { table in
                let columns = try Self.columns(db, table)
                return (table, columns, try digest(db, table, columns))
            }
        }
        var differing: [String] = []
        for (table, columns, digest) in here where try await Self.digest(client, table, columns, logger: logger) != digest {
            differing.append(table)
        }
        return differing
    }

    /// ``differingTables(_:_:logger:)`` of the store at `storePath`.
    public static func differingTables(storePath: String, to client: PostgresClient, logger: Logger) async throws -> [String] {
        var readOnly = Configuration()
        readOnly.readonly = true
        let source = try DatabaseQueue(path: storePath, configuration: readOnly)
        defer { try? source.close() }
        return try await differingTables(source, client, logger: logger)
    }

    /// Refuses a store of another schema than the one the PostgreSQL tables mirror: its tables or
    /// columns would not be copied, or not fit.
    static func checkSchema(_ source: some DatabaseReader, storePath: String) async throws {
        let schema = try await source.read { db in try String.fetchOne(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid DESC LIMIT 1") }
        guard schema == PostgresSchema.mirroredCentralSchema else {
            throw CentralError(
                .conflict, .configuration,
                "the store \(storePath) is at schema \(schema ?? "none"); this release copies schema \(PostgresSchema.mirroredCentralSchema)",
                hint:
                    "Run the promo-central of the store's release for the copy (upgrade the follower with the centre), or start this release's centre on the store once."
            )
        }
    }

    /// Copies the rows of `table` whose `key` (an indexed integer column, or rowid) lies in
    /// `after` exclusive to `through` inclusive from the store into `into` (a table of the search
    /// path) with COPY, read in pages along the key (``PostgresStoreFollower/pageSize(_:)``: a
    /// changeset carries its whole body) so that memory stays bounded. Returns how many.
    static func copyRows(
        from source: some DatabaseReader, table: String, by key: String, after start: Int64, through end: Int64,
        columns: [(name: String, kind: Kind)], into: String, connection: PostgresConnection, logger: Logger
    ) async throws -> Int {
        var copied = 0
        try await connection.copyFrom(table: into, columns: columns.map(\.name), logger: logger) { writer in
            var after = start
            while true {
                let page = try await source.read { db in
                    try Row.fetchAll(
                        db,
                        sql: "SELECT \(key), * FROM \(table) WHERE \(key) > ? AND \(key) <= ? ORDER BY \(key) LIMIT \(PostgresStoreFollower.pageSize(table))",
                        arguments: [after, end])
                }
                guard let last = page.last else { break }
                after = last[0]
                var buffer = ByteBuffer()
                for row in page {
                    for (index, column) in columns.enumerated() {
                        if index > 0 { buffer.writeString("\t") }
                        buffer.writeString(copyText(row[index + 1], column.kind))
                    }
                    buffer.writeString("\n")
                }
                try await writer.write(buffer)
                copied += page.count
            }
        }
        return copied
    }

    enum Kind { case integer, text, blob }

    static func columns(_ db: Database, _ table: String) throws -> [(name: String, kind: Kind)] {
        try Row.fetchAll(db, sql: "SELECT name, type FROM pragma_table_info(?) ORDER BY cid", arguments: [table]).map { row in
            let type = (row["type"] as String).uppercased()
            return (row["name"], type.contains("INT") ? .integer : type.contains("BLOB") ? .blob : .text)
        }
    }

    /// A value in COPY's text format: `\N` for null, bytea as `\\x` and hex, text escaped.
    static func copyText(_ value: DatabaseValue, _ kind: Kind) -> String {
        switch value.storage {
        case .null: return "\\N"
        case .int64(let n): return String(n)
        case .double(let d): return String(d)
        case .string(let s):
            var out = ""
            out.reserveCapacity(s.utf8.count)
            for character in s.unicodeScalars {
                switch character {
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default: out.unicodeScalars.append(character)
                }
            }
            return out
        case .blob(let data): return "\\\\x" + Hex.string(data)
        }
    }

    /// One hash of a table's rows in key order, each value tagged with its kind: the same text on
    /// both sides when the copy is exact.
    static func digest(_ db: Database, _ table: String, _ columns: [(name: String, kind: Kind)]) throws -> String {
        var hash = SHA256()
        let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM \(table) ORDER BY \(try keyOrder(db, table))")
        while let row = try cursor.next() {
            var line = ""
            for (index, column) in columns.enumerated() { line += tagged(row[index] as DatabaseValue, column.kind) + "\u{1F}" }
            hash.update(data: Data((line + "\u{1E}").utf8))
        }
        return Hex.string(hash.finalize())
    }

    static func digest(_ client: PostgresClient, _ table: String, _ columns: [(name: String, kind: Kind)], logger: Logger) async throws -> String {
        var hash = SHA256()
        let kinds = Dictionary(uniqueKeysWithValues: columns.map { ($0.name, $0.kind) })
        // Qualified: a bare name would sort by the select list's text cast of that column
        // ("10" before "9"), not by the column.
        let order = try await keyColumns(client, table, logger: logger).map { kinds[$0] == .text ? "t.\($0) COLLATE \"C\"" : "t.\($0)" }
            .joined(separator: ", ")
        let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT \(textColumns(columns)) FROM promo.\(table) AS t ORDER BY \(order)"), logger: logger)
        for try await row in rows {
            var line = ""
            for (index, cell) in row.enumerated() {
                let text = try cell.decode(String?.self)
                line += taggedText(text, columns[index].kind) + "\u{1F}"
            }
            hash.update(data: Data((line + "\u{1E}").utf8))
        }
        return Hex.string(hash.finalize())
    }

    /// A select list of `columns` as text (bytea as hex), so one decoder reads every column.
    static func textColumns(_ columns: [(name: String, kind: Kind)]) -> String {
        columns.map { $0.kind == .blob ? "encode(\($0.name), 'hex')" : "\($0.name)::text" }.joined(separator: ", ")
    }

    static func tagged(_ value: DatabaseValue, _ kind: Kind) -> String {
        switch value.storage {
        case .null: return "n"
        case .int64(let n): return "i\(n)"
        case .double(let d): return "d\(d)"
        case .string(let s): return (kind == .integer ? "i" : "t") + s
        case .blob(let data): return "b" + Hex.string(data)
        }
    }

    static func taggedText(_ text: String?, _ kind: Kind) -> String {
        guard let text else { return "n" }
        switch kind {
        case .integer: return "i" + text
        case .text: return "t" + text
        case .blob: return "b" + text
        }
    }

    /// The primary key's columns (text compared byte by byte, as SQLite does).
    static func keyOrder(_ db: Database, _ table: String) throws -> String {
        let key = try keyColumns(db, table)
        return key.isEmpty ? "rowid" : key.joined(separator: ", ")
    }

    /// A store table's primary key columns, in key order.
    static func keyColumns(_ db: Database, _ table: String) throws -> [String] {
        try Row.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", arguments: [table]).map { $0["name"] as String }
    }

    static func keyColumns(_ client: PostgresClient, _ table: String, logger: Logger) async throws -> [String] {
        let rows = try await client.query(
            """
            SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE i.indrelid = \("promo." + table)::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)
            """, logger: logger)
        var key: [String] = []
        for try await name in rows.decode(String.self) { key.append(name) }
        return key
    }
}
