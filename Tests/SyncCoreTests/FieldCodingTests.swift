import Foundation
import SyncCore
import Testing
import WireFormat

@Suite struct FieldCodingTests {
    static let samples: [[String: FieldValue]] = [
        [:],
        ["office": .text("79"), "amount": .integer(500_000_000), "note": .null],
        ["name": .text("Mô hình trình diễn \"máy sấy\" \\ 50/50\n\tdòng 2\u{01}"), "min": .integer(Int64.min), "max": .integer(Int64.max)],
        ["emoji": .text("🏭 xưởng"), "empty": .text("")],
    ]

    @Test func roundTripsAndAgreesWithFoundationsCoders() throws {
        for fields in Self.samples {
            let ours = FieldCoding.encode(fields)
            #expect(try FieldCoding.decode(ours) == fields)
            // Any JSON reader reads ours; we read what Foundation's writer made (escaped slashes included).
            #expect(try JSONDecoder().decode([String: FieldValue].self, from: Data(ours.utf8)) == fields)
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            let theirs = String(decoding: try encoder.encode(fields), as: UTF8.self)
            #expect(try FieldCoding.decode(theirs) == fields)
        }
        #expect(try FieldCoding.decode(#"{ "a" : "\u00e1\ud83c\udfed" , "b":-7 }"#) == ["a": .text("á🏭"), "b": .integer(-7)])
    }

    @Test func readsStoredFieldsIntoColumnOrder() throws {
        var values: [FieldValue] = [.text("left over from the row before")]
        let stored = FieldCoding.encode(["year": .integer(2025), "office": .text("79"), "amount": .integer(5), "surplus": .text("x")])
        try FieldCoding.decode(stored, columnsOf: .planLine, into: &values)
        // office, year, fund_source, amount, note: missing columns are null, unknown members skipped.
        #expect(values == [.text("79"), .integer(2025), .null, .integer(5), .null])
        for table in SyncedTable.allCases {
            for fields in Self.samples + [["office": .text("01"), "note": .text("ghi chú")]] {
                try FieldCoding.decode(FieldCoding.encode(fields), columnsOf: table, into: &values)
                #expect(values == table.columns.map { fields[$0.name] ?? .null })
            }
        }
        for bad in ["", "[]", #"{"year":1.5}"#, #"{"year":1,"year":2}"#, #"{"year":1}x"#] {
            #expect(throws: SyncCoreError.self, "\(bad)") { try FieldCoding.decode(bad, columnsOf: .planLine, into: &values) }
        }
    }

    @Test func refusesWhatIsNotAFlatObjectOfTheThreeKinds() {
        for bad in ["", "[]", #"{"a":1.5}"#, #"{"a":true}"#, #"{"a":{"b":1}}"#, #"{"a":"x"#, #"{"a":1}x"#, #"{"a":99999999999999999999}"#, #"{"a":"\q"}"#] {
            #expect(throws: SyncCoreError.self, "\(bad)") { try FieldCoding.decode(bad) }
        }
    }

    @Test func writesTheExactTextStoresCompareAgainst() {
        // Stored records are compared by their text: a change of spelling would republish them all.
        #expect(
            FieldCoding.encode(["b": .integer(Int64.min), "a": .text("x\"\\\n\r\t\u{1}\u{1F}é/"), "c": .null, "d": .integer(0)])
                == #"{"a":"x\"\\\n\r\t\u0001\u001fé/","b":-9223372036854775808,"c":null,"d":0}"#)
        let clock = HLCTimestamp(milliseconds: 0x19a_2b3c_4d5e, counter: 2, node: "79")
        #expect(
            FieldCoding.encode(clocks: ["name": clock, "amount": clock, "note": HLCTimestamp(milliseconds: 1, counter: 0, node: "central")])
                == #"{"amount":"0019a2b3c4d5e-0002-79","name":"0019a2b3c4d5e-0002-79","note":"0000000000001-0000-central"}"#)
        // A row whose fields share one clock (written by one change) stores it once.
        #expect(FieldCoding.encode(clocks: ["name": clock, "amount": clock]) == #""0019a2b3c4d5e-0002-79""#)
        #expect(FieldCoding.encode(clocks: [:]) == "{}")
    }

    @Test func clocksStoredByEarlierReleasesAreComparedInTheFormWrittenNow() {
        let clock = HLCTimestamp(milliseconds: 0x19a_2b3c_4d5e, counter: 2, node: "79")
        let other = HLCTimestamp(milliseconds: 1, counter: 0, node: "central")
        for clocks in [["name": clock, "amount": clock], ["name": clock], ["name": clock, "note": other], [:]] {
            #expect(FieldCoding.currentForm(ofClocks: FieldCoding.encodeEach(clocks: clocks)) == FieldCoding.encode(clocks: clocks), "\(clocks)")
            #expect(FieldCoding.currentForm(ofClocks: FieldCoding.encode(clocks: clocks)) == FieldCoding.encode(clocks: clocks), "\(clocks)")
        }
        // Not clocks: left as they are.
        for text in [#"{"a":1,"b":1}"#, "", "{", #""x""#] { #expect(FieldCoding.currentForm(ofClocks: text) == text) }
    }

    @Test func wholeNumbersAreReadToTheEdgesOfInt64AndNoFurther() throws {
        let read: [(String, Int64)] = [
            ("0", 0), ("-0", 0), ("7", 7), ("-7", -7), ("9223372036854775807", .max),
            ("-9223372036854775808", .min),
        ]
        for (text, value) in read {
            #expect(try FieldCoding.decode(#"{"a":\#(text)}"#) == ["a": .integer(value)], "\(text)")
        }
        // Leading zeros are not JSON (the Codable form refuses them; make fuzz found the difference).
        for bad in ["9223372036854775808", "-9223372036854775809", "18446744073709551616", "-", "-x", "--1", "0012"] {
            let error = #expect(throws: SyncCoreError.self, "\(bad)") { try FieldCoding.decode(#"{"a":\#(bad)}"#) }
            #expect(error?.message.contains("not valid JSON") == true, "\(bad): \(error?.message ?? "")")
        }
    }

    @Test func randomTextRoundTrips() throws {
        let seed = UInt64.random(in: 1...UInt64.max)
        var rng = SplitMix64(seed: seed)
        let alphabet = Array("aăâbcdđeêghiklmnoôơpqrstuưvxyáàảãạ \"\\/\n\t\u{0}\u{1F}🏭,:{}[]")
        for _ in 0..<500 {
            let text = String((0..<Int.random(in: 0...40, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            let fields: [String: FieldValue] = ["key " + text: .text(text), "n": .integer(Int64.random(in: .min ... .max, using: &rng))]
            #expect(try FieldCoding.decode(FieldCoding.encode(fields)) == fields, "seed \(seed)")
        }
    }
}
