import Hummingbird
import Logging
import SyncCore

/// Builds the central HTTP application around a store. The executable and the tests both call this.
public func buildApplication(
    configuration: CentralConfiguration,
    store: CentralStore,
    logger: Logger,
    metrics: CentralMetrics = CentralMetrics(),
    record: (any DurableRecord)? = nil,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) throws(CentralError) -> some ApplicationProtocol {
    let router = Router(context: CentralRequestContext.self)
    router.add(
        middleware: ProtocolMiddleware(epoch: store.epoch, metrics: metrics, countBytes: { office, received, sent in store.countBytes(office, received, sent) })
    )
    let endpoint = Endpoint(
        store: store, configuration: configuration, metrics: metrics, totals: TotalsRefresher(store: store),
        limiter: RateLimiter(ratePerSecond: configuration.rateLimitPerSecond, burst: configuration.rateLimitBurst),
        addressLimiter: RateLimiter(ratePerSecond: configuration.rateLimitPerSecond, burst: configuration.rateLimitBurst),
        writeLimits: WriteLimits(configuration), record: record)
    // The routes of protocol version 1 (docs/PROTOCOL.md), by resource.
    HealthRoutes(endpoint: endpoint).register(on: router)
    ChangesetRoutes(endpoint: endpoint).register(on: router)
    ChangeRoutes(endpoint: endpoint).register(on: router)
    DigestRoutes(endpoint: endpoint).register(on: router)
    RecordRoutes(endpoint: endpoint).register(on: router)
    // The pages for the centre's people (docs/OPERATIONS.md, "The dashboard").
    if configuration.dashboardEnabled { DashboardRoutes(endpoint: endpoint).register(on: router) }
    return Application(
        router: router,
        server: try serverBuilder(
            configuration.tls, idleTimeout: configuration.idleTimeout,
            connections: ConnectionsPerAddress(limit: configuration.connectionsPerAddress, refused: metrics.connectionsRefused, logger: logger)),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "promo-central"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
        logger: logger)
}
