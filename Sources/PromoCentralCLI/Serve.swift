import ArgumentParser
import CLISupport
import Central
import CentralPostgres
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the sync API until SIGTERM.")

    @OptionGroup var location: StoreLocation
    @Option(help: "Address to listen on (overrides server.host).") var host: String?
    @Option(help: "Port to listen on, 0 picks a free one (overrides server.port).") var port: Int?
    @Option(name: .customLong("port-file"), help: "Write the port actually bound to this file (useful with --port 0).")
    var portFile: String?

    func run() async throws {
        var configuration = try location.configuration()
        if let host { configuration.host = host }
        if let port {
            guard (0...65_535).contains(port) else { throw ValidationError("--port \(port) is not a port number (0–65535)") }
            configuration.port = port
        }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "promo-central")
        // Before any SQLite connection of this process (docs/BENCHMARKS.md, round 16).
        if !CentralStore.turnOffSQLiteMemoryStatistics() { logger.debug("SQLite was in use already: its memory statistics stay on") }
        // With a durable record, this centre serves only once it holds the record's serving lease
        // (another centre with the same record may be serving: this one waits, not listening,
        // and takes over when that one falls silent), and from a store the record continues.
        var record: PostgresRecord?
        var lease: (lease: ServingLease, location: PostgresLocation, previous: ServingLease.Held?, storePath: String, logger: Logger)?
        if let url = configuration.recordURL {
            let recordLogger = Logger(label: "promo-central.record")
            let location = try PostgresLocation(url: url, password: try StoreCommand.password(file: configuration.recordPasswordFile))
            // The data folder (made when missing, checked) first: the centre's name is kept there.
            let storePath = try self.location.checkedStorePath
            let serving = ServingLease(
                holder: try ServingLease.holder(dataDirectory: configuration.dataDirectory), duration: .seconds(configuration.leaseSeconds))
            let previous = try await serving.acquire(location: location, logger: recordLogger) { held in
                recordLogger.notice(
                    "another centre serves from the PostgreSQL record; waiting, without listening, to take over if it falls silent",
                    metadata: ["store.holder": "\(held.holder)", "store.lease": "\(held.seconds)", "store.self": "\(serving.holder)"])
            }
            recordLogger.notice("this centre serves from the PostgreSQL record", metadata: ["store.self": "\(serving.holder)"])
            lease = (serving, location, previous, storePath, recordLogger)
        }
        let store: CentralStore
        do {
            if let lease {
                _ = try await PostgresStoreRestore.prepare(
                    storePath: lease.storePath, from: lease.location, lease: lease.lease, takenFrom: lease.previous, logger: lease.logger)
                // The lease is renewed by every pass: at least three passes per lease when idle.
                record = PostgresRecord(
                    location: lease.location, storePath: lease.storePath, logger: lease.logger,
                    interval: min(.seconds(5), .seconds(configuration.leaseSeconds) / 3), lease: lease.lease)
            }
            store = try await location.open(.serving)
            try await record?.start()
        } catch {
            // Given up when this centre fails before it serves, so that a standby need not wait it out.
            if let lease { await lease.lease.release(location: lease.location, logger: lease.logger) }
            throw error
        }
        let portFile = self.portFile
        let scheme = configuration.tls == nil ? "http" : "https"
        let app = try buildApplication(configuration: configuration, store: store, logger: logger, record: record) { port in
            logger.info("serving", metadata: ["http.port": "\(port)", "http.scheme": "\(scheme)", "sync.epoch": "\(store.epoch)"])
            if let portFile { try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
        }
        // The record's service comes first, so that on SIGTERM it is stopped last, once the
        // server has answered what it was answering. A take-over ends it with an error, which
        // shuts the server down gracefully and exits non-zero (systemd starts this centre again,
        // and it waits as the standby).
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let record { services.append(.init(service: RecordService(record: record), failureTerminationBehavior: .gracefullyShutdownGroup)) }
        services.append(.init(service: app))
        try await ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)).run()
        await record?.stop()
    }
}

/// The durable record while the centre serves: its idle passes, and the end of serving when
/// another centre took the record over (``ServingLease``).
struct RecordService: Service {
    let record: PostgresRecord

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await record.keepCurrent() }
                // Ended with nil by stop(): on graceful shutdown, or when the group is cancelled
                // (the server failed to start), which runs no graceful shutdown handler.
                let taken = await withTaskCancellationHandler {
                    await record.whenTakenOver()
                } onCancel: {
                    Task { await record.stop() }
                }
                if let taken { throw CommandFailure("\(taken)") }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            // Ends the wait above (with nil) and the idle passes.
            Task { await record.stop() }
        }
    }
}
