import ArgumentParser
import CMalloc
import CSQLite
import Foundation
import Logging
import Replica
import SyncAgent
import SyncCore
import WireFormat

@main
struct PromoSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promo-sync",
        abstract: "Keep a khuyến công office's replica in sync with promo-central, and work with it offline.",
        version: SoftwareVersion.line("promo-sync"),
        subcommands: [
            Init.self, Daemon.self, Sync.self, Status.self, ProgramCommand.self, ProjectCommand.self, Disburse.self, PlanCommand.self,
            Resync.self, Conflicts.self, Outbox.self, Metrics.self, Report.self, Import.self, Export.self, Verify.self,
        ])

    /// ArgumentParser's own main, after two process-wide settings. A single malloc arena: syncing
    /// parses a page on one thread while the previous page is written on another, and glibc's
    /// per-thread arenas would each keep what was freed in them: about 12 MB more resident at
    /// the peak of an initial sync (docs/BENCHMARKS.md, scenario 3), for no measurable speed.
    /// And SQLite without its memory statistics, which nothing reads and which take a global
    /// mutex on every allocation (as the centre, round 16; before SQLite's first use).
    static func main() async {
        _ = promo_limit_malloc_arenas(1)
        _ = promo_sqlite_without_memory_statistics()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// The configuration file and data folder; every command takes them.
struct ReplicaLocation: ParsableArguments {
    @Option(name: .customLong("config"), help: "Configuration file (env PROMO_SYNC_CONFIG; default /etc/promo-sync/promo-sync.toml if present).")
    var configPath: String?

    @Option(name: .customLong("data-dir"), help: "Folder holding replica.sqlite (overrides data_dir and PROMO_SYNC_DATA_DIR).")
    var dataDirectory: String?

    /// The configuration with the command line applied on top.
    func configuration() throws -> OfficeConfiguration {
        var configuration = try OfficeConfiguration.load(path: configPath)
        if let dataDirectory { configuration.dataDirectory = dataDirectory }
        return configuration
    }

    var directory: String {
        get throws { try configuration().dataDirectory }
    }

    var replicaPath: String {
        get throws { (try directory as NSString).appendingPathComponent(Replica.fileName) }
    }

    /// The replica's path once the replica, the files beside it and its folder have passed the
    /// permission check (docs/SECURITY.md). The configuration file was checked on loading.
    var checkedReplicaPath: String {
        get throws {
            let path = try replicaPath
            try Replica.checkPermissions(at: path)
            return path
        }
    }

    /// Opens the replica. Every command that works with an existing replica comes here, so each
    /// refuses unsafe permissions the same way, before the file is opened or migrated.
    func open() throws -> Replica {
        try Replica.open(at: try checkedReplicaPath)
    }
}

/// Sets up logging once per process: plain lines on standard error, which journald keeps.
enum Logs {
    static func bootstrap(level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "promo-sync")
    }
}

/// Writes text to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Shows a long run's progress on one rewritten line of the terminal; silent when standard error
/// is not a terminal (a log, a pipe, systemd), so scripts see only the final summary.
enum TerminalProgress {
    static var handler: (@Sendable (SyncProgress) -> Void)? {
        guard isatty(STDERR_FILENO) == 1 else { return nil }
        return { step in FileHandle.standardError.write(Data("\r\u{1B}[K\(step.line)".utf8)) }
    }

    /// Ends the progress line so the summary starts on its own.
    static func finish() {
        if isatty(STDERR_FILENO) == 1 { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
