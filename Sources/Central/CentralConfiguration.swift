import Foundation
import Logging

/// How promo-central serves.
public struct CentralConfiguration: Sendable {
    /// The folder holding the store (`central.sqlite`).
    public var dataDirectory: String
    /// The address to listen on; loopback unless the configuration names another.
    public var host: String = "127.0.0.1"
    /// 0 picks a free port (tests); the chosen port is reported through `onServerRunning`.
    public var port: Int = 8443
    /// Largest request body accepted.
    public var maxBodyBytes: Int = 32 * 1024 * 1024
    /// Page size when an office does not ask for one.
    public var defaultPageSize: Int = 1_000
    /// Requests per second each office may make on average, and the burst it may use at once.
    public var rateLimitPerSecond: Double = 50
    /// The most requests an office may make at once after being idle; see `rateLimitPerSecond`.
    public var rateLimitBurst: Double = 200
    /// `limits.max_changes_per_aggregate`: the most changes one project, plan line or programme
    /// may hold from an office's push (``WriteLimits``).
    public var maxChangesPerAggregate: Int64 = 10_000
    /// `limits.refold_changes_per_second`: stored changes an office's pushes may have the centre
    /// read back and refold per second, on average.
    public var refoldPerSecond: Int64 = 5_000
    /// `limits.refold_changes_burst`: the most stored changes one push may have refolded.
    public var refoldBurst: Int64 = 50_000
    /// A connection with no request for this long is closed (slow or stuck clients).
    public var idleTimeout: Duration = .seconds(60)
    /// `limits.connections_per_address`: connections open at once from one source address.
    public var connectionsPerAddress = 256
    /// HTTPS: PEM certificate chain and key; nil serves plain HTTP (behind a TLS reverse proxy only).
    public var tls: TLSFiles?
    /// The least severe log level written.
    public var logLevel: Logger.Level = .info
    /// The read-only web pages under `/dashboard` (fleet, progress, conflicts), for the centre's
    /// people with a `promo-central user`; off serves only the protocol.
    public var dashboardEnabled = true
    /// The dashboard shows an office as degraded when it has not pulled for this long (the same
    /// rule as `promo-sync status`'s "last pull was more than an hour ago").
    public var silentAfter: Duration = .seconds(3_600)
    /// Dashboard cookies marked `Secure` (sent over HTTPS and loopback only). Turn it off only
    /// for a plain-HTTP address other than loopback, which production never is.
    public var secureCookies = true
    /// `store.postgres_url`: the PostgreSQL database that holds the store's durable record
    /// (``DurableRecord``); every acknowledgement waits for it. Nil: the SQLite store alone.
    public var recordURL: String?
    /// `store.postgres_password_file`: where the record's password is (owner-only); else `PGPASSWORD`.
    public var recordPasswordFile: String?
    /// `store.lease_seconds`: how long the centre serving from the record may go without renewing
    /// its lease before a standby centre with the same record takes over.
    public var leaseSeconds = 30

    /// The files of the central's TLS setup.
    public struct TLSFiles: Sendable, Equatable {
        /// Path of the PEM certificate chain the centre presents.
        public var certificateChain: String
        /// Path of the PEM private key of the certificate.
        public var privateKey: String
        /// A PEM file of CAs whose client certificates are required (mutual TLS); nil: none asked.
        public var clientCA: String?

        /// Creates the TLS setup from its file paths; no client CA asks no client certificate.
        public init(certificateChain: String, privateKey: String, clientCA: String? = nil) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
            self.clientCA = clientCA
        }
    }

    /// Creates a configuration with every other setting at its default.
    public init(dataDirectory: String, host: String = "127.0.0.1", port: Int = 8443) {
        self.dataDirectory = dataDirectory
        self.host = host
        self.port = port
    }

    /// The store's path inside the data folder.
    public var storePath: String { (dataDirectory as NSString).appendingPathComponent(CentralStore.fileName) }
}
