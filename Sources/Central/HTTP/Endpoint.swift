import Foundation
import GzipCodec
import HTTPTypes
import Hummingbird
import NIOCore
import SyncCore
import Synchronization
import WireFormat

/// What every route type shares: the store, the limits, and the steps of a request (the token,
/// the body, parameters, the answer).
struct Endpoint: Sendable {
    let store: CentralStore
    let configuration: CentralConfiguration
    let metrics: CentralMetrics
    /// Recomputes the consolidated totals after pushes; pulls wait for it.
    let totals: TotalsRefresher
    /// Per office, for requests with a valid token.
    let limiter: RateLimiter
    /// Per source address, for requests without a valid token (the open routes, and failed authentication).
    let addressLimiter: RateLimiter
    /// What each office's pushes may make the centre refold.
    let writeLimits: WriteLimits
    /// What every acknowledgement waits for, when the store has a durable record (``DurableRecord``).
    var record: (any DurableRecord)? = nil
    /// Offices reading: pulls (`GET /v1/changes`), their own changesets (`GET /v1/changesets`),
    /// rows and tree nodes (`POST /v1/records`, `GET /v1/digest`, `POST /v1/digests`). An
    /// office's reads take turns, one at a time whatever their route (a verify beside the
    /// daemon's pull waits for it rather than being refused): one of each route at once, with a
    /// push, took every thread of the store's pool and held office 80's push 13 s (round 20, A1;
    /// debug build). Each turn lasts until its answer is handed to the connection
    /// (``streamedJSON(_:gzipped:holding:)``), so an office that does not read its answers holds
    /// one in the centre's memory, not one a request until the idle timeout (round 19, E2).
    let reading = Turns()
    /// Offices with a push running: an office sends one changeset and waits for its answer.
    let pushing = OneAtATime()

    /// Runs blocking SQLite work on NIO's thread pool, so the event loops keep serving other
    /// connections while a large changeset is merged.
    func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await store.threadPool.runIfActive(work)
    }

    /// With a durable record, the record position it holds, past which no record version is
    /// served (pulls and `/v1/records`): a restore from the record keeps the epoch, so an office
    /// holding a version the record lacked would see it numbered anew under its cursor. The
    /// record is brought up to date first when the store has moved past it and when it can be (a
    /// record that cannot be written answers what it held). Nil without a record.
    func servableRecordPosition() async throws -> Int64? {
        guard let record else { return nil }
        let store = self.store
        if try await !record.heldMark().covers(offload { try store.logMark() }) {
            try? await record.holdsEverythingCommitted()
        }
        // The wait may have outlasted this centre's lease: it answers no office then.
        try await record.admitsOffices()
        return await record.heldMark().recordPosition
    }

    func authenticate(_ request: Request, _ context: CentralRequestContext, allowRetired: Bool = false) async throws -> OfficeCode {
        let header = request.headers[.authorization] ?? ""
        let token = header.hasPrefix("Bearer ") ? String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces) : ""
        // A short indexed read: answered on the event loop.
        guard !token.isEmpty, let office = try store.authenticate(token: token) else {
            // ProtocolMiddleware logs it with the address, never with what was presented.
            try admitAnonymous(context)
            throw CentralError.unauthorized
        }
        context.notes.office = office.rawValue
        if let wait = limiter.admit(office.rawValue) {
            throw CentralError(
                .tooManyRequests, .rateLimited, "office \(office) sends requests faster than \(Int(limiter.ratePerSecond))/s",
                hint: "Retry after \(wait) s; promo-sync backs off by itself.")
        }
        if !allowRetired { try store.checkNotRetired(office) }
        try await record?.admitsOffices()
        try await admitRelease(of: office, request)
        return office
    }

    static let softwareHeader = HTTPField.Name(WireProtocol.softwareVersionHeader)!
    static let protocolHeader = HTTPField.Name(WireProtocol.protocolVersionHeader)!
    static let schemaHeader = HTTPField.Name(WireProtocol.schemaVersionHeader)!
    static let reportHeader = HTTPField.Name(WireProtocol.officeReportHeader)!

    /// Refuses an office whose release or protocol the centre does not serve now (426, naming what
    /// to upgrade), and writes down what it runs and when it was seen (at most once a minute).
    func admitRelease(of office: OfficeCode, _ request: Request) async throws {
        let software = request.headers[Self.softwareHeader]
        // An office before 1.1.0 sends no protocol header: it speaks protocol 1.
        let version: Int
        switch request.headers[Self.protocolHeader] {
        case nil: version = 1
        case let text?:
            guard let number = Int(text) else {
                throw CentralError.badRequest(
                    "'\(WireProtocol.protocolVersionHeader): \(text)' is not a protocol version", hint: "Send a whole number, as promo-sync does.")
            }
            version = number
        }
        if let refusal = try store.currentFleetLimits().refusal(office: office, software: software, protocol: version) { throw refusal }
        let visit = Visit(
            software: software, protocolVersion: version, schema: Self.schema(of: request),
            report: OfficeReport(header: request.headers[Self.reportHeader]))
        // Writing down the visit is bookkeeping: a failure is logged and never fails the request.
        if store.noteVisit(office, visit) {
            let store = self.store
            do {
                try await offload { try store.recordVisit(office) }
            } catch {
                store.forgetVisit(office)
                store.logger.warning("could not record a visit", metadata: ["promo.office": "\(office)", "error": "\(error)"])
            }
        }
    }

    /// The replica schema the office says it runs (`Promo-Schema-Version`), if it says one.
    static func schema(of request: Request) -> Int? {
        request.headers[schemaHeader].flatMap { Int($0) }
    }

    /// Takes one request from the address's allowance for requests without a valid token.
    func admitAnonymous(_ context: CentralRequestContext) throws {
        if let wait = addressLimiter.admit(context.remoteAddress) {
            throw CentralError(
                .tooManyRequests, .rateLimited, "too many requests without a valid token from \(context.remoteAddress)",
                hint: "Retry after \(wait) s with the office's token.")
        }
    }

    /// Which bound a request body has, plain or decompressed (``bodyLimit(_:)``).
    enum BodyKind {
        case changeset
        case query
    }

    /// What a query (`POST /v1/records`, `POST /v1/digests`) may weigh: 5,000 ids of 36
    /// characters are 195 KB. Without a bound of their own they took the push's 32 MB, and four
    /// bodies of 32 KB that inflated to 32 MB each, inflated and parsed on the tasks' threads,
    /// held every office's pushes for 49 s and `/health` for 20 s (round 18, E1).
    static let maxQueryBodyBytes = 1 << 20

    /// `limits.max_body_bytes` for a push; for a request that names rows or nodes, at most ``maxQueryBodyBytes``.
    func bodyLimit(_ kind: BodyKind) -> Int {
        switch kind {
        case .changeset: configuration.maxBodyBytes
        case .query: min(configuration.maxBodyBytes, Self.maxQueryBodyBytes)
        }
    }

    /// Reads the request's body and makes `T` of it: refused with 413 as soon as its declared
    /// length, the bytes read or the bytes it decompresses to pass the limit of its `kind` (a
    /// client that waits for `100 Continue` sends nothing). Decompressed and parsed on the store's
    /// thread pool, not on the threads that run every office's requests (`/health`, a token's check).
    func body<T: Sendable>(_ request: inout Request, _ kind: BodyKind, parse: @escaping @Sendable (Data) throws -> T) async throws -> T {
        let limit = bodyLimit(kind)
        let hint =
            kind == .query ? "A request names at most \(WireProtocol.maxPageSize) rows or nodes." : "Lower the changeset size in the office configuration."
        let tooLarge = CentralError(.contentTooLarge, .bodyTooLarge, "the body is larger than \(limit) bytes", hint: hint)
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit { throw tooLarge }
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: limit) } catch is NIOTooManyBytesError { throw tooLarge }
        let encoding = request.headers[.contentEncoding]
        return try await offload { try parse(Self.inflate(buffer, encoding: encoding, limit: limit, hint: hint)) }
    }

    func integerParameter(_ request: Request, _ name: String, default value: Int64) throws -> Int64 {
        guard let text = request.uri.queryParameters[Substring(name)] else { return value }
        guard let number = Int64(text) else { throw CentralError.badRequest("'\(name)' must be a whole number, not '\(text)'") }
        return number
    }

    /// Decodes a JSON object with exactly the members `fields` allows (an unknown member is a 400,
    /// as for the push, so a misspelt or newer request is never half understood).
    static func decode<T: Decodable>(_ data: Data, fields: Set<String>) throws -> T {
        do {
            if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let unknown = object.keys.filter({ !fields.contains($0) }).sorted().first
            {
                throw CentralError.badRequest("the body has an unknown member '\(unknown)'", hint: "See docs/PROTOCOL.md for the request format.")
            }
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as CentralError {
            throw error
        } catch let error as DecodingError {
            throw CentralError.badRequest(
                "the body is not a valid request: \(Self.describe(error))",
                hint: "See docs/PROTOCOL.md for the request format.")
        } catch {
            throw CentralError.badRequest("the body is not JSON", hint: "See docs/PROTOCOL.md for the request format.")
        }
    }

    /// The answer `make` gives, made, encoded and compressed on the store's thread pool (an
    /// answer of 5,000 large rows is hundreds of megabytes) and handed to the connection as it
    /// takes it, with `turn` kept until then.
    func answer<T: Encodable>(for request: Request, holding turn: Turn, _ make: @escaping @Sendable () throws -> T) async throws -> Response {
        let acceptsGzip = Self.acceptsGzip(request)
        let (body, gzipped) = try await offload { Self.packed(try JSONEncoder().encode(make()), acceptingGzip: acceptsGzip) }
        return Self.streamedJSON(body, gzipped: gzipped, holding: turn)
    }

    func json<T: Encodable>(_ value: T, for request: Request? = nil) throws -> Response {
        jsonBody(try JSONEncoder().encode(value), for: request)
    }

    func jsonBody(_ data: Data, for request: Request?) -> Response {
        let (body, gzipped) = Self.packed(data, acceptingGzip: Self.acceptsGzip(request))
        return Self.jsonResponse(body, gzipped: gzipped)
    }

    static func acceptsGzip(_ request: Request?) -> Bool { request?.headers[.acceptEncoding]?.contains("gzip") == true }

    /// An answer of `data` as it goes out: compressed when it is larger than 1 KiB and the office
    /// accepts gzip (libcurl decodes it by itself).
    static func packed(_ data: Data, acceptingGzip: Bool) -> (body: Data, gzipped: Bool) {
        guard acceptingGzip, data.count >= 1_024 else { return (data, false) }
        return (Gzip.compress(data), true)
    }

    /// A JSON answer of `body`, compressed with gzip already or not, handed to the connection
    /// 64 KB at a time as it can take them; `turn` is given back once the last is, or once the
    /// answer is dropped unsent (a connection gone). So an office that does not read its answers
    /// holds one of them in the centre's memory, not one per request until the idle timeout
    /// (31 MB pages at 15 a second took the memory up by 465 MB a second; round 19, E2).
    static func streamedJSON(_ body: Data, gzipped: Bool, holding turn: Turn) -> Response {
        let piece = 64 << 10
        return Response(
            status: .ok, headers: jsonHeaders(gzipped: gzipped),
            body: ResponseBody(contentLength: body.count) { writer in
                var start = body.startIndex
                while start < body.endIndex {
                    let end = body.index(start, offsetBy: piece, limitedBy: body.endIndex) ?? body.endIndex
                    try await writer.write(ByteBuffer(bytes: body[start..<end]))
                    start = end
                }
                try await writer.finish(nil)
                withExtendedLifetime(turn) {}
            })
    }

    /// A JSON answer of `body`, compressed with gzip already or not.
    static func jsonResponse(_ body: Data, gzipped: Bool) -> Response {
        Response(status: .ok, headers: jsonHeaders(gzipped: gzipped), body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func jsonHeaders(gzipped: Bool) -> HTTPFields {
        var headers: HTTPFields = [.contentType: "application/json"]
        if gzipped { headers[.contentEncoding] = "gzip" }
        return headers
    }

    /// The request body, decompressed when the office sent it gzip-encoded (`encoding`, its
    /// `Content-Encoding`), to at most `limit` bytes.
    static func inflate(_ buffer: ByteBuffer, encoding: String?, limit: Int, hint: String) throws -> Data {
        let data = Data(buffer.readableBytesView)
        guard let encoding = encoding?.lowercased(), encoding != "identity" else { return data }
        guard encoding == "gzip" else {
            throw CentralError(.unsupportedMediaType, .unsupportedEncoding, "the body is encoded as '\(encoding)'", hint: "Send it plain or gzip-compressed.")
        }
        do {
            return try Gzip.decompress(data, limit: limit)
        } catch .tooLarge {
            throw CentralError(.contentTooLarge, .bodyTooLarge, "the body decompresses to more than \(limit) bytes", hint: hint)
        } catch {
            throw CentralError.badRequest("the gzip-encoded body is damaged", hint: "Send it again.")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "" : " at \(p)"
        }
        switch error {
        case .dataCorrupted(let c): return "\(c.debugDescription)\(path(c))"
        case .keyNotFound(let key, let c): return "missing '\(key.stringValue)'\(path(c))"
        case .typeMismatch(_, let c), .valueNotFound(_, let c): return "\(c.debugDescription)\(path(c))"
        @unknown default: return "\(error)"
        }
    }
}

/// Keys (offices) that have a request of some kind running: one at a time each.
final class OneAtATime: Sendable {
    private let running = Mutex<Set<String>>([])

    /// Takes the turn of `key`; false when a request of it runs already.
    func begin(_ key: String) -> Bool { running.withLock { $0.insert(key).inserted } }

    /// Gives the turn of `key` back.
    func end(_ key: String) { _ = running.withLock { $0.remove(key) } }
}

/// A turn of ``Turns`` taken, given back when this is released.
final class Turn: Sendable {
    private let turns: Turns
    private let key: String

    /// Waits for the turn of `key` in `turns`.
    init(of key: String, in turns: Turns) async {
        await turns.take(key)
        self.turns = turns
        self.key = key
    }

    deinit { turns.give(key) }
}

/// Keys (offices) whose requests of some kind take turns: one runs, the others wait for it in
/// the order they came.
final class Turns: Sendable {
    /// The keys with a request running, each with the requests waiting after it.
    private let waiting = Mutex<[String: [CheckedContinuation<Void, Never>]]>([:])

    /// Waits for the turn of `key`.
    func take(_ key: String) async {
        await withCheckedContinuation { turn in
            let now = waiting.withLock { waiting in
                guard waiting[key] != nil else {
                    waiting[key] = []
                    return true
                }
                waiting[key]?.append(turn)
                return false
            }
            if now { turn.resume() }
        }
    }

    /// Gives the turn of `key` to the request that waited longest, if any.
    func give(_ key: String) {
        let next = waiting.withLock { waiting -> CheckedContinuation<Void, Never>? in
            guard var queue = waiting[key], !queue.isEmpty else {
                waiting[key] = nil
                return nil
            }
            let next = queue.removeFirst()
            waiting[key] = queue
            return next
        }
        next?.resume()
    }
}
