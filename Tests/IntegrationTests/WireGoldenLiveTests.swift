import Foundation
import GRDB
import Replica
import SyncCore
import SyncTesting
import Testing
import Transport
import WireFormat

/// The golden bodies of protocol version 1 (Tests/SyncCoreTests/Golden/wire) against the real
/// parts: the centre accepts the push as an office of that version sends it, and a replica
/// applies the page as a centre of that version writes it.
@Suite struct WireGoldenLiveTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../SyncCoreTests/Golden/wire").standardized

    @Test func theCentreAcceptsTheGoldenPushOnceAndAnswersDuplicateAfter() async throws {
        try await withLiveCentral { central in
            let token = try central.addOffice("79")
            let body = try Data(contentsOf: Self.folder.appendingPathComponent("push-v1.json"))
            func push() async throws -> HTTPResponse {
                try await HTTPClient().send(
                    HTTPRequest(
                        method: "POST", url: central.url + "/v1/changesets",
                        headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")], body: body))
            }
            let first = try await push()
            #expect(first.status == 200, "\(String(decoding: first.body, as: UTF8.self))")
            let answer = try JSONSerialization.jsonObject(with: first.body) as? [String: Any]
            #expect(answer?["outcome"] as? String == "applied" && answer?["appliedChanges"] as? Int == 3)
            let again = try await push()
            #expect((try JSONSerialization.jsonObject(with: again.body) as? [String: Any])?["outcome"] as? String == "duplicate")
            let projects = try central.store.projects(office: "79")
            #expect(projects.map { $0.fields["code"] } == [.text("HCM-2025-01")])
            #expect(try central.store.conflicts().isEmpty)
        }
    }

    @Test func aReplicaAppliesTheGoldenPage() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "79", central: central)
            let page = try PullResponse(jsonData: try Data(contentsOf: Self.folder.appendingPathComponent("pull-v1.json")))
            _ = try office.replica.applyPulledPage(page)
            #expect(try office.replica.data.projects().map(\.code) == ["HCM-2025-01"])
            let (plan, conflicts, total) = try await office.replica.database.read { db in
                (
                    try Int64.fetchOne(db, sql: "SELECT sum(amount) FROM plan_line"),
                    try String.fetchAll(db, sql: "SELECT rule FROM conflict"),
                    try Int64.fetchOne(db, sql: "SELECT plan_amount FROM province_total WHERE province = '79' AND year = 2025")
                )
            }
            #expect(plan == 12_000_000_000)
            #expect(conflicts == ["ownership"])
            #expect(total == 12_000_000_000)
            #expect(try office.replica.syncPosition().cursor == PullCursor(55))
            #expect(try office.replica.pendingSummary().changes == 0)  // pulled rows are not captured
        }
    }
}
