/// The money rules of a project's ledger, in one place (docs/CONFLICTS.md, rule 3 and
/// "Invariants"). The centre's fold applies them entry by entry in clock order and holds an entry
/// that breaks one as a conflict; the office applies the same rules before it writes an entry, to
/// refuse it with a message instead.
public enum LedgerRules {
    /// A project's life in years: entries are dated from 1 January of its plan year to 31
    /// December five years later (a multi-year project settles at the latest then).
    public static let lifeYears: Int64 = 5

    /// Why an entry may not be recorded.
    public enum Refusal: Error, Sendable, Equatable {
        /// Paid (advances + payments + settlement adjustments − recoveries) would pass the limit
        /// (approved support, or requested support before approval), or overflow: now, or as of
        /// `asOf`, a day from the entry's date on (entries dated later take it back by now).
        case overLimit(after: Int64?, limit: Int64, paidBefore: Int64, asOf: String? = nil)
        /// A recovery (or a negative adjustment) would take paid below zero: more comes back than
        /// went out, by now or by `asOf` (a day from its date on: it returns what was paid after it).
        case belowZero(after: Int64, paidBefore: Int64, asOf: String? = nil)
        /// The project's status at the time takes no entry of this kind.
        case status(ProjectStatus?)
        /// The date is outside the project's life, or after the day the entry was recorded.
        case date(String)
        /// A national project whose support the centre has not approved (``limit(fund:approved:requested:totalCost:)``).
        case notApproved

        /// The day from the entry's date on as of which the bound would be passed, when it is not
        /// the total now that passes it.
        public var asOf: String? {
            switch self {
            case .overLimit(_, _, _, let day), .belowZero(_, _, let day): day
            default: nil
            }
        }

        /// The conflict rule under which the centre's fold holds an entry refused for this reason.
        public var rule: ConflictRule {
            switch self {
            case .overLimit: .overDisbursement
            case .belowZero: .overRecovery
            case .status, .date, .notApproved: .paymentNotAllowed
            }
        }

        /// One sentence, with amounts in VND.
        public var message: String {
            switch self {
            case .overLimit(let after, let limit, let before, nil):
                "this entry would take disbursements to \(after.map { "\($0)" } ?? "an overflow") VND, past the limit of \(limit) VND (\(before) VND paid before it)"
            case .overLimit(let after, let limit, let before, let day?):
                "this entry would take disbursements as of \(day) to \(after.map { "\($0)" } ?? "an overflow") VND, past the limit of \(limit) VND (\(before) VND paid by then; entries dated later take it back by now, but the figures through \(day) would count it)"
            case .belowZero(let after, let before, nil):
                "this entry would take disbursements below zero (to \(after) VND): only \(before) VND was paid before it"
            case .belowZero(let after, let before, let day?):
                "this entry would take disbursements as of \(day) below zero (to \(after) VND): only \(before) VND was paid by then; a recovery returns what was paid before its date"
            case .status(let status):
                "a project in status \(status?.rawValue ?? "none") takes no such entry (entries from approval on; while halted, recoveries only)"
            case .date(let reason):
                reason
            case .notApproved:
                "the centre has approved no support for this national project: it takes no entry until the centre approves (or adjusts) its support"
            }
        }
    }

    /// The statuses in which a project takes an entry of `kind`: from approval on (never before),
    /// and while halted only recoveries. The rule looks no further: the centre judges an entry by
    /// the status in force at its clock, and an office's own status moves reach it coalesced with
    /// the project row (a project approved, paid and settled between two syncs arrives settled,
    /// stamped before its payments), so "settled" or "closed" at an entry's clock does not mean the
    /// payment came after the settlement. Corrections after settlement (recoveries, adjustments)
    /// are real, so those statuses keep taking entries.
    public static func statuses(for kind: DisbursementKind) -> Set<ProjectStatus> {
        let afterApproval: Set<ProjectStatus> = [.approved, .contracted, .inProgress, .accepted, .settled, .closed]
        return kind == .recovery ? afterApproval.union([.halted]) : afterApproval
    }

    /// The most a project's entries may add up to: its approved support; before approval, for a
    /// project of the province's own funds, its requested support. A national project's approved
    /// support is the centre's to set, so without it (nil: a project an office made already past
    /// approval) the project takes no entry: its office's own request is no limit. Never more than
    /// the total cost (``ceiling(totalCost:)``), of which support is a part: an office that set a
    /// local project's support to 10^15 on a cost of 1 million, or lowered a national project's
    /// cost below the support the centre approved, had its payments count past the cost.
    public static func limit(fund: FundSource?, approved: Int64?, requested: Int64?, totalCost: Int64?) -> Int64? {
        (approved ?? (fund == .local ? requested : nil)).map { min($0, ceiling(totalCost: totalCost)) }
    }

    /// The most a project's counted entries may ever add up to (or take back), accepted
    /// over-disbursements included: its total cost, of which support is a part; without one, the
    /// largest amount a field holds. So a project's counted ledger, and any sum of a few thousand
    /// projects, stays far inside `Int64`.
    public static func ceiling(totalCost: Int64?) -> Int64 {
        min(totalCost ?? ValueRules.maxAmount, ValueRules.maxAmount)
    }

    /// The signed effect of an entry on the amount paid.
    public static func signed(_ kind: DisbursementKind, _ amount: Int64) -> Int64 {
        kind == .recovery ? 0 &- amount : amount
    }

    /// What entries of (kind, amount) add up to as paid, or nil when the sum overflows.
    public static func paid(_ entries: some Sequence<(DisbursementKind, Int64)>) -> Int64? {
        var total: Int64 = 0
        for (kind, amount) in entries {
            let (sum, overflow) = total.addingReportingOverflow(signed(kind, amount))
            if overflow { return nil }
            total = sum
        }
        return total
    }

    /// The fields of a recorded entry that no accepted edit changes: what it moved, which way, in
    /// which project and for which office. An accepted "correction" of an entry's amount let 1.5 bn
    /// count under an acceptance given for a 50 m overrun (round 13); a correction is a new entry.
    /// Its date too: the figures through a cut-off count it by its date, and it was judged on
    /// every day from that date on (``DatedLedger``).
    public static let recordedMoney: Set<String> = ["amount", "kind", "project_id", "office", "paid_on"]

    /// The conflict rules that hold a ledger entry out of every total until a person accepts it.
    public static let holdingRules: [ConflictRule] = [.overDisbursement, .overRecovery, .paymentNotAllowed, .duplicateVoucher, .ownership]

    /// Checks one entry against the project as it stood when the entry was made: what was `paid`
    /// before it, by date (its ledger's days include `paidOn`), the `limit`
    /// (``limit(fund:approved:requested:totalCost:)``; nil: none approved), the `status`, the plan
    /// `year`, and `recordedOn` (the day the entry was recorded: the office's date when it writes,
    /// the date of the change's clock at the centre). Returns the amount paid after the entry, or
    /// why it may not be recorded.
    public static func admit(
        kind: DisbursementKind, amount: Int64, paidOn: String, paid: DatedLedger, limit: Int64?,
        status: ProjectStatus?, year: Int64?, recordedOn: String?
    ) -> Result<Int64, Refusal> {
        if let refusal = circumstanceProblem(kind: kind, paidOn: paidOn, status: status, year: year, recordedOn: recordedOn) {
            return .failure(refusal)
        }
        return admitAmount(kind: kind, amount: amount, paidOn: paidOn, paid: paid, limit: limit)
    }

    /// The first half of ``admit(kind:amount:paidOn:paid:limit:status:year:recordedOn:)``: whether
    /// the project took an entry of `kind` then (its status) and dated `paidOn`. A person may accept
    /// an entry refused for this (a payment recorded late, a date mistyped); that waives the
    /// circumstance only, never the amount, which ``admitAmount(kind:amount:paid:limit:)`` judges
    /// after it (an accepted date exception had let 1 bn count on a project approved at 200 m).
    public static func circumstanceProblem(
        kind: DisbursementKind, paidOn: String, status: ProjectStatus?, year: Int64?, recordedOn: String?
    ) -> Refusal? {
        guard let status, statuses(for: kind).contains(status) else { return .status(status) }
        return dateProblem(paidOn, year: year, recordedOn: recordedOn).map { .date($0) }
    }

    /// The second half: the amount against what was `paid` before and the `limit`, on every day
    /// from the entry's date on (``DatedLedger``), so that the figures through any cut-off stay
    /// between nothing and the limit as the total does.
    public static func admitAmount(kind: DisbursementKind, amount: Int64, paidOn: String, paid: DatedLedger, limit: Int64?) -> Result<Int64, Refusal> {
        guard let limit else { return .failure(.notApproved) }
        return within(0...limit, kind: kind, amount: amount, paidOn: paidOn, paid: paid)
    }

    /// Whether an entry keeps what was `paid` as of every day from `paidOn` on within `bounds`:
    /// the total after it, or why not (past the upper bound, ``Refusal/overLimit(after:limit:paidBefore:asOf:)``;
    /// below the lower, ``Refusal/belowZero(after:paidBefore:asOf:)``). The fold also asks it of an
    /// entry a person accepted, with the bounds no acceptance passes.
    public static func within(_ bounds: ClosedRange<Int64>, kind: DisbursementKind, amount: Int64, paidOn: String, paid: DatedLedger) -> Result<Int64, Refusal>
    {
        let change = signed(kind, amount)
        let (lowest, highest) = paid.extremes(from: paidOn)
        // The day named is the first on which the extreme stands, unless the total now is it.
        func day(_ extreme: Int64) -> String? { extreme == paid.total ? nil : paid.firstDay(from: paidOn, paid: extreme) }
        let (high, overflow) = highest.addingReportingOverflow(change)
        if overflow || high > bounds.upperBound {
            return .failure(.overLimit(after: overflow ? nil : high, limit: bounds.upperBound, paidBefore: highest, asOf: day(highest)))
        }
        let (low, underflow) = lowest.addingReportingOverflow(change)
        if underflow || low < bounds.lowerBound { return .failure(.belowZero(after: low, paidBefore: lowest, asOf: day(lowest))) }
        return .success(paid.total &+ change)
    }

    /// Why `paidOn` is not a date an entry of a project of plan year `year` may carry, or nil:
    /// within the project's life, and not after the day it was recorded (a payment is recorded
    /// when it is made or later, never ahead).
    public static func dateProblem(_ paidOn: String, year: Int64?, recordedOn: String?) -> String? {
        guard CalendarDate.isValid(paidOn) else { return "'\(paidOn)' is not a date (YYYY-MM-DD)" }
        if let year {
            let first = "\(year)-01-01"
            let last = "\(year + lifeYears)-12-31"
            if paidOn < first || paidOn > last {
                return "the entry is dated \(paidOn), outside the life of a \(year) project (\(first) to \(last))"
            }
        }
        if let recordedOn, paidOn > recordedOn {
            return "the entry is dated \(paidOn), after the day it was recorded (\(recordedOn)); record payments when they are made"
        }
        return nil
    }
}
