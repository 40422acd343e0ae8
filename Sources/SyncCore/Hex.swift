/// Lower-case hexadecimal text of bytes, without Foundation's `String(format:)`, which costs about
/// 3 µs a byte on Linux (a row id made with it took 50 µs; see docs/BENCHMARKS.md).
public enum Hex {
    public static func string(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for b in bytes { append(b, to: &out) }
        return String(decoding: out, as: UTF8.self)
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

    /// The digit of a value below 16 (computed: a table in a global would be checked for
    /// initialisation on every call, measurable when a million ids are spelled).
    @inline(__always)
    public static func digit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 0x30 + nibble : 0x57 + nibble }
}
