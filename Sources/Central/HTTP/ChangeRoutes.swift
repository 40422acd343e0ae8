import HTTPTypes
import Hummingbird
import SyncCore
import WireFormat

/// `GET /v1/changes`: a page of the centre's log for an office, with the centre's view of the
/// office's chain and the centre's clock in headers.
struct ChangeRoutes: Sendable {
    let endpoint: Endpoint

    static let officeSequence = HTTPField.Name(WireProtocol.officeSequenceHeader)!
    static let officeHash = HTTPField.Name(WireProtocol.officeHashHeader)!
    static let centreClock = HTTPField.Name(WireProtocol.centreClockHeader)!

    func register(on router: Router<CentralRequestContext>) {
        router.get("/v1/changes", use: page)
    }

    @Sendable func page(_ request: Request, context: CentralRequestContext) async throws -> Response {
        let office = try await endpoint.authenticate(request, context)
        let after = try endpoint.integerParameter(request, "after", default: 0)
        let limit = try endpoint.integerParameter(request, "limit", default: Int64(endpoint.configuration.defaultPageSize))
        guard after >= 0 else { throw CentralError.badRequest("'after' must be 0 or more") }
        guard (1...Int64(WireProtocol.maxPageSize)).contains(limit) else {
            throw CentralError.badRequest("'limit' must be between 1 and \(WireProtocol.maxPageSize)")
        }
        var own: (since: Int64, through: Int64)?
        if request.uri.queryParameters["own_through"] != nil {
            own = (try endpoint.integerParameter(request, "own_since", default: 0), try endpoint.integerParameter(request, "own_through", default: 0))
        }
        let turn = await Turn(of: office.rawValue, in: endpoint.reading)
        await endpoint.totals.upToDate(for: office)
        let store = endpoint.store
        // With a durable record, a page ends where the record does (the pages of an initial sync,
        // with nothing new in the store, wait for no pass).
        let through = try await endpoint.servableRecordPosition()
        // Compressed here too, off the threads that run every office's requests (eight pulls of
        // a large page at once, compressed there, held office 80's push 8.8 s; round 19, E1).
        let acceptsGzip = Endpoint.acceptsGzip(request)
        let (page, records, state, clock) = try await endpoint.offload { [own, through] in
            let page = try store.pageJSON(for: office, after: PullCursor(after), limit: Int(limit), own: own, through: through)
            return (Endpoint.packed(page.data, acceptingGzip: acceptsGzip), page.records, try store.officeState(office), try store.clock())
        }
        store.notePull(office)
        endpoint.metrics.pulls.increment()
        endpoint.metrics.recordsServed.increment(by: Int64(records))
        var response = Endpoint.streamedJSON(page.body, gzipped: page.gzipped, holding: turn)
        response.headers[Self.officeSequence] = String(state.lastSequence.rawValue)
        response.headers[Self.officeHash] = state.lastHash
        response.headers[Self.centreClock] = clock.description
        return response
    }
}
