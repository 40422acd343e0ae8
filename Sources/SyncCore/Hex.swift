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

    /// The digit of a value below 16 (computed: a table in a global would be checked for
    /// initialisation on every call, measurable when a million ids are spelled).
    @inline(__always)
    public static func digit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 0x30 + nibble : 0x57 + nibble }
}
