import Foundation

/// RFC 4180 CSV: comma-separated, fields quoted with `"` when they hold commas, quotes or line
/// breaks, a quote inside a quoted field written twice. UTF-8 text; a leading byte-order mark is
/// ignored.
public enum CSV {
    /// A record with the line it starts on (1-based), for error messages.
    public struct Record: Sendable, Equatable {
        /// The line the record starts on (1-based).
        public var line: Int
        /// The record's fields in order, without their quotes.
        public var fields: [String]
    }

    /// Text that is not CSV, with the line where it goes wrong.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The line of the problem (1-based); for a quoted field left open, the line its record starts on.
        public var line: Int
        /// What is wrong, e.g. `a quoted field is not closed`.
        public var message: String
        /// `line N:` and the message.
        public var description: String { "line \(line): \(message)" }
    }

    /// Parses the whole text; blank lines are skipped.
    public static func parse(_ text: String) throws(ParseError) -> [Record] {
        var records: [Record] = []
        var fields: [String] = []
        var field = ""
        var line = 1
        var recordLine = 1
        var inQuotes = false
        var quotedField = false
        var chars = Array(text.unicodeScalars)
        if chars.first == "\u{FEFF}" { chars.removeFirst() }
        var i = 0
        func endRecord() {
            fields.append(field)
            if !(fields.count == 1 && fields[0].isEmpty && !quotedField) { records.append(Record(line: recordLine, fields: fields)) }
            fields = []
            field = ""
            quotedField = false
        }
        while i < chars.count {
            let c = chars[i]
            if inQuotes {
                if c == "\"" {
                    if i + 1 < chars.count && chars[i + 1] == "\"" {
                        field.unicodeScalars.append("\"")
                        i += 1
                    } else {
                        inQuotes = false
                    }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
            } else if c == "\"" {
                guard field.isEmpty else { throw ParseError(line: line, message: "a quote in the middle of an unquoted field") }
                inQuotes = true
                quotedField = true
            } else if c == "," {
                fields.append(field)
                field = ""
                quotedField = false
            } else if c == "\n" || c == "\r" {
                if c == "\r" && i + 1 < chars.count && chars[i + 1] == "\n" { i += 1 }
                endRecord()
                line += 1
                recordLine = line
            } else {
                if quotedField { throw ParseError(line: line, message: "text after the closing quote of a field") }
                field.unicodeScalars.append(c)
            }
            i += 1
        }
        if inQuotes { throw ParseError(line: recordLine, message: "a quoted field is not closed") }
        if !field.isEmpty || !fields.isEmpty || quotedField { endRecord() }
        return records
    }

    /// One field, quoted when it needs to be (also when it starts with a byte-order mark, which
    /// `parse` would drop at the start of a file).
    public static func escape(_ value: String) -> String {
        // By scalar, as `parse` reads: "\r\n" is one Character, equal to neither "\r" nor "\n".
        let scalars = value.unicodeScalars
        guard scalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) || scalars.first == "\u{FEFF}" else {
            return value
        }
        // Quotes doubled by scalar too: a quote followed by a combining mark is one Character.
        var quoted = String.UnicodeScalarView()
        quoted.append("\"")
        for scalar in scalars {
            if scalar == "\"" { quoted.append("\"") }
            quoted.append(scalar)
        }
        quoted.append("\"")
        return String(quoted)
    }

    /// One line of fields, each written as it is (a number, a code, a header). Text that people
    /// typed goes through ``textCell(_:)`` first, or use ``line(_:)``.
    public static func line(_ fields: [String]) -> String {
        // One empty field would be an empty line, which `parse` skips as blank: it is quoted.
        fields == [""] ? "\"\"" : fields.map(escape).joined(separator: ",")
    }

    // MARK: Formula injection (OWASP "CSV Injection")

    /// A cell of an exported line: text is protected from spreadsheet formulas, a number is not,
    /// so a negative amount stays a number a spreadsheet can add up.
    public enum Cell: Sendable, Equatable {
        /// Text a person typed (a name, a note, a voucher): escaped by ``textCell(_:)``.
        case text(String)
        /// A whole number, written in digits with an optional `-`.
        case integer(Int64)
        /// An absent value: an empty field.
        case empty
    }

    /// One line of cells: text escaped against formulas, numbers as they are, then every field
    /// quoted as RFC 4180 needs.
    public static func line(_ cells: [Cell]) -> String {
        line(
            cells.map { cell in
                switch cell {
                case .text(let value): textCell(value)
                case .integer(let value): String(value)
                case .empty: ""
                }
            })
    }

    /// The characters that make a spreadsheet (Excel, LibreOffice Calc, Google Sheets) read a
    /// cell as a formula, or that it strips before looking for one: `=`, `+`, `-`, `@`, tab and
    /// carriage return, and the full-width `＝`, `＋`, `－` and `＠`, the small `﹦`, `﹢` and `﹣`
    /// and the minus sign `−` that some spreadsheets fold into them.
    public static let formulaTriggers: Set<Unicode.Scalar> = [
        "=", "+", "-", "@", "\u{09}", "\u{0D}", "\u{FF1D}", "\u{FF0B}", "\u{FF0D}", "\u{FF20}", "\u{FE66}", "\u{FE62}", "\u{FE63}",
        "\u{2212}",
    ]

    /// Whether a spreadsheet may skip `scalar` at the start of a cell before it looks for a
    /// formula: white space, line breaks and other controls, the zero-width space and the other
    /// invisible format characters (joiners, direction marks, the soft hyphen): rounds 12 and 13
    /// sent cells starting with a line feed, a form feed, a no-break space or a joiner before `=`.
    static func isSkippedBeforeAFormula(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || [.control, .format].contains(scalar.properties.generalCategory)
    }

    /// A text cell as an export writes it: a value a spreadsheet would evaluate gets a leading `'`,
    /// which spreadsheets read as "this is text". A whole number (`-` and digits, like `-5`) is
    /// not a formula and is left as it is. A value that already starts with quotes before a
    /// formula character gets one more, so that ``untextCell(_:)`` gives back exactly what was
    /// written, whatever it was. The result still needs ``escape(_:)`` (``line(_:)`` does both).
    public static func textCell(_ value: String) -> String {
        needsFormulaQuote(value) ? "'" + value : value
    }

    /// The inverse of ``textCell(_:)``, for the text columns an import reads: a value of one or
    /// more `'` followed by a formula character loses its first `'`. `'=SUM(A1)` reads as
    /// `=SUM(A1)`, `''=x` as `'=x`; `'abc`, `'-5` and `-5` are left as they are.
    public static func untextCell(_ value: String) -> String {
        let scalars = value.unicodeScalars
        guard scalars.first == "'", needsFormulaQuote(String(scalars.dropFirst())) else { return value }
        return String(scalars.dropFirst())
    }

    /// Whether the value, after any leading `'` and what a spreadsheet skips
    /// (``isSkippedBeforeAFormula(_:)``), starts with a formula character and is not a whole number.
    private static func needsFormulaQuote(_ value: String) -> Bool {
        let quotesDropped = value.unicodeScalars.drop { $0 == "'" }
        let rest = quotesDropped.first.map(formulaTriggers.contains) == true ? quotesDropped : quotesDropped.drop(while: isSkippedBeforeAFormula)
        guard let first = rest.first, formulaTriggers.contains(first) else { return false }
        let digits = rest.dropFirst()
        let isWholeNumber = first == "-" && !digits.isEmpty && digits.allSatisfy { ("0"..."9").contains($0) }
        return !isWholeNumber
    }
}
