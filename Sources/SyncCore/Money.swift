/// Formatting of `Int64` VND amounts with integer arithmetic only (no floating point anywhere).
public enum Money {
    /// `a + b`, held at the bounds of `Int64` instead of wrapping or trapping: a figure summed over
    /// many rows (a report, a page of the dashboard) never stops the program that shows it. Each
    /// amount is at most ``ValueRules/maxAmount`` and a project's counted ledger at most its total
    /// cost, so only thousands of rows at the limit reach the bound, and show as implausible.
    public static func sum(_ a: Int64, _ b: Int64) -> Int64 {
        let (s, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? .max : .min) : s
    }

    /// Reads a whole number of VND as people type it (digits, an optional leading minus, `_`
    /// between digits), or says what is wrong in words a clerk knows: the one parser of amounts,
    /// for the commands and the CSV importer alike. Bounds are checked elsewhere (``ValueRules``).
    public static func parse(_ text: String) -> Result<Int64, SyncCoreError> {
        let t = text.trimmingCharacters(in: .whitespaces)
        func fail(_ message: String) -> Result<Int64, SyncCoreError> {
            .failure(SyncCoreError(.invalidValue, message, hint: "Write whole VND with digits only, e.g. 1500000000 for 1.5 bn."))
        }
        guard !t.isEmpty else { return fail("no amount given") }
        let digits = t.hasPrefix("-") ? t.dropFirst() : Substring(t)
        if let separator = digits.first(where: { $0 == "." || $0 == "," || $0 == " " }) {
            // 1.500.000.000 (Vietnamese), 1,500,000,000 (English), 1 500 000: groups of three.
            let groups = digits.split(separator: separator, omittingEmptySubsequences: false)
            if groups.count >= 2, groups.dropFirst().allSatisfy({ $0.count == 3 && $0.allSatisfy(\.isASCIIDigit) }),
                (1...3).contains(groups[0].count), groups[0].allSatisfy(\.isASCIIDigit)
            {
                return fail("'\(t)' has thousand separators (the Vietnamese '.', the English ',' or spaces); amounts are written without them")
            }
            if separator != " ", groups.count == 2, groups.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) }) {
                return fail("'\(t)' has a decimal part; amounts are whole VND")
            }
        }
        let plain = digits.replacingOccurrences(of: "_", with: "")
        guard !plain.isEmpty, plain.allSatisfy(\.isASCIIDigit) else { return fail("'\(t)' is not a whole number of VND") }
        guard let value = Int64(t.hasPrefix("-") ? "-" + plain : plain) else { return fail("'\(t)' is too large for an amount") }
        return .success(value)
    }

    /// `amount` in billions of VND (tỷ đồng) with `fractionDigits` decimals, rounded half away from zero.
    public static func billions(_ amount: Int64, fractionDigits: Int = 2) -> String {
        decimal(amount, divisor: 1_000_000_000, fractionDigits: fractionDigits)
    }

    /// `part / whole` as a percentage with `fractionDigits` decimals, rounded half away from zero.
    public static func percent(_ part: Int64, of whole: Int64, fractionDigits: Int = 1) -> String {
        guard whole != 0 else { return "-" }
        let scale = power10(fractionDigits)
        // part * 100 * scale / whole, rounded; 128-bit intermediate avoids overflow.
        let numerator = Int128(part) * 100 * Int128(scale)
        return format(rounded(numerator, Int128(whole)), scale: scale, fractionDigits: fractionDigits) + " %"
    }

    static func decimal(_ amount: Int64, divisor: Int64, fractionDigits: Int) -> String {
        let scale = power10(fractionDigits)
        return format(rounded(Int128(amount) * Int128(scale), Int128(divisor)), scale: scale, fractionDigits: fractionDigits)
    }

    private static func rounded(_ n: Int128, _ d: Int128) -> Int128 {
        let negative = (n < 0) != (d < 0)
        let (q, r) = (abs(n) / abs(d), abs(n) % abs(d))
        let value = r * 2 >= abs(d) ? q + 1 : q
        return negative ? -value : value
    }

    private static func format(_ scaled: Int128, scale: Int64, fractionDigits: Int) -> String {
        let sign = scaled < 0 ? "-" : ""
        let magnitude = abs(scaled)
        let whole = magnitude / Int128(scale)
        guard fractionDigits > 0 else { return sign + String(whole) }
        let fraction = String(magnitude % Int128(scale))
        return sign + String(whole) + "." + String(repeating: "0", count: fractionDigits - fraction.count) + fraction
    }

    private static func power10(_ n: Int) -> Int64 {
        (0..<max(0, n)).reduce(Int64(1)) { acc, _ in acc * 10 }
    }
}

extension Character {
    /// 0–9 only (not other scripts' digits, which `isNumber` accepts).
    var isASCIIDigit: Bool { isASCII && isWholeNumber }
}
