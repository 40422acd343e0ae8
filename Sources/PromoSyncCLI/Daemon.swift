import ArgumentParser
import Foundation
import Logging
import Replica
import ServiceLifecycle
import SyncAgent

struct Daemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the office sync service until SIGTERM (systemd Type=notify).")

    @OptionGroup var location: ReplicaLocation

    @Option(help: "Seconds between cycles when nothing changes locally (overrides sync.interval_seconds).")
    var interval: Int?

    /// Exit status when a person must act before the daemon can run again (sysexits' EX_CONFIG):
    /// no replica, or one deleted or replaced under the daemon. The unit's RestartPreventExitStatus
    /// keeps systemd from restarting into the same failure every few seconds.
    static let needsAPerson: Int32 = 78

    func run() async throws {
        let configuration = try location.configuration()
        let logger = Logs.bootstrap(level: configuration.logLevel)
        let replica: Replica
        do {
            replica = try location.open()
        } catch let error as ReplicaError where error.code == .notInitialised {
            logger.critical("\(error)")
            throw ExitCode(Self.needsAPerson)
        }
        if let copy = Replica.rescueCopies(beside: replica.path).last {
            logger.critical(
                "the replica was deleted or replaced under the daemon earlier and what it held is saved in \(copy): run promo-sync resync --rebuild to take it back before starting the daemon"
            )
            throw ExitCode(Self.needsAPerson)
        }
        var schedule = configuration.schedule
        if let interval { schedule.interval = .seconds(max(1, interval)) }
        do {
            try await OfficeServices.runDaemon(replica, configuration: configuration, schedule: schedule, logger: logger)
        } catch let error as SyncAgentError where error.code == .replicaLost {
            throw ExitCode(Self.needsAPerson)
        }
    }
}
