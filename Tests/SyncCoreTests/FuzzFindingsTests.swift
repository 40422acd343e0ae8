import CSVFormat
import ConfigFormat
import Foundation
import Testing
import WireFormat

@testable import SyncCore

/// Inputs that `make fuzz` found (docs/RELIABILITY.md, "Fuzzing"), each kept here as it broke a
/// property of a decoder, and in the seed corpus under Fuzz/corpus/.
@Suite struct FuzzFindingsTests {
    /// FuzzWire: the fast reader took `000…23389175` as a whole number, which JSON does not allow
    /// and the `Codable` form (Foundation's reader) refuses, so the two readers disagreed about
    /// what a valid changeset is. (Fuzz/corpus/wire/found-leading-zeros.json)
    @Test func wholeNumbersWithLeadingZerosAreRefused() throws {
        let found =
            #"{"changes":[{"fields":{"amount":0000000000023389175},"hlc":"0000000000001-ffff-79","#
            + #""id":"01a220b8-f6ba-7f3d-953c-42fbd3d0fb8d","op":"upsert","table":"plan_line"}],"hash":"h","office":"79","#
            + #""previousHash":"p","sequence":1}"#
        #expect(throws: (any Error).self) { try JSONDecoder().decode(Changeset.self, from: Data(found.utf8)) }
        let error = #expect(throws: SyncCoreError.self) { try Changeset(jsonData: Data(found.utf8)) }
        #expect(error?.message.contains("leading zero") == true)
        for bad in ["00", "01", "-01", "-00", "007"] {
            #expect(throws: SyncCoreError.self, "\(bad)") { try FieldCoding.decode(#"{"amount":\#(bad)}"#) }
        }
        // Zero itself, negative zero and numbers with zeros elsewhere are still whole numbers.
        #expect(try FieldCoding.decode(#"{"a":0,"b":-0,"c":100,"d":-10}"#) == ["a": .integer(0), "b": .integer(0), "c": .integer(100), "d": .integer(-10)])
    }

    /// FuzzWire: `\u` took its four digits through `UInt32(_:radix:)`, which also reads a sign, so
    /// `"\u+041"` was read as "A" and `"\u-000"` as NUL; JSON allows four hex digits only.
    /// (Fuzz/corpus/wire/found-sign-in-escape.json)
    @Test func unicodeEscapesTakeFourHexDigitsOnly() throws {
        for escape in [#"\u+041"#, #"\u-000"#, #"\u+0041"#, #"\u 041"#] {
            #expect(throws: SyncCoreError.self, "\(escape)") { try FieldCoding.decode(#"{"note":"\#(escape)"}"#) }
            #expect(throws: (any Error).self) { try JSONDecoder().decode([String: String].self, from: Data(#"{"note":"\#(escape)"}"#.utf8)) }
        }
        #expect(try FieldCoding.decode(#"{"note":"\u0041\u00e9\uD83C\uDF3E"}"#) == ["note": .text("Aé🌾")])
    }

    /// FuzzCSV: a record of one empty quoted field (`""`) was written back by `CSV.line` as an
    /// empty line, which reads as no record at all. (Fuzz/corpus/csv/found-lone-empty-field.csv)
    @Test func aLoneEmptyFieldIsWrittenSoThatItReadsBack() throws {
        let found = "\"\"\n\"\",\"\"\n\r\r\n"
        let records = try CSV.parse(found).map(\.fields)
        #expect(records == [[""], ["", ""]])
        let written = records.map(CSV.line).joined(separator: "\n")
        #expect(try CSV.parse(written).map(\.fields) == records)
        #expect(CSV.line([""]) == "\"\"")
        #expect(CSV.line(["", ""]) == ",")
    }

    /// FuzzCSV: a field that is a byte-order mark (`"\u{FEFF}"`, quoted) was written unquoted; at
    /// the start of a file `parse` takes it for the file's byte-order mark and drops it, so the
    /// record was lost. (Fuzz/corpus/csv/found-quoted-bom.csv)
    @Test func aFieldStartingWithAByteOrderMarkIsWrittenSoThatItReadsBack() throws {
        let found = "\"\u{FEFF}\""
        let records = try CSV.parse(found).map(\.fields)
        #expect(records == [["\u{FEFF}"]])
        #expect(try CSV.parse(records.map(CSV.line).joined(separator: "\n")).map(\.fields) == records)
        #expect(try CSV.parse(CSV.line(["\u{FEFF}x", "y"])).map(\.fields) == [["\u{FEFF}x", "y"]])
        // The file's own byte-order mark is still dropped.
        #expect(try CSV.parse("\u{FEFF}a,b\n").map(\.fields) == [["a", "b"]])
    }

    /// FuzzCSV: `escape` looked for line breaks by Character, and "\r\n" is one Character, equal to
    /// neither "\r" nor "\n": a field holding a CRLF line break (a note typed on Windows, imported
    /// from a quoted cell) was written unquoted, and the export read back as two records.
    /// (Fuzz/corpus/csv/found-crlf-in-quoted-field.csv)
    @Test func aFieldWithACRLFLineBreakIsQuoted() throws {
        let found = "\"\"\n\"\",\r\"\r\n\"\n"
        let records = try CSV.parse(found).map(\.fields)
        #expect(records == [[""], ["", ""], ["\r\n"]])
        #expect(try CSV.parse(records.map(CSV.line).joined(separator: "\n")).map(\.fields) == records)
        #expect(CSV.escape("two\r\nlines") == "\"two\r\nlines\"")
        #expect(try CSV.parse(CSV.line([.text("Ghi chú\r\ndòng 2"), .integer(5)])).map(\.fields) == [["Ghi chú\r\ndòng 2", "5"]])
    }

    /// FuzzCSV: `escape` doubled quotes with `replacingOccurrences`, which matches Characters: a
    /// quote followed by a combining mark (here U+059F) is one Character, not a quote, so it was not
    /// doubled and the written field could not be read back.
    /// (Fuzz/corpus/csv/found-quote-before-combining-mark.csv)
    @Test func aQuoteBeforeACombiningMarkIsDoubled() throws {
        var found = Data([0x22, 0xF3, 0xD6, 0x9F, 0x9E, 0x92, 0x90, 0x8A, 0x22, 0x22, 0xD6, 0x9F, 0x22, 0x0A, 0x0A, 0x2C])
        found.append(contentsOf: [0x22, 0x2B, 0x22, 0x0A, 0x01, 0x00, 0x00, 0x62, 0xFF, 0x9D, 0x0A])
        let records = try CSV.parse(String(decoding: found, as: UTF8.self)).map(\.fields)
        #expect(records.count == 3)
        #expect(try CSV.parse(records.map(CSV.line).joined(separator: "\n")).map(\.fields) == records)
        #expect(CSV.escape("say \"\u{301}hi\"") == "\"say \"\"\u{301}hi\"\"\"")
        #expect(try CSV.parse(CSV.line(["a\"\u{301}", "b"])).map(\.fields) == [["a\"\u{301}", "b"]])
    }

    /// FuzzConfig: `split(separator: "\n")` splits on Characters, and "\r\n" is one Character, so a
    /// file saved with Windows line ends was one line: a first line that is a comment made the
    /// whole file a comment, read without an error as "every setting at its default".
    /// (Fuzz/corpus/config/found-crlf-comment-first.toml)
    @Test func aFileWithCRLFLineEndsReadsLikeTheSameFileWithLF() throws {
        let lf = "# promo-central configuration\n[server]\nport = 9443\nhost = \"0.0.0.0\" # all\n\n[store]\nbackup_keep = 7\n"
        let crlf = lf.replacingOccurrences(of: "\n", with: "\r\n")
        let document = try ConfigDocument(parsing: crlf)
        #expect(document == (try ConfigDocument(parsing: lf)))
        #expect(document.entries["server.port"]?.value == .integer(9443))
        #expect(document.entries["store.backup_keep"]?.line == 7)
        // A problem is reported on its own line, not on line 1.
        let error = #expect(throws: ConfigDocument.ParseError.self) { try ConfigDocument(parsing: "[server]\r\nport = 1\r\nport\r\n") }
        #expect(error?.line == 3)
    }
}
