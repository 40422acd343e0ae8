/// A project's counted ledger by date: what had been paid as of each day (the entries dated on or
/// before it). An entry is judged on every day from its date on, not only against the total now:
/// judged in the order entries were made, a recovery dated before the payment it returned counted,
/// and what was paid as of the days between was −10^15 VND in the nation's report through a
/// cut-off; payments dated before recoveries counted 4.4 bn VND as of a quarter on a national
/// project approved at 400 m (round 21 of the attacks).
///
/// The days are those an entry may be added on, known beforehand; each addition and each question
/// costs a logarithm of their number (a segment tree with additions to a range), so judging a
/// project of 10,000 entries stays linear in practice.
public struct DatedLedger: Sendable {
    /// The days, sorted and distinct.
    private let days: [String]
    /// Per node of the tree: the highest and lowest paid as of a day of its range, and an amount
    /// added to the whole range that its children do not have yet.
    private var highest: [Int64]
    private var lowest: [Int64]
    private var added: [Int64]
    /// What the entries add up to now.
    public private(set) var total: Int64 = 0

    /// A ledger with nothing paid, for entries dated on `days`.
    public init(days: some Sequence<String>) {
        self.days = Array(Set(days)).sorted()
        let size = max(1, 4 * self.days.count)
        highest = Array(repeating: 0, count: size)
        lowest = highest
        added = highest
    }

    /// A ledger of `entries` (day, signed amount), with `more` days that entries may be added on.
    public init(entries: [(day: String, signed: Int64)], more: some Sequence<String> = []) {
        self.init(days: entries.map(\.day) + Array(more))
        for entry in entries { add(entry.signed, on: entry.day) }
    }

    /// Adds `signed` as paid on `day`, which must be one of the ledger's days.
    public mutating func add(_ signed: Int64, on day: String) {
        guard let first = index(of: day) else { preconditionFailure("\(day) is not a day of this ledger") }
        // Amounts wrap in the tree: every figure it answers is a sum of counted entries, which the
        // rules keep far inside Int64, so the wrapped sums are the true ones.
        total = total &+ signed
        add(signed, from: first, node: 1, range: 0..<days.count)
    }

    /// The lowest and the highest paid as of any day from `day` on (one of the ledger's days).
    public func extremes(from day: String) -> (lowest: Int64, highest: Int64) {
        guard let first = index(of: day) else { preconditionFailure("\(day) is not a day of this ledger") }
        return extremes(from: first, node: 1, range: 0..<days.count)
    }

    /// The first day from `day` on as of which exactly `paid` had been paid, for `paid` one of
    /// the ``extremes(from:)`` from that day (to name the day in a refusal). A descent of the
    /// tree: judging each refused entry by walking every later day made a project of 10,000 held
    /// entries cost the centre seconds a fold.
    public func firstDay(from day: String, paid: Int64) -> String? {
        guard let first = index(of: day) else { return nil }
        return firstIndex(from: first, paid, node: 1, range: 0..<days.count, above: 0).map { days[$0] }
    }

    private func index(of day: String) -> Int? {
        var low = 0
        var high = days.count
        while low < high {
            let middle = (low + high) / 2
            if days[middle] < day { low = middle + 1 } else { high = middle }
        }
        return low < days.count && days[low] == day ? low : nil
    }

    private mutating func add(_ amount: Int64, from first: Int, node: Int, range: Range<Int>) {
        if range.lowerBound >= first {
            highest[node] = highest[node] &+ amount
            lowest[node] = lowest[node] &+ amount
            added[node] = added[node] &+ amount
            return
        }
        let middle = (range.lowerBound + range.upperBound) / 2
        if first < middle { add(amount, from: first, node: 2 * node, range: range.lowerBound..<middle) }
        add(amount, from: first, node: 2 * node + 1, range: middle..<range.upperBound)
        highest[node] = max(highest[2 * node], highest[2 * node + 1]) &+ added[node]
        lowest[node] = min(lowest[2 * node], lowest[2 * node + 1]) &+ added[node]
    }

    private func extremes(from first: Int, node: Int, range: Range<Int>) -> (lowest: Int64, highest: Int64) {
        if range.lowerBound >= first { return (lowest[node], highest[node]) }
        let middle = (range.lowerBound + range.upperBound) / 2
        var found = extremes(from: first, node: 2 * node + 1, range: middle..<range.upperBound)
        if first < middle {
            let left = extremes(from: first, node: 2 * node, range: range.lowerBound..<middle)
            found = (min(found.lowest, left.lowest), max(found.highest, left.highest))
        }
        return (found.lowest &+ added[node], found.highest &+ added[node])
    }

    /// The first index from `first` on, in `node`'s `range`, whose figure is `target`; `above`
    /// is what the node's ancestors add. A subtree whose figures do not reach `target` is
    /// skipped, so finding an extreme takes a logarithm of the days.
    private func firstIndex(from first: Int, _ target: Int64, node: Int, range: Range<Int>, above: Int64) -> Int? {
        guard range.upperBound > first, target >= lowest[node] &+ above, target <= highest[node] &+ above else { return nil }
        if range.count == 1 { return range.lowerBound }
        let middle = (range.lowerBound + range.upperBound) / 2
        let inner = above &+ added[node]
        if first < middle, let found = firstIndex(from: first, target, node: 2 * node, range: range.lowerBound..<middle, above: inner) {
            return found
        }
        return firstIndex(from: first, target, node: 2 * node + 1, range: middle..<range.upperBound, above: inner)
    }
}
