import Foundation
import Testing

@testable import SyncCore

@Suite struct TimestampsTests {
    @Test func textIsFoundationsISO8601AndReadsBack() {
        var rng = SplitMix64(seed: 11)
        let samples =
            [
                Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 951_782_400),  // 2000-02-29
                Date(timeIntervalSince1970: 4_102_444_799.999), Date(timeIntervalSince1970: 1_764_369_275.5),
            ]
            + (0..<2_000).map { _ in Date(timeIntervalSince1970: Double(rng.next() % 4_102_444_800) + Double(rng.next() % 1000) / 1000) }
        for date in samples {
            let text = Timestamps.format(date)
            #expect(text == date.formatted(.iso8601), "\(date.timeIntervalSince1970)")
            #expect(Timestamps.parse(text) == (try? Date(text, strategy: .iso8601)), "\(text)")
            #expect(Timestamps.parse(text)?.timeIntervalSince1970 == date.timeIntervalSince1970.rounded(.down))
        }
    }

    @Test func otherISO8601TextIsStillReadByFoundation() {
        for text in ["2026-11-28T22:34:35+07:00", "2026-11-28T22:34:35.250Z", "2025-02-30T00:00:00Z", "1000-01-01T00:00:00Z"] {
            #expect(Timestamps.parse(text) == (try? Date(text, strategy: .iso8601)), "\(text)")
        }
        #expect(Timestamps.parse("yesterday") == nil)
        // Outside the years 1900–9999 the text is Foundation's, as it always was.
        for date in [Date.distantFuture, Date.distantPast, Date(timeIntervalSince1970: 1e15)] {
            #expect(Timestamps.format(date) == date.formatted(.iso8601))
        }
        #expect(Timestamps.parse(nil) == nil)
    }
}
