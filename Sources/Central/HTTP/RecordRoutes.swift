import Hummingbird
import SyncCore
import WireFormat

/// `POST /v1/records` (rows by id, for `verify` and repairs) and `GET /v1/office` (the centre's
/// view of the office's changeset chain).
struct RecordRoutes: Sendable {
    let endpoint: Endpoint

    func register(on router: Router<CentralRequestContext>) {
        router.post("/v1/records", use: records)
        router.get("/v1/office", use: office)
    }

    @Sendable func records(_ request: Request, context: CentralRequestContext) async throws -> Response {
        let office = try await endpoint.authenticate(request, context)
        var request = request
        let wanted: RecordsRequest = try endpoint.decode(try await endpoint.readBody(&request), fields: ["table", "ids"])
        guard wanted.ids.count <= WireProtocol.maxPageSize else {
            throw CentralError.badRequest("at most \(WireProtocol.maxPageSize) ids per request")
        }
        let store = endpoint.store
        let records = try await endpoint.offload { try store.records(for: office, table: wanted.table, ids: wanted.ids) }
        return try endpoint.json(PullResponse(epoch: store.epoch, records: records, nextCursor: .start, hasMore: false), for: request)
    }

    @Sendable func office(_ request: Request, context: CentralRequestContext) async throws -> Response {
        let office = try await endpoint.authenticate(request, context)
        let store = endpoint.store
        return try endpoint.json(try await endpoint.offload { try store.officeState(office) })
    }
}
