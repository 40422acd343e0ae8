import Foundation

/// RFC 4180 CSV: comma-separated, fields quoted with `"` when they hold commas, quotes or line
/// breaks, a quote inside a quoted field written twice. UTF-8 text; a leading byte-order mark is
/// ignored.
public enum CSV {
    /// A record with the line it starts on (1-based), for error messages.
    public struct Record: Sendable, Equatable {
        public var line: Int
        public var fields: [String]
    }

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var message: String
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

    /// One field, quoted when it needs to be.
    public static func escape(_ value: String) -> String {
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// One line of fields.
    public static func line(_ fields: [String]) -> String {
        fields.map(escape).joined(separator: ",")
    }
}
