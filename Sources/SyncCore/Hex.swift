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

    /// The digit of a value below 16.
    @inline(__always)
    public static func digit(_ nibble: UInt8) -> UInt8 { digits[Int(nibble)] }

    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)
}
