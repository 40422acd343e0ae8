import ArgumentParser
import CLISupport
import Central
import CentralPostgres
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

    /// What a command does with the store, for the check against a durable record's lease.
    enum Use {
        /// Reads it: a standby's store is said to be stale, on standard error.
        case reading
        /// Writes it: refused on a standby's store, which is rebuilt from the record when it takes over.
        case writing
        /// Serves it: `serve` holds the lease and has readied the store from the record.
        case serving
    }

    /// Opens (or creates) the store. Every command comes here, so each refuses unsafe permissions
    /// the same way, before the store is opened or migrated, and (with `store.postgres_url`) each
    /// checks which centre serves from the record (``checkStanding(_:)``).
    func open(_ use: Use) async throws -> CentralStore {
        let path = try checkedStorePath
        try await checkStanding(use)
        return try CentralStore(path: path)
    }

    /// With a durable record, whether this data folder's store is the one served from it. A
    /// standby's store (another centre holds the lease), or one another centre served past (it
    /// wrote the record last), is moved aside and rebuilt from the record when this centre next
    /// serves: a command writing into it would be lost without a word, so it is refused with the
    /// centre to run it on, and one reading it is told the store is stale. A record that cannot
    /// be reached leaves the command to run, with a warning: on the serving centre's machine,
    /// revoking an office's token must not wait for PostgreSQL.
    func checkStanding(_ use: Use) async throws {
        let configuration = try configuration()
        guard use != .serving, let url = configuration.recordURL else { return }
        let location = try PostgresLocation(url: url, password: try StoreCommand.password(file: configuration.recordPasswordFile))
        let name = try ServingLease.holder(dataDirectory: configuration.dataDirectory)
        let standing: ServingLease.Standing
        do {
            standing = try await ServingLease.standing(of: name, at: location, logger: StoreCommand.quietLogger)
        } catch {
            let risk =
                use == .writing ? "what this command writes here is lost when this one takes over" : "what this command shows may be out of date"
            warn("cannot read which centre serves from the PostgreSQL record (\(error)); if another centre serves, \(risk)")
            return
        }
        let problem: String
        switch standing {
        case .serving: return
        case .standby(let holder, let silentFor, let seconds):
            let state =
                silentFor <= Double(seconds)
                ? "serves from the PostgreSQL record (renewed \(String(format: "%.1f", silentFor)) s ago)"
                : "holds the PostgreSQL record's lease but has been silent for \(Int(silentFor)) s (lease \(seconds) s)"
            problem = "centre \(holder) \(state); this data folder's centre (\(name)) is a standby, whose store is rebuilt from the record when it takes over"
        case .superseded(let writer):
            problem =
                "centre \(writer) served from the PostgreSQL record last; this data folder's store (\(name)) is rebuilt from the record when this centre next serves"
        }
        guard use == .writing else {
            warn("\(problem): what it shows may be out of date.")
            return
        }
        throw CommandFailure(
            "\(problem), so what this command writes here would be lost. Run it on the serving centre's machine (promo-central store lease --to URL names it), or start this centre (promo-central serve) first."
        )
    }

    private func warn(_ message: String) {
        FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
    }
}
