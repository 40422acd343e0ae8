import Testing

@testable import SyncCore

/// Three offices and the centre write concurrently; the centre receives the same changes in
/// every interleaving, with duplicates and reordering. Every delivery must fold to the same rows
/// and the same conflict records. Seeded; a failure prints the seed.
@Suite struct ConvergencePropertyTests {
    static let offices = ["79", "80", "96"]

    /// A random history: each office owns one project (national or local) with a ledger; the
    /// centre makes decisions; some changes break rules on purpose.
    static func history(_ rng: inout SplitMix64) -> [String: [Change]] {
        var out: [String: [Change]] = [:]
        for (n, office) in offices.enumerated() {
            let project = RowID(unchecked: "01a220b8-0000-7000-8000-00000000000\(n)")
            let fund: FundSource = rng.next() % 2 == 0 ? .national : .local
            var ms: UInt64 = 1
            func next(_ node: String) -> HLCTimestamp {
                ms += 1 + rng.next() % 2  // a writer never stamps two changes alike
                return HLCTimestamp(milliseconds: ms, counter: UInt16(rng.next() % 2), node: node)
            }
            var changes = [
                Change(
                    table: .project, id: project, op: .upsert, hlc: next(office),
                    fields: [
                        "office": .text(office), "province": .text(office), "code": .text("P"), "name": .text("n"), "category": .text("CDS"),
                        "fund_source": .text(fund.rawValue), "beneficiary": .null, "year": .integer(2025), "total_cost": .integer(3_000),
                        "requested_support": .integer(Int64(rng.next() % 1_000 + 1)), "approved_support": .null,
                        "status": .text(ProjectStatus.allCases[Int(rng.next() % 4)].rawValue),
                    ])
            ]
            for step in 0..<Int(rng.next() % 12) {
                let writer = rng.next() % 3 == 0 ? "central" : office
                switch rng.next() % 4 {
                case 0:
                    changes.append(
                        Change(
                            table: .project, id: project, op: .upsert, hlc: next(writer),
                            fields: ["status": .text(ProjectStatus.allCases.randomElement(using: &rng)!.rawValue)]))
                case 1:
                    changes.append(
                        Change(
                            table: .project, id: project, op: .upsert, hlc: next(writer),
                            fields: ["approved_support": .integer(Int64(rng.next() % 1_000))]))
                case 2:
                    changes.append(
                        Change(
                            table: .project, id: project, op: .upsert, hlc: next(writer),
                            fields: ["requested_support": .integer(Int64(rng.next() % 1_000 + 1)), "name": .text("v\(step)")]))
                default:
                    let entry = RowID(unchecked: "01a220b8-0000-7000-8000-2\(n)\(String(format: "%010d", step))")
                    changes.append(
                        Change(
                            table: .disbursement, id: entry, op: .upsert, hlc: next(office),
                            fields: [
                                "office": .text(office), "project_id": .text(project.rawValue),
                                "kind": .text(rng.next() % 5 == 0 ? "recovery" : "payment"), "amount": .integer(Int64(rng.next() % 400 + 1)),
                                "voucher": .text("V\(rng.next() % 4)"), "paid_on": .text("2025-09-01"),
                            ]))
                }
            }
            out[project.rawValue] = changes
        }
        return out
    }

    @Test func everyInterleavingConvergesToTheSameRowsAndConflicts() {
        let baseSeed = UInt64.random(in: 0..<UInt64.max)
        for offset in 0..<1_000 {
            let seed = baseSeed &+ UInt64(offset)
            var rng = SplitMix64(seed: seed)
            let histories = Self.history(&rng)
            let all = histories.values.flatMap { $0 }
            // Deliveries: the whole stream shuffled, with duplicates, arriving at the centre in
            // batches; the centre refolds after each batch and the last fold is what offices pull.
            for _ in 0..<2 {
                var stream = all + all.filter { _ in rng.next() % 4 == 0 }
                stream.shuffle(using: &rng)
                var received: [String: [Change]] = [:]
                for change in stream {
                    let aggregate = change.table == .project ? change.id.rawValue : change.fields["project_id"]?.text ?? ""
                    received[aggregate, default: []].append(change)
                }
                for (aggregate, changes) in received {
                    let folded = AggregateFold.fold(aggregateID: aggregate, changes: changes)
                    let expected = AggregateFold.fold(aggregateID: aggregate, changes: histories[aggregate] ?? [])
                    #expect(folded == expected, "diverged; reproduce with seed \(seed)")
                    if folded != expected { return }
                }
            }
        }
    }
}
