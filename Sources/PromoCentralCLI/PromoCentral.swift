import ArgumentParser
import Central
import Foundation
import Logging
import SyncCore
import WireFormat

@main
struct PromoCentral: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promo-central",
        abstract: "The central endpoint that khuyến công offices sync with.",
        version: SoftwareVersion.line("promo-central"),
        subcommands: [
            Serve.self, OfficeCommand.self, FleetCommand.self, ProjectDecisions.self, ConflictsCommand.self, LostDecisionsCommand.self, Audit.self, Report.self,
            Cap.self, Summary.self, Backup.self, Restore.self, StoreCommand.self, UserCommand.self,
        ])
}

/// The configuration file and data folder; every command takes them.
struct StoreLocation: ParsableArguments {
    @Option(name: .customLong("config"), help: "Configuration file (env PROMO_CENTRAL_CONFIG; default /etc/promo-central/promo-central.toml if present).")
    var configPath: String?

    @Option(name: .customLong("data-dir"), help: "Folder holding central.sqlite (overrides data_dir and PROMO_CENTRAL_DATA_DIR).")
    var dataDirectory: String?

    /// The configuration with the command line applied on top.
    func configuration() throws -> CentralConfiguration {
        var configuration = try CentralConfiguration.load(path: configPath)
        if let dataDirectory { configuration.dataDirectory = dataDirectory }
        return configuration
    }

    /// The central store's path inside the data folder.
    var storePath: String {
        get throws { try configuration().storePath }
    }

    /// The store's path once the store, the files beside it and its folder (made, its owner's
    /// only, when missing) have passed the permission check (docs/SECURITY.md). The configuration
    /// file and the TLS key were checked on loading.
    var checkedStorePath: String {
        get throws {
            let configuration = try configuration()
            if !FileManager.default.fileExists(atPath: configuration.dataDirectory) {
                try FileManager.default.createDirectory(
                    atPath: configuration.dataDirectory, withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o700])
            }
            try CentralStore.checkPermissions(at: configuration.storePath)
            return configuration.storePath
        }
    }

    /// Opens (or creates) the store. Every command comes here, so each refuses unsafe permissions
    /// the same way, before the store is opened or migrated.
    func open() throws -> CentralStore {
        try CentralStore(path: try checkedStorePath)
    }
}
