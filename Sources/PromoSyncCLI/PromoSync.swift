import ArgumentParser
import Foundation
import Logging
import Replica
import SyncAgent

@main
struct PromoSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promo-sync",
        abstract: "Keep a khuyến công office's replica in sync with promo-central, and work with it offline.",
        subcommands: [
            Init.self, Daemon.self, Sync.self, Status.self, ProjectCommand.self, Disburse.self, PlanCommand.self,
            Resync.self, Conflicts.self,
        ])
}

/// Where the replica lives; every command takes it.
struct ReplicaLocation: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Folder holding replica.sqlite (env PROMO_SYNC_DATA_DIR; default /var/lib/promo-sync).")
    var dataDirectory: String?

    var directory: String {
        dataDirectory ?? ProcessInfo.processInfo.environment["PROMO_SYNC_DATA_DIR"] ?? "/var/lib/promo-sync"
    }

    var replicaPath: String { (directory as NSString).appendingPathComponent(Replica.fileName) }

    func open() throws -> Replica {
        try Replica.open(at: replicaPath)
    }
}

/// Sets up logging once per process: plain lines on standard error, which journald keeps.
enum Logs {
    static func bootstrap(verbose: Bool = false) -> Logger {
        let level = ProcessInfo.processInfo.environment["PROMO_SYNC_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
            ?? (verbose ? .debug : .info)
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
