import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// ISO 8601 timestamps in UTC to the second (`2026-11-28T22:34:35Z`), as stored in `_sync_state`
/// and the centre's tables and shown by `promo-sync status`. Years 1900 to 9999 are written here;
/// others by Foundation (whose calendar is Julian before 1582, unlike the C library's).
///
/// Written and read with the C library's `gmtime_r` and `timegm`: Foundation's ISO 8601 style
/// looks up the current time zone through ICU on first use, which made an idle daemon page in
/// ICU's zone data (docs/BENCHMARKS.md, scenario 5). The text is the same as
/// `date.formatted(.iso8601)`'s (a test compares them), and any other ISO 8601 text is still read
/// by Foundation.
public enum Timestamps {
    /// `date` in UTC to the second, e.g. `2026-11-28T22:34:35Z`; a fraction of a second is dropped.
    public static func format(_ date: Date) -> String {
        var parts = tm()
        guard var seconds = time_t(exactly: date.timeIntervalSince1970.rounded(.down)),
            gmtime_r(&seconds, &parts) != nil, parts.tm_year >= 0, parts.tm_year + 1900 <= 9999
        else {
            return date.formatted(.iso8601)
        }
        var out: [UInt8] = []
        out.reserveCapacity(20)
        func put(_ value: Int32, digits: Int, then separator: UInt8?) {
            var divisor: Int32 = 1
            for _ in 1..<digits { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                out.append(0x30 + UInt8(rest / divisor))
                rest %= divisor
                divisor /= 10
            }
            if let separator { out.append(separator) }
        }
        put(parts.tm_year + 1900, digits: 4, then: UInt8(ascii: "-"))
        put(parts.tm_mon + 1, digits: 2, then: UInt8(ascii: "-"))
        put(parts.tm_mday, digits: 2, then: UInt8(ascii: "T"))
        put(parts.tm_hour, digits: 2, then: UInt8(ascii: ":"))
        put(parts.tm_min, digits: 2, then: UInt8(ascii: ":"))
        put(parts.tm_sec, digits: 2, then: UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    /// The time an ISO 8601 text names, or nil when `text` is nil or not ISO 8601.
    public static func parse(_ text: String?) -> Date? {
        guard let text else { return nil }
        return parseUTC(text) ?? (try? Date(text, strategy: .iso8601))
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` exactly, from 1900 on, with a real date and time; nil for anything else.
    private static func parseUTC(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 20, bytes[4] == 0x2D, bytes[7] == 0x2D, bytes[10] == 0x54, bytes[13] == 0x3A,
            bytes[16] == 0x3A, bytes[19] == 0x5A
        else { return nil }
        func number(_ range: Range<Int>) -> Int32? {
            var value: Int32 = 0
            for i in range {
                guard bytes[i] >= 0x30, bytes[i] <= 0x39 else { return nil }
                value = value * 10 + Int32(bytes[i] - 0x30)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            year >= 1900, (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60
        else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        let seconds = timegm(&parts)
        // timegm moves a 31st of a short month on to the next; such a date is not real.
        guard parts.tm_mday == day, parts.tm_mon == month - 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }
}
