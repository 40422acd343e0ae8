import Foundation
import GzipCodec
import SyncCore
import SyncTesting
import Testing
import WireFormat

@testable import Central
@testable import Transport

#if canImport(Glibc)
    import Glibc
#endif

/// Hostile bodies and callers get a 4xx on every route, at once (docs/SECURITY.md, limits).
@Suite struct HostileRequestTests {
    static func post(_ central: LiveCentral, _ path: String, token: String?, body: Data, headers: [(String, String)] = []) async throws -> HTTPResponse {
        var all = headers + [("Content-Type", "application/json")]
        if let token { all.append(("Authorization", "Bearer \(token)")) }
        return try await HTTPClient().send(HTTPRequest(method: "POST", url: central.url + path, headers: all, body: body))
    }

    static func code(_ response: HTTPResponse) -> String? {
        (try? JSONDecoder().decode(ErrorResponse.self, from: response.body))?.error.code
    }

    @Test func anOversizedBodyIsRefusedWith413OnEveryRoute() async throws {
        try await withLiveCentral(configure: { $0.maxBodyBytes = 4_096 }) { central in
            let token = try central.addOffice("79")
            let big = Data(repeating: 0x20, count: 200_000)
            for path in ["/v1/changesets", "/v1/records", "/v1/digests"] {
                // Declared by Content-Length, and streamed without one (chunked).
                for headers in [[], [("Transfer-Encoding", "chunked")]] {
                    let response = try await Self.post(central, path, token: token, body: big, headers: headers)
                    #expect(response.status == 413 && Self.code(response) == "body_too_large", "\(path) \(headers): \(response.status)")
                }
            }
            // A gzip body that inflates past the limit.
            let bomb = Gzip.compress(Data(repeating: 0x20, count: 1_000_000))
            #expect(bomb.count < 4_096)
            let response = try await Self.post(central, "/v1/records", token: token, body: bomb, headers: [("Content-Encoding", "gzip")])
            #expect(response.status == 413 && Self.code(response) == "body_too_large")
        }
    }

    /// A request that names rows or tree nodes has a bound of its own, far under a push's: four
    /// bodies of 32 KB that inflated to 32 MB of ids, inflated and parsed on the threads that run
    /// every request, held office 80's pushes for 49 s (round 18, E1). An office's queries take
    /// turns: the ones sent beside a running one wait for it and are answered.
    @Test func aQueryBodyIsBoundedByWhatItMayAskAndAnOfficesQueriesTakeTurns() async throws {
        try await withLiveCentral { central in
            let token = try central.addOffice("79")
            let ids = "[" + String(repeating: #""a","#, count: 8_000_000) + #""a"]"#
            for (path, body) in [("/v1/records", #"{"table":"project","ids":\#(ids)}"#), ("/v1/digests", #"{"paths":\#(ids)}"#)] {
                let bomb = Gzip.compress(Data(body.utf8))
                #expect(bomb.count < 100_000 && body.utf8.count > 30_000_000)
                let inflated = try await Self.post(central, path, token: token, body: bomb, headers: [("Content-Encoding", "gzip")])
                let message = (try? JSONDecoder().decode(ErrorResponse.self, from: inflated.body))?.error.message ?? ""
                #expect(inflated.status == 413 && message == "the body decompresses to more than \(Endpoint.maxQueryBodyBytes) bytes", "\(path): \(message)")
                let plain = try await Self.post(central, path, token: token, body: Data(body.utf8.prefix(2_000_000)))
                #expect(plain.status == 413 && Self.code(plain) == "body_too_large", "\(path): \(plain.status)")
            }
            // The largest honest query, 5,000 ids, is answered; so are four sent at once, and an
            // office's reads of every route at once (they take turns, one at a time).
            let wanted = try JSONEncoder().encode(RecordsRequest(table: .project, ids: (0..<WireProtocol.maxPageSize).map { _ in RowID.make().rawValue }))
            #expect(wanted.count > 150_000 && wanted.count < Endpoint.maxQueryBodyBytes)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 { group.addTask { try await Self.post(central, "/v1/records", token: token, body: wanted).status } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses == [200, 200, 200, 200])
            let client = CentralClient(baseURL: central.url, token: token, http: HTTPClient())
            let reads = try await withThrowingTaskGroup(of: String.self) { group in
                group.addTask {
                    _ = try await client.pull(after: .start, limit: 10)
                    return "pull"
                }
                group.addTask {
                    _ = try await client.records(table: .project, ids: [RowID.make().rawValue])
                    return "records"
                }
                group.addTask {
                    _ = try await client.digests(paths: ["", ""])
                    return "digests"
                }
                group.addTask {
                    _ = try await client.digest(path: "")
                    return "digest"
                }
                group.addTask {
                    _ = try await client.ownChangesets(after: ChangesetSequence(0))
                    return "changesets"
                }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(reads == ["pull", "records", "digests", "digest", "changesets"])
        }
    }

    @Test func anUnknownMemberIsA400OnEveryRoute() async throws {
        try await withLiveCentral { central in
            let token = try central.addOffice("79")
            let cases = [
                ("/v1/records", #"{"table":"project","ids":[],"colour":"red"}"#),
                ("/v1/digests", #"{"paths":[""],"extra":1}"#),
            ]
            for (path, body) in cases {
                let response = try await Self.post(central, path, token: token, body: Data(body.utf8))
                #expect(response.status == 400 && Self.code(response) == "bad_request")
                let message = (try? JSONDecoder().decode(ErrorResponse.self, from: response.body))?.error.message ?? ""
                #expect(message.contains("unknown member"), "\(path): \(message)")
            }
            // The same bodies without the stranger are answered.
            let fine = try await Self.post(central, "/v1/records", token: token, body: Data(#"{"table":"project","ids":[]}"#.utf8))
            #expect(fine.status == 200)
        }
    }

    /// Requests without a valid token are limited per source address, so guessing tokens or
    /// hammering the open routes is slowed, while an office with its token is served as before.
    @Test func requestsWithoutAValidTokenAreRateLimitedPerAddress() async throws {
        try await withLiveCentral(configure: { c in
            c.rateLimitPerSecond = 0.01
            c.rateLimitBurst = 3
        }) { central in
            let token = try central.addOffice("79")
            var statuses: [Int] = []
            for _ in 0..<5 {
                let response = try await HTTPClient().send(
                    HTTPRequest(method: "GET", url: central.url + "/v1/office", headers: [("Authorization", "Bearer guess")]))
                statuses.append(response.status)
            }
            #expect(statuses == [401, 401, 401, 429, 429])
            let health = try await HTTPClient().send(HTTPRequest(method: "GET", url: central.url + "/health"))
            #expect(health.status == 429 && Self.code(health) == "rate_limited")
            let office = try await CentralClient(baseURL: central.url, token: token, http: HTTPClient()).officeState()
            #expect(office.lastSequence == ChangesetSequence(0))
        }
    }

    /// A pulled page ends past 4 MiB of records, and an office's pulls take turns, each page
    /// handed to its connection before the next is built: 31 MB pages pulled again and again and
    /// never read took the centre's memory up by 465 MB a second (round 19, E2). Pages of large
    /// rows still bring every row, in more pages; pulls sent at once are all answered.
    @Test func aPageEndsPastFourMegabytesAndAnOfficesPullsTakeTurns() async throws {
        try await withLiveCentral { central in
            let client = CentralClient(baseURL: central.url, token: try central.addOffice("79"), http: HTTPClient())
            let long = String(repeating: "ệ", count: ValueRules.maxLongText)
            let projects = (0..<400).map { _ in
                var project = TrustBoundaryTests.project()
                project.fields["name"] = .text(long)
                project.fields["beneficiary"] = .text(long)
                return project
            }
            _ = try await client.push(
                Changeset(office: OfficeCode(unchecked: "79"), sequence: ChangesetSequence(1), previousHash: Changeset.genesisHash, changes: projects))
            var cursor = PullCursor.start
            var pages: [Int] = []
            var pulled: Set<String> = []
            while true {
                let page = try await client.pull(after: cursor, limit: WireProtocol.maxPageSize).value
                pages.append(page.records.count)
                pulled.formUnion(page.records.filter { $0.table == "project" }.map(\.id))
                cursor = page.nextCursor
                if !page.hasMore { break }
            }
            #expect(pulled.count == 400)
            // About 12.5 KB a row: a page holds some 340 of them.
            #expect(pages.count >= 2 && pages[0] < 400 && pages[0] * 12_000 > CentralStore.pageBytes, "\(pages)")
            // Three, not more: each waits for the pages before it, and a debug build on a loaded
            // machine took over libcurl's 30 s for the sixth.
            let answered = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<3 { group.addTask { try await client.pull(after: .start, limit: WireProtocol.maxPageSize).value.records.count } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answered == Array(repeating: pages[0], count: 3))
        }
    }

    /// Connections from one address are bounded (`limits.connections_per_address`): idle
    /// connections, asking nothing and re-opened as the idle timeout closed them, held every file
    /// descriptor of the centre and no office could connect (round 19). One past the bound is
    /// closed at once; once one closes, the address is served again.
    @Test func connectionsFromOneAddressAreBounded() async throws {
        try await withLiveCentral(configure: { $0.connectionsPerAddress = 8 }) { central in
            let health = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            var held = try (0..<8).map { _ in try RawHTTPConnection(port: central.port) }
            // Each one held is served (so each is counted before the next is opened).
            for connection in held { #expect(try await connection.exchange(health).hasPrefix("HTTP/1.1 200")) }
            let extra = try RawHTTPConnection(port: central.port)
            await #expect(throws: POSIXError.self) { try await extra.exchange(health) }
            held.removeLast()
            var served = false
            for _ in 0..<100 where !served {
                served = (try? await RawHTTPConnection(port: central.port).exchange(health).hasPrefix("HTTP/1.1 200")) ?? false
                if !served { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(served)
            #expect(try await held[0].exchange(health).hasPrefix("HTTP/1.1 200"))
            // The operator sees it: counted, for offices behind one address that need a higher limit.
            let metrics = try await held[0].exchange("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            // (At least the one past the limit: a retry above may have come before a close was counted.)
            let refused = metrics.split(separator: "\n").first { $0.hasPrefix("promo_central_connections_refused_total ") }
            #expect(refused.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0 >= 1, "\(metrics)")
        }
    }

    /// A revoked token stops working on a connection that was opened (and used) before the
    /// revocation: authentication is per request, never per connection.
    @Test func aRevokedTokenStopsWorkingOnAnOpenConnection() async throws {
        try await withLiveCentral { central in
            let token = try central.addOffice("79")
            let connection = try RawHTTPConnection(port: central.port)
            let request = "GET /v1/office HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n\r\n"
            #expect(try await connection.exchange(request).hasPrefix("HTTP/1.1 200"))
            try central.store.revokeToken(OfficeCode(unchecked: "79"))
            #expect(try await connection.exchange(request).hasPrefix("HTTP/1.1 401"))
        }
    }
}

/// One keep-alive HTTP/1.1 connection on a plain socket, to send several requests on it.
final class RawHTTPConnection: Sendable {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        // Generous: a loaded machine running the whole suite may take many seconds to answer.
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Sends a request and reads one whole response (headers and a Content-Length body), on a
    /// thread of its own: the socket blocks, and a blocked thread of the tasks' pool is one fewer
    /// for the centre running in this process (two blocked, every test's centre stalled).
    func exchange(_ request: String) async throws -> String {
        try await onOwnThread { try self.exchangeBlocking(request) }
    }

    private func exchangeBlocking(_ request: String) throws -> String {
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while true {
            let text = String(decoding: received, as: UTF8.self)
            if let end = text.range(of: "\r\n\r\n") {
                let head = text[..<end.lowerBound].lowercased()
                let length =
                    head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                if received.count >= text.utf8.distance(from: text.startIndex, to: end.upperBound) + length { return text }
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { throw POSIXError(n == 0 ? .ECONNRESET : .ETIMEDOUT) }
            received.append(contentsOf: buffer[0..<n])
        }
    }
}
