/// Reads typed settings from a ``ConfigDocument`` and environment overrides, and says exactly
/// which key is wrong, where, and what was expected.
///
/// A setting `section.key` comes from the environment variable `PREFIX_SECTION_KEY` when set,
/// else from the file, else from its default. A key in the file that nothing reads is an error
/// (a typo must not pass silently).
public struct ConfigReader: Sendable {
    /// The parsed file; ``ConfigDocument/empty`` when there is none.
    public let document: ConfigDocument
    /// The environment, whose `PREFIX_SECTION_KEY` variables override the file.
    public let environment: [String: String]
    /// The prefix of the override variables: `PROMO_SYNC` or `PROMO_CENTRAL`.
    public let prefix: String
    /// The file's path, as messages name it.
    public let source: String

    /// A setting with a problem.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        /// The problem in one sentence, naming where the setting comes from (a file line or an environment variable) and the key.
        public var message: String
        /// The message.
        public var description: String { message }
        /// A problem with its message.
        public init(message: String) { self.message = message }
    }

    /// A reader of a parsed file and the environment; `source` is the file's path for messages.
    public init(document: ConfigDocument, environment: [String: String], prefix: String, source: String) {
        self.document = document
        self.environment = environment
        self.prefix = prefix
        self.source = source
    }

    /// The environment variable that overrides `key`.
    public func variable(for key: String) -> String {
        prefix + "_" + String(key.uppercased().map { $0 == "." || $0 == "-" ? "_" : $0 })
    }

    private func raw(_ key: String) -> (value: ConfigDocument.Value, origin: String)? {
        let name = variable(for: key)
        if let text = environment[name] {
            let value: ConfigDocument.Value =
                Int64(text).map { .integer($0) }
                ?? (text == "true" ? .boolean(true) : text == "false" ? .boolean(false) : .string(text))
            return (value, "environment variable \(name)")
        }
        if let entry = document.entries[key] { return (entry.value, "\(source) line \(entry.line)") }
        return nil
    }

    /// A string setting; empty means unset when `emptyIsNil`.
    public func string(_ key: String, default value: String?, emptyIsNil: Bool = true) throws(Problem) -> String? {
        guard let (found, origin) = raw(key) else { return value }
        switch found {
        case .string(let s): return emptyIsNil && s.isEmpty ? nil : s
        case .integer(let i): return String(i)
        case .boolean:
            throw Problem(message: "\(origin): \(key) expects text in quotes, got \(found)")
        }
    }

    /// A true/false setting (from the environment: true, false, 1 or 0).
    public func boolean(_ key: String, default value: Bool) throws(Problem) -> Bool {
        guard let (found, origin) = raw(key) else { return value }
        switch found {
        case .boolean(let b): return b
        case .integer(1): return true
        case .integer(0): return false
        case .string(let s) where ["true", "1"].contains(s.lowercased()): return true
        case .string(let s) where ["false", "0"].contains(s.lowercased()): return false
        default: throw Problem(message: "\(origin): \(key) expects true or false, got \(found)")
        }
    }

    /// A whole-number setting within `range`; `unit` goes into the error message.
    public func integer(_ key: String, default value: Int64, range: ClosedRange<Int64>, unit: String) throws(Problem) -> Int64 {
        guard let (found, origin) = raw(key) else { return value }
        guard case .integer(let i) = found else {
            throw Problem(message: "\(origin): \(key) expects a whole number of \(unit) (\(range.lowerBound)–\(range.upperBound)), got \(found)")
        }
        guard range.contains(i) else {
            throw Problem(message: "\(origin): \(key) must be between \(range.lowerBound) and \(range.upperBound) \(unit), got \(i)")
        }
        return i
    }

    /// One of a fixed set of words.
    public func choice(_ key: String, default value: String, among choices: [String]) throws(Problem) -> String {
        guard let text = try string(key, default: value) else { return value }
        guard choices.contains(text) else {
            throw Problem(message: "\(raw(key)?.origin ?? source): \(key) must be one of \(choices.joined(separator: ", ")), got \"\(text)\"")
        }
        return text
    }

    /// Refuses keys in the file that are not among `known`.
    public func rejectUnknownKeys(_ known: Set<String>) throws(Problem) {
        for entry in document.entries.values.sorted(by: { $0.line < $1.line }) where !known.contains(entry.key) {
            throw Problem(message: "\(source) line \(entry.line): unknown setting \(entry.key); known settings are \(known.sorted().joined(separator: ", "))")
        }
    }
}
