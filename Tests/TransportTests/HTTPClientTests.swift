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
