import Foundation

/// A Vietnamese tax code (mã số thuế) of the enterprise a project supports: 10 digits for an
/// enterprise, or 13 for a branch or dependent unit, written as the 10 digits of the enterprise,
/// a hyphen and 3 digits (`0312345678-001`). Read with or without the hyphen and with spaces
/// around; kept and sent in the written form. Only the form is checked: the check digit's formula
/// is the tax authority's and a code that passes it may still not be registered, so the
/// beneficiary's registration certificate stays the proof.
public struct TaxCode: Sendable, Hashable, CustomStringConvertible {
    /// The code as written: `0312345678` or `0312345678-001`.
    public let text: String

    /// Reads 10 digits, or 13 with or without a hyphen after the tenth, spaces around allowed; nil for anything else.
    public init?(_ input: String) {
        let trimmed = input.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.filter { $0 != "-" }
        let hyphens = trimmed.count - digits.count
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        switch (digits.count, hyphens) {
        case (10, 0):
            text = digits
        case (13, 0):
            text = "\(digits.prefix(10))-\(digits.suffix(3))"
        case (13, 1) where trimmed.firstIndex(of: "-") == trimmed.index(trimmed.startIndex, offsetBy: 10):
            text = trimmed
        default:
            return nil
        }
    }

    /// The code as written, e.g. `0312345678-001`.
    public var description: String { text }
}
