import Foundation
import Testing
import WireFormat

@testable import SyncCore

@Suite struct WireTests {
    func change(_ fields: [String: FieldValue], id: String = "01a220b8-f6ba-7f3d-953c-42fbd3d0fb8c") -> Change {
        Change(
            table: .project, id: RowID(unchecked: id), op: .upsert,
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
        let cs = Changeset(
            office: OfficeCode(unchecked: "79"), sequence: ChangesetSequence(1), previousHash: Changeset.genesisHash,
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
        let a = Changeset(
            office: OfficeCode(unchecked: "79"), sequence: ChangesetSequence(1), previousHash: "x",
            changes: [change(["name": .text("a:b")])])
        let b = Changeset(
            office: OfficeCode(unchecked: "79"), sequence: ChangesetSequence(1), previousHash: "x",
            changes: [change(["name": .text("a"), "code": .text("b")])])
        #expect(a.hash != b.hash)
    }

    @Test func changesetHashesArePinned() throws {
        // Pinned: offices and centres of every version must agree on it (worked out independently
        // in Python from docs/PROTOCOL.md's description of the form).
        let pinned = Changeset(
            office: OfficeCode(unchecked: "79"), sequence: ChangesetSequence(7), previousHash: Changeset.genesisHash,
            changes: [
                Change(
                    table: .project, id: RowID(unchecked: "01a220b8-f6ba-7f3d-953c-42fbd3d0fb8c"), op: .upsert,
                    hlc: HLCTimestamp(milliseconds: 1, counter: 0, node: "79"),
                    fields: ["name": .text("Mô hình \"A\""), "total_cost": .integer(-100), "beneficiary": .null]),
                Change(
                    table: .project, id: RowID(unchecked: "01a220b8-f6ba-7f3d-953c-42fbd3d0fb8d"), op: .delete,
                    hlc: HLCTimestamp(milliseconds: 0x1_9ac0_f1a2, counter: 255, node: "79"), fields: [:]),
            ])
        #expect(pinned.hash == "55cf86fdea88ac3ed52dcd1684f0948361d09084a13fb492a516639cc718f7a3")
        // Larger ones, with non-ASCII text, negative amounts and nulls: pinned the same way.
        let pinnedBySize = [
            0: "1ea66ae9af0859295a19ee5c41014f9e4fb21ccb16fa77e4f306d30176d09545",
            1: "d84886805542cad9bde181378f00eaabf25ea60a64dd09b3ff58b6fec5009ef4",
            30: "74e5a4e3cfa44bfe9d5dd1d0cc6eabcf7c3392bd79f042c6182ab58245c1316e",
            1_000: "7917f563e8ef3a66d805663aaae70f2c012495e439aad317f17b7ebd37b4ad66",
        ]
        for (count, hash) in pinnedBySize {
            let changes = (0..<count).map { i in
                change(
                    [
                        "name": .text(String(repeating: "Đề án ", count: i % 40)), "total_cost": .integer(Int64(i) * 1_000_003 - 500_000_000),
                        "beneficiary": i % 2 == 0 ? .null : .text("HTX \(i)"),
                    ],
                    id: String(format: "01a220b8-f6ba-7f3d-953c-%012x", i))
            }
            let cs = Changeset(office: OfficeCode(unchecked: "80"), sequence: ChangesetSequence(Int64(count + 1)), previousHash: "p", changes: changes)
            #expect(cs.hash == hash, "\(count) changes")
        }
    }

    @Test func validationNamesTheBadField() {
        let unknown = #expect(throws: SyncCoreError.self) { try change(["colour": .text("red")]).validate() }
        #expect(unknown?.message.contains("colour") == true)
        let wrongKind = #expect(throws: SyncCoreError.self) { try change(["total_cost": .text("many")]).validate() }
        #expect(wrongKind?.message.contains("total_cost") == true)
        let nullName = #expect(throws: SyncCoreError.self) { try change(["name": .null]).validate() }
        #expect(nullName?.message.contains("may not be null") == true)
        #expect(throws: Never.self) { try change(["approved_support": .null, "name": .text("ok")]).validate() }
        let status = #expect(throws: SyncCoreError.self) { try change(["status": .text("paid_out")]).validate() }
        #expect(status?.message.contains("status 'paid_out' is not one of draft,") == true)
        // Text is bounded in characters, and in bytes: one character may carry any number of marks.
        let marks = "a" + String(repeating: "\u{0301}", count: 20_000)
        #expect(marks.count == 1)
        let heavy = #expect(throws: SyncCoreError.self) { try change(["name": .text(marks)]).validate() }
        #expect(heavy?.message.contains("name takes 40001 bytes of UTF-8; at most 32000 are allowed") == true)
        // Vietnamese decomposed into a letter and two marks (5 bytes) at the longest length is kept.
        let decomposed = String(repeating: "e\u{0302}\u{0301}", count: ValueRules.maxLongText)
        #expect(decomposed.count == ValueRules.maxLongText)
        #expect(throws: Never.self) { try change(["name": .text(decomposed)]).validate() }
    }

    @Test func pullPagesReadTheSameFromTheWriterAndFromCodable() throws {
        let records = [
            PulledRecord(
                cursor: PullCursor(7), table: "project", id: "01a220b8-f6ba-7f3d-953c-42fbd3d0fb8c", office: OfficeCode(unchecked: "79"),
                deleted: false, fields: ["name": .text("Máy sấy \"nông sản\"\n"), "total_cost": .integer(Int64.max), "beneficiary": .null]),
            PulledRecord(cursor: PullCursor(9), table: "province_total", id: "79/\"2025\"\\local\u{1}\t", office: .central, deleted: true, fields: [:]),
        ]
        let page = PullResponse(epoch: Epoch("e-1"), records: records, nextCursor: PullCursor(9), hasMore: true)
        var writer = PullPageWriter()
        for r in records {
            writer.append(
                cursor: r.cursor.rawValue, table: r.table, id: r.id, office: r.office.rawValue, deleted: r.deleted,
                fieldsJSON: FieldCoding.encode(r.fields))
        }
        #expect(try PullResponse(jsonData: writer.finish(epoch: page.epoch, nextCursor: 9, hasMore: true)) == page)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted]  // whitespace anywhere is fine
        #expect(try PullResponse(jsonData: try encoder.encode(page)) == page)
        #expect(try PullResponse(jsonData: Data(#"{"records":[],"epoch":"e","hasMore":false,"nextCursor":0}"#.utf8)).records.isEmpty)
        // Records of different tables in one page: names reused by position only when they match.
        let mixed = try PullResponse(
            jsonData: Data(
                ("{\"records\":["
                    + #"{"cursor":1,"deleted":false,"fields":{"amount":5,"note":"x"},"id":"a","office":"79","table":"plan_line"},"#
                    + #"{"cursor":2,"deleted":false,"fields":{"amounts":6,"note":null,"year":2025},"id":"b","office":"79","table":"plan_line"},"#
                    + #"{"cursor":3,"deleted":false,"fields":{"amount":7},"id":"c","office":"79","table":"plan_line"}"#
                    + #"],"epoch":"e","hasMore":false,"nextCursor":3}"#).utf8))
        #expect(
            mixed.records.map(\.fields) == [
                ["amount": .integer(5), "note": .text("x")],
                ["amounts": .integer(6), "note": .null, "year": .integer(2025)],
                ["amount": .integer(7)],
            ])
    }

    @Test func pullPagesRefuseWhatTheProtocolDoesNotDefine() {
        let record = #"{"cursor":1,"deleted":false,"fields":{"amount":5},"id":"x","office":"79","table":"plan_line"}"#
        func page(_ records: String, tail: String = #","epoch":"e","hasMore":false,"nextCursor":1}"#) -> Data {
            Data(("{\"records\":[" + records + "]" + tail).utf8)
        }
        #expect(throws: Never.self) { try PullResponse(jsonData: page(record)) }
        let cases: [(Data, String)] = [
            (page(record.replacingOccurrences(of: #""office":"79","#, with: "")), "page.records[0].office must be a string"),
            (page(record + "," + record.replacingOccurrences(of: #""cursor":1"#, with: #""cursor":"1""#)), "page.records[1].cursor must be a whole number"),
            (page(record.replacingOccurrences(of: #""id":"x""#, with: #""id":"x","extra":1"#)), "page.records[0] has an unknown member 'extra'"),
            (page(record.replacingOccurrences(of: #""id":"x""#, with: #""id":"x","id":"y""#)), "a repeated member 'id'"),
            (page(record.replacingOccurrences(of: #"{"amount":5}"#, with: #"{"amount":1.5}"#)), "not whole"),
            (
                page(record.replacingOccurrences(of: #"{"amount":5}"#, with: #"{"amount":true}"#)),
                "page.records[0].fields.amount must be null, a whole number or a string"
            ),
            (page(record.replacingOccurrences(of: #"{"amount":5}"#, with: #"{"amount":5,"amount":6}"#)), "a repeated member 'amount'"),
            (page(record, tail: #","epoch":"e","hasMore":false}"#), "page.nextCursor must be a whole number"),
            (page(record, tail: #","epoch":"e","hasMore":false,"nextCursor":1,"more":2}"#), "page has an unknown member 'more'"),
            (page(record, tail: #","epoch":"e","hasMore":false,"nextCursor":1} x"#), "text after the JSON value"),
            (page(record, tail: #","epoch":"e","hasMore":false,"nextCursor":1"#), "unterminated object"),
            (Data(#"{"records":{},"epoch":"e","hasMore":false,"nextCursor":1}"#.utf8), "page.records must be an array"),
            // Field names repeat from record to record and are reused by their bytes; an escaped
            // name is never matched by bytes, so a raw control character after it is still refused.
            (
                page(
                    record.replacingOccurrences(of: #"{"amount":5}"#, with: #"{"a\u0001":5}"#) + ","
                        + record.replacingOccurrences(of: #"{"amount":5}"#, with: "{\"a\u{1}\":5}")), "a control character in a string"
            ),
            (page(record + "," + record.replacingOccurrences(of: #"{"amount":5}"#, with: #"{"amount":5,"amount":6}"#)), "a repeated member 'amount'"),
            (Data(#"{"epoch":"e","hasMore":false,"nextCursor":1}"#.utf8), "page.records must be present"),
            // Broken syntax, each named with the byte where reading stopped.
            (page(record.replacingOccurrences(of: #"{"amount":5}"#, with: #"{"amount":5 "note":null}"#)), "expected ',' or '}' at byte"),
            (page(record + " " + record), "expected ',' or ']' at byte"),
            (page(record.replacingOccurrences(of: #"{"amount":5}"#, with: #"{"amount":@}"#)), "an unexpected character at byte"),
            (page(record.replacingOccurrences(of: #"{"amount":5}"#, with: #"{"amount":"\u12"}"#)), "an invalid \\u escape"),
            (page(record.replacingOccurrences(of: #"{"amount":5}"#, with: #"{"amount":nul}"#)), "a bad literal"),
            (
                page(
                    record.replacingOccurrences(
                        of: #"{"amount":5}"#, with: #"{"amount":"# + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "}")),
                "nesting deeper than 32"
            ),
        ]
        // Bytes that are not UTF-8, in a value and in a name (plain ASCII skips the validation
        // pass, anything above 0x7F takes it).
        var badValue = page(record.replacingOccurrences(of: #""id":"x""#, with: #""id":"x#""#))
        badValue.insert(0xFF, at: badValue.firstRange(of: Data("x#".utf8))!.upperBound - 1)
        var badName = page(record.replacingOccurrences(of: #"{"amount":5}"#, with: #"{"am#ount":5}"#))
        badName.replaceSubrange(badName.firstRange(of: Data("#".utf8))!, with: [0xC3, 0x28])
        let bytes: [(Data, String)] = [(badValue, "not UTF-8"), (badName, "not UTF-8")]
        for (body, message) in cases + bytes {
            let error = #expect(throws: SyncCoreError.self) { try PullResponse(jsonData: body) }
            #expect(error?.message.contains(message) == true, "\(message) ← \(error?.message ?? "no error")")
        }
    }

    @Test func pushBodiesRoundTripAndRefuseWhatTheProtocolDoesNotDefine() throws {
        let changeset = Changeset(
            office: OfficeCode(unchecked: "79"), sequence: ChangesetSequence(3), previousHash: "p",
            changes: [change(["name": .text("Tên \"mới\""), "total_cost": .integer(5)]), change([:])])
        let request = PushRequest(protocolVersion: 1, changeset: changeset)
        let read = try PushRequest(jsonData: request.jsonData())
        #expect(read.changeset == changeset && read.changeset.hash == changeset.hash && read.protocolVersion == 1)
        #expect(try Changeset(jsonData: changeset.jsonData()) == changeset)
        #expect(try PushRequest(jsonData: try JSONEncoder().encode(request)).changeset == changeset)  // the Codable form reads the same

        let body = String(decoding: request.jsonData(), as: UTF8.self)
        let cases: [(String, String)] = [
            (body.replacingOccurrences(of: #""table":"project""#, with: #""table":"nope""#), "changeset.changes[0].table 'nope' is not a synced table"),
            (body.replacingOccurrences(of: #""op":"upsert""#, with: #""op":"merge""#), "changeset.changes[0].op must be upsert or delete"),
            (body.replacingOccurrences(of: #""sequence":3"#, with: #""sequence":3,"sequence":4"#), "a repeated member 'sequence'"),
            (body.replacingOccurrences(of: #""sequence":3"#, with: #""sequence":3,"extra":true"#), "changeset has an unknown member 'extra'"),
            (body.replacingOccurrences(of: #","protocolVersion":1"#, with: ""), "body.protocolVersion must be a whole number"),
            (
                body.replacingOccurrences(of: #""total_cost":5"#, with: #""total_cost":[5]"#),
                "changeset.changes[0].fields.total_cost must be null, a whole number or a string"
            ),
            (body + "x", "text after the JSON value"),
        ]
        for (text, message) in cases {
            let error = #expect(throws: SyncCoreError.self) { try PushRequest(jsonData: Data(text.utf8)) }
            #expect(error?.message.contains(message) == true, "\(message) ← \(error?.message ?? "no error")")
        }
    }
}
