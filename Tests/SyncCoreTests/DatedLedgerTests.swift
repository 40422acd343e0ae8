import SyncCore
import Testing

/// ``DatedLedger`` against the plain sums it stands for: what was paid as of a day is every entry
/// dated on or before it, and its extremes from a day on are those of every later day.
@Suite struct DatedLedgerTests {
    @Test(arguments: 0..<20)
    func extremesFromADayAreThoseOfEveryDayFromItOn(seed: Int) {
        var random = SplitMix64(seed: UInt64(seed + 1))
        let days = (1...Int.random(in: 1...40, using: &random)).map { _ in
            "2025-\(String(format: "%02d", Int.random(in: 1...12, using: &random)))-\(String(format: "%02d", Int.random(in: 1...28, using: &random)))"
        }
        var ledger = DatedLedger(days: days)
        var entries: [(day: String, signed: Int64)] = []
        func paid(asOf day: String) -> Int64 { entries.filter { $0.day <= day }.reduce(0) { $0 + $1.signed } }
        for _ in 0..<60 {
            let day = days.randomElement(using: &random)!
            let signed = Int64.random(in: -1_000_000...1_000_000, using: &random)
            ledger.add(signed, on: day)
            entries.append((day, signed))
            let from = days.randomElement(using: &random)!
            let later = Set(days).filter { $0 >= from }.map { paid(asOf: $0) }
            let found = ledger.extremes(from: from)
            #expect(found.lowest == later.min() && found.highest == later.max(), "seed \(seed), from \(from)")
            #expect(ledger.total == entries.reduce(0) { $0 + $1.signed })
            let extreme = later.max()!
            let first = Set(days).filter { $0 >= from }.sorted().first { paid(asOf: $0) == extreme }
            #expect(ledger.firstDay(from: from, paid: extreme) == first, "seed \(seed)")
            let lowest = later.min()!
            #expect(ledger.firstDay(from: from, paid: lowest) == Set(days).filter { $0 >= from }.sorted().first { paid(asOf: $0) == lowest })
        }
        #expect(DatedLedger(entries: entries, more: ["2026-01-01"]).extremes(from: "2026-01-01") == (ledger.total, ledger.total))
    }

    /// The rule built on it: a recovery dated before the payment it returns takes the figure as of
    /// the days between below nothing, and a payment dated before a recovery counts twice through them.
    @Test func anEntryIsJudgedOnEveryDayFromItsDate() throws {
        let ledger = DatedLedger(entries: [("2025-06-01", 100)], more: ["2025-01-02", "2025-03-01"])
        #expect(
            LedgerRules.within(0...100, kind: .recovery, amount: 100, paidOn: "2025-01-02", paid: ledger).failureValue
                == .belowZero(after: -100, paidBefore: 0, asOf: "2025-01-02"))
        #expect(try LedgerRules.within(0...100, kind: .recovery, amount: 100, paidOn: "2025-06-01", paid: ledger).get() == 0)
        let returned = DatedLedger(entries: [("2025-03-01", 100), ("2025-12-01", -100)], more: ["2025-03-02"])
        #expect(
            LedgerRules.admitAmount(kind: .payment, amount: 100, paidOn: "2025-03-02", paid: returned, limit: 100).failureValue
                == .overLimit(after: 200, limit: 100, paidBefore: 100, asOf: "2025-03-02"))
        #expect(LedgerRules.admitAmount(kind: .payment, amount: 100, paidOn: "2025-12-01", paid: returned, limit: 100).failureValue == nil)
    }
}

extension Result {
    fileprivate var failureValue: Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}
