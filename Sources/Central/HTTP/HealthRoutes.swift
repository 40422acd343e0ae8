import Foundation
import Hummingbird
import SyncCore
import WireFormat

/// `GET /health` and `GET /metrics`: open, rate-limited per address.
struct HealthRoutes: Sendable {
    let endpoint: Endpoint

    func register(on router: Router<CentralRequestContext>) {
        router.get("/health", use: health)
        // Prometheus text format. Serve it to the monitoring network only (docs/OPERATIONS.md).
        router.get("/metrics", use: metrics)
    }

    @Sendable func health(_ request: Request, context: CentralRequestContext) async throws -> Response {
        try endpoint.admitAnonymous(context)
        // A centre that may no longer hold its serving lease is not healthy: a load balancer's
        // check sends offices elsewhere (docs/OPERATIONS.md, "A standby centre").
        try await endpoint.record?.admitsOffices()
        return try endpoint.json(HealthResponse(status: "ok", epoch: endpoint.store.epoch))
    }

    @Sendable func metrics(_ request: Request, context: CentralRequestContext) async throws -> Response {
        try endpoint.admitAnonymous(context)
        var record: (heldAt: Date?, held: LogMark)?
        if let durable = endpoint.record { record = (await durable.lastHeldAt(), await durable.heldMark()) }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: endpoint.metrics.exposition(store: endpoint.store, record: record))))
    }
}
