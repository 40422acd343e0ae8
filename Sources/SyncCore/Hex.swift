/// Lower-case hexadecimal text of bytes, without Foundation's `String(format:)`, which costs about
/// 3 µs a byte on Linux (a row id made with it took 50 µs; see docs/BENCHMARKS.md).
public enum Hex {
    /// Two lower-case hex digits per byte, in order: a SHA-256 digest gives 64 characters.
    public static func string(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for b in bytes { append(b, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of lowercase or uppercase hex text, or nil when it is not hex of whole bytes.
    public static func bytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x57
            case 0x41...0x46: c - 0x37
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let high = value(digits[i]), let low = value(digits[i + 1]) else { return nil }
            out.append(high << 4 | low)
        }
        return out
    }

    /// Appends the two digits of `byte` to `out`.
    @inline(__always)
    public static func append(_ byte: UInt8, to out: inout [UInt8]) {
        out.append(digit(byte >> 4))
        out.append(digit(byte & 15))
    }

    /// Appends the 16 digits of `value`, most significant first.
    public static func append(_ value: UInt64, to out: inout [UInt8]) {
        for shift in stride(from: 60, through: 0, by: -4) { out.append(digit(UInt8(truncatingIfNeeded: value >> UInt64(shift)) & 15)) }
    }

    /// Appends a UUID of these 128 bits as `8-4-4-4-12` lower-case text (the spelling `RowID` keeps).
    public static func appendUUID(high: UInt64, low: UInt64, to out: inout [UInt8]) {
        for position in 0..<32 {
            if position == 8 || position == 12 || position == 16 || position == 20 { out.append(0x2D) }
            let value = position < 16 ? high : low
            out.append(digit(UInt8(truncatingIfNeeded: value >> UInt64(60 - 4 * (position & 15))) & 15))
        }
    }

    /// The 128 bits of `8-4-4-4-12` hex text (RFC 9562's spelling of a UUID, digits of either
    /// case), and whether any digit was upper-case; nil for any other text. Read byte by byte:
    /// Foundation's `UUID(uuidString:)` goes through `sscanf` and cost a few µs per id.
    public static func parseUUID(_ text: String) -> (high: UInt64, low: UInt64, upperCase: Bool)? {
        guard text.utf8.count == 36 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        var digits = 0
        var i = -1
        var upper = false
        for byte in text.utf8 {
            i += 1
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard byte == 0x2D else { return nil }
                continue
            }
            let value: UInt8
            switch byte {
            case 0x30...0x39: value = byte - 0x30
            case 0x61...0x66: value = byte - 0x57
            case 0x41...0x46:
                value = byte - 0x37
                upper = true
            default: return nil
            }
            if digits < 16 { high = high << 4 | UInt64(value) } else { low = low << 4 | UInt64(value) }
            digits += 1
        }
        return (high, low, upper)
    }

    /// The digit of a value below 16 (computed: a table in a global would be checked for
    /// initialisation on every call, measurable when a million ids are spelled).
    @inline(__always)
    public static func digit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 0x30 + nibble : 0x57 + nibble }
}
