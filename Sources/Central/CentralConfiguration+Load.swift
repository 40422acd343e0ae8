import ConfigFormat
import Foundation
import Logging
import SyncCore
import WireFormat

extension CentralConfiguration {
    /// Where the file is looked for when no `--config` is given.
    public static let defaultPath = "/etc/promo-central/promo-central.toml"

    static let keys: Set<String> = [
        "data_dir", "server.host", "server.port", "server.tls_certificate", "server.tls_key", "server.tls_client_ca",
        "limits.max_body_bytes", "limits.default_page_size", "limits.requests_per_second", "limits.burst",
        "limits.idle_timeout_seconds", "limits.connections_per_address", "limits.max_changes_per_aggregate", "limits.refold_changes_per_second",
        "limits.refold_changes_burst",
        "log.level", "dashboard.enabled", "dashboard.silent_after_seconds", "dashboard.secure_cookies",
        "store.postgres_url", "store.postgres_password_file", "store.lease_seconds",
    ]

    /// Loads config/promo-central.example.toml's settings from `path` (or `PROMO_CENTRAL_CONFIG`, or
    /// the default path when it exists) with `PROMO_CENTRAL_<SECTION>_<KEY>` overrides.
    public static func load(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws(CentralError) -> CentralConfiguration {
        func problem(_ message: String) -> CentralError {
            CentralError(.internalServerError, .configuration, "configuration: \(message)", hint: "See config/promo-central.example.toml.")
        }
        let explicit = path ?? environment["PROMO_CENTRAL_CONFIG"]
        let file = explicit ?? defaultPath
        var document = ConfigDocument.empty
        if FileManager.default.fileExists(atPath: file) {
            // The file names the data folder and the TLS files: a file others can change is
            // refused before it is read (docs/SECURITY.md).
            if let problem = FilePermissions.checkFile(.configuration, name: "the configuration file", path: file) {
                throw CentralError(problem)
            }
            guard let data = FileManager.default.contents(atPath: file) else { throw problem("cannot read \(file)") }
            do { document = try ConfigDocument(parsing: String(decoding: data, as: UTF8.self)) } catch { throw problem("\(file) \(error)") }
        } else if explicit != nil {
            throw problem("no configuration file at \(file)")
        }
        let reader = ConfigReader(document: document, environment: environment, prefix: "PROMO_CENTRAL", source: file)
        let configuration: CentralConfiguration
        do throws(ConfigReader.Problem) {
            try reader.rejectUnknownKeys(keys)
            var c = CentralConfiguration(
                dataDirectory: try reader.string("data_dir", default: "/var/lib/promo-central") ?? "/var/lib/promo-central",
                host: try reader.string("server.host", default: "127.0.0.1") ?? "127.0.0.1",
                port: Int(try reader.integer("server.port", default: 8443, range: 0...65_535, unit: "(port number)")))
            c.maxBodyBytes = Int(try reader.integer("limits.max_body_bytes", default: 32 * 1024 * 1024, range: 1_024...1_073_741_824, unit: "bytes"))
            c.defaultPageSize = Int(try reader.integer("limits.default_page_size", default: 1_000, range: 1...Int64(WireProtocol.maxPageSize), unit: "records"))
            c.rateLimitPerSecond = Double(try reader.integer("limits.requests_per_second", default: 50, range: 1...100_000, unit: "requests per second"))
            c.rateLimitBurst = Double(try reader.integer("limits.burst", default: 200, range: 1...1_000_000, unit: "requests"))
            c.maxChangesPerAggregate = try reader.integer(
                "limits.max_changes_per_aggregate", default: 10_000, range: 100...1_000_000, unit: "changes")
            c.refoldPerSecond = try reader.integer("limits.refold_changes_per_second", default: 5_000, range: 100...100_000_000, unit: "changes per second")
            c.refoldBurst = try reader.integer("limits.refold_changes_burst", default: 50_000, range: 1_000...1_000_000_000, unit: "changes")
            // A push adding one change to one full aggregate must be able to pass.
            if c.refoldBurst < c.maxChangesPerAggregate {
                throw ConfigReader.Problem(
                    message:
                        "\(file): limits.refold_changes_burst (\(c.refoldBurst)) is below limits.max_changes_per_aggregate (\(c.maxChangesPerAggregate)), so no office could add to a full project; raise it"
                )
            }
            c.idleTimeout = .seconds(try reader.integer("limits.idle_timeout_seconds", default: 60, range: 1...3_600, unit: "seconds"))
            c.connectionsPerAddress = Int(
                try reader.integer("limits.connections_per_address", default: 256, range: 1...1_000_000, unit: "connections"))
            c.dashboardEnabled = try reader.boolean("dashboard.enabled", default: true)
            c.secureCookies = try reader.boolean("dashboard.secure_cookies", default: true)
            c.silentAfter = .seconds(try reader.integer("dashboard.silent_after_seconds", default: 3_600, range: 10...604_800, unit: "seconds"))
            c.recordURL = try reader.string("store.postgres_url", default: nil)
            c.recordPasswordFile = try reader.string("store.postgres_password_file", default: nil)
            if c.recordPasswordFile != nil, c.recordURL == nil {
                throw ConfigReader.Problem(message: "\(file): store.postgres_password_file is set without store.postgres_url")
            }
            c.leaseSeconds = Int(try reader.integer("store.lease_seconds", default: 30, range: 3...3_600, unit: "seconds"))
            let certificate = try reader.string("server.tls_certificate", default: nil)
            let key = try reader.string("server.tls_key", default: nil)
            let clientCA = try reader.string("server.tls_client_ca", default: nil)
            switch (certificate, key) {
            case (let certificate?, let key?):
                for (name, path) in [("server.tls_certificate", certificate), ("server.tls_key", key), ("server.tls_client_ca", clientCA ?? certificate)]
                where !FileManager.default.isReadableFile(atPath: path) {
                    throw ConfigReader.Problem(message: "\(file): \(name) names \(path), which cannot be read")
                }
                c.tls = TLSFiles(certificateChain: certificate, privateKey: key, clientCA: clientCA)
            case (nil, nil):
                if clientCA != nil { throw ConfigReader.Problem(message: "\(file): server.tls_client_ca needs server.tls_certificate and server.tls_key") }
            default:
                throw ConfigReader.Problem(message: "\(file): server.tls_certificate and server.tls_key go together; set both or neither")
            }
            let level = try reader.choice("log.level", default: "info", among: Logger.Level.allCases.map(\.rawValue))
            c.logLevel = Logger.Level(rawValue: level) ?? .info
            configuration = c
        } catch {
            throw problem(error.message)
        }
        // A private key others can read is refused with its own chmod, not as a malformed setting.
        if let key = configuration.tls?.privateKey,
            let problem = FilePermissions.checkFile(.privateKey, name: "the TLS key (server.tls_key)", path: key)
        {
            throw CentralError(problem)
        }
        return configuration
    }
}
