import ArgumentParser
import Central
import CentralPostgres
import Foundation
import Hummingbird
import Logging

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
        let store = try location.open()
        let portFile = self.portFile
        let scheme = configuration.tls == nil ? "http" : "https"
        // The durable record every acknowledgement waits for, brought up to date before serving.
        var record: PostgresRecord?
        if let url = configuration.recordURL {
            let location = try PostgresLocation(url: url, password: try StoreCommand.password(file: configuration.recordPasswordFile))
            record = PostgresRecord(location: location, storePath: store.path, logger: Logger(label: "promo-central.record"))
            try await record?.start()
        }
        let app = try buildApplication(configuration: configuration, store: store, logger: logger, record: record) { port in
            logger.info("serving", metadata: ["http.port": "\(port)", "http.scheme": "\(scheme)", "sync.epoch": "\(store.epoch)"])
            if let portFile { try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let record { group.addTask { await record.keepCurrent() } }
            try await app.runService()
            group.cancelAll()
        }
        await record?.stop()
    }
}
