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

    @Option(help: "Seconds between cycles when nothing changes locally.")
    var interval: Int = 30

    func run() async throws {
        let logger = Logs.bootstrap()
        let replica = try location.open()
        let engine = try makeEngine(replica, logger: logger)
        var schedule = DaemonSchedule()
        schedule.interval = .seconds(max(1, interval))
        let notifier = SystemdNotifier()
        let daemon = SyncDaemon(engine: engine, schedule: schedule, logger: logger) { result in
            // READY after the first cycle whatever its outcome (offline is a normal state), then a
            // watchdog ping after each cycle, which the loop completes well inside WatchdogSec.
            notifier.notify("READY=1\nWATCHDOG=1\nSTATUS=\(Self.statusLine(result))")
        }
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: daemon)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        notifier.notify("STOPPING=1")
    }

    static func statusLine(_ result: Result<CycleReport, SyncAgentError>) -> String {
        switch result {
        case .success(let r): "synced: pushed \(r.changesPushed), pulled \(r.recordsPulled)"
        case .failure(let e): "sync failing: \(e.message)"
        }
    }
}
