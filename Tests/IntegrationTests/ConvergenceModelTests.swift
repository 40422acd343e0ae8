import Foundation
import SyncTesting
import Testing

/// The model-based convergence test of the whole system (docs/RELIABILITY.md, "Convergence
/// model"): three or four offices (79, 80, 96, and 77, merged into 79 partway) and the centre run
/// random operations drawn from the real commands, under random push and pull schedules with
/// faults; after quiescence every office equals the centre, the money invariants hold, every
/// losing change is a visible conflict, and nothing accepted is missing (ConvergenceModel+Checks).
///
/// `PROMO_MODEL_CASES` sets the number of random cases (default 240), `PROMO_MODEL_SEED` the
/// first seed (default: the fixed ``defaultSeed``, so that `make test` runs the same cases every
/// time and CI fails only for a change in the code; `random` draws one and prints it, as `make
/// chaos-model` does to explore), `PROMO_MODEL_OPS` the operations per case (default 20 to 40).
/// A failing case is shrunk (fewer offices, fewer operations) and printed with its seed.
@Suite struct ConvergenceModelTests {
    static let environment = ProcessInfo.processInfo.environment
    static let cases = environment["PROMO_MODEL_CASES"].flatMap(Int.init) ?? 240
    static let defaultSeed: UInt64 = 2_026_120_400
    static let baseSeed: UInt64 =
        switch environment["PROMO_MODEL_SEED"] {
        case nil: defaultSeed
        case "random": UInt64.random(in: 1...UInt64.max / 2)
        case let text?: UInt64(text) ?? defaultSeed
        }
    static let operations = environment["PROMO_MODEL_OPS"].flatMap(Int.init)
    static let shards = 4

    /// The case for seed number `n` of this run.
    static func scenario(_ n: Int) -> ModelCase {
        let seed = baseSeed &+ UInt64(n)
        return ModelCase(
            seed: seed, operations: operations ?? 20 + Int(seed % 21), offices: 3 + Int((seed >> 7) % 2),
            engineOrder: environment["PROMO_MODEL_ANY_ORDER"] == nil, strictClocks: environment["PROMO_MODEL_LOOSE_CLOCKS"] == nil)
    }

    static func report(_ failing: ModelCase, _ problems: [String], _ trace: [String]) -> String {
        """
        convergence model failed: \(failing) (rerun: PROMO_MODEL_SEED=\(failing.seed) PROMO_MODEL_CASES=1 PROMO_MODEL_OPS=\(failing.operations))
        \(problems.prefix(30).map { "  ✗ " + $0 }.joined(separator: "\n"))
        operations:
        \(trace.map { "  " + $0 }.joined(separator: "\n"))
        """
    }

    /// Each shard runs on a thread of its own, not on the test's cooperative threads: those are as
    /// many as the cores (two here), and a shard computing for half a minute on each of them froze
    /// every live centre, PostgreSQL client and office of the tests running beside it (requests
    /// unanswered for 30 s, record passes past their deadline).
    @Test(arguments: 0..<shards)
    func randomCasesConverge(shard: Int) async throws {
        let (failure, stats) = try await onOwnThread(stackSize: 16 << 20) { Self.run(shard: shard) }
        if let failure {
            #expect(Bool(false), "\(failure)")
            return
        }
        // The cases did what the model is for: money moved, changes lost, faults struck.
        if stats.cases >= 40 {
            #expect(
                stats.conflicts > 0 && stats.heldEntries > 0 && stats.acceptedEntries > 0 && stats.duplicatesAnswered > 0 && stats.crashes > 0,
                "seed \(Self.baseSeed): the cases exercised too little: \(stats.summary)")
        }
    }

    /// One shard's cases: the first failure (shrunk, as a report), and what the cases did.
    static func run(shard: Int) -> (failure: String?, stats: ModelStats) {
        var stats = ModelStats()
        let started = ContinuousClock.now
        for n in stride(from: shard, to: Self.cases, by: Self.shards) {
            let scenario = Self.scenario(n)
            let outcome = ConvergenceModel.run(scenario, stats: &stats)
            guard !outcome.problems.isEmpty else { continue }
            if Self.environment["PROMO_MODEL_TRIAGE"] != nil {
                // Every failing seed with its first problems, no shrinking: for sorting failures by cause.
                print("TRIAGE \(scenario): \(outcome.problems.prefix(3).joined(separator: " | "))")
                continue
            }
            let smallest = ConvergenceModel.shrink(scenario)
            var ignored = ModelStats()
            let shrunk = smallest == scenario ? outcome : ConvergenceModel.run(smallest, stats: &ignored)
            return ("seed \(scenario.seed): \(Self.report(smallest, shrunk.problems, shrunk.trace))", stats)
        }
        print("convergence model, shard \(shard) (first seed \(Self.baseSeed)): \(stats.summary) in \(ContinuousClock.now - started)")
        return (nil, stats)
    }

    /// Cases that once failed, kept with their seeds (docs/RELIABILITY.md lists what each found).
    /// An office's status moves between two pushes reached the centre as one jump from the last
    /// pushed status and were refused (draft → submitted → rejected arrived as draft → rejected);
    /// fixed by sealing the pending changes before and after each move (Replica.sealPending).
    /// The centre's acceptance of a conflict on a national project's first version was ignored:
    /// the fold judged who may accept before the project row existed (seed 7439490320903531565,
    /// shrunk to 14 operations and 3 offices); fixed in AggregateFold, pinned in FoldRuleTests.
    /// A project an office made and deleted before pushing arrived as its delete with its
    /// "created" event, which the centre refused as a row of an unknown project: the office's
    /// pushes stopped (seed 2026120411, the first run with deletes); fixed in WriteAuthorization,
    /// pinned in TrustBoundaryTests. A centre decision on a project of an office merged into
    /// another named the receiving office, and after the merge was undone it stayed that office's
    /// entry in the project's log (seed 2026120843); fixed in CentralStore.decide.
    static let regressions: [ModelCase] = [
        ModelCase(seed: 7036, operations: 8, offices: 2),
        ModelCase(seed: 7016, operations: 15, offices: 2),
        ModelCase(seed: 7_439_490_320_903_531_565, operations: 14, offices: 3),
        ModelCase(seed: 2_026_120_411, operations: 8, offices: 4, strictClocks: true),
        ModelCase(seed: 2_026_120_843, operations: 29, offices: 4, strictClocks: true),
    ]

    @Test(arguments: regressions)
    func regression(_ scenario: ModelCase) {
        Self.expectPasses(scenario)
    }

    static func expectPasses(_ scenario: ModelCase, sourceLocation: SourceLocation = #_sourceLocation) {
        var stats = ModelStats()
        let outcome = ConvergenceModel.run(scenario, stats: &stats)
        #expect(outcome.problems.isEmpty, "seed \(scenario.seed): \(Self.report(scenario, outcome.problems, outcome.trace))", sourceLocation: sourceLocation)
    }

    /// Regression: an office's clock did not observe the centre's, so an office whose clock is
    /// behind pulled an approval, recorded the contract and a payment, and stamped them before the
    /// approval; the fold refused the move and held the payment. Every pull page now carries the
    /// centre's clock (Promo-Clock) and the office's clock observes it.
    @Test
    func officeClockBehindTheCentre() {
        Self.expectPasses(ModelCase(seed: 8020, operations: 33, offices: 3, strictClocks: true))
    }

    /// A pull between a lost acknowledgement and the re-push: the refused local value is kept
    /// (its change is pending), the cursor moves past the centre's answer, and the re-push is only
    /// answered duplicate, so the office keeps the refused value for good. The sync engine never
    /// pulls in that state (a cycle pushes first and a failed push ends it); a schedule that does
    /// diverges.
    @Test(.disabled("known hazard: pulling while the centre holds an unacknowledged changeset loses the centre's answer to it"))
    func pullBetweenLostAcknowledgementAndRepush() {
        Self.expectPasses(ModelCase(seed: 9038, operations: 22, offices: 3, engineOrder: false))
    }
}
