import Foundation
import SyncCore

/// What one office's pushes may make the centre do inside its one write transaction, which every
/// office's pushes wait for (`[limits]` in promo-central.toml, docs/SECURITY.md).
///
/// A push refolds the whole stored history of every project, plan line and programme it adds a
/// change to. One change costs an office little to send and the centre as much as that history
/// to fold: an office holding fifty projects of thousands of changes, adding one to each per push,
/// held every office's pushes for seconds at every push. So each aggregate's history is bounded,
/// the stored history one push may have read back and refolded is bounded, and an office's pushes
/// together may have it refold only so much a second (a bucket per office, as for requests). What
/// a refold costs is counted in stored changes, each 8 KB of their text counting as one more
/// (``refoldWork(changes:characters:)``): a project renamed 2,000 times with the longest names
/// the value rules allow cost twenty times what 2,000 short changes did. New aggregates, and
/// changes the centre holds already, cost nothing.
public final class WriteLimits: Sendable {
    /// `limits.max_changes_per_aggregate`: the most changes one aggregate's history may hold after
    /// an office's push. Ten years of weekly payments are about 500; a forced resync adds one per
    /// row of the office.
    public let maxChangesPerAggregate: Int64
    /// `limits.refold_changes_burst`: the most stored changes (``refoldWork(changes:characters:)``)
    /// one push may have the centre read back and refold, and what an office may use at once
    /// after being idle.
    public let refoldBurst: Int64
    /// Stored changes per office and second, on average (`limits.refold_changes_per_second`).
    let refold: RateLimiter

    /// Limits with these values (the defaults are promo-central.example.toml's).
    public init(maxChangesPerAggregate: Int64 = 10_000, refoldPerSecond: Int64 = 5_000, refoldBurst: Int64 = 50_000) {
        self.maxChangesPerAggregate = maxChangesPerAggregate
        self.refoldBurst = refoldBurst
        refold = RateLimiter(ratePerSecond: Double(refoldPerSecond), burst: Double(refoldBurst))
    }

    /// The limits `configuration` sets.
    public convenience init(_ configuration: CentralConfiguration) {
        self.init(
            maxChangesPerAggregate: configuration.maxChangesPerAggregate, refoldPerSecond: configuration.refoldPerSecond,
            refoldBurst: configuration.refoldBurst)
    }

    /// What refolding `changes` stored changes holding `characters` characters of fields costs, in
    /// changes: one each, and one more per 8 KB. Measured on a release build (round 7 of the
    /// attacks): 40 µs a short change, 5.5 ns a byte.
    static func refoldWork(changes: Int64, characters: Int64) -> Int64 {
        changes + characters / 8_192
    }

    /// Refuses a change that takes its aggregate past ``maxChangesPerAggregate`` (`count`: the
    /// changes it would hold).
    func checkSize(of aggregate: String, count: Int64, first change: Change) throws(CentralError) {
        guard count > maxChangesPerAggregate else { return }
        throw CentralError(
            .unprocessableContent, .aggregateFull,
            "\(change.table.rawValue) \(change.id) would take record \(aggregate) to \(count) changes, more than the \(maxChangesPerAggregate) the centre keeps for one project, plan line or programme",
            hint:
                "Nothing of this changeset was applied. Withdraw the change (promo-sync outbox withdraw), or ask the centre's operator to raise limits.max_changes_per_aggregate.",
            row: SyncedRowKey(change.table, change.id.rawValue))
    }

    /// Whether `office` may have `stored` changes refolded now (what ``chargeRefold(_:to:sequence:)``
    /// would take), without taking them.
    func affords(_ stored: Int64, office: OfficeCode) -> Bool {
        stored <= refoldBurst && Double(stored) <= refold.available(office.rawValue)
    }

    /// Charges `stored` changes read back to refold to `office`'s allowance: a push that needs
    /// more than ``refoldBurst`` is refused for good (422), one that needs more than is left now
    /// is refused for a while (429, as a request over the rate is), and nothing of it is applied.
    func chargeRefold(_ stored: Int64, to office: OfficeCode, sequence: ChangesetSequence) throws(CentralError) {
        guard stored > 0 else { return }
        guard stored <= refoldBurst else {
            throw CentralError(
                .unprocessableContent, .changesetTooHeavy,
                "changeset \(sequence) adds to records holding \(stored) changes between them (each 8 KB of their text counting as one more); the centre refolds at most \(refoldBurst) for one changeset",
                hint:
                    "Nothing of it was applied. Ask the centre's operator to raise limits.refold_changes_burst, or lower sync.max_changes_per_changeset and run promo-sync resync --force."
            )
        }
        if let wait = refold.admit(office.rawValue, cost: Double(stored)) {
            throw CentralError(
                .tooManyRequests, .rateLimited,
                "office \(office) had the centre refold more than \(Int(refold.ratePerSecond)) stored changes a second (each 8 KB of their text counting as one more); changeset \(sequence) needs \(stored)",
                hint: "Retry after \(wait) s; promo-sync backs off by itself.")
        }
    }
}
