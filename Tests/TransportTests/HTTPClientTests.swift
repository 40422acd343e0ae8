import Foundation
import SyncCore
import SyncTesting
import Testing

@testable import Transport

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP socket bound on 127.0.0.1 that listens but never answers: connections queue in the
/// backlog and the client waits until its timeout.
final class SilentListener: @unchecked Sendable {
    let fd: Int32
    let port: Int

    init(listen: Bool) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
        if listen { _ = Glibc.listen(fd, 8) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}

@Suite struct HTTPClientTests {
    /// Requests to the same centre share one connection (no new TCP or TLS handshake per request,
    /// which costs round trips on an office's slow link); one the centre closed is opened again.
    @Test func requestsReuseTheConnectionAndReconnectAfterTheCentreClosesIt() async throws {
        // An idle timeout long enough that a loaded machine does not end the connection between
        // two requests of the loop (3 s was not: the whole suite in parallel once took 31 s here).
        try await withLiveCentral(configure: { $0.idleTimeout = .seconds(8) }) { central in
            let client = HTTPClient()
            let health = HTTPRequest(method: "GET", url: central.url + "/health", headers: [], body: nil)
            let first = try await client.send(health)
            #expect(first.status == 200 && first.connectionsOpened == 1)
            for _ in 0..<3 {
                let again = try await client.send(health)
                #expect(again.status == 200 && again.connectionsOpened == 0)
            }
            // The centre drops the idle connection; the next request opens a new one and succeeds.
            try await Task.sleep(for: .milliseconds(9_500))
            let after = try await client.send(health)
            #expect(after.status == 200 && after.connectionsOpened == 1, "\(after.connectionsOpened)")
        }
    }

    /// A kept connection that the other side drops as the next request goes out (a proxy's idle
    /// cut, a restart): libcurl sends the request again on a new connection instead of failing.
    /// The server answers the first request of each connection and resets it on the second.
    @Test func aKeptConnectionDroppedUnderTheRequestIsRetriedOnANewOne() async throws {
        let server = try OneAnswerServer()
        let client = HTTPClient()
        let url = "http://127.0.0.1:\(server.port)/health"
        let first = try await client.send(HTTPRequest(method: "GET", url: url, headers: [], body: nil))
        #expect(first.status == 200 && first.connectionsOpened == 1)
        let second = try await client.send(HTTPRequest(method: "GET", url: url, headers: [], body: nil))
        #expect(second.status == 200 && second.connectionsOpened == 1)
        #expect(server.connections.value == 2)
    }

    @Test func refusedConnectionIsTransient() async throws {
        // Bound but not listening: the kernel refuses the connection.
        let closed = try SilentListener(listen: false)
        let client = HTTPClient()
        let error = await #expect(throws: TransportError.self) {
            try await client.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(closed.port)/health"))
        }
        #expect(error?.code == .couldNotConnect)
        #expect(error?.isTransient == true)
        #expect(error?.centralAnswered == false)
    }

    @Test func aCentreThatNeverAnswersTimesOut() async throws {
        let silent = try SilentListener(listen: true)
        var config = HTTPClientConfiguration()
        config.totalTimeout = .milliseconds(700)
        let error = await #expect(throws: TransportError.self) {
            try await HTTPClient(configuration: config).send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(silent.port)/health"))
        }
        #expect(error?.code == .timeout)
        #expect(error?.isTransient == true)
    }

    @Test func aMalformedURLIsPermanent() async throws {
        let error = await #expect(throws: TransportError.self) {
            try await HTTPClient().send(HTTPRequest(method: "GET", url: "htp:/nowhere"))
        }
        #expect(error?.isTransient == false)
    }

    @Test func healthAndErrorsFromARealCentral() async throws {
        try await withLiveCentral { central in
            let client = CentralClient(baseURL: central.url + "/", token: "not-a-token", http: HTTPClient())
            let health = try await client.health()
            #expect(health.status == "ok")
            #expect(health.epoch == central.store.epoch)

            let error = await #expect(throws: TransportError.self) { try await client.pull(after: .start, limit: 10) }
            #expect(error?.status == 401)
            #expect(error?.remoteCode == "unauthorized")
            #expect(error?.isTransient == false)
            #expect(error?.epoch == central.store.epoch)
            #expect(error?.hint?.contains("token file") == true)
        }
    }

    @Test func postsABodyAndReadsTheAnswer() async throws {
        try await withLiveCentral { central in
            let token = try central.addOffice("80")
            let client = CentralClient(baseURL: central.url, token: token, http: HTTPClient())
            let change = Change(
                table: .planLine, id: RowID.make(), op: .upsert, hlc: HLCTimestamp(milliseconds: 1, counter: 0, node: "80"),
                fields: [
                    "office": .text("80"), "year": .integer(2025), "fund_source": .text("local"),
                    "amount": .integer(9_000_000_000), "note": .text("Kế hoạch năm – Tây Ninh"),
                ])
            let cs = Changeset(office: OfficeCode(unchecked: "80"), sequence: ChangesetSequence(1), previousHash: Changeset.genesisHash, changes: [change])
            let pushed = try await client.push(cs)
            #expect(pushed.value.outcome == .applied)
            #expect(pushed.bytesSent > 0 && pushed.bytesReceived > 0)
            let page = try await client.pull(after: .start, limit: 5_000)
            let mine = page.value.records.filter { $0.table == "plan_line" }
            #expect(mine.count == 1)
            #expect(mine.first?.fields["note"] == .text("Kế hoạch năm – Tây Ninh"))
        }
    }
}

/// Answers the first request on each connection (keep-alive) and resets the connection, with an
/// RST, when a second request arrives on it.
final class OneAnswerServer: @unchecked Sendable {
    let listener: SilentListener
    var port: Int { listener.port }
    let connections = Counter()

    init() throws {
        listener = try SilentListener(listen: true)
        let fd = listener.fd
        let connections = self.connections
        Thread {
            while true {
                let client = accept(fd, nil, nil)
                guard client >= 0 else { return }
                connections.increment()
                Thread {
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    _ = read(client, &buffer, buffer.count)
                    let answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}"
                    _ = answer.withCString { write(client, $0, strlen($0)) }
                    _ = read(client, &buffer, buffer.count)
                    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                    _ = setsockopt(client, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                    close(client)
                }.start()
            }
        }.start()
    }
}
