import ArgumentParser
import Central
import Foundation
import Hummingbird
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the sync API until SIGTERM.")

    @OptionGroup var location: StoreLocation
    @Option(help: "Address to listen on (env PROMO_CENTRAL_HOST; default 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on, 0 picks a free one (env PROMO_CENTRAL_PORT; default 8443).") var port: Int?
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
        let environment = ProcessInfo.processInfo.environment
        let host = self.host ?? environment["PROMO_CENTRAL_HOST"] ?? "127.0.0.1"
        let portText = self.port.map(String.init) ?? environment["PROMO_CENTRAL_PORT"] ?? "8443"
        guard let port = Int(portText), (0...65_535).contains(port) else {
            throw ValidationError("port '\(portText)' is not a port number (0–65535); fix --port or PROMO_CENTRAL_PORT")
        }
        let configuration = CentralConfiguration(dataDirectory: location.directory, host: host, port: port)
        let portFile = self.portFile
        let app = buildApplication(configuration: configuration, store: store, logger: logger) { port in
            logger.info("serving", metadata: ["http.port": "\(port)", "sync.epoch": "\(store.epoch)"])
            if let portFile { try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
        }
        try await app.runService()
    }
}
