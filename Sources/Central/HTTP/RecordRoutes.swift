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
        let turn = await Turn(of: office.rawValue, in: endpoint.reading)
        var request = request
        let wanted: RecordsRequest = try await endpoint.body(&request, .query) { try Endpoint.decode($0, fields: ["table", "ids"]) }
        guard wanted.ids.count <= WireProtocol.maxPageSize else {
            throw CentralError.badRequest("at most \(WireProtocol.maxPageSize) ids per request")
        }
        let store = endpoint.store
        let through = try await endpoint.servableRecordPosition()
        let records = try await endpoint.offload { try store.records(for: office, table: wanted.table, ids: wanted.ids) }
        // Rows are asked for by id, so a version the durable record lacks cannot be left out of
        // the answer (the office would take the row for missing at the centre): the office is
        // told to ask again, as a push that the record cannot take yet is.
        if let through, let newest = records.map(\.cursor.rawValue).max(), newest > through {
            throw CentralError(
                .serviceUnavailable, .recordUnavailable,
                "the centre's PostgreSQL record does not hold the newest of these rows yet (version \(newest), the record stands at \(through))",
                hint: "Nothing is lost: the centre's PostgreSQL record is a moment behind. Run the command again shortly; pulls bring the rows meanwhile.")
        }
        return try await endpoint.answer(for: request, holding: turn) {
            PullResponse(epoch: store.epoch, records: records, nextCursor: .start, hasMore: false)
        }
    }

    @Sendable func office(_ request: Request, context: CentralRequestContext) async throws -> Response {
        let office = try await endpoint.authenticate(request, context)
        let store = endpoint.store
        return try endpoint.json(try await endpoint.offload { try store.officeState(office) })
    }
}
