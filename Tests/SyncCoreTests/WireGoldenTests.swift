import Foundation
import Testing
import WireFormat

@testable import SyncCore

/// The bodies of protocol version 1 as files (docs/PROTOCOL.md): `Golden/wire/push-v1.json`, with
/// its changeset hash computed by `wire_golden.py` with Python's own SHA-256 from the protocol
/// text, and `Golden/wire/pull-v1.json`, a page written by hand from the same text (a record of a
/// table of a later release included). Every later release reads both; the integration tests also
/// push the first to a live centre and apply the second to a replica (`WireGoldenLiveTests`).
@Suite struct WireGoldenTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/wire")

    static func file(_ name: String) throws -> Data { try Data(contentsOf: folder.appendingPathComponent(name)) }

    @Test func theVersionOnePushIsReadAndItsHashIsTheIndependentOne() throws {
        let body = try Self.file("push-v1.json")
        let request = try PushRequest(jsonData: body)
        #expect(request.protocolVersion == 1)
        let changeset = request.changeset
        #expect(changeset.office == OfficeCode(unchecked: "79") && changeset.sequence == ChangesetSequence(1))
        #expect(changeset.previousHash == Changeset.genesisHash)
        // The hash the file carries was computed by the script, not by this code.
        #expect(changeset.hash == "15ac94008f4fa7d7406217da0bd4e6453c4766e8fa3075d04f08e7b16b55c077")
        #expect(changeset.computeHash() == changeset.hash)
        try changeset.verifyHash()
        #expect(changeset.changes.map(\.table) == [.planLine, .project, .projectEvent])
        #expect(changeset.changes[0].fields["amount"] == .integer(12_000_000_000))
        #expect(changeset.changes[1].fields["approved_support"] == .null)
        #expect(changeset.changes[1].fields["beneficiary"] == .text("HTX Củ Chi"))
        #expect(changeset.changes[2].fields["note"] == .text("tạo dự án \"máy sấy\" \\ dòng 1\ndòng 2"))
        #expect(changeset.changes[2].hlc.description == "0000193000001-0001-79")
        #expect(changeset.changes.allSatisfy { $0.identityProblem(pushedBy: OfficeCode(unchecked: "79")) == nil })
        // Written again by this release and read back, it is the same changeset with the same hash.
        let again = try PushRequest(jsonData: request.jsonData())
        #expect(again.changeset.hash == changeset.hash && again.changeset.computeHash() == changeset.hash)
        #expect(again.changeset.changes.map(\.fields) == changeset.changes.map(\.fields))
    }

    @Test func theVersionOnePageIsRead() throws {
        let page = try PullResponse(jsonData: try Self.file("pull-v1.json"))
        #expect(page.epoch == Epoch("5cf106f0-5dc4-4c20-a87f-7d04d119e670"))
        #expect(page.nextCursor == PullCursor(55) && !page.hasMore)
        #expect(page.records.map(\.table) == ["plan_line", "project", "conflict", "province_total", "a_table_of_a_later_release", "plan_line"])
        #expect(page.records.map(\.cursor.rawValue) == [50, 51, 52, 53, 54, 55])
        #expect(page.records[1].fields["requested_support"] == .integer(720_000_000))
        #expect(page.records[2].fields["mine"] == .text(#"{"approved_support":250000000}"#))
        #expect(page.records[3].office == .central && page.records[3].fields["plan_amount"] == .integer(12_000_000_000))
        #expect(page.records[5].deleted && page.records[5].fields.isEmpty)
    }

    /// What the hash covers, and that a changed byte is caught: the golden body with one amount
    /// changed no longer matches its hash.
    @Test func aChangedAmountBreaksTheGoldenHash() throws {
        let text = String(decoding: try Self.file("push-v1.json"), as: UTF8.self)
        let tampered = text.replacingOccurrences(of: "12000000000", with: "12000000001")
        #expect(tampered != text)
        let request = try PushRequest(jsonData: Data(tampered.utf8))
        #expect(throws: SyncCoreError.self) { try request.changeset.verifyHash() }
    }
}
