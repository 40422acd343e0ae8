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
        var reader = JSONReader(bytes: Array(text.utf8))
        let fields = try reader.fields(at: "fields")
        try reader.finish()
        return fields
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
}
