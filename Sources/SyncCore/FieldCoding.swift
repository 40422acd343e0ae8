/// The JSON form of a row's fields (`{"name":value,…}` with keys sorted, values null, whole
/// numbers or strings), written and read without Foundation's coders: stores keep every record
/// and every change in this form, and the general coders cost more per row than the rest of the
/// merge. The output is valid JSON that any JSON reader accepts.
public enum FieldCoding {
    /// Encodes fields with sorted keys.
    public static func encode(_ fields: [String: FieldValue]) -> String {
        var out = "{"
        out.reserveCapacity(16 * fields.count + 2)
        var first = true
        for key in fields.keys.sorted() {
            if !first { out += "," }
            first = false
            appendString(key, to: &out)
            out += ":"
            switch fields[key]! {
            case .null: out += "null"
            case .integer(let i): out += String(i)
            case .text(let s): appendString(s, to: &out)
            }
        }
        return out + "}"
    }

    /// Encodes a map of names to strings (per-field clocks) the same way.
    public static func encode(_ strings: [String: String]) -> String {
        encode(strings.mapValues { FieldValue.text($0) })
    }

    /// Decodes what ``encode(_:)`` (or any JSON writer) produced for a flat object of null, whole
    /// number and string values.
    public static func decode(_ text: String) throws(SyncCoreError) -> [String: FieldValue] {
        var parser = Parser(bytes: Array(text.utf8))
        return try parser.object()
    }

    static func appendString(_ s: String, to out: inout String) {
        out += "\""
        var plain = true
        for unit in s.utf8 where unit < 0x20 || unit == 0x22 || unit == 0x5C { plain = false; break }
        if plain {
            out += s
        } else {
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    private struct Parser {
        let bytes: [UInt8]
        var i = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        func fail(_ what: String) -> SyncCoreError {
            SyncCoreError(.invalidValue, "stored fields are not a flat JSON object: \(what) at byte \(i)")
        }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        mutating func expect(_ byte: UInt8) throws(SyncCoreError) {
            skipSpace()
            guard i < bytes.count, bytes[i] == byte else { throw fail("expected '\(Character(UnicodeScalar(byte)))'") }
            i += 1
        }

        mutating func object() throws(SyncCoreError) -> [String: FieldValue] {
            try expect(0x7B)  // {
            var out: [String: FieldValue] = [:]
            skipSpace()
            if i < bytes.count, bytes[i] == 0x7D { i += 1; return out }
            while true {
                skipSpace()
                let key = try string()
                try expect(0x3A)  // :
                skipSpace()
                out[key] = try value()
                skipSpace()
                guard i < bytes.count else { throw fail("unterminated object") }
                if bytes[i] == 0x2C { i += 1; continue }  // ,
                if bytes[i] == 0x7D { i += 1; break }  // }
                throw fail("expected ',' or '}'")
            }
            skipSpace()
            guard i == bytes.count else { throw fail("text after the object") }
            return out
        }

        mutating func value() throws(SyncCoreError) -> FieldValue {
            guard i < bytes.count else { throw fail("missing value") }
            switch bytes[i] {
            case 0x22: return .text(try string())
            case 0x6E:  // null
                guard i + 4 <= bytes.count, bytes[i..<(i + 4)].elementsEqual("null".utf8) else { throw fail("bad literal") }
                i += 4
                return .null
            case 0x2D, 0x30...0x39:
                let start = i
                i += 1
                while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1 }
                guard let n = Int64(String(decoding: bytes[start..<i], as: UTF8.self)) else { throw fail("a number out of range") }
                return .integer(n)
            default:
                throw fail("a value that is not null, a whole number or a string")
            }
        }

        mutating func string() throws(SyncCoreError) -> String {
            guard i < bytes.count, bytes[i] == 0x22 else { throw fail("expected a string") }
            i += 1
            let start = i
            // Fast path: no escapes.
            while i < bytes.count, bytes[i] != 0x22, bytes[i] != 0x5C { i += 1 }
            guard i < bytes.count else { throw fail("unterminated string") }
            if bytes[i] == 0x22 {
                defer { i += 1 }
                return String(decoding: bytes[start..<i], as: UTF8.self)
            }
            var scalars = String.UnicodeScalarView()
            scalars.append(contentsOf: String(decoding: bytes[start..<i], as: UTF8.self).unicodeScalars)
            var raw: [UInt8] = []
            func flush() {
                if !raw.isEmpty { scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars); raw.removeAll() }
            }
            while i < bytes.count {
                let b = bytes[i]
                if b == 0x22 { i += 1; flush(); return String(scalars) }
                if b != 0x5C { raw.append(b); i += 1; continue }
                flush()
                i += 1
                guard i < bytes.count else { break }
                let e = bytes[i]
                i += 1
                switch e {
                case 0x22: scalars.append("\"")
                case 0x5C: scalars.append("\\")
                case 0x2F: scalars.append("/")
                case 0x62: scalars.append("\u{08}")
                case 0x66: scalars.append("\u{0C}")
                case 0x6E: scalars.append("\n")
                case 0x72: scalars.append("\r")
                case 0x74: scalars.append("\t")
                case 0x75:
                    var code = try hex4()
                    if (0xD800...0xDBFF).contains(code), i + 6 <= bytes.count, bytes[i] == 0x5C, bytes[i + 1] == 0x75 {
                        i += 2
                        let low = try hex4()
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw fail("an invalid \\u escape") }
                    scalars.append(scalar)
                default: throw fail("an invalid escape")
                }
            }
            throw fail("unterminated string")
        }

        mutating func hex4() throws(SyncCoreError) -> UInt32 {
            guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else {
                throw fail("an invalid \\u escape")
            }
            i += 4
            return v
        }
    }
}
