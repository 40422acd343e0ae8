import Foundation
import GzipCodec
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import SyncCore

/// How promo-central serves.
public struct CentralConfiguration: Sendable {
    /// The folder holding the store (`central.sqlite`).
    public var dataDirectory: String
    public var host: String = "127.0.0.1"
    /// 0 picks a free port (tests); the chosen port is reported through `onServerRunning`.
    public var port: Int = 8443
    /// Largest request body accepted.
    public var maxBodyBytes: Int = 32 * 1024 * 1024
    /// Page size when an office does not ask for one.
    public var defaultPageSize: Int = 1_000
    /// Requests per second each office may make on average, and the burst it may use at once.
    public var rateLimitPerSecond: Double = 50
    public var rateLimitBurst: Double = 200
    /// A connection with no request for this long is closed (slow or stuck clients).
    public var idleTimeout: Duration = .seconds(60)
    /// HTTPS: PEM certificate chain and key; nil serves plain HTTP (behind a TLS reverse proxy only).
    public var tls: TLSFiles?
    public var logLevel: Logger.Level = .info

    /// The files of the central's TLS setup.
    public struct TLSFiles: Sendable, Equatable {
        public var certificateChain: String
        public var privateKey: String
        /// A PEM file of CAs whose client certificates are required (mutual TLS); nil: none asked.
        public var clientCA: String?

        public init(certificateChain: String, privateKey: String, clientCA: String? = nil) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
            self.clientCA = clientCA
        }
    }

    public init(dataDirectory: String, host: String = "127.0.0.1", port: Int = 8443) {
        self.dataDirectory = dataDirectory
        self.host = host
        self.port = port
    }

    /// The store's path inside the data folder.
    public var storePath: String { (dataDirectory as NSString).appendingPathComponent(CentralStore.fileName) }
}

/// Builds the central HTTP application around a store. The executable and the tests both call this.
public func buildApplication(
    configuration: CentralConfiguration,
    store: CentralStore,
    logger: Logger,
    metrics: CentralMetrics = CentralMetrics(),
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) throws(CentralError) -> some ApplicationProtocol {
    let router = Router(context: CentralRequestContext.self)
    router.add(middleware: ProtocolMiddleware(epoch: store.epoch, logger: logger, metrics: metrics))
    CentralRoutes(store: store, configuration: configuration, metrics: metrics, logger: logger,
                  limiter: RateLimiter(ratePerSecond: configuration.rateLimitPerSecond, burst: configuration.rateLimitBurst),
                  addressLimiter: RateLimiter(ratePerSecond: configuration.rateLimitPerSecond, burst: configuration.rateLimitBurst)).register(on: router)
    return Application(
        router: router,
        server: try serverBuilder(configuration.tls, idleTimeout: configuration.idleTimeout),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "promo-central"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
        logger: logger)
}

/// The context of one request: Hummingbird's, plus the peer's address (rate limits and logs of
/// requests that carry no valid token are per address).
public struct CentralRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer's IP address, without the port.
    public let remoteAddress: String

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }
}

/// Puts the epoch header on every answer and turns every error into the protocol's JSON error body.
struct ProtocolMiddleware<Context: RequestContext>: RouterMiddleware {
    let epoch: Epoch
    let logger: Logger
    let metrics: CentralMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as CentralError {
            response = Self.errorResponse(error)
        } catch let error as HTTPError {
            let code = error.status == .notFound ? "not_found" : (error.status == .contentTooLarge ? "body_too_large" : "bad_request")
            response = Self.errorResponse(CentralError(error.status, code, error.body ?? error.status.reasonPhrase))
        } catch let error as any HTTPResponseError where error.status.code < 500 {
            // Hummingbird's own refusals (a body over a limit, say) keep their 4xx status.
            response = Self.errorResponse(CentralError(error.status, error.status == .contentTooLarge ? "body_too_large" : "bad_request",
                                                       error.status.reasonPhrase))
        } catch {
            logger.error("request failed", metadata: ["http.path": "\(request.uri.path)", "error": "\(error)"])
            response = Self.errorResponse(CentralError(.internalServerError, "internal", "the centre failed to answer", hint: "Retry later."))
        }
        response.headers[HTTPField.Name(WireProtocol.epochHeader)!] = epoch.rawValue
        metrics.recordStatus(Int(response.status.code))
        // An oversized body is not read to its end: the connection closes after the answer.
        if response.status == .contentTooLarge { response.headers[.connection] = "close" }
        if response.status.code >= 400 {
            logger.info("request refused", metadata: ["http.path": "\(request.uri.path)", "http.status": "\(response.status.code)"])
        }
        return response
    }

    static func errorResponse(_ error: CentralError) -> Response {
        let body = (try? JSONEncoder().encode(ErrorResponse(code: error.code, message: error.message, hint: error.hint, row: error.row))) ?? Data()
        return Response(
            status: error.status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// The routes of protocol version 1 (docs/PROTOCOL.md).
struct CentralRoutes: Sendable {
    let store: CentralStore
    let configuration: CentralConfiguration
    let metrics: CentralMetrics
    let logger: Logger
    /// Per office, for requests with a valid token.
    let limiter: RateLimiter
    /// Per source address, for requests without a valid token (the open routes, and failed authentication).
    let addressLimiter: RateLimiter

    func register(on router: Router<CentralRequestContext>) {
        router.get("/health") { _, context in
            try admitAnonymous(context)
            return try json(HealthResponse(status: "ok", epoch: store.epoch))
        }
        router.post("/v1/changesets") { request, context in
            // A retired (merged) office may still deliver what it had pending.
            let office = try await authenticate(request, context, allowRetired: true)
            var request = request
            let body = try await readBody(&request)
            let push: PushRequest
            switch Result(catching: { () throws(SyncCoreError) in try PushRequest(jsonData: Data(body.readableBytesView)) }) {
            case .success(let request): push = request
            case .failure(let error):
                throw CentralError.badRequest("the body is not a valid push request: \(error.message)", hint: "See docs/PROTOCOL.md for the request format.")
            }
            guard push.protocolVersion == WireProtocol.version else {
                throw CentralError.badRequest("protocol version \(push.protocolVersion) is not supported (this centre speaks \(WireProtocol.version))",
                                              hint: "Upgrade promo-sync at the office, or the centre.")
            }
            let answer = try await offload { try store.apply(push.changeset, receivedJSON: push.receivedChangesetJSON, from: office) }
            if answer.outcome == .applied {
                metrics.pushesApplied.increment()
                metrics.changesReceived.increment(by: Int64(push.changeset.changes.count))
            } else {
                metrics.pushesDuplicate.increment()
            }
            return try json(answer, for: request)
        }
        router.get("/v1/changes") { request, context in
            let office = try await authenticate(request, context)
            let after = try integerParameter(request, "after", default: 0)
            let limit = try integerParameter(request, "limit", default: Int64(configuration.defaultPageSize))
            guard after >= 0 else { throw CentralError.badRequest("'after' must be 0 or more") }
            guard (1...Int64(WireProtocol.maxPageSize)).contains(limit) else {
                throw CentralError.badRequest("'limit' must be between 1 and \(WireProtocol.maxPageSize)")
            }
            var own: (since: Int64, through: Int64)?
            if request.uri.queryParameters["own_through"] != nil {
                own = (try integerParameter(request, "own_since", default: 0), try integerParameter(request, "own_through", default: 0))
            }
            let (page, state, clock) = try await offload { [own] in
                (try store.pageJSON(for: office, after: PullCursor(after), limit: Int(limit), own: own), try store.officeState(office), try store.clock())
            }
            metrics.pulls.increment()
            metrics.recordsServed.increment(by: Int64(page.records))
            var response = jsonBody(page.data, for: request)
            response.headers[HTTPField.Name(WireProtocol.officeSequenceHeader)!] = String(state.lastSequence.rawValue)
            response.headers[HTTPField.Name(WireProtocol.officeHashHeader)!] = state.lastHash
            response.headers[HTTPField.Name(WireProtocol.centreClockHeader)!] = clock.description
            return response
        }
        // Prometheus text format. Serve it to the monitoring network only (docs/OPERATIONS.md).
        router.get("/metrics") { _, context in
            try admitAnonymous(context)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.exposition(store: store))))
        }
        router.get("/v1/digest") { request, context in
            let office = try await authenticate(request, context)
            let path = request.uri.queryParameters["path"].map(String.init) ?? ""
            guard path.split(separator: "/", omittingEmptySubsequences: false).count <= DigestTree.depth || path.isEmpty else {
                throw CentralError.badRequest("'path' has more than \(DigestTree.depth) levels")
            }
            let tree = try await offload { try store.digestTree(for: office) }
            return try json(DigestResponse(epoch: store.epoch, path: path, children: tree.children(of: path)), for: request)
        }
        router.post("/v1/digests") { request, context in
            let office = try await authenticate(request, context)
            var request = request
            let wanted: DigestsRequest = try decode(try await readBody(&request), fields: ["paths"])
            guard wanted.paths.count <= WireProtocol.maxPageSize else {
                throw CentralError.badRequest("at most \(WireProtocol.maxPageSize) paths per request")
            }
            for path in wanted.paths where path.split(separator: "/", omittingEmptySubsequences: false).count > DigestTree.depth {
                throw CentralError.badRequest("path '\(path)' has more than \(DigestTree.depth) levels")
            }
            let tree = try await offload { try store.digestTree(for: office) }
            var nodes: [String: [String: String]] = [:]
            for path in wanted.paths { nodes[path] = tree.children(of: path) }
            return try json(DigestsResponse(epoch: store.epoch, nodes: nodes), for: request)
        }
        router.post("/v1/records") { request, context in
            let office = try await authenticate(request, context)
            var request = request
            let wanted: RecordsRequest = try decode(try await readBody(&request), fields: ["table", "ids"])
            guard wanted.ids.count <= WireProtocol.maxPageSize else {
                throw CentralError.badRequest("at most \(WireProtocol.maxPageSize) ids per request")
            }
            let records = try await offload { try store.records(for: office, table: wanted.table, ids: wanted.ids) }
            return try json(PullResponse(epoch: store.epoch, records: records, nextCursor: .start, hasMore: false), for: request)
        }
        router.get("/v1/office") { request, context in
            let office = try await authenticate(request, context)
            return try json(try await offload { try store.officeState(office) })
        }
    }

    /// Runs blocking SQLite work on NIO's thread pool, so the event loops keep serving other
    /// connections while a large changeset is merged.
    private func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await store.threadPool.runIfActive(work)
    }

    private func authenticate(_ request: Request, _ context: CentralRequestContext, allowRetired: Bool = false) async throws -> OfficeCode {
        let header = request.headers[.authorization] ?? ""
        let token = header.hasPrefix("Bearer ") ? String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces) : ""
        // A short indexed read: answered on the event loop.
        guard !token.isEmpty, let office = try store.authenticate(token: token) else {
            // Logged with the address, never with what was presented.
            logger.warning("authentication failed", metadata: ["http.remote": "\(context.remoteAddress)", "http.path": "\(request.uri.path)",
                                                               "auth.presented": "\(header.isEmpty ? "nothing" : "a token")"])
            try admitAnonymous(context)
            throw CentralError.unauthorized
        }
        if let wait = limiter.admit(office.rawValue) {
            throw CentralError(.tooManyRequests, "rate_limited", "office \(office) sends requests faster than \(Int(limiter.ratePerSecond))/s",
                               hint: "Retry after \(wait) s; promo-sync backs off by itself.")
        }
        if !allowRetired { try store.checkNotRetired(office) }
        return office
    }

    /// Takes one request from the address's allowance for requests without a valid token.
    private func admitAnonymous(_ context: CentralRequestContext) throws {
        if let wait = addressLimiter.admit(context.remoteAddress) {
            throw CentralError(.tooManyRequests, "rate_limited", "too many requests without a valid token from \(context.remoteAddress)",
                               hint: "Retry after \(wait) s with the office's token.")
        }
    }

    /// The request's body, decompressed, refused with 413 as soon as its declared length or the
    /// bytes read pass `limits.max_body_bytes` (a client that waits for `100 Continue` sends nothing).
    private func readBody(_ request: inout Request) async throws -> ByteBuffer {
        let tooLarge = CentralError(.contentTooLarge, "body_too_large", "the body is larger than \(configuration.maxBodyBytes) bytes",
                                    hint: "Lower the changeset size in the office configuration.")
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > configuration.maxBodyBytes { throw tooLarge }
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: configuration.maxBodyBytes) } catch is NIOTooManyBytesError { throw tooLarge }
        return try inflate(buffer, request)
    }

    private func integerParameter(_ request: Request, _ name: String, default value: Int64) throws -> Int64 {
        guard let text = request.uri.queryParameters[Substring(name)] else { return value }
        guard let number = Int64(text) else { throw CentralError.badRequest("'\(name)' must be a whole number, not '\(text)'") }
        return number
    }

    /// Decodes a JSON object with exactly the members `fields` allows (an unknown member is a 400,
    /// as for the push, so a misspelt or newer request is never half understood).
    private func decode<T: Decodable>(_ buffer: ByteBuffer, fields: Set<String>) throws -> T {
        do {
            let data = Data(buffer.readableBytesView)
            if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
               let unknown = object.keys.filter({ !fields.contains($0) }).sorted().first {
                throw CentralError.badRequest("the body has an unknown member '\(unknown)'", hint: "See docs/PROTOCOL.md for the request format.")
            }
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as CentralError {
            throw error
        } catch let error as DecodingError {
            throw CentralError.badRequest("the body is not a valid request: \(Self.describe(error))",
                                          hint: "See docs/PROTOCOL.md for the request format.")
        } catch {
            throw CentralError.badRequest("the body is not JSON", hint: "See docs/PROTOCOL.md for the request format.")
        }
    }

    private func json<T: Encodable>(_ value: T, for request: Request? = nil) throws -> Response {
        jsonBody(try JSONEncoder().encode(value), for: request)
    }

    private func jsonBody(_ data: Data, for request: Request?) -> Response {
        // Compress larger answers for offices that accept gzip (libcurl decodes it by itself).
        if let accepted = request?.headers[.acceptEncoding], accepted.contains("gzip"), data.count >= 1_024 {
            return Response(status: .ok, headers: [.contentType: "application/json", .contentEncoding: "gzip"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: Gzip.compress(data))))
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The request body, decompressed when the office sent it gzip-encoded.
    private func inflate(_ buffer: ByteBuffer, _ request: Request) throws -> ByteBuffer {
        guard let encoding = request.headers[.contentEncoding]?.lowercased(), encoding != "identity" else { return buffer }
        guard encoding == "gzip" else {
            throw CentralError(.unsupportedMediaType, "unsupported_encoding", "the body is encoded as '\(encoding)'", hint: "Send it plain or gzip-compressed.")
        }
        do {
            return ByteBuffer(bytes: try Gzip.decompress(Data(buffer.readableBytesView), limit: configuration.maxBodyBytes))
        } catch .tooLarge {
            throw CentralError(.contentTooLarge, "body_too_large", "the body decompresses to more than \(configuration.maxBodyBytes) bytes",
                               hint: "Lower the changeset size in the office configuration.")
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

/// Plain HTTP/1.1, or HTTPS with the configured certificate (and client certificates for mutual TLS).
func serverBuilder(_ tls: CentralConfiguration.TLSFiles?, idleTimeout: Duration) throws(CentralError) -> HTTPServerBuilder {
    let http1 = HTTPServerBuilder.http1(configuration: .init(idleTimeout: .nanoseconds(Int64(idleTimeout.components.seconds) * 1_000_000_000)))
    guard let tls else { return http1 }
    do {
        let chain = try NIOSSLCertificate.fromPEMFile(tls.certificateChain).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: tls.privateKey, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if let clientCA = tls.clientCA {
            // Offices are identified by their token; the certificate proves the machine, so the
            // CA is checked and the host name is not.
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .file(clientCA)
        }
        return try .tls(http1, tlsConfiguration: configuration)
    } catch {
        throw CentralError(.internalServerError, "tls", "cannot set up HTTPS from \(tls.certificateChain) and \(tls.privateKey): \(error)",
                           hint: "Give a PEM certificate chain and its PEM private key, readable by the service user (docs/OPERATIONS.md).")
    }
}
