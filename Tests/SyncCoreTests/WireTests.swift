import Foundation
import Testing
@testable import SyncCore

@Suite struct WireTests {
    func change(_ fields: [String: FieldValue], id: String = "01a220b8-f6ba-7f3d-953c-42fbd3d0fb8c") -> Change {
        Change(table: .project, id: RowID(unchecked: id), op: .upsert,
               hlc: HLCTimestamp(milliseconds: 1, counter: 0, node: "79"), fields: fields)
    }

    @Test func fieldValuesRoundTripWholeInt64AndRefuseFractions() throws {
        let values: [FieldValue] = [.integer(.max), .integer(.min), .integer(0), .text("Cà Mau"), .null]
        let data = try JSONEncoder().encode(values)
        #expect(try JSONDecoder().decode([FieldValue].self, from: data) == values)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([FieldValue].self, from: Data("[1.5]".utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([FieldValue].self, from: Data("[true]".utf8)) }
    }

    @Test func changesetHashCoversEveryFieldAndDetectsTampering() throws {
        let cs = Changeset(office: OfficeCode(unchecked: "79"), sequence: ChangesetSequence(1), previousHash: Changeset.genesisHash,
                           changes: [change(["name": .text("A"), "total_cost": .integer(100)])])
        try cs.verifyHash()
        var tampered = cs
        tampered.changes[0].fields["total_cost"] = .integer(101)
        #expect(throws: SyncCoreError.self) { try tampered.verifyHash() }
        // Survives a JSON round trip (the centre recomputes it from the decoded body).
        let decoded = try JSONDecoder().decode(Changeset.self, from: JSONEncoder().encode(cs))
        try decoded.verifyHash()
        #expect(decoded.hash == cs.hash)
    }

    @Test func canonicalFormCannotBeConfusedByCraftedStrings() {
        // Without length prefixes these two would serialise alike.
        let a = Changeset(office: OfficeCode(unchecked: "79"), sequence: ChangesetSequence(1), previousHash: "x",
                          changes: [change(["name": .text("a:b")])])
        let b = Changeset(office: OfficeCode(unchecked: "79"), sequence: ChangesetSequence(1), previousHash: "x",
                          changes: [change(["name": .text("a"), "code": .text("b")])])
        #expect(a.hash != b.hash)
    }

    @Test func validationNamesTheBadField() {
        let unknown = #expect(throws: SyncCoreError.self) { try change(["colour": .text("red")]).validate() }
        #expect(unknown?.message.contains("colour") == true)
        let wrongKind = #expect(throws: SyncCoreError.self) { try change(["total_cost": .text("many")]).validate() }
        #expect(wrongKind?.message.contains("total_cost") == true)
        let nullName = #expect(throws: SyncCoreError.self) { try change(["name": .null]).validate() }
        #expect(nullName?.message.contains("may not be null") == true)
        #expect(throws: Never.self) { try change(["approved_support": .null, "name": .text("ok")]).validate() }
    }
}
