import ArgumentParser
import Central
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
        let app = try buildApplication(configuration: configuration, store: store, logger: logger) { port in
            logger.info("serving", metadata: ["http.port": "\(port)", "http.scheme": "\(scheme)", "sync.epoch": "\(store.epoch)"])
            if let portFile { try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
        }
        try await app.runService()
    }
}
