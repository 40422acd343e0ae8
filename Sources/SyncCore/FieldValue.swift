/// The value of one column of a synced row, as carried on the wire.
///
/// Only what the replica stores exists here: text, 64-bit integers (money is always `Int64` VND)
/// and null. There is deliberately no floating-point case.
public enum FieldValue: Hashable, Codable, Sendable, CustomStringConvertible {
    case null
    case integer(Int64)
    case text(String)

    /// Reads JSON null, a whole number that fits in `Int64`, or a string; anything else is a data-corrupted error.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let i = try? c.decode(Int64.self) {
            self = .integer(i)
        } else if let s = try? c.decode(String.self) {
            self = .text(s)
        } else {
            throw DecodingError.dataCorruptedError(
                in: c, debugDescription: "a field value must be null, a whole number or a string")
        }
    }

    /// Writes JSON null, a whole number or a string.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .integer(let i): try c.encode(i)
        case .text(let s): try c.encode(s)
        }
    }

    /// The integer, if this is one.
    public var integer: Int64? { if case .integer(let i) = self { i } else { nil } }
    /// The text, if this is text.
    public var text: String? { if case .text(let s) = self { s } else { nil } }

    /// `null`, the number in decimal, or the text as it is.
    public var description: String {
        switch self {
        case .null: "null"
        case .integer(let i): String(i)
        case .text(let s): s
        }
    }
}
