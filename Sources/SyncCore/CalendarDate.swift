import Foundation

/// Dates as the product writes them: `YYYY-MM-DD` in the Gregorian calendar.
public enum CalendarDate {
    /// Whether `text` is a real date between 2000-01-01 and 2100-12-31.
    public static func isValid(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
            (2000...2100).contains(y), (1...12).contains(m), d >= 1
        else { return false }
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
        return d <= days
    }

    /// Reads a date as `YYYY-MM-DD`, or says what is wrong; a date written day first (30/09/2025,
    /// 30-09-2025, 30.09.2025, as Vietnamese forms do) is named as such with the form to use.
    /// The one parser of dates, for the commands and the CSV importer alike.
    public static func parse(_ text: String) -> Result<String, SyncCoreError> {
        let t = text.trimmingCharacters(in: .whitespaces)
        if isValid(t) { return .success(t) }
        for separator: Character in ["/", "-", "."] {
            let parts = t.split(separator: separator, omittingEmptySubsequences: false)
            if parts.count == 3, parts[2].count == 4, (1...2).contains(parts[0].count), (1...2).contains(parts[1].count),
                parts.allSatisfy({ $0.allSatisfy(\.isASCIIDigit) })
            {
                func two(_ s: Substring) -> String { s.count == 1 ? "0" + s : String(s) }
                let iso = "\(parts[2])-\(two(parts[1]))-\(two(parts[0]))"
                return .failure(
                    SyncCoreError(
                        .invalidValue, "'\(t)' is written day/month/year (dd/mm/yyyy)",
                        hint: isValid(iso) ? "Write it year first: \(iso)." : "Write dates year first, YYYY-MM-DD, e.g. 2025-09-30."))
            }
        }
        return .failure(SyncCoreError(.invalidValue, "'\(t)' is not a date", hint: "Write dates year first, YYYY-MM-DD, e.g. 2025-09-30."))
    }

    /// The calendar date in Vietnam (UTC+7) of a time in milliseconds since 1970, `YYYY-MM-DD`;
    /// computed without a calendar object, as the fold dates every ledger entry's clock.
    public static func vietnamDate(milliseconds: UInt64) -> String {
        // Days since 1970-01-01 to a civil date (Howard Hinnant's days_from_civil, inverted).
        let days = Int64((milliseconds / 1_000 + 7 * 3_600) / 86_400) + 719_468
        let era = days / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(year)-\(two(month))-\(two(day))"
    }

    /// The calendar date of `now` in Vietnam (UTC+7 all year, no daylight saving), `YYYY-MM-DD`.
    public static func today(_ now: Date = Date()) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 7 * 3600)!
        let c = calendar.dateComponents([.year, .month, .day], from: now)
        return String(format: "%04d-%02d-%02d", c.year ?? 2000, c.month ?? 1, c.day ?? 1)
    }
}
