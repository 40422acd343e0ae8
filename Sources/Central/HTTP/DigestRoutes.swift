import Hummingbird
import SyncCore
import WireFormat

/// `GET /v1/digest` and `POST /v1/digests`: nodes of the office's hash tree, for `verify`.
struct DigestRoutes: Sendable {
    let endpoint: Endpoint

    func register(on router: Router<CentralRequestContext>) {
        router.get("/v1/digest", use: node)
        router.post("/v1/digests", use: nodes)
    }

    @Sendable func node(_ request: Request, context: CentralRequestContext) async throws -> Response {
        let office = try await endpoint.authenticate(request, context)
        let path = request.uri.queryParameters["path"].map(String.init) ?? ""
        guard path.split(separator: "/", omittingEmptySubsequences: false).count <= DigestTree.depth || path.isEmpty else {
            throw CentralError.badRequest("'path' has more than \(DigestTree.depth) levels")
        }
        let turn = await Turn(of: office.rawValue, in: endpoint.reading)
        let store = endpoint.store
        let tree = try await digestTree(for: office, schema: Endpoint.schema(of: request))
        return try await endpoint.answer(for: request, holding: turn) {
            DigestResponse(epoch: store.epoch, path: path, children: tree.children(of: path))
        }
    }

    @Sendable func nodes(_ request: Request, context: CentralRequestContext) async throws -> Response {
        let office = try await endpoint.authenticate(request, context)
        let turn = await Turn(of: office.rawValue, in: endpoint.reading)
        var request = request
        let wanted: DigestsRequest = try await endpoint.body(&request, .query) { try Endpoint.decode($0, fields: ["paths"]) }
        guard wanted.paths.count <= WireProtocol.maxPageSize else {
            throw CentralError.badRequest("at most \(WireProtocol.maxPageSize) paths per request")
        }
        for path in wanted.paths where path.split(separator: "/", omittingEmptySubsequences: false).count > DigestTree.depth {
            throw CentralError.badRequest("path '\(path)' has more than \(DigestTree.depth) levels")
        }
        let store = endpoint.store
        let tree = try await digestTree(for: office, schema: Endpoint.schema(of: request))
        // Each node once, on the store's thread pool: 600 copies of one crafted node of 10,000
        // rows in one body held a thread of every request for 30 s (round 20, A5).
        let paths = Set(wanted.paths)
        return try await endpoint.answer(for: request, holding: turn) {
            DigestsResponse(epoch: store.epoch, nodes: Dictionary(uniqueKeysWithValues: paths.map { ($0, tree.children(of: $0)) }))
        }
    }

    /// The office's tree, built by one request at a time: requests that come while it is built
    /// wait for that build instead of each building it on a thread of the pool (eight at once,
    /// after one push of the office's, took the pool from every other office for 15 s).
    private func digestTree(for office: OfficeCode, schema: Int?) async throws -> DigestTree {
        let store = endpoint.store
        let key = DigestCache.Key(office: office.rawValue, schema: DigestTree.columnSchema(schema))
        let (build, started) = store.digestCache.builds.withLock { builds in
            if let running = builds[key] { return (running, false) }
            let build = Task { [endpoint] in try await endpoint.offload { try store.digestTree(for: office, schema: key.schema) } }
            builds[key] = build
            return (build, true)
        }
        defer { if started { _ = store.digestCache.builds.withLock { $0.removeValue(forKey: key) } } }
        return try await build.value
    }
}
