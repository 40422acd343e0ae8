import Foundation
import SyncCore

/// One JSON value as `JSONReader` reads it. The protocol's hot paths (changesets, pull pages)
/// are read in one pass with `JSONReader.members` and `elements`, without Foundation's coders;
/// whole values are made only for members' scalars. The bytes are the same JSON that the
/// `Codable` conformances describe (docs/PROTOCOL.md).
enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case string(String)
    case array([JSON])
    case object([String: JSON])
}

struct JSONReader {
    let bytes: [UInt8]
    var i = 0
    /// Member names seen by position in earlier objects read with `reusingNames` (a page's records
    /// repeat the same field names): a name spelled the same is not made into a new string.
    private var names: [String] = []

    init(bytes: [UInt8]) { self.bytes = bytes }

    func fail(_ what: String) -> SyncCoreError { SyncCoreError(.invalidValue, "not valid JSON: \(what) at byte \(i)") }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    mutating func literal(_ word: String, _ value: JSON) throws(SyncCoreError) -> JSON {
        let w = Array(word.utf8)
        guard i + w.count <= bytes.count, bytes[i..<(i + w.count)].elementsEqual(w) else { throw fail("a bad literal") }
        i += w.count
        return value
    }

    mutating func value(depth: Int) throws(SyncCoreError) -> JSON {
        guard depth < 32 else { throw fail("nesting deeper than 32") }
        skipSpace()
        guard i < bytes.count else { throw fail("a missing value") }
        switch bytes[i] {
        case 0x7B:  // {
            i += 1
            var out: [String: JSON] = [:]
            skipSpace()
            if i < bytes.count, bytes[i] == 0x7D {
                i += 1
                return .object(out)
            }
            while true {
                skipSpace()
                let key = try string()
                skipSpace()
                guard i < bytes.count, bytes[i] == 0x3A else { throw fail("expected ':'") }
                i += 1
                guard out.updateValue(try value(depth: depth + 1), forKey: key) == nil else { throw fail("a repeated member '\(key)'") }
                skipSpace()
                guard i < bytes.count else { throw fail("an unterminated object") }
                if bytes[i] == 0x2C {
                    i += 1
                    continue
                }
                if bytes[i] == 0x7D {
                    i += 1
                    return .object(out)
                }
                throw fail("expected ',' or '}'")
            }
        case 0x5B:  // [
            i += 1
            var out: [JSON] = []
            skipSpace()
            if i < bytes.count, bytes[i] == 0x5D {
                i += 1
                return .array(out)
            }
            while true {
                out.append(try value(depth: depth + 1))
                skipSpace()
                guard i < bytes.count else { throw fail("an unterminated array") }
                if bytes[i] == 0x2C {
                    i += 1
                    continue
                }
                if bytes[i] == 0x5D {
                    i += 1
                    return .array(out)
                }
                throw fail("expected ',' or ']'")
            }
        case 0x22: return .string(try string())
        case 0x6E: return try literal("null", .null)
        case 0x74: return try literal("true", .bool(true))
        case 0x66: return try literal("false", .bool(false))
        case 0x2D, 0x30...0x39:
            let start = i
            i += 1
            while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1 }
            if i < bytes.count, bytes[i] == 0x2E || bytes[i] == 0x65 || bytes[i] == 0x45 {
                throw fail("a number that is not whole (amounts are whole VND)")
            }
            // Digits are accumulated toward the sign, so Int64.min is read too; no string is made.
            let negative = bytes[start] == 0x2D
            var n: Int64 = 0
            guard i > start + (negative ? 1 : 0) else { throw fail("a '-' without digits") }
            // JSON writes no leading zeros (`007`), and the Codable form refuses them: so does this.
            let firstDigit = negative ? start + 1 : start
            guard bytes[firstDigit] != 0x30 || i == firstDigit + 1 else { throw fail("a number with a leading zero") }
            var overflow = false
            for b in bytes[(negative ? start + 1 : start)..<i] where !overflow {
                let (times10, o1) = n.multipliedReportingOverflow(by: 10)
                let (next, o2) = negative ? times10.subtractingReportingOverflow(Int64(b &- 0x30)) : times10.addingReportingOverflow(Int64(b &- 0x30))
                n = next
                overflow = o1 || o2
            }
            guard !overflow else { throw fail("a number out of the 64-bit range") }
            return .integer(n)
        default:
            throw fail("an unexpected character")
        }
    }

    mutating func string() throws(SyncCoreError) -> String {
        guard i < bytes.count, bytes[i] == 0x22 else { throw fail("expected a string") }
        i += 1
        let start = i
        var ascii = true
        while i < bytes.count, bytes[i] != 0x22, bytes[i] != 0x5C, bytes[i] >= 0x20 {
            ascii = ascii && bytes[i] < 0x80
            i += 1
        }
        guard i < bytes.count else { throw fail("an unterminated string") }
        if bytes[i] == 0x22 {
            defer { i += 1 }
            // Plain ASCII (ids, codes, dates) is valid UTF-8 as it stands: no validation pass.
            return ascii ? String(decoding: bytes[start..<i], as: UTF8.self) : try validUTF8(bytes[start..<i])
        }
        var out = try validUTF8(bytes[start..<i])
        var raw: [UInt8] = []
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x22 {
                i += 1
                out += try validUTF8(raw[...])
                return out
            }
            guard b >= 0x20 else { throw fail("a control character in a string") }
            if b != 0x5C {
                raw.append(b)
                i += 1
                continue
            }
            out += try validUTF8(raw[...])
            raw.removeAll(keepingCapacity: true)
            i += 1
            guard i < bytes.count else { break }
            let e = bytes[i]
            i += 1
            switch e {
            case 0x22: out += "\""
            case 0x5C: out += "\\"
            case 0x2F: out += "/"
            case 0x62: out += "\u{08}"
            case 0x66: out += "\u{0C}"
            case 0x6E: out += "\n"
            case 0x72: out += "\r"
            case 0x74: out += "\t"
            case 0x75:
                var code = try hex4()
                if (0xD800...0xDBFF).contains(code), i + 6 <= bytes.count, bytes[i] == 0x5C, bytes[i + 1] == 0x75 {
                    i += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw fail("an unpaired surrogate") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(code) else { throw fail("an invalid \\u escape") }
                out.unicodeScalars.append(scalar)
            default: throw fail("an invalid escape")
            }
        }
        throw fail("an unterminated string")
    }

    func validUTF8(_ slice: ArraySlice<UInt8>) throws(SyncCoreError) -> String {
        guard let s = String(validating: slice, as: UTF8.self) else { throw fail("text that is not UTF-8") }
        return s
    }

    /// The four hex digits of a `\u` escape: digits only (`UInt32(_:radix:)` would also take a sign).
    mutating func hex4() throws(SyncCoreError) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("an invalid \\u escape") }
        var v: UInt32 = 0
        for b in bytes[i..<(i + 4)] {
            switch b {
            case 0x30...0x39: v = v << 4 | UInt32(b - 0x30)
            case 0x41...0x46: v = v << 4 | UInt32(b - 0x37)
            case 0x61...0x66: v = v << 4 | UInt32(b - 0x57)
            default: throw fail("an invalid \\u escape")
            }
        }
        i += 4
        return v
    }
}

// MARK: Changesets

extension Change {
    func appendJSON(to out: inout [UInt8]) {
        out.append(contentsOf: #"{"fields":"#.utf8)
        FieldCoding.append(fields, to: &out)
        out.append(contentsOf: #","hlc":"#.utf8)
        FieldCoding.appendString(hlc.description, to: &out)
        out.append(contentsOf: #","id":"#.utf8)
        FieldCoding.appendString(id.rawValue, to: &out)
        out.append(contentsOf: #","op":"#.utf8)
        FieldCoding.appendString(op.rawValue, to: &out)
        out.append(contentsOf: #","table":"#.utf8)
        FieldCoding.appendString(table.rawValue, to: &out)
        out.append(0x7D)
    }

    /// Reads one change in one pass, refusing anything the protocol does not define.
    init(reading r: inout JSONReader, at path: @autoclosure () -> String) throws(SyncCoreError) {
        var tableName: String?
        var opName: String?
        var hlcText: String?
        var idText: String?
        var fields: [String: FieldValue]?
        try r.members(at: path()) { r, name throws(SyncCoreError) in
            switch name {
            case "table": tableName = try r.string(member: name, of: path(), once: tableName)
            case "op": opName = try r.string(member: name, of: path(), once: opName)
            case "hlc": hlcText = try r.string(member: name, of: path(), once: hlcText)
            case "id": idText = try r.string(member: name, of: path(), once: idText)
            case "fields": fields = try r.once(fields, name) { r throws(SyncCoreError) in try r.fields(at: path() + ".fields") }
            default: throw SyncCoreError(.invalidValue, "\(path()) has an unknown member '\(name)'")
            }
        }
        let tableText = try required(tableName, "table", of: path(), .string)
        guard let table = SyncedTable(rawValue: tableText) else { throw SyncCoreError(.invalidValue, "\(path()).table '\(tableText)' is not a synced table") }
        guard let op = ChangeOperation(rawValue: try required(opName, "op", of: path(), .string)) else {
            throw SyncCoreError(.invalidValue, "\(path()).op must be upsert or delete")
        }
        let hlc = try required(hlcText, "hlc", of: path(), .string)
        let id = try required(idText, "id", of: path(), .string)
        self.init(table: table, id: try RowID(id), op: op, hlc: try HLCTimestamp(parsing: hlc), fields: try required(fields, "fields", of: path(), .present))
    }
}

extension Changeset {
    /// The JSON form (the same members as the `Codable` one), written fast.
    public func jsonData() -> Data { Data(jsonBytes()) }

    func jsonBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(changes.count * 200 + 300)
        out.append(contentsOf: #"{"changes":["#.utf8)
        for (index, change) in changes.enumerated() {
            if index > 0 { out.append(0x2C) }
            change.appendJSON(to: &out)
        }
        out.append(contentsOf: #"],"hash":"#.utf8)
        FieldCoding.appendString(hash, to: &out)
        out.append(contentsOf: #","office":"#.utf8)
        FieldCoding.appendString(office.rawValue, to: &out)
        out.append(contentsOf: #","previousHash":"#.utf8)
        FieldCoding.appendString(previousHash, to: &out)
        out.append(contentsOf: #","sequence":"#.utf8)
        FieldCoding.appendInteger(sequence.rawValue, to: &out)
        out.append(0x7D)
        return out
    }

    /// Reads the JSON form in one pass, refusing anything the protocol does not define.
    init(reading r: inout JSONReader, at path: String = "changeset") throws(SyncCoreError) {
        var office: String?
        var sequence: Int64?
        var previousHash: String?
        var hash: String?
        var changes: [Change]?
        try r.members(at: path) { r, name throws(SyncCoreError) in
            switch name {
            case "office": office = try r.string(member: name, of: path, once: office)
            case "sequence": sequence = try r.integer(member: name, of: path, once: sequence)
            case "previousHash": previousHash = try r.string(member: name, of: path, once: previousHash)
            case "hash": hash = try r.string(member: name, of: path, once: hash)
            case "changes":
                changes = try r.once(changes, name) { r throws(SyncCoreError) in
                    var list: [Change] = []
                    try r.elements(at: path + ".changes") { r, index throws(SyncCoreError) in
                        list.append(try Change(reading: &r, at: "\(path).changes[\(index)]"))
                    }
                    return list
                }
            default: throw SyncCoreError(.invalidValue, "\(path) has an unknown member '\(name)'")
            }
        }
        let officeCode = try required(office, "office", of: path, .string)
        let number = try required(sequence, "sequence", of: path, .wholeNumber)
        let previous = try required(previousHash, "previousHash", of: path, .string)
        let ownHash = try required(hash, "hash", of: path, .string)
        self.init(
            office: OfficeCode(unchecked: officeCode), sequence: ChangesetSequence(number), previousHash: previous,
            changes: try required(changes, "changes", of: path, .present), statedHash: ownHash)
    }

    /// Reads a stored or received changeset body.
    public init(jsonData data: Data) throws(SyncCoreError) {
        var reader = JSONReader(bytes: Array(data))
        try self.init(reading: &reader)
        try reader.finish()
    }
}

extension PushRequest {
    /// The request body, written fast.
    public func jsonData() -> Data {
        var out: [UInt8] = Array(#"{"changeset":"#.utf8)
        out.append(contentsOf: changeset.jsonBytes())
        out.append(contentsOf: #","protocolVersion":"#.utf8)
        FieldCoding.appendInteger(Int64(protocolVersion), to: &out)
        out.append(0x7D)
        return Data(out)
    }

    /// Reads a push body strictly, refusing a missing, mistyped or unknown member with a message naming it; keeps the
    /// changeset's bytes as they arrived in ``receivedChangesetJSON``.
    public init(jsonData data: Data) throws(SyncCoreError) {
        var reader = JSONReader(bytes: Array(data))
        var version: Int64?
        var changeset: Changeset?
        var changesetJSON: Data?
        try reader.members(at: "body") { r, name throws(SyncCoreError) in
            switch name {
            case "protocolVersion": version = try r.integer(member: name, of: "body", once: version)
            case "changeset":
                changeset = try r.once(changeset, name) { r throws(SyncCoreError) in
                    r.skipSpace()
                    let start = r.i
                    let read = try Changeset(reading: &r)
                    changesetJSON = Data(r.bytes[start..<r.i])
                    return read
                }
            default: throw SyncCoreError(.invalidValue, "body has an unknown member '\(name)'")
            }
        }
        try reader.finish()
        let protocolVersion = try required(version, "protocolVersion", of: "body", .wholeNumber)
        self.init(protocolVersion: Int(protocolVersion), changeset: try required(changeset, "changeset", of: "body", .present))
        receivedChangesetJSON = changesetJSON
    }
}

// MARK: Pull pages

extension PullResponse {
    /// Reads a pull page, refusing anything the protocol does not define. The page is read in one
    /// pass straight into records (no intermediate tree of the whole page): a page is the largest
    /// body an office reads, and at an initial sync reading it costs as much as writing it.
    public init(jsonData data: Data) throws(SyncCoreError) {
        var reader = JSONReader(bytes: Array(data))
        var epoch: String?
        var nextCursor: Int64?
        var hasMore: Bool?
        var records: [PulledRecord]?
        try reader.members(at: "page") { r, name throws(SyncCoreError) in
            switch name {
            case "epoch": epoch = try r.string(member: name, of: "page", once: epoch)
            case "nextCursor": nextCursor = try r.integer(member: name, of: "page", once: nextCursor)
            case "hasMore": hasMore = try r.bool(member: name, of: "page", once: hasMore)
            case "records":
                records = try r.once(records, name) { r throws(SyncCoreError) in
                    var list: [PulledRecord] = []
                    try r.elements(at: "page.records") { r, index throws(SyncCoreError) in list.append(try PulledRecord(reading: &r, index: index)) }
                    return list
                }
            default: throw SyncCoreError(.invalidValue, "page has an unknown member '\(name)'")
            }
        }
        try reader.finish()
        let pageEpoch = try required(epoch, "epoch", of: "page", .string)
        let next = try required(nextCursor, "nextCursor", of: "page", .wholeNumber)
        let more = try required(hasMore, "hasMore", of: "page", .trueOrFalse)
        self.init(epoch: Epoch(pageEpoch), records: try required(records, "records", of: "page", .present), nextCursor: PullCursor(next), hasMore: more)
    }
}

extension PulledRecord {
    init(reading r: inout JSONReader, index: Int) throws(SyncCoreError) {
        var cursor: Int64?
        var table: String?
        var id: String?
        var office: String?
        var deleted: Bool?
        var fields: [String: FieldValue]?
        func path() -> String { "page.records[\(index)]" }
        try r.members(at: path()) { r, name throws(SyncCoreError) in
            switch name {
            case "cursor": cursor = try r.integer(member: name, of: path(), once: cursor)
            case "table": table = try r.string(member: name, of: path(), once: table)
            case "id": id = try r.string(member: name, of: path(), once: id)
            case "office": office = try r.string(member: name, of: path(), once: office)
            case "deleted": deleted = try r.bool(member: name, of: path(), once: deleted)
            case "fields": fields = try r.once(fields, name) { r throws(SyncCoreError) in try r.fields(at: path() + ".fields") }
            default: throw SyncCoreError(.invalidValue, "\(path()) has an unknown member '\(name)'")
            }
        }
        let position = try required(cursor, "cursor", of: path(), .wholeNumber)
        let tableName = try required(table, "table", of: path(), .string)
        let rowID = try required(id, "id", of: path(), .string)
        let officeCode = try required(office, "office", of: path(), .string)
        let isDeleted = try required(deleted, "deleted", of: path(), .trueOrFalse)
        self.init(
            cursor: PullCursor(position), table: tableName, id: rowID, office: OfficeCode(unchecked: officeCode), deleted: isDeleted,
            fields: try required(fields, "fields", of: path(), .present))
    }
}

extension JSONReader {
    /// Reads the object that starts here member by member: `member` is called with each name and
    /// the reader at its value, which it must read. For large documents read in one pass.
    mutating func members(
        at path: @autoclosure () -> String, reusingNames: Bool = false,
        _ member: (inout JSONReader, String) throws(SyncCoreError) -> Void
    ) throws(SyncCoreError) {
        skipSpace()
        guard i < bytes.count, bytes[i] == 0x7B else { throw SyncCoreError(.invalidValue, "\(path()) must be an object") }
        i += 1
        skipSpace()
        if i < bytes.count, bytes[i] == 0x7D {
            i += 1
            return
        }
        var position = 0
        while true {
            skipSpace()
            let name: String
            if reusingNames, position < names.count, skip(names[position]) {
                name = names[position]
            } else {
                name = try string()
                if reusingNames { if position < names.count { names[position] = name } else { names.append(name) } }
            }
            position += 1
            skipSpace()
            guard i < bytes.count, bytes[i] == 0x3A else { throw fail("expected ':'") }
            i += 1
            try member(&self, name)
            skipSpace()
            guard i < bytes.count else { throw fail("an unterminated object") }
            if bytes[i] == 0x2C {
                i += 1
                continue
            }
            if bytes[i] == 0x7D {
                i += 1
                return
            }
            throw fail("expected ',' or '}'")
        }
    }

    /// Reads the array that starts here element by element, as `members` does for objects.
    mutating func elements(at path: @autoclosure () -> String, _ element: (inout JSONReader, Int) throws(SyncCoreError) -> Void) throws(SyncCoreError) {
        skipSpace()
        guard i < bytes.count, bytes[i] == 0x5B else { throw SyncCoreError(.invalidValue, "\(path()) must be an array") }
        i += 1
        skipSpace()
        if i < bytes.count, bytes[i] == 0x5D {
            i += 1
            return
        }
        var index = 0
        while true {
            try element(&self, index)
            index += 1
            skipSpace()
            guard i < bytes.count else { throw fail("an unterminated array") }
            if bytes[i] == 0x2C {
                i += 1
                continue
            }
            if bytes[i] == 0x5D {
                i += 1
                return
            }
            throw fail("expected ',' or ']'")
        }
    }

    /// Moves past the string that starts here if its text is exactly `known` written without
    /// escapes (so the bytes alone decide: a name with a backslash or a control character is
    /// never matched this way, and is read, and checked, as a new string).
    private mutating func skip(_ known: String) -> Bool {
        var known = known
        return known.withUTF8 { name in
            let end = i + 1 + name.count
            guard end < bytes.count, bytes[i] == 0x22, bytes[end] == 0x22, !name.contains(where: { $0 == 0x5C || $0 < 0x20 }) else { return false }
            for offset in 0..<name.count where bytes[i + 1 + offset] != name[offset] { return false }
            i = end + 1
            return true
        }
    }

    /// Refuses anything but white space after the document.
    mutating func finish() throws(SyncCoreError) {
        skipSpace()
        guard i == bytes.count else { throw fail("text after the JSON value") }
    }

    /// Reads a row's fields: an object whose members are null, whole numbers or strings.
    mutating func fields(at path: @autoclosure () -> String) throws(SyncCoreError) -> [String: FieldValue] {
        // Sized for the names of the previous record read (rows of a page have the same columns).
        var out = [String: FieldValue](minimumCapacity: names.count)
        try members(at: path(), reusingNames: true) { r, column throws(SyncCoreError) in
            guard out.updateValue(try r.fieldValue(at: "\(path()).\(column)"), forKey: column) == nil else {
                throw r.fail("a repeated member '\(column)'")
            }
        }
        return out
    }

    /// Reads one field's value: null, a whole number or a string.
    mutating func fieldValue(at path: @autoclosure () -> String) throws(SyncCoreError) -> FieldValue {
        switch try value(depth: 3) {
        case .null: .null
        case .integer(let i): .integer(i)
        case .string(let s): .text(s)
        default: throw SyncCoreError(.invalidValue, "\(path()) must be null, a whole number or a string")
        }
    }

    /// Reads a member's value with `read`, refusing a second copy of the member.
    mutating func once<T>(_ previous: T?, _ name: String, _ read: (inout JSONReader) throws(SyncCoreError) -> T) throws(SyncCoreError) -> T {
        guard previous == nil else { throw fail("a repeated member '\(name)'") }
        return try read(&self)
    }

    /// Reads one member's value, which must be a string, refusing a second copy of the member.
    mutating func string(member name: String, of path: @autoclosure () -> String, once previous: String?) throws(SyncCoreError) -> String {
        try once(previous, name) { r throws(SyncCoreError) in
            guard case .string(let value) = try r.value(depth: 2) else { throw MemberKind.string.error(name, of: path()) }
            return value
        }
    }

    /// Reads one member's value, which must be a whole number, refusing a second copy.
    mutating func integer(member name: String, of path: @autoclosure () -> String, once previous: Int64?) throws(SyncCoreError) -> Int64 {
        try once(previous, name) { r throws(SyncCoreError) in
            guard case .integer(let value) = try r.value(depth: 2) else { throw MemberKind.wholeNumber.error(name, of: path()) }
            return value
        }
    }

    /// Reads one member's value, which must be true or false, refusing a second copy.
    mutating func bool(member name: String, of path: @autoclosure () -> String, once previous: Bool?) throws(SyncCoreError) -> Bool {
        try once(previous, name) { r throws(SyncCoreError) in
            guard case .bool(let value) = try r.value(depth: 2) else { throw MemberKind.trueOrFalse.error(name, of: path()) }
            return value
        }
    }
}

/// What a member of a protocol object must be: one wording for a member of the wrong kind and a
/// missing one.
enum MemberKind: String {
    case string = "a string"
    case wholeNumber = "a whole number"
    case trueOrFalse = "true or false"
    case present = "present"

    func error(_ name: String, of path: String) -> SyncCoreError {
        SyncCoreError(.invalidValue, "\(path).\(name) must be \(rawValue)")
    }
}

/// A member the object must have had: its value, or the error naming it and what it must be.
func required<T>(_ value: T?, _ name: String, of path: @autoclosure () -> String, _ kind: MemberKind) throws(SyncCoreError) -> T {
    guard let value else { throw kind.error(name, of: path()) }
    return value
}

/// Builds a pull page's JSON from records whose fields are already JSON text (as the centre
/// stores them), so serving a page never decodes and re-encodes a row. Works on UTF-8 bytes (the
/// centre hands it SQLite's column text without making strings): a page is the largest body the
/// centre writes.
public struct PullPageWriter {
    private var out: [UInt8] = []
    private var count = 0

    /// The bytes of the page so far.
    public var byteCount: Int { out.count }

    /// Starts a page, with room for about `expectedRecords` records.
    public init(expectedRecords: Int = 0) {
        out.reserveCapacity(64 + expectedRecords * 256)
        out.append(contentsOf: #"{"records":["#.utf8)
    }

    /// Adds one record; `fieldsJSON` is the record's fields as a JSON object, copied as it is.
    public mutating func append(cursor: Int64, table: String, id: String, office: String, deleted: Bool, fieldsJSON: String) {
        var table = table
        var id = id
        var office = office
        var fields = fieldsJSON
        table.withUTF8 { t in
            id.withUTF8 { i in
                office.withUTF8 { o in
                    fields.withUTF8 { f in
                        append(cursor: cursor, table: t, id: i, office: o, deleted: deleted, fieldsJSON: f)
                    }
                }
            }
        }
    }

    /// The same from UTF-8 text: `fieldsJSON` is a JSON object, the others are plain text.
    public mutating func append(
        cursor: Int64, table: UnsafeBufferPointer<UInt8>, id: UnsafeBufferPointer<UInt8>,
        office: UnsafeBufferPointer<UInt8>, deleted: Bool, fieldsJSON: UnsafeBufferPointer<UInt8>
    ) {
        if count > 0 { out.append(UInt8(ascii: ",")) }
        count += 1
        out.append(contentsOf: #"{"cursor":"#.utf8)
        FieldCoding.appendInteger(cursor, to: &out)
        out.append(contentsOf: deleted ? #","deleted":true,"fields":"#.utf8 : #","deleted":false,"fields":"#.utf8)
        out.append(contentsOf: fieldsJSON)
        out.append(contentsOf: #","id":"#.utf8)
        appendString(id)
        out.append(contentsOf: #","office":"#.utf8)
        appendString(office)
        out.append(contentsOf: #","table":"#.utf8)
        appendString(table)
        out.append(UInt8(ascii: "}"))
    }

    private mutating func appendString(_ text: UnsafeBufferPointer<UInt8>) {
        FieldCoding.appendString(utf8: text, to: &out)
    }

    /// How many records were appended so far.
    public var recordCount: Int { count }

    /// The page's JSON: the records, the epoch, the cursor to save once the page is applied and whether more follows.
    public func finish(epoch: Epoch, nextCursor: Int64, hasMore: Bool) -> Data {
        var tail: [UInt8] = Array(#"],"epoch":"#.utf8)
        FieldCoding.appendString(epoch.rawValue, to: &tail)
        tail.append(contentsOf: hasMore ? #","hasMore":true,"nextCursor":"#.utf8 : #","hasMore":false,"nextCursor":"#.utf8)
        FieldCoding.appendInteger(nextCursor, to: &tail)
        tail.append(0x7D)
        var data = Data(capacity: out.count + tail.count)
        data.append(contentsOf: out)
        data.append(contentsOf: tail)
        return data
    }
}
