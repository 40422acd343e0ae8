import ArgumentParser
import Central
import Foundation
import Hummingbird
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the sync API until SIGTERM.")

    @OptionGroup var location: StoreLocation
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port = 8443
    @Option(name: .customLong("port-file"), help: "Write the port actually bound to this file (useful with --port 0).")
    var portFile: String?

    func run() async throws {
        let level = ProcessInfo.processInfo.environment["PROMO_CENTRAL_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "promo-central")
        let store = try location.open()
        let configuration = CentralConfiguration(dataDirectory: location.directory, host: host, port: port)
        let portFile = self.portFile
        let app = buildApplication(configuration: configuration, store: store, logger: logger) { port in
            logger.info("serving", metadata: ["http.port": "\(port)", "sync.epoch": "\(store.epoch)"])
            if let portFile { try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
        }
        try await app.runService()
    }
}
