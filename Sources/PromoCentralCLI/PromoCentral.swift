import ArgumentParser
import Central
import Foundation
import Logging
import SyncCore

@main
struct PromoCentral: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promo-central",
        abstract: "The central endpoint that khuyến công offices sync with.",
        subcommands: [Serve.self, OfficeCommand.self, ProjectDecisions.self, ConflictsCommand.self, Summary.self, Backup.self, Restore.self])
}

/// Where the central store lives; every command takes it.
struct StoreLocation: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Folder holding central.sqlite (env PROMO_CENTRAL_DATA_DIR; default /var/lib/promo-central).")
    var dataDirectory: String?

    var directory: String {
        dataDirectory ?? ProcessInfo.processInfo.environment["PROMO_CENTRAL_DATA_DIR"] ?? "/var/lib/promo-central"
    }

    func open() throws -> CentralStore {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        return try CentralStore(path: (directory as NSString).appendingPathComponent(CentralStore.fileName))
    }
}
