import SyncCore

/// The JSON form of a row's fields (`{"name":value,…}` with keys sorted, values null, whole
/// numbers or strings), written and read without Foundation's coders: stores keep every record
/// and every change in this form, and the general coders cost more per row than the rest of the
/// merge. The output is valid JSON that any JSON reader accepts.
public enum FieldCoding {
    /// Encodes fields with sorted keys.
    public static func encode(_ fields: [String: FieldValue]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(24 * fields.count + 2)
        append(fields, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Encodes per-field clocks (name → clock text) as the centre stores them (`record.clocks`):
    /// one JSON string when every field has the same clock (a row written by one change, most
    /// rows), else an object of the fields' clocks with sorted keys. Releases before 1.8.0 always
    /// wrote the object (``encodeEach(clocks:)``); ``currentForm(ofClocks:)`` turns that into this.
    public static func encode(clocks: [String: HLCTimestamp]) -> String {
        if let first = clocks.first?.value, clocks.values.allSatisfy({ $0 == first }) {
            var out: [UInt8] = []
            appendString(first.description, to: &out)
            return String(decoding: out, as: UTF8.self)
        }
        return encodeEach(clocks: clocks)
    }

    /// Encodes per-field clocks as an object of every field's clock, whether or not they differ:
    /// the form the centre stored before release 1.8.0.
    public static func encodeEach(clocks: [String: HLCTimestamp]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(40 * clocks.count + 2)
        var previous: (clock: HLCTimestamp, text: String)?
        appendObject(clocks.sorted { $0.key < $1.key }, to: &out) { clock, out in
            let text = previous?.clock == clock ? previous!.text : clock.description
            previous = (clock, text)
            appendString(text, to: &out)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Stored clocks in the form ``encode(clocks:)`` gives them now: an object whose fields all
    /// have one clock (as a release before 1.8.0 stored it) becomes that clock's string; anything
    /// else is returned as it is.
    public static func currentForm(ofClocks stored: String) -> String {
        guard stored.utf8.first == UInt8(ascii: "{"), let clocks = try? decode(stored), let first = clocks.first?.value,
            case .text = first, clocks.values.allSatisfy({ $0 == first })
        else { return stored }
        var out: [UInt8] = []
        append(first, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the encoded fields (keys sorted) to a UTF-8 buffer.
    static func append(_ fields: [String: FieldValue], to out: inout [UInt8]) {
        appendObject(fields.sorted { $0.key < $1.key }, to: &out) { value, out in append(value, to: &out) }
    }

    /// Appends one value's JSON (null, a whole number or a string) to a UTF-8 buffer.
    static func append(_ value: FieldValue, to out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        case .integer(let i): appendInteger(i, to: &out)
        case .text(let s): appendString(s, to: &out)
        }
    }

    private static func appendObject<Value>(
        _ members: [(key: String, value: Value)], to out: inout [UInt8],
        _ appendValue: (Value, inout [UInt8]) -> Void
    ) {
        out.append(0x7B)
        for (index, member) in members.enumerated() {
            if index > 0 { out.append(0x2C) }
            appendString(member.key, to: &out)
            out.append(0x3A)
            appendValue(member.value, &out)
        }
        out.append(0x7D)
    }

    /// Decodes what ``encode(_:)`` (or any JSON writer) produced for a flat object of null, whole
    /// number and string values.
    public static func decode(_ text: String) throws(SyncCoreError) -> [String: FieldValue] {
        var reader = JSONReader(bytes: Array(text.utf8))
        let fields = try reader.fields(at: "fields")
        try reader.finish()
        return fields
    }

    /// Reads stored fields straight into `values`, one per column of `table` in its order: a
    /// column without a member is null, a member the table has no column for is skipped. For
    /// digests, which read a million rows: no dictionary is made per row.
    public static func decode(_ text: String, columnsOf table: SyncedTable, into values: inout [FieldValue]) throws(SyncCoreError) {
        values.removeAll(keepingCapacity: true)
        values.append(contentsOf: repeatElement(FieldValue.null, count: table.columns.count))
        var seen: UInt64 = 0
        var reader = JSONReader(bytes: Array(text.utf8))
        try reader.members(at: "fields") { r, name throws(SyncCoreError) in
            let value = try r.fieldValue(at: "fields.\(name)")
            guard let index = table.column(named: name)?.index else { return }
            guard seen & (1 << UInt64(index)) == 0 else { throw r.fail("a repeated member '\(name)'") }
            seen |= 1 << UInt64(index)
            values[index] = value
        }
        try reader.finish()
    }

    /// Appends a whole number in decimal.
    static func appendInteger(_ i: Int64, to out: inout [UInt8]) {
        out.append(contentsOf: String(i).utf8)  // at most 20 digits: a small string, nothing allocated
    }

    /// Appends a JSON string: `"` and `\` escaped, \n \r \t by name, other control characters as
    /// `\u00xx`, everything else (UTF-8 included) as it is.
    static func appendString(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { appendString(utf8: $0, to: &out) }
    }

    /// The same for text given as UTF-8 bytes.
    static func appendString(utf8 bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.append(0x22)
        var plainFrom = 0
        for (index, byte) in bytes.enumerated() where byte < 0x20 || byte == 0x22 || byte == 0x5C {
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[plainFrom..<index]))
            plainFrom = index + 1
            switch byte {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: out.append(contentsOf: [0x5C, 0x72])
            case 0x09: out.append(contentsOf: [0x5C, 0x74])
            default:
                out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30])
                Hex.append(byte, to: &out)
            }
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[plainFrom...]))
        out.append(0x22)
    }
}
