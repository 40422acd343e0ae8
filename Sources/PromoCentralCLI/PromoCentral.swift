import ArgumentParser
import CLISupport
import Central
import CentralPostgres
import Foundation
import Logging
import SyncCore
import Synchronization
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
    /// standby's store (another centre holds the lease), one another centre served past (it
    /// wrote the record last), or one being rebuilt as this centre takes over is moved aside or
    /// replaced when this centre next serves: a command writing into it would be lost without a
    /// word, so it is refused with the centre to run it on, and one reading it is told the store
    /// may be stale. A write while this centre is stopped (its lease unrenewed) is warned that a
    /// standby may take over. A record that cannot be read within a few seconds (or a password
    /// file that cannot be) leaves the command to run, with a warning: on the serving centre's
    /// machine, revoking an office's token must not wait for PostgreSQL.
    func checkStanding(_ use: Use) async throws {
        let configuration = try configuration()
        guard use != .serving, let url = configuration.recordURL else { return }
        let done = Answer()
        let timeLimit: Duration
        do {
            let location = try PostgresLocation(url: url, password: try StoreCommand.password(file: configuration.recordPasswordFile))
            let name = try ServingLease.existingHolder(dataDirectory: configuration.dataDirectory)
            timeLimit = location.connectTimeout * location.nodes.count + .seconds(3)
            // Not awaited past the limit, and never cancelled (a task cancelled inside a
            // PostgresNIO call can wait forever): the command goes on and exits.
            Task {
                do {
                    let standing = try await ServingLease.standing(of: name, at: location, logger: StoreCommand.quietLogger)
                    done.value.withLock { $0 = .success((name, standing)) }
                } catch {
                    done.value.withLock { $0 = .failure(error) }
                }
            }
        } catch {
            done.value.withLock { $0 = .failure(error) }
            timeLimit = .zero
        }
        let started = ContinuousClock.now
        while done.value.withLock({ $0 }) == nil && ContinuousClock.now - started < timeLimit { try await Task.sleep(for: .milliseconds(20)) }
        let risk = use == .writing ? "what this command writes here is lost when this one takes over" : "what this command shows may be out of date"
        guard let outcome = done.value.withLock({ $0 }) else {
            warn("no answer from the PostgreSQL record within \(timeLimit) about which centre serves from it; if another centre serves, \(risk)")
            return
        }
        let name: String?
        let standing: ServingLease.Standing
        switch outcome {
        case .success(let answer): (name, standing) = answer
        case .failure(let error):
            warn("cannot read which centre serves from the PostgreSQL record (\(error)); if another centre serves, \(risk)")
            return
        }
        let this = "this data folder's centre (\(name ?? "not yet named: it has not served here"))"
        let problem: String
        switch standing {
        case .serving: return
        case .silent(let silentFor, let seconds):
            if use == .writing {
                warn(
                    "\(this) holds the PostgreSQL record's lease but has not renewed it for \(Int(silentFor)) s (lease \(seconds) s): if a standby takes over before it serves again, what this command writes here is lost"
                )
            }
            return
        case .takingOver(let writer):
            problem = "\(this) is taking the PostgreSQL record over from centre \(writer) and rebuilding its store from it"
        case .standby(let holder, let silentFor, let seconds):
            let state =
                silentFor <= Double(seconds)
                ? "serves from the PostgreSQL record (renewed \(String(format: "%.1f", silentFor)) s ago)"
                : "holds the PostgreSQL record's lease but has been silent for \(Int(silentFor)) s (lease \(seconds) s)"
            problem = "centre \(holder) \(state); \(this) is a standby, whose store is rebuilt from the record when it takes over"
        case .superseded(let writer):
            problem = "centre \(writer) served from the PostgreSQL record last; the store of \(this) is rebuilt from the record when it next serves"
        }
        guard use == .writing else {
            warn("\(problem): what it shows may be out of date.")
            return
        }
        throw CommandFailure(
            "\(problem), so what this command writes here would be lost. Run it on the serving centre's machine (promo-central store lease --to URL names it), or once this centre serves."
        )
    }

    private func warn(_ message: String) {
        FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
    }
}

/// What a look at the record's lease found, handed from the task that looked.
private final class Answer: Sendable {
    let value = Mutex<Result<(String?, ServingLease.Standing), any Error>?>(nil)
}
