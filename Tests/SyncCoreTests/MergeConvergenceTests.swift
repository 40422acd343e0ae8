import Testing

@testable import SyncCore

/// Randomized convergence: the same changes merged in any order, any number of times, give the
/// same row. Seeded; a failure prints the seed that reproduces it.
@Suite struct MergeConvergenceTests {
    static let nodes = ["79", "80", "96", "central"]
    static let fields = ["name", "status", "total_cost", "approved_support"]

    static func randomChanges(_ rng: inout SplitMix64) -> [Change] {
        let id = RowID(unchecked: "01a220b8-f6ba-7f3d-953c-42fbd3d0fb8c")
        return (0..<Int(rng.next() % 12 + 1)).map { _ in
            let node = nodes[Int(rng.next() % UInt64(nodes.count))]
            // Few distinct milliseconds, so equal wall times (tie-broken by counter and node) are common.
            let hlc = HLCTimestamp(milliseconds: rng.next() % 5, counter: UInt16(rng.next() % 3), node: node)
            if rng.next() % 10 == 0 { return Change(table: .project, id: id, op: .delete, hlc: hlc, fields: [:]) }
            var values: [String: FieldValue] = [:]
            for field in fields where rng.next() % 2 == 0 {
                values[field] = rng.next() % 2 == 0 ? .integer(Int64(rng.next() % 1_000)) : .text("v\(rng.next() % 7)")
            }
            return Change(table: .project, id: id, op: .upsert, hlc: hlc, fields: values)
        }
    }

    @Test func anyOrderAndDuplicationConverges() {
        let baseSeed = UInt64.random(in: 0..<UInt64.max)
        for offset in 0..<1_000 {
            let seed = baseSeed &+ UInt64(offset)
            var rng = SplitMix64(seed: seed)
            // Distinct timestamps per change; a writer never stamps two changes alike.
            var seen: Set<HLCTimestamp> = []
            let changes = Self.randomChanges(&rng).filter { seen.insert($0.hlc).inserted }
            var reference = MergedRow()
            for change in changes { reference.merge(change) }
            for _ in 0..<3 {
                var delivery = changes + changes.filter { _ in rng.next() % 3 == 0 }  // duplicates
                delivery.shuffle(using: &rng)
                var row = MergedRow()
                for change in delivery { row.merge(change) }
                #expect(row == reference, "diverged; reproduce with seed \(seed)")
                if row != reference { return }
            }
        }
    }

    @Test func laterClockWinsPerFieldAndConcurrentFieldsBothSurvive() {
        let id = RowID(unchecked: "01a220b8-f6ba-7f3d-953c-42fbd3d0fb8c")
        var row = MergedRow()
        row.merge(
            Change(
                table: .project, id: id, op: .upsert, hlc: HLCTimestamp(milliseconds: 2, counter: 0, node: "central"),
                fields: ["approved_support": .integer(500)]))
        row.merge(
            Change(
                table: .project, id: id, op: .upsert, hlc: HLCTimestamp(milliseconds: 1, counter: 0, node: "79"),
                fields: ["approved_support": .integer(1), "name": .text("Máy sấy")]))
        #expect(row.fields["approved_support"] == .integer(500))
        #expect(row.fields["name"] == .text("Máy sấy"))
    }

    @Test func aTombstoneIsNotUndoneByAnUpdateButKeepsItsValues() {
        let id = RowID(unchecked: "01a220b8-f6ba-7f3d-953c-42fbd3d0fb8c")
        var row = MergedRow()
        row.merge(Change(table: .project, id: id, op: .delete, hlc: HLCTimestamp(milliseconds: 1, counter: 0, node: "79"), fields: [:]))
        row.merge(
            Change(
                table: .project, id: id, op: .upsert, hlc: HLCTimestamp(milliseconds: 2, counter: 0, node: "79"),
                fields: ["name": .text("late edit")]))
        #expect(row.isDeleted)
        #expect(row.fields["name"] == .text("late edit"))
    }
}
