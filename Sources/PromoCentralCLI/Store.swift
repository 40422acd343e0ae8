import ArgumentParser
import CLISupport
import Central
import CentralPostgres
import Foundation
import Logging
import SyncCore

struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Move the central store elsewhere.", subcommands: [Migrate.self])

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
        @Option(
            name: .customLong("password-file"),
            help: "A file (owner-only) holding the password; without it, PGPASSWORD from the environment, or none.")
        var passwordFile: String?

        func run() async throws {
            let password: String?
            if let passwordFile {
                let mode = try FileManager.default.attributesOfItem(atPath: passwordFile)[.posixPermissions] as? Int ?? 0o777
                if let problem = FilePermissions.problem(.token, name: "the password file", path: passwordFile, mode: mode) {
                    throw CommandFailure(problem.description)
                }
                password = try String(contentsOfFile: passwordFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } else {
                password = ProcessInfo.processInfo.environment["PGPASSWORD"]
            }
            let target = try PostgresLocation(url: to, password: password)
            let storePath = try location.checkedStorePath
            // The copy carries the consolidated totals as they are: up to date first, as reports do.
            try location.open().refreshTotals()
            let logger = {
                var logger = Logger(label: "promo-central.store")
                logger.logLevel = .warning
                return logger
            }()
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
}
