import Foundation
import GzipCodec
import SyncCore
import SyncTesting
import Testing
import WireFormat

@testable import Transport

@Suite struct GzipTests {
    @Test func roundTripsAndRefusesBombsAndDamage() throws {
        let text = Data(String(repeating: "{\"name\":\"Mô hình trình diễn\",\"amount\":500000000},", count: 2_000).utf8)
        let packed = Gzip.compress(text)
        #expect(packed.count < text.count / 10)
        #expect(packed.prefix(2) == Data([0x1F, 0x8B]))
        #expect(try Gzip.decompress(packed, limit: text.count) == text)
        #expect(throws: Gzip.Failure.tooLarge(limit: 1_000)) { try Gzip.decompress(packed, limit: 1_000) }
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(Data("not gzip".utf8), limit: 1_000) }
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(packed.prefix(packed.count / 2), limit: text.count) }
        // Bytes after the stream (a stored changeset body with something appended) are damage too.
        #expect(throws: Gzip.Failure.invalid("bytes follow the end of the gzip stream")) { try Gzip.decompress(packed + Data("x".utf8), limit: text.count) }
    }

    @Test func bodiesTravelCompressedBothWays() async throws {
        try await withLiveCentral { central in
            let token = try central.addOffice("79")
            let client = CentralClient(baseURL: central.url, token: token, http: HTTPClient())
            let changes = (0..<500).map { i in
                Change(
                    table: .planLine, id: RowID.make(), op: .upsert, hlc: HLCTimestamp(milliseconds: UInt64(i + 1), counter: 0, node: "79"),
                    fields: [
                        "office": .text("79"), "year": .integer(2025), "fund_source": .text("local"), "amount": .integer(Int64(i + 1)),
                        "note": .text("Kế hoạch khuyến công địa phương năm 2025"),
                    ])
            }
            let cs = Changeset(office: OfficeCode(unchecked: "79"), sequence: ChangesetSequence(1), previousHash: Changeset.genesisHash, changes: changes)
            let plain = try JSONEncoder().encode(PushRequest(changeset: cs)).count
            let pushed = try await client.push(cs)
            #expect(pushed.value.outcome == .applied)
            #expect(pushed.bytesSent < Int64(plain / 3), "sent \(pushed.bytesSent) of \(plain)")
            let page = try await client.pull(after: .start, limit: 5_000)
            let decoded = try JSONEncoder().encode(page.value).count
            #expect(page.value.records.count > 500)
            #expect(page.bytesReceived < Int64(decoded / 3), "received \(page.bytesReceived) of \(decoded)")
        }
    }

    @Test func badEncodingsAreRefused() async throws {
        try await withLiveCentral(configure: { $0.maxBodyBytes = 100_000 }) { central in
            let token = try central.addOffice("79")
            func post(_ body: Data, encoding: String) async throws -> Int {
                try await HTTPClient().send(
                    HTTPRequest(
                        method: "POST", url: central.url + "/v1/changesets",
                        headers: [
                            ("Authorization", "Bearer \(token)"), ("Content-Type", "application/json"), ("Content-Encoding", encoding),
                        ], body: body)
                ).status
            }
            #expect(try await post(Data("{}".utf8), encoding: "br") == 415)
            #expect(try await post(Data("{}".utf8), encoding: "gzip") == 400)
            // 10 MB of zeros in a few KB: refused once it passes the limit, never expanded in full.
            #expect(try await post(Gzip.compress(Data(count: 10_000_000)), encoding: "gzip") == 413)
        }
    }
}
