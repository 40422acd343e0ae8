import Foundation
import Hummingbird
import SyncCore
import WireFormat

/// `POST /v1/changesets`: an office pushes one changeset; applied whole or refused whole.
/// `GET /v1/changesets?after=N`: the office reads back its own changesets after N.
struct ChangesetRoutes: Sendable {
    let endpoint: Endpoint

    func register(on router: Router<CentralRequestContext>) {
        router.post("/v1/changesets", use: push)
        router.get("/v1/changesets", use: own)
    }

    @Sendable func push(_ request: Request, context: CentralRequestContext) async throws -> Response {
        // A retired (merged) office may still deliver what it had pending.
        let office = try await endpoint.authenticate(request, context, allowRetired: true)
        // One push of an office at a time: an office waits for each answer before its next push,
        // and four copies of one padded body sent at once each took a thread of the store's four
        // to read, hash and refuse (round 9, A2).
        guard endpoint.pushing.begin(office.rawValue) else {
            throw CentralError(
                .tooManyRequests, .rateLimited, "office \(office) is pushing already",
                hint: "Retry after 1 s; one push at a time. promo-sync does so by itself.")
        }
        defer { endpoint.pushing.end(office.rawValue) }
        var request = request
        let push = try await endpoint.body(&request, .changeset) { body in
            do throws(SyncCoreError) { return try PushRequest(jsonData: body) } catch {
                throw CentralError.badRequest(
                    "the body is not a valid push request: \(error.message)", hint: "See docs/PROTOCOL.md for the request format.")
            }
        }
        context.notes.changeset = push.changeset.sequence.rawValue
        if let refusal = FleetLimits.protocolRefusal(office: office, version: push.protocolVersion) { throw refusal }
        let store = endpoint.store
        let answer = try await endpoint.offload {
            try store.apply(push.changeset, receivedJSON: push.receivedChangesetJSON, from: office, limits: endpoint.writeLimits)
        }
        if answer.outcome == .applied {
            // Before the answer, so that the office's next pull waits for totals that include it.
            await endpoint.totals.changed()
            endpoint.metrics.pushesApplied.increment()
            endpoint.metrics.changesReceived.increment(by: Int64(push.changeset.changes.count))
        } else {
            endpoint.metrics.pushesDuplicate.increment()
        }
        // Applied or a re-send, the answer tells the office its changeset is kept: with a durable
        // record, only once the record holds it too.
        try await endpoint.record?.holdsEverythingCommitted()
        return try endpoint.json(answer, for: request)
    }

    /// The office's own changesets after `after` (``OwnChangesetsResponse``): what a lost server of
    /// the office sent, for the replica restored from its old backup. Only the token's office's;
    /// with a durable record, only what the record holds (the office drops waiting changes that
    /// these show were sent). The stored bodies are sent as they are, about 4 MB a page, an
    /// office's requests taking turns, and compressed off the event loops: decoded and encoded
    /// again, eight requests at once for a changeset of 23 MB held other offices' pushes and pulls
    /// for 20–40 s (round 8 of the attacks).
    @Sendable func own(_ request: Request, context: CentralRequestContext) async throws -> Response {
        let office = try await endpoint.authenticate(request, context)
        let after = try endpoint.integerParameter(request, "after", default: 0)
        guard after >= 0 else { throw CentralError.badRequest("'after' must be 0 or more, not \(after)") }
        let turn = await Turn(of: office.rawValue, in: endpoint.reading)
        var held: Int64?
        if let record = endpoint.record {
            try await record.holdsEverythingCommitted()
            held = await record.heldMark().logPosition
        }
        let (store, through, acceptsGzip) = (endpoint.store, held, Endpoint.acceptsGzip(request))
        let (body, gzipped) = try await endpoint.offload {
            Endpoint.packed(
                try store.ownChangesetsJSON(of: office, after: ChangesetSequence(after), bytes: 4 << 20, throughPosition: through),
                acceptingGzip: acceptsGzip)
        }
        return Endpoint.streamedJSON(body, gzipped: gzipped, holding: turn)
    }
}
