import Foundation
import GzipCodec
import SyncCore
import SyncTesting
import Testing
import Transport

/// What each shipped release's offices said to their centre, and what it answered
/// (`Tests/Fixtures/release-X.Y.Z/wire.jsonl`, recorded by `scripts/wire-recorder.py` between that
/// release's own programs when it was cut), replayed byte for byte against this release's centre:
/// every request is answered with the same status, and every answer holds what the old centre
/// said (a later release may add members an old office ignores, never drop or change one). Only
/// what differs by nature from one centre to another is set aside: the epoch, and the centre's
/// cursor numbers, which the replay maps from the old centre's to this one's as it goes.
@Suite struct WireReplayTests {
    /// One recorded exchange, as `wire-recorder.py` writes it.
    struct Exchange: Decodable {
        let office: String?
        let method: String
        let path: String
        let headers: [String: String]
        let body: String
        let status: Int
        let responseBody: String

        enum CodingKeys: String, CodingKey {
            case office, method, path, headers, body, status
            case responseBody = "response_body"
        }
    }

    /// Members whose values belong to one centre and not to what was said.
    static let centreOwn: Set<String> = ["epoch", "cursor", "nextCursor"]

    static func exchanges(_ release: String) throws -> [Exchange] {
        let text = try String(contentsOfFile: ReleaseFixtures.path(release, "wire.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Exchange.self, from: Data($0.utf8)) }
    }

    /// An answer's JSON. The recorder kept bodies as they travelled; libcurl hands this centre's
    /// answers over already inflated, whatever their Content-Encoding says.
    static func json(_ body: Data) throws -> Any? {
        let plain = body.starts(with: [0x1f, 0x8b]) ? try Gzip.decompress(body, limit: 64 << 20) : body
        return plain.isEmpty ? nil : try JSONSerialization.jsonObject(with: plain, options: [.fragmentsAllowed])
    }

    /// Where `new` does not hold what `old` said, as a path into the answer; nil when it does.
    static func missing(in new: Any?, from old: Any?, at path: String = "") -> String? {
        switch (old, new) {
        case (nil, nil): return nil
        case (let old as [String: Any], let new as [String: Any]):
            for (key, value) in old.sorted(by: { $0.key < $1.key }) where !centreOwn.contains(key) {
                guard let other = new[key] else { return "\(path).\(key) is gone" }
                if let found = missing(in: other, from: value, at: "\(path).\(key)") { return found }
            }
            return nil
        case (let old as [Any], let new as [Any]):
            guard old.count == new.count else { return "\(path) holds \(new.count) items, not \(old.count)" }
            // Records are matched by what they are, not where they stand: the order of a page
            // follows the centre's cursors (1.1.0 published totals in another order than 1.2.0).
            if let old = keyedRecords(old), let new = keyedRecords(new) {
                for (key, value) in old.sorted(by: { $0.key < $1.key }) {
                    guard let other = new[key] else { return "\(path) lacks the record \(key)" }
                    if let found = missing(in: other, from: value, at: "\(path)[\(key)]") { return found }
                }
                return nil
            }
            for (index, pair) in zip(old, new).enumerated() {
                if let found = missing(in: pair.1, from: pair.0, at: "\(path)[\(index)]") { return found }
            }
            return nil
        case (let old as NSObject, let new as NSObject):
            return old == new ? nil : "\(path) is \(new), not \(old)"
        default:
            return "\(path) is \(String(describing: new)), not \(String(describing: old))"
        }
    }

    /// A page's records by table and id; nil for any other array.
    static func keyedRecords(_ items: [Any]) -> [String: Any]? {
        var keyed: [String: Any] = [:]
        for item in items {
            guard let record = item as? [String: Any], let table = record["table"] as? String, let id = record["id"] as? String else { return nil }
            keyed["\(table)/\(id)"] = record
        }
        return keyed.count == items.count && !items.isEmpty ? keyed : nil
    }

    @Test(arguments: [
        "release-1.1.0", "release-1.2.0", "release-1.3.0", "release-1.4.0", "release-1.4.1", "release-1.5.0", "release-1.5.1", "release-1.6.0", "release-1.6.1",
        "release-1.6.2", "release-1.6.3", "release-1.7.0", "release-1.8.0", "release-1.9.0",
    ])
    func aShippedReleaseIsAnsweredAsItsCentreAnsweredIt(release: String) async throws {
        let exchanges = try Self.exchanges(release)
        #expect(exchanges.count >= 10, "the recording of \(release) is too short to show anything")
        try await withLiveCentral { central in
            var tokens: [String: String] = [:]
            for office in Set(exchanges.compactMap(\.office)).sorted() { tokens[office] = try central.addOffice(office) }
            // The old centre's cursors, each mapped to where this centre stands for the same records.
            var cursors: [Int64: Int64] = [0: 0]
            var paths: Set<String> = []
            for (number, exchange) in exchanges.enumerated() {
                var path = exchange.path
                if var parts = URLComponents(string: path), var items = parts.queryItems,
                    let index = items.firstIndex(where: { $0.name == "after" }), let old = items[index].value.flatMap(Int64.init)
                {
                    let mapped = try #require(cursors[old], "exchange \(number) of \(release) pulls after a cursor no answer gave")
                    items[index].value = String(mapped)
                    parts.queryItems = items
                    path = try #require(parts.string)
                }
                var headers = exchange.headers.map { ($0.key, $0.value) }
                if let office = exchange.office { headers.append(("Authorization", "Bearer \(try #require(tokens[office]))")) }
                let body = try #require(Data(base64Encoded: exchange.body))
                let response = try await HTTPClient().send(
                    HTTPRequest(method: exchange.method, url: central.url + path, headers: headers, body: body.isEmpty ? nil : body))
                let what = "\(release), exchange \(number): \(exchange.method) \(exchange.path)"
                #expect(response.status == exchange.status, "\(what): \(String(decoding: response.body, as: UTF8.self))")
                let old = try Self.json(try #require(Data(base64Encoded: exchange.responseBody)))
                let new = try Self.json(response.body)
                if let difference = Self.missing(in: new, from: old) { Issue.record("\(what): \(difference)") }
                if let old = old as? [String: Any], let new = new as? [String: Any],
                    let before = (old["nextCursor"] as? NSNumber)?.int64Value, let now = (new["nextCursor"] as? NSNumber)?.int64Value
                {
                    cursors[before] = now
                }
                paths.insert(exchange.method + " " + (exchange.path.split(separator: "?").first.map(String.init) ?? ""))
            }
            // The recording covers the protocol's main exchanges, or it proves little.
            #expect(paths.isSuperset(of: ["POST /v1/changesets", "GET /v1/changes", "POST /v1/digests"]), "\(paths.sorted())")
        }
    }
}
