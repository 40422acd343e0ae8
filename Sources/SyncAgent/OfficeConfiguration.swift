import ConfigFormat
import Foundation
import Logging
import Replica
import SyncCore
import Transport
import WireFormat

/// Everything the office programs can be configured with (config/promo-sync.example.toml).
public struct OfficeConfiguration: Sendable {
    /// The folder holding the replica (`data_dir`, or `PROMO_SYNC_DATA_DIR`).
    public var dataDirectory = "/var/lib/promo-sync"
    /// Overrides the central URL recorded by `init` when set.
    public var centralURL: String?
    /// Overrides the token file recorded by `init` when set.
    public var tokenFile: String?
    /// When the daemon runs cycles and how it backs off (`sync.*`).
    public var schedule = DaemonSchedule()
    /// Changeset and page sizes, and whether a new epoch resyncs by itself (`sync.*`).
    public var engine = SyncEngineConfiguration()
    /// Timeouts, TLS files and proxy of the client of the centre (`transport.*`).
    public var transport = HTTPClientConfiguration()
    /// When `promo-sync status` calls the office degraded (`status.*`).
    public var thresholds = StatusThresholds()
    /// The least severe log level written (`log.level`, or `PROMO_SYNC_LOG_LEVEL`).
    public var logLevel = Logger.Level.info

    /// Creates the defaults, as with no configuration file.
    public init() {}

    /// Where the file is looked for when no `--config` is given.
    public static let defaultPath = "/etc/promo-sync/promo-sync.toml"

    /// The environment variable prefix of overrides.
    public static let environmentPrefix = "PROMO_SYNC"

    /// Every key the file may hold, as `section.key`; any other is refused.
    public static let keys: Set<String> = [
        "data_dir", "central.url", "central.token_file", "sync.interval_seconds", "sync.wake_check_ms",
        "sync.max_changes_per_changeset", "sync.page_size", "sync.initial_backoff_ms", "sync.max_backoff_seconds", "sync.resync_on_new_epoch",
        "transport.connect_timeout_seconds", "transport.total_timeout_seconds", "transport.low_speed_limit_bytes",
        "transport.low_speed_time_seconds", "transport.ca_bundle", "transport.client_certificate", "transport.client_key",
        "transport.proxy", "status.degraded_after_minutes", "status.max_minutes_since_pull", "log.level",
    ]

    /// Loads the file at `path` (a missing file at the default path means all defaults) and applies
    /// environment overrides. Errors name the key, the line or variable, and what is expected.
    public static func load(
        path: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
        defaultPath: String = OfficeConfiguration.defaultPath
    ) throws(SyncAgentError) -> OfficeConfiguration {
        let explicit = path ?? environment["PROMO_SYNC_CONFIG"]
        let file = explicit ?? defaultPath
        var document = ConfigDocument.empty
        if FileManager.default.fileExists(atPath: file) {
            // The file names the data folder, the centre and the token file: a file others can
            // change is refused before it is read (docs/SECURITY.md).
            if let problem = FilePermissions.check(.configuration, name: "the configuration file", path: file) {
                throw SyncAgentError(.configuration, problem.message, hint: problem.hint, transient: false)
            }
            guard let data = FileManager.default.contents(atPath: file) else {
                throw SyncAgentError(.configuration, "cannot read the configuration file \(file)", hint: "Check its permissions.", transient: false)
            }
            do { document = try ConfigDocument(parsing: String(decoding: data, as: UTF8.self)) } catch {
                throw SyncAgentError(
                    .configuration, "configuration \(file) \(error.description)",
                    hint: "See config/promo-sync.example.toml for the format.", transient: false)
            }
        } else if explicit != nil {
            throw SyncAgentError(
                .configuration, "no configuration file at \(file)", hint: "Give an existing file, or leave --config out to use the defaults.", transient: false)
        }
        let reader = ConfigReader(document: document, environment: environment, prefix: environmentPrefix, source: file)
        var c = OfficeConfiguration()
        do throws(ConfigReader.Problem) {
            try reader.rejectUnknownKeys(keys)
            c.dataDirectory = try reader.string("data_dir", default: environment["PROMO_SYNC_DATA_DIR"] ?? c.dataDirectory) ?? c.dataDirectory
            c.centralURL = try reader.string("central.url", default: nil)
            c.tokenFile = try reader.string("central.token_file", default: nil)
            c.schedule.interval = .seconds(try reader.integer("sync.interval_seconds", default: 30, range: 1...86_400, unit: "seconds"))
            c.schedule.wakeCheckInterval = .milliseconds(try reader.integer("sync.wake_check_ms", default: 1_000, range: 50...60_000, unit: "milliseconds"))
            c.schedule.initialBackoff = .milliseconds(try reader.integer("sync.initial_backoff_ms", default: 1_000, range: 10...600_000, unit: "milliseconds"))
            c.schedule.maxBackoff = .seconds(try reader.integer("sync.max_backoff_seconds", default: 300, range: 1...86_400, unit: "seconds"))
            c.engine.maxChangesPerChangeset = Int(
                try reader.integer("sync.max_changes_per_changeset", default: 1_000, range: 1...Int64(WireProtocol.maxChangesPerChangeset), unit: "changes"))
            c.engine.resyncOnNewEpoch = try reader.boolean("sync.resync_on_new_epoch", default: true)
            c.engine.pageSize = Int(try reader.integer("sync.page_size", default: 5_000, range: 1...Int64(WireProtocol.maxPageSize), unit: "records"))
            c.transport.connectTimeout = .seconds(try reader.integer("transport.connect_timeout_seconds", default: 10, range: 1...600, unit: "seconds"))
            c.transport.totalTimeout = .seconds(try reader.integer("transport.total_timeout_seconds", default: 120, range: 1...86_400, unit: "seconds"))
            c.transport.lowSpeedLimitBytesPerSecond = Int(
                try reader.integer("transport.low_speed_limit_bytes", default: 100, range: 0...1_000_000_000, unit: "bytes per second"))
            c.transport.lowSpeedTime = .seconds(try reader.integer("transport.low_speed_time_seconds", default: 30, range: 1...3_600, unit: "seconds"))
            c.transport.caBundlePath = try reader.string("transport.ca_bundle", default: nil)
            c.transport.clientCertificatePath = try reader.string("transport.client_certificate", default: nil)
            c.transport.clientKeyPath = try reader.string("transport.client_key", default: nil)
            c.transport.proxy = try reader.string("transport.proxy", default: nil)
            let minutes = try reader.integer("status.degraded_after_minutes", default: 15, range: 1...10_080, unit: "minutes")
            c.thresholds.maxPendingAge = .seconds(minutes * 60)
            c.thresholds.maxOfflineTime = .seconds(minutes * 60)
            c.thresholds.maxTimeSinceLastPull = .seconds(
                try reader.integer("status.max_minutes_since_pull", default: 60, range: 1...10_080, unit: "minutes") * 60)
            let level = try reader.choice(
                "log.level", default: environment["PROMO_SYNC_LOG_LEVEL"] ?? "info",
                among: Logger.Level.allCases.map(\.rawValue))
            c.logLevel = Logger.Level(rawValue: level) ?? .info
            if (c.transport.clientCertificatePath == nil) != (c.transport.clientKeyPath == nil) {
                throw ConfigReader.Problem(message: "\(file): transport.client_certificate and transport.client_key go together; set both or neither")
            }
            for (key, path) in [
                ("transport.ca_bundle", c.transport.caBundlePath), ("transport.client_certificate", c.transport.clientCertificatePath),
                ("transport.client_key", c.transport.clientKeyPath),
            ] {
                if let path, !FileManager.default.isReadableFile(atPath: path) {
                    throw ConfigReader.Problem(message: "\(file): \(key) names \(path), which cannot be read")
                }
            }
        } catch {
            throw SyncAgentError(.configuration, "configuration: \(error.message)", hint: "See config/promo-sync.example.toml.", transient: false)
        }
        if let key = c.transport.clientKeyPath,
            let problem = FilePermissions.check(.privateKey, name: "the TLS client key (transport.client_key)", path: key)
        {
            throw SyncAgentError(.configuration, problem.message, hint: problem.hint, transient: false)
        }
        return c
    }
}
