import CSVFormat
import Testing

@testable import SyncCore

/// OWASP "CSV Injection": text an export writes must not be evaluated by a spreadsheet, and an
/// import must read it back exactly.
@Suite struct CSVFormulaTests {
    @Test(arguments: [
        "=HYPERLINK(\"http://x\",\"y\")", "+SUM(A1)", "-abc", "@SUM(1)", "\tnote", "\rnote", "=", "-", "-1+2", "-1.5",
        // What a spreadsheet may skip before the formula, and the full-width signs (round 12).
        " =x", "\n=HYPERLINK(\"http://x\")", "\u{0B}=1+8", "\u{0C}=1", "\u{A0}=1", "\u{200B}=1", "\u{FF1D}1+1", "\u{FF20}SUM(1)",
        "\u{200D}=1", "\u{AD}=1", "\u{200E}=1", "\u{FE66}1", "\u{2212}A1",
    ])
    func eachFormulaCharacterGetsTheQuoteAndComesBack(value: String) throws {
        #expect(CSV.textCell(value) == "'" + value)
        #expect(CSV.untextCell(CSV.textCell(value)) == value)
        // Written in a line (quoted where RFC 4180 needs it), parsed, and read back.
        let line = CSV.line([.text(value), .integer(1)])
        let fields = try #require(try CSV.parse(line + "\n").first).fields
        #expect(fields == ["'" + value, "1"])
        #expect(CSV.untextCell(fields[0]) == value)
    }

    @Test func aCarriageReturnOrQuoteInAnEscapedCellIsAlsoQuotedForTheFormat() {
        #expect(CSV.line([.text("\rx")]) == "\"'\rx\"")
        #expect(CSV.line([.text("=A1,\"b\"")]) == "\"'=A1,\"\"b\"\"\"")
    }

    @Test func numbersAreLeftAsNumbers() {
        // A number column, and text that is exactly a whole number, are not formulas.
        #expect(CSV.line([.integer(-250_000), .text("-5"), .text("-0012"), .integer(7), .empty, .text("")]) == "-250000,-5,-0012,7,,")
        #expect(CSV.textCell("-5") == "-5" && CSV.untextCell("-5") == "-5")
        // A quote before a whole number was typed that way: both directions keep it.
        #expect(CSV.textCell("'-5") == "'-5" && CSV.untextCell("'-5") == "'-5")
    }

    @Test(arguments: ["", "abc", "Dự án máy sấy", "'abc", "'", "''", "KB-79-0001", "2025-06-12", " x=", "a=b", " -5"])
    func otherTextIsUnchanged(value: String) {
        #expect(CSV.textCell(value) == value)
        #expect(CSV.untextCell(value) == value)
    }

    @Test func textThatAlreadyStartsWithTheQuoteKeepsIt() {
        #expect(CSV.textCell("'=x") == "''=x")
        #expect(CSV.untextCell("''=x") == "'=x")
        #expect(CSV.untextCell("'=x") == "=x")
    }

    /// Every string of up to five characters over an alphabet that has the quote, formula
    /// characters, digits and plain text: the import reads back exactly what the export wrote,
    /// and no two values are written the same way.
    @Test func everyShortValueRoundTrips() {
        let alphabet: [String] = ["'", "=", "-", "@", "\t", "1", "a"]
        var values: [String] = [""]
        var frontier: [String] = [""]
        for _ in 0..<5 {
            frontier = frontier.flatMap { prefix in alphabet.map { prefix + $0 } }
            values += frontier
        }
        var written: [String: String] = [:]
        for value in values {
            let cell = CSV.textCell(value)
            #expect(CSV.untextCell(cell) == value, "\(value.debugDescription) → \(cell.debugDescription)")
            if let other = written.updateValue(value, forKey: cell) {
                Issue.record("\(other.debugDescription) and \(value.debugDescription) are both written as \(cell.debugDescription)")
            }
            // Whatever is written does not start with a formula character unless it is a number.
            if let first = cell.unicodeScalars.first, CSV.formulaTriggers.contains(first) {
                #expect(first == "-" && cell.dropFirst().allSatisfy(\.isNumber) && cell.count > 1, "\(cell.debugDescription)")
            }
        }
        #expect(values.count == 19_608)
    }
}
