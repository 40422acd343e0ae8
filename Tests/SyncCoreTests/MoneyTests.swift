import Testing
@testable import SyncCore

@Suite struct MoneyTests {
    @Test func southernRegionFiguresRoundAsPublished() {
        // 2025: 8.33 bn disbursed of a 56.3 bn plan by 30 September → 8.3 bn, 14.8 %.
        #expect(Money.billions(8_330_000_000, fractionDigits: 1) == "8.3")
        #expect(Money.percent(8_330_000_000, of: 56_300_000_000) == "14.8 %")
        // 2024: 53.81 bn implemented of 67.43 bn → 79.8 %.
        #expect(Money.percent(53_810_000_000, of: 67_430_000_000) == "79.8 %")
    }

    @Test(arguments: [
        (Int64(0), "0.00"), (1_000_000_000, "1.00"), (1_005_000_000, "1.01"), (-1_005_000_000, "-1.01"),
        (Int64.max, "9223372036.85"),
    ])
    func billionsRoundHalfAwayFromZero(amount: Int64, expected: String) {
        #expect(Money.billions(amount) == expected)
    }

    @Test func percentOfZeroIsADash() {
        #expect(Money.percent(5, of: 0) == "-")
    }
}
