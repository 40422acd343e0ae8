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
            logger.critical("the replica was deleted or replaced under the daemon earlier and what it held is saved in \(copy): run promo-sync resync --rebuild to take it back before starting the daemon")
            throw ExitCode(Self.needsAPerson)
        }
        let engine = try makeEngine(replica, configuration, logger: logger)
        var schedule = configuration.schedule
        if let interval { schedule.interval = .seconds(max(1, interval)) }
        let notifier = SystemdNotifier()
        // `promo-sync sync --now` sends SIGUSR1: cut the wait short.
        let wake = WakeSignal()
        signal(SIGUSR1, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGUSR1)
        source.setEventHandler { wake.request() }
        source.resume()
        defer { source.cancel() }
        // `systemctl reload promo-sync` sends SIGHUP: the token file is read at every request
        // when it changed, so a reload only needs to start a cycle now.
        signal(SIGHUP, SIG_IGN)
        let reload = DispatchSource.makeSignalSource(signal: SIGHUP)
        reload.setEventHandler {
            logger.notice("reload requested: syncing now with the token file as it is")
            wake.request()
        }
        reload.resume()
        defer { reload.cancel() }
        // A local commit wakes the daemon as it happens; the periodic look is only a safety net then.
        let watcher = FileWatcher.start(path: replica.path, wake: wake)
        if watcher != nil { schedule.wakeCheckInterval = .seconds(10) }
        defer { withExtendedLifetime(watcher) {} }
        let daemon = SyncDaemon(engine: engine, schedule: schedule, logger: logger, wake: wake) { result in
            notifier.notify("STATUS=\(Self.statusLine(result))")
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: daemon)]
        if let watchdog = SystemdNotifier.watchdogInterval() {
            services.append(.init(service: WatchdogService(notifier: notifier, interval: watchdog)))
        }
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        // Ready once the replica is open and the token read: being offline is a normal state, and a
        // first cycle after a long outage may take longer than systemd's start timeout.
        notifier.notify("READY=1\nSTATUS=starting the first sync cycle")
        do {
            try await group.run()
        } catch let error as SyncAgentError where error.code == .replicaLost {
            notifier.notify("STOPPING=1\nSTATUS=\(error.message)")
            throw ExitCode(Self.needsAPerson)
        }
        notifier.notify("STOPPING=1")
    }

    static func statusLine(_ result: Result<CycleReport, SyncAgentError>) -> String {
        switch result {
        case .success(let r): "synced: pushed \(r.changesPushed), pulled \(r.recordsPulled)"
        case .failure(let e): "sync failing: \(e.message)"
        }
    }
}
