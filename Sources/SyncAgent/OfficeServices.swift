import Dispatch
import Foundation
import Logging
import Replica
import ServiceLifecycle
import SyncCore
import Transport

#if canImport(Glibc)
    import Glibc
#endif

/// How an office's parts are put together from its configuration: the client of the centre (its
/// token file read again whenever it changes), the sync engine, and the daemon with what it
/// listens to. The executable and the tests build through here, so the two run the same wiring.
public enum OfficeServices {
    /// The client of the centre the replica's settings name, unless the configuration overrides them.
    public static func client(settings: ReplicaSettings, configuration: OfficeConfiguration) throws(SyncAgentError) -> CentralClient {
        let tokens = try TokenFileSource(path: configuration.tokenFile ?? settings.tokenFile)
        return CentralClient(
            baseURL: configuration.centralURL ?? settings.centralURL, tokenSource: tokens,
            http: HTTPClient(configuration: configuration.transport), schemaVersion: Replica.schemaVersion)
    }

    /// The sync engine of an open replica.
    public static func engine(_ replica: Replica, configuration: OfficeConfiguration, logger: Logger) throws -> SyncEngine {
        var engine = configuration.engine
        engine.thresholds = configuration.thresholds
        return SyncEngine(
            replica: replica, client: try client(settings: try replica.settings(), configuration: configuration),
            configuration: engine, logger: logger)
    }

    /// Runs the office daemon until SIGTERM or SIGINT: sync cycles (``SyncDaemon``), woken by a
    /// local commit (inotify), by SIGUSR1 (`promo-sync sync --now`) and by SIGHUP (`systemctl
    /// reload`: the token file is read again whenever it changed, so a reload only starts a cycle
    /// now), with systemd's readiness, status and watchdog. Throws ``SyncAgentError/Code/replicaLost``
    /// when the replica was deleted or replaced under it.
    public static func runDaemon(
        _ replica: Replica, configuration: OfficeConfiguration, schedule: DaemonSchedule,
        logger: Logger
    ) async throws {
        let engine = try engine(replica, configuration: configuration, logger: logger)
        var schedule = schedule
        let notifier = SystemdNotifier()
        let wake = WakeSignal()
        let signals = [(SIGUSR1, "sync requested"), (SIGHUP, "reload requested: syncing now with the token file as it is")].map { number, note in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler {
                if number == SIGHUP { logger.notice("\(note)") }
                wake.request()
            }
            source.resume()
            return source
        }
        defer { for source in signals { source.cancel() } }
        // A local commit wakes the daemon as it happens; the periodic look is only a safety net then.
        let watcher = FileWatcher.start(path: replica.path, wake: wake)
        if watcher != nil { schedule.wakeCheckInterval = .seconds(10) }
        defer { withExtendedLifetime(watcher) {} }
        let daemon = SyncDaemon(
            engine: engine, schedule: schedule, logger: logger, wake: wake,
            onCycle: { result in notifier.notify("STATUS=\(statusLine(result))") })
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: daemon)]
        if let watchdog = SystemdNotifier.watchdogInterval() {
            services.append(.init(service: WatchdogService(notifier: notifier, interval: watchdog)))
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        // Ready once the replica is open and the token read: being offline is a normal state, and a
        // first cycle after a long outage may take longer than systemd's start timeout.
        notifier.notify("READY=1\nSTATUS=starting the first sync cycle")
        do {
            try await group.run()
        } catch let error as SyncAgentError where error.code == .replicaLost {
            notifier.notify("STOPPING=1\nSTATUS=\(error.message)")
            throw error
        }
        notifier.notify("STOPPING=1")
    }

    /// systemd's one-line status after a cycle.
    static func statusLine(_ result: Result<CycleReport, SyncAgentError>) -> String {
        switch result {
        case .success(let r): "synced: pushed \(r.changesPushed), pulled \(r.recordsPulled)"
        case .failure(let e): "sync failing: \(e.message)"
        }
    }
}
