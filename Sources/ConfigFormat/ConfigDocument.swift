import Foundation

/// A configuration file in the TOML subset promo-sync uses: `[section]` headers, `key = value`
/// lines with basic strings, whole numbers or booleans, and `#` comments.
///
/// (The TOMLKit package on the build machines needs a dependency that is not available there, so
/// this small reader stands in; it refuses anything outside the subset with the line number.)
public struct ConfigDocument: Sendable, Equatable {
    /// A value as written.
    public enum Value: Sendable, Equatable, CustomStringConvertible {
        case string(String)
        case integer(Int64)
        case boolean(Bool)

        /// The value as a file writes it: a string in quotes, a whole number, `true` or `false`.
        public var description: String {
            switch self {
            case .string(let s): "\"\(s)\""
            case .integer(let i): String(i)
            case .boolean(let b): String(b)
            }
        }
    }

    /// One `key = value` with the line it is on; `key` is `section.name` inside a section.
    public struct Entry: Sendable, Equatable {
        /// The full key: `section.name` inside a section, `name` before any section.
        public var key: String
        /// The value as written.
        public var value: Value
        /// The line the entry is on (1-based), for messages.
        public var line: Int
    }

    /// Every entry by its full key; a file sets each key at most once.
    public var entries: [String: Entry]

    /// A document with no settings (every setting at its default).
    public static let empty = ConfigDocument(entries: [:])

    init(entries: [String: Entry]) { self.entries = entries }

    /// A problem in the file, with its line.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The line of the problem (1-based).
        public var line: Int
        /// What is wrong with the line, e.g. `expected key = value`.
        public var message: String
        /// `line N:` and the message.
        public var description: String { "line \(line): \(message)" }
    }

    /// Parses a whole file (lines end in LF or CRLF); throws at the first line outside the subset, or a key set twice.
    public init(parsing text: String) throws(ParseError) {
        var entries: [String: Entry] = [:]
        var section = ""
        // Lines end in LF or CRLF. (Split by Character, "\r\n" is one Character, not a "\n": a file
        // saved with Windows line ends would be one line.)
        let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
        for (index, raw) in lines.enumerated() {
            let number = index + 1
            let line = Self.stripComment(String(raw)).trimmingCharacters(in: [" ", "\t", "\r"])
            if line.isEmpty { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), !line.hasPrefix("[["), line.count > 2 else {
                    throw ParseError(line: number, message: "a section header is written [name]")
                }
                section = String(line.dropFirst().dropLast()).trimmingCharacters(in: [" "])
                guard Self.isBareKey(section) else { throw ParseError(line: number, message: "'\(section)' is not a valid section name") }
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw ParseError(line: number, message: "expected key = value")
            }
            let name = line[..<equals].trimmingCharacters(in: [" ", "\t"])
            guard Self.isBareKey(name) else { throw ParseError(line: number, message: "'\(name)' is not a valid key") }
            let key = section.isEmpty ? name : "\(section).\(name)"
            let valueText = line[line.index(after: equals)...].trimmingCharacters(in: [" ", "\t"])
            let value = try Self.parseValue(valueText, line: number)
            if let previous = entries[key] {
                throw ParseError(line: number, message: "\(key) is already set on line \(previous.line)")
            }
            entries[key] = Entry(key: key, value: value, line: number)
        }
        self.entries = entries
    }

    static func isBareKey(_ s: String) -> Bool {
        !s.isEmpty && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
    }

    /// Drops a `#` comment that is not inside a string.
    static func stripComment(_ line: String) -> String {
        var inString = false
        var escaped = false
        for (i, c) in zip(line.indices, line) {
            if inString {
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
            } else if c == "\"" {
                inString = true
            } else if c == "#" {
                return String(line[..<i])
            }
        }
        return line
    }

    static func parseValue(_ text: String, line: Int) throws(ParseError) -> Value {
        if text == "true" { return .boolean(true) }
        if text == "false" { return .boolean(false) }
        if text.hasPrefix("\"") {
            guard text.count >= 2, text.hasSuffix("\"") else { throw ParseError(line: line, message: "the string is not closed with \"") }
            var out = ""
            var escaped = false
            for c in text.dropFirst().dropLast() {
                if escaped {
                    switch c {
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    case "\\": out.append("\\")
                    case "\"": out.append("\"")
                    default: throw ParseError(line: line, message: "unknown escape \\\(c) in a string")
                    }
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else if c == "\"" {
                    throw ParseError(line: line, message: "a \" inside a string must be written \\\"")
                } else {
                    out.append(c)
                }
            }
            if escaped { throw ParseError(line: line, message: "the string ends in a lone \\") }
            return .string(out)
        }
        let digits = text.replacingOccurrences(of: "_", with: "")
        if let number = Int64(digits) { return .integer(number) }
        throw ParseError(line: line, message: "'\(text)' is not a value: write a \"string\", a whole number or true/false")
    }
}
