import Foundation
import GzipCodec
import SyncCore
import WireFormat

/// The office's view of promo-central's HTTP API (docs/PROTOCOL.md), over ``HTTPClient``.
public struct CentralClient: Sendable {
    /// The centre's URL without trailing slashes, e.g. `https://central.example.vn:8443`; request paths follow it.
    public let baseURL: String
    /// Where the bearer token comes from; asked again for every request that needs one.
    public let tokenSource: any TokenSource
    /// The client that carries the requests and keeps their connections.
    public let http: HTTPClient
    /// What this office runs, told to the centre with every request (``WireProtocol/softwareVersionHeader``).
    public let software: String
    /// The replica's schema version, when the caller knows it.
    public let schemaVersion: Int?
    /// What the office says of its sync health with each request (``OfficeReport``), when set.
    public var report: OfficeReport?

    /// A client of the centre at `baseURL` (trailing slashes dropped), saying it runs `software` with replica schema `schemaVersion`.
    public init(
        baseURL: String, tokenSource: any TokenSource, http: HTTPClient, software: String = SoftwareVersion.current,
        schemaVersion: Int? = nil
    ) {
        var url = baseURL
        while url.hasSuffix("/") { url.removeLast() }
        self.baseURL = url
        self.tokenSource = tokenSource
        self.http = http
        self.software = software
        self.schemaVersion = schemaVersion
    }

    /// A client with a fixed token, this release's version and no schema version.
    public init(baseURL: String, token: String, http: HTTPClient) {
        self.init(baseURL: baseURL, tokenSource: FixedToken(token), http: http)
    }

    /// Request bodies at least this large are sent gzip-compressed.
    public static let compressAbove = 1_024

    /// Bytes moved by the last calls, for metrics.
    public struct Exchange<T: Sendable>: Sendable {
        /// The decoded answer.
        public var value: T
        /// The centre's epoch from the `Promo-Epoch` header; nil when it sent none.
        public var epoch: Epoch?
        /// Bytes sent on the wire, after compression.
        public var bytesSent: Int64
        /// Bytes received on the wire, before decompression.
        public var bytesReceived: Int64
        /// What the centre holds of this office's chain, when it said (pull pages).
        public var officeSequence: ChangesetSequence? = nil
        /// The hash of that changeset, when the centre said (pull pages).
        public var officeHash: String? = nil
        /// The centre's clock, when it said (pull pages).
        public var centreClock: HLCTimestamp? = nil

        /// Creates an exchange from its parts.
        public init(
            value: T, epoch: Epoch?, bytesSent: Int64, bytesReceived: Int64, officeSequence: ChangesetSequence? = nil, officeHash: String? = nil,
            centreClock: HLCTimestamp? = nil
        ) {
            self.value = value
            self.epoch = epoch
            self.bytesSent = bytesSent
            self.bytesReceived = bytesReceived
            self.officeSequence = officeSequence
            self.officeHash = officeHash
            self.centreClock = centreClock
        }
    }

    /// `GET /health` (no token needed).
    public func health() async throws(TransportError) -> HealthResponse {
        try await call("GET", "/health", body: nil, authenticated: false).value
    }

    /// `POST /v1/changesets`.
    public func push(_ changeset: Changeset) async throws(TransportError) -> Exchange<PushResponse> {
        try await call("POST", "/v1/changesets", body: PushRequest(changeset: changeset).jsonData())
    }

    /// `GET /v1/changes?after=&limit=[&own_since=&own_through=]`.
    public func pull(after cursor: PullCursor, limit: Int, own: ClosedRange<Int64>? = nil) async throws(TransportError) -> Exchange<PullResponse> {
        let skip = own.map { "&own_since=\($0.lowerBound - 1)&own_through=\($0.upperBound)" } ?? ""
        return try await call("GET", "/v1/changes?after=\(cursor.rawValue)&limit=\(limit)" + skip, body: nil) { data throws(SyncCoreError) in
            try PullResponse(jsonData: data)
        }
    }

    /// `POST /v1/digests`: one tree level in one round trip.
    public func digests(paths: [String]) async throws(TransportError) -> Exchange<DigestsResponse> {
        let body: Data
        do { body = try JSONEncoder().encode(DigestsRequest(paths: paths)) } catch {
            throw TransportError(.invalidRequest, "could not encode a digest request: \(error)", transient: false)
        }
        return try await call("POST", "/v1/digests", body: body)
    }

    /// `GET /v1/digest?path=`.
    public func digest(path: String) async throws(TransportError) -> Exchange<DigestResponse> {
        let escaped = path.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? path
        return try await call("GET", "/v1/digest?path=\(escaped)", body: nil)
    }

    /// `POST /v1/records`.
    public func records(table: SyncedTable, ids: [String]) async throws(TransportError) -> Exchange<PullResponse> {
        let body: Data
        do { body = try JSONEncoder().encode(RecordsRequest(table: table, ids: ids)) } catch {
            throw TransportError(.invalidRequest, "could not encode a records request: \(error)", transient: false)
        }
        return try await call("POST", "/v1/records", body: body)
    }

    /// `GET /v1/changesets?after=N`: this office's own changesets the centre applied after N.
    public func ownChangesets(after sequence: ChangesetSequence) async throws(TransportError) -> OwnChangesetsResponse {
        try await call("GET", "/v1/changesets?after=\(sequence.rawValue)", body: nil).value
    }

    /// `GET /v1/office`.
    public func officeState() async throws(TransportError) -> OfficeStateResponse {
        try await call("GET", "/v1/office", body: nil).value
    }

    private func call<T: Decodable & Sendable>(
        _ method: String, _ path: String, body: Data?, authenticated: Bool = true,
        decode: ((Data) throws(SyncCoreError) -> T)? = nil
    ) async throws(TransportError) -> Exchange<T> {
        // Logged by the centre with its side of the request, and by the office with a failure.
        let requestID = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        do {
            return try await call(method, path, body: body, authenticated: authenticated, requestID: requestID, decode: decode)
        } catch {
            throw error.with(requestID: requestID)
        }
    }

    private func call<T: Decodable & Sendable>(
        _ method: String, _ path: String, body: Data?, authenticated: Bool, requestID: String,
        decode: ((Data) throws(SyncCoreError) -> T)?
    ) async throws(TransportError) -> Exchange<T> {
        var headers: [(String, String)] = [
            ("Accept", "application/json"), (WireProtocol.requestIDHeader, requestID),
            (WireProtocol.softwareVersionHeader, software),
            (WireProtocol.protocolVersionHeader, String(WireProtocol.version)),
        ]
        if let schemaVersion { headers.append((WireProtocol.schemaVersionHeader, String(schemaVersion))) }
        if let report { headers.append((WireProtocol.officeReportHeader, report.headerValue)) }
        if authenticated { headers.append(("Authorization", "Bearer \(try tokenSource.token())")) }
        var body = body
        if let plain = body {
            headers.append(("Content-Type", "application/json"))
            // Slow links pay per byte: bodies worth it travel gzip-compressed.
            if plain.count >= Self.compressAbove {
                body = Gzip.compress(plain)
                headers.append(("Content-Encoding", "gzip"))
            }
        }
        let response = try await http.send(HTTPRequest(method: method, url: baseURL + path, headers: headers, body: body))
        let epoch = response.headers[WireProtocol.epochHeader.lowercased()].map(Epoch.init)
        guard (200..<300).contains(response.status) else {
            throw Self.statusError(response, epoch: epoch, path: path)
        }
        do {
            let value = try decode.map { decode throws in try decode(response.body) } ?? JSONDecoder().decode(T.self, from: response.body)
            return Exchange(
                value: value, epoch: epoch, bytesSent: response.bytesSent, bytesReceived: response.bytesReceived,
                officeSequence: response.headers[WireProtocol.officeSequenceHeader.lowercased()].flatMap(Int64.init).map(ChangesetSequence.init),
                officeHash: response.headers[WireProtocol.officeHashHeader.lowercased()],
                centreClock: response.headers[WireProtocol.centreClockHeader.lowercased()].flatMap { try? HLCTimestamp(parsing: $0) })
        } catch {
            throw TransportError(
                .invalidResponse, "the centre's answer to \(method) \(path) is not what the protocol says: \(error)",
                hint: "Is the central URL pointing at promo-central of a compatible version?", transient: true,
                status: response.status, epoch: epoch)
        }
    }

    /// Turns an error status into a classified error, using the centre's own message when it sent one.
    static func statusError(_ response: HTTPResponse, epoch: Epoch?, path: String) -> TransportError {
        let remote = try? JSONDecoder().decode(ErrorResponse.self, from: response.body)
        let status = response.status
        let transient = status >= 500 || status == 429 || status == 408
        let message =
            remote.map { "the centre refused \(path) (\(status)): \($0.error.message)" }
            ?? "the centre answered \(path) with HTTP \(status)"
        // A refused token is the office operator's to fix, whatever the centre suggests to API users.
        var hint = status == 401 ? nil : remote?.error.hint
        if hint == nil {
            switch status {
            case 401:
                hint =
                    "The office token was refused (wrong, rotated or revoked): check the token file, or ask the centre for a new one (promo-central office rotate-token)."
            case 403: hint = "The centre does not allow this office to do that."
            case 404: hint = "Check the central URL: it should be the address of promo-central."
            case 413: hint = "The changeset is too large for the centre; lower the changeset size in the configuration."
            default: hint = transient ? "promo-sync retries by itself." : nil
            }
        }
        var error = TransportError(
            .httpStatus, message, hint: hint, transient: transient, status: status,
            remoteCode: remote?.error.code, epoch: epoch,
            remoteRow: remote.flatMap { r in r.error.table.flatMap(SyncedTable.init(rawValue:)).flatMap { t in r.error.id.map { SyncedRowKey(t, $0) } } })
        error.centreRelease = response.headers[WireProtocol.softwareVersionHeader.lowercased()]
        return error
    }
}
