import ArgumentParser
import CLISupport
import Central
import CentralPostgres
import Foundation
import Logging
import SyncCore
import Synchronization

struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Copy the central store into PostgreSQL, keep the copy current, and restore a store from it.",
        subcommands: [Migrate.self, Follow.self, Check.self, Restore.self, Lease.self])

    /// The password of a PostgreSQL address: from an owner-only file, or PGPASSWORD.
    static func password(file: String?) throws -> String? {
        guard let file else { return ProcessInfo.processInfo.environment["PGPASSWORD"] }
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int ?? 0o777
        if let problem = FilePermissions.problem(.token, name: "the password file", path: file, mode: mode) {
            throw CommandFailure(problem.description)
        }
        return try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `--password-file`, which every subcommand naming a PostgreSQL database takes.
    struct PasswordOption: ParsableArguments {
        @Option(
            name: .customLong("password-file"),
            help: "A file (owner-only) holding the password; without it, PGPASSWORD from the environment, or none.")
        var passwordFile: String?

        /// The database at `url`, with the password from the file or the environment.
        func location(_ url: String) throws -> PostgresLocation {
            try PostgresLocation(url: url, password: try StoreCommand.password(file: passwordFile))
        }
    }

    static let logger = {
        var logger = Logger(label: "promo-central.store")
        logger.logLevel = .warning
        return logger
    }()

    /// For a look at the record a command makes in passing: its failure is the command's to report.
    static let quietLogger = {
        var logger = Logger(label: "promo-central.store")
        logger.logLevel = .critical
        return logger
    }()

    struct Lease: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say which centre serves from a PostgreSQL record, and how recently it renewed its lease (docs/OPERATIONS.md).",
            discussion: """
                Exit 0 when a centre holds the lease and renews it, 1 when none does or the one that does has fallen silent.
                A planned switch to a standby: systemctl stop promo-central on the serving machine, then there \
                promo-central store lease --to URL --release: the standby takes over within seconds instead of after the lease.
                """)

        @Option(help: "The PostgreSQL database holding the record: postgres://USER@HOST[:PORT][,HOST[:PORT]…]/DATABASE[?sslmode=…].")
        var to: String
        @OptionGroup var password: PasswordOption
        @Flag(help: "Give up the lease of this data folder's centre (stop it first): a standby takes over at once, not after the lease.")
        var release = false
        @OptionGroup var location: StoreLocation

        func run() async throws {
            let target = try password.location(to)
            if release {
                let name = try ServingLease.holder(dataDirectory: try location.configuration().dataDirectory)
                guard try await ServingLease.giveUp(holder: name, at: target, logger: StoreCommand.logger) else {
                    let holder = try await ServingLease.describe(at: target, logger: StoreCommand.logger) ?? "no centre holds it"
                    throw CommandFailure("this data folder's centre (\(name)) does not hold the serving lease on \(target): \(holder)")
                }
                print("\(name) gave up the serving lease on \(target): a waiting centre takes over at its next look")
                return
            }
            guard let line = try await ServingLease.describe(at: target, logger: StoreCommand.logger) else {
                throw CommandFailure("no centre holds the serving lease on \(target)")
            }
            print(line)
            if !line.hasSuffix(": serving") { throw ExitCode(1) }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare a PostgreSQL copy with the store, table by table (exit 1 when a table differs).",
            discussion: "Run it when the centre is quiet, or right after 'store follow --once': a busy store moves on while it compares.")

        @OptionGroup var location: StoreLocation
        @Option(help: "The PostgreSQL database holding the copy.") var to: String
        @OptionGroup var password: PasswordOption

        func run() async throws {
            let target = try password.location(to)
            let storePath = try location.checkedStorePath
            let differing = try await target.withClient(logger: StoreCommand.logger) { client in
                try await PostgresStoreCopy.differingTables(storePath: storePath, to: client, logger: StoreCommand.logger)
            }
            guard differing.isEmpty else {
                throw CommandFailure("\(target) differs from \(storePath) in: \(differing.joined(separator: ", "))")
            }
            print("\(target) equals \(storePath), table for table")
        }
    }

    struct Follow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Keep a PostgreSQL copy made by 'store migrate' current while the centre serves (docs/OPERATIONS.md).",
            discussion: """
                Every --interval seconds, copies what the store appended to its logs and the records that changed since \
                the last pass, in one PostgreSQL transaction. Runs until stopped (a service beside promo-central), or once \
                with --once. A store restored from a backup or rolled back is refused: copy it into a new database.
                """)

        @OptionGroup var location: StoreLocation
        @Option(
            help:
                "The PostgreSQL database holding the copy: postgres://USER@HOST[:PORT][,HOST[:PORT]…]/DATABASE[?sslmode=…] (several hosts: the nodes of a cluster; each pass writes to the one that is the primary)."
        ) var to: String
        @OptionGroup var password: PasswordOption
        @Option(help: "Seconds between passes.") var interval = 5
        @Flag(help: "One pass, then exit.") var once = false
        @Option(
            help:
                "Seconds a pass may take before its PostgreSQL backend is ended and the pass tried again (a pass held at its commit, by a synchronous standby that is gone, stays committed there)."
        )
        var timeout = 1_800

        func validate() throws {
            guard (1...3_600).contains(interval) else { throw ValidationError("--interval must be between 1 and 3600 seconds") }
            guard (5...86_400).contains(timeout) else { throw ValidationError("--timeout must be between 5 and 86400 seconds") }
        }

        func run() async throws {
            let target = try password.location(to)
            let storePath = try location.checkedStorePath
            var logger = Logger(label: "promo-central.follow")
            logger.logLevel = .info
            while true {
                do {
                    // Refused, every pass, while a centre serves from the database (it keeps it current).
                    let pass = try await PostgresStoreFollower.pass(
                        storePath: storePath, into: target, follower: true, timeout: .seconds(timeout), logger: StoreCommand.logger)
                    if once || pass.total > 0 {
                        let rows = pass.rows.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                        print("copy at log position \(pass.position): \(rows.isEmpty ? "nothing new" : rows.joined(separator: ", "))")
                    }
                } catch let error as CentralError where error.code == .configuration || PostgresLocation.isLasting(error) {
                    // A restored or rolled-back store, no copy, a copy PostgreSQL refuses to write
                    // (a constraint, its schema, a read-only server): following cannot go on.
                    throw error
                } catch {
                    if once { throw error }
                    // PostgreSQL away (a failover, a restart): the next pass picks up where this one stopped.
                    logger.warning("could not bring the copy up to date; trying again", metadata: ["error": "\(error)"])
                }
                if once { return }
                try await Task.sleep(for: .seconds(interval))
            }
        }
    }

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy the central store into an empty PostgreSQL database, row for row, and check both (docs/OPERATIONS.md).",
            discussion: """
                Example: promo-central store migrate --to postgres://promo@db.example:5432/promo --password-file /etc/promo-central/pg.password
                The copy is one transaction; each table's digest is then compared on both sides. A database that already holds \
                a centre is refused. Readers get the views of schema 'reporting' through the role promo_reporting.
                """)

        @OptionGroup var location: StoreLocation
        @Option(help: "The PostgreSQL database: postgres://USER@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require].") var to: String
        @OptionGroup var password: PasswordOption

        func run() async throws {
            let target = try password.location(to)
            let storePath = try location.checkedStorePath
            // The copy carries the consolidated totals as they are: up to date first, as reports do.
            try await location.open(.writing).refreshTotals()
            let logger = StoreCommand.logger
            let report = try await target.withClient(logger: logger) { client in
                try await PostgresStoreCopy.copy(storePath: storePath, to: client, logger: logger)
            }
            for (table, count) in report.rows { print("  \(table.padding(toLength: 16, withPad: " ", startingAt: 0)) \(count) rows") }
            guard report.differing.isEmpty else {
                throw CommandFailure(
                    "copied into \(target), but these tables differ from the store: \(report.differing.joined(separator: ", ")); do not use the copy")
            }
            print("copied \(storePath) into \(target); every table's digest matches the store's")
        }
    }

    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild the central store from its PostgreSQL copy after the centre's machine is lost (docs/OPERATIONS.md).",
            discussion: """
                Example: promo-central store restore --from postgres://promo@db1:5432,db2:5432/promo --data-dir /var/lib/promo-central
                Row for row, the epoch included: with store.postgres_url set, the copy held every changeset the centre \
                acknowledged, so offices go on as they were. The data folder must hold no store; each table is compared \
                with the copy afterwards.
                """)

        @OptionGroup var location: StoreLocation
        @Option(help: "The PostgreSQL database holding the copy: postgres://USER@HOST[:PORT][,HOST[:PORT]…]/DATABASE[?sslmode=…].")
        var from: String
        @OptionGroup var password: PasswordOption

        func run() async throws {
            let source = try password.location(from)
            let storePath = try location.checkedStorePath
            let logger = StoreCommand.logger
            let report = try await source.withClient(logger: logger) { client in
                try await PostgresStoreRestore.restore(from: client, to: storePath, logger: logger)
            }
            for (table, count) in report.rows { print("  \(table.padding(toLength: 16, withPad: " ", startingAt: 0)) \(count) rows") }
            print(
                "restored \(storePath) from \(source): epoch \(report.epoch), log position \(report.position); every table's digest matches the copy's"
            )
        }
    }
}
