/// The merged result of folding one aggregate's history.
public struct FoldResult: Sendable, Equatable {
    /// One row as the fold leaves it, with the office it belongs to.
    public struct Row: Sendable, Equatable {
        /// The synced table the row is in.
        public var table: SyncedTable
        /// The row's id as text.
        public var id: String
        /// The office the row belongs to (an office merged into another answers as that one), or `central`.
        public var office: String
        /// The row's merged fields and their clocks, after the ownership, status and ledger rules.
        public var state: MergedRow
        /// A ledger entry held out of the totals by a conflict that is open or dismissed.
        public var held: Bool
    }

    /// Every row of the aggregate, sorted by table and then by id.
    public var rows: [Row]
    /// Sorted by id.
    public var conflicts: [ConflictRecord]
}

/// Folds the whole history of an aggregate (a project with its ledger and the resolutions of its
/// conflicts, or a plan line) into its current rows and conflict records.
///
/// Changes are taken in hybrid-logical-clock order, whatever order they arrived in, so the result
/// depends only on the set of changes: every replica that folds the same set gets the same rows
/// and the same conflicts (docs/CONFLICTS.md). Duplicates (same row, same clock) count once.
public enum AggregateFold {
    ///
    /// `rehomed` maps the codes of offices merged into another (`promo-central office merge`) to
    /// the office that took them over: their records are folded as that office's, while the
    /// history keeps who wrote what (writers and clocks are never rewritten).
    ///
    /// `caps`: the support caps in force. What an office accepts of its own local project's
    /// over-disbursements counts no further than the cap (``SupportCap``) that binds the project
    /// as the fold leaves it.
    public static func fold(aggregateID: String, changes: [Change], rehomed: [String: String] = [:], caps: [SupportCap] = []) -> FoldResult {
        // 1. Deduplicate, re-home merged offices' records, and split by table.
        struct Version: Hashable { let table: SyncedTable, id: RowID, hlc: HLCTimestamp }
        var unique: [Version: Change] = [:]
        unique.reserveCapacity(changes.count)
        for var change in changes {
            if let owner = change.fields["office"]?.text, let home = rehomed[owner] { change.fields["office"] = .text(home) }
            // The first copy, as the store's history keeps it (`INSERT OR IGNORE`): a batch that
            // sends one stamp twice with other values folds as the history will be folded later.
            let version = Version(table: change.table, id: change.id, hlc: change.hlc)
            if unique[version] == nil { unique[version] = change }
        }
        let ordered = unique.values.sorted { ($0.hlc, $0.table.rawValue, $0.id.rawValue) < ($1.hlc, $1.table.rawValue, $1.id.rawValue) }
        let resolutions = resolutionsByConflict(ordered.filter { $0.table == .conflictResolution })

        var fold = Folder(aggregateID: aggregateID, resolutions: resolutions, rehomed: rehomed, caps: caps)
        // The aggregate belongs to the office that created its root row (the project, plan line or
        // programme), never to whichever change happens to carry the earliest clock.
        let root = ordered.lazy.filter { $0.table.isAggregateRoot && $0.id.rawValue == aggregateID }
        // An aggregate no change names an office for (a row an office deleted before the centre
        // ever held it) is its writer's: never the centre's, which every office would pull.
        if let owner = root.compactMap({ $0.fields["office"]?.text }).first ?? ordered.lazy.compactMap({ $0.fields["office"]?.text }).first
            ?? root.first.map(fold.office(of:))
        {
            fold.office = owner
        }
        // 2. The project (or plan line) itself, then the ledger against its final limit.
        for change in ordered where change.table == .project || change.table == .planLine || change.table == .program {
            fold.apply(change)
        }
        // A ledger entry or event stays in the project it was recorded under: a change of one naming
        // another project (a forgery the centre refuses since 1.9.0) is no part of it.
        func recordedHere(_ change: Change) -> Bool { change.fields["project_id"].map { $0 == .text(aggregateID) } ?? true }
        fold.applyLedger(ordered.filter { $0.table == .disbursement && recordedHere($0) })
        fold.applyEventLog(ordered.filter { $0.table == .projectEvent && recordedHere($0) })
        // 3. Resolution rows are rows too (so both sides see who resolved what).
        for change in ordered where change.table == .conflictResolution {
            fold.applyResolutionRow(change)
        }
        return fold.result()
    }

    /// Every resolution of each conflict, in clock order (`changes` are).
    static func resolutionsByConflict(_ changes: [Change]) -> [String: [Resolution]] {
        var out: [String: [Resolution]] = [:]
        for change in changes where change.op == .upsert {
            guard let id = change.fields["conflict_id"]?.text,
                let choice = change.fields["choice"]?.text.flatMap(ResolutionChoice.init(rawValue:))
            else { continue }
            out[id, default: []].append(Resolution(conflictID: id, choice: choice, hlc: change.hlc))
        }
        return out
    }
}

/// The mutable state of one fold.
private struct Folder {
    let aggregateID: String
    let resolutions: [String: [Resolution]]
    let rehomed: [String: String]
    let caps: [SupportCap]
    /// The office that owns the aggregate: named by the earliest change that names one.
    var office = OfficeCode.central.rawValue
    var rows: [SyncedRowKey: FoldResult.Row] = [:]
    var conflicts: [String: ConflictRecord] = [:]
    /// The project's status from each clock on, in clock order: a ledger entry is judged against
    /// the status in force when it was made.
    var statusTimeline: [(hlc: HLCTimestamp, status: ProjectStatus)] = []

    init(aggregateID: String, resolutions: [String: [Resolution]], rehomed: [String: String], caps: [SupportCap]) {
        self.aggregateID = aggregateID
        self.resolutions = resolutions
        self.rehomed = rehomed
        self.caps = caps
    }

    /// The office a writer now answers as: itself, or the office it was merged into.
    func office(of change: Change) -> String { rehomed[change.hlc.node] ?? change.hlc.node }

    func key(_ table: SyncedTable, _ id: String) -> SyncedRowKey { SyncedRowKey(table, id) }

    var projectFund: FundSource? {
        rows[key(.project, aggregateID)]?.state.fields["fund_source"]?.text.flatMap(FundSource.init(rawValue:))
    }

    /// Records a conflict; returns true when a person accepted the losing change, so it applies.
    /// `fund` is the project's fund source when the caller knows it better than the rows folded so
    /// far (the change that creates the project: its row is not there yet).
    mutating func conflict(
        _ rule: ConflictRule, _ change: Change, office: String, mine: [String: FieldValue],
        theirs: [String: FieldValue], _ message: String, fund: FundSource? = nil
    ) -> Bool {
        let id = ConflictRecord.makeID(rule: rule, table: change.table, rowID: change.id.rawValue, hlc: change.hlc)
        var record = ConflictRecord(
            id: id, table: change.table, rowID: change.id.rawValue, aggregateID: aggregateID, office: office,
            writer: change.hlc.node, hlc: change.hlc, rule: rule, mine: mine, theirs: theirs, message: message)
        var accepted = false
        // Anyone who sees a conflict may dismiss it; only the owner of what the rule protects may
        // accept it (an acceptance by anyone else changes nothing): the centre, or the office of
        // the aggregate (after an unmerge, the office that held it meanwhile sees the conflicts of
        // its entries there, and accepted its own payments into the other office's project). The
        // centre's resolution stands over an office's whenever either was stamped: an office may
        // not undo what the centre decided by resolving the conflict again. Otherwise the latest stands.
        let accepting = record.acceptingSide(fund: fund ?? projectFund)
        func accepts(_ node: String) -> Bool {
            let side = Side(node: node)
            return side == accepting && (side == .centre || (rehomed[node] ?? node) == self.office)
        }
        let valid = (resolutions[id] ?? []).filter { $0.choice == .dismiss || accepts($0.hlc.node) }
        if let resolution = valid.last(where: { Side(node: $0.hlc.node) == .centre }) ?? valid.last {
            record.resolution = resolution.choice
            record.resolvedBy = resolution.hlc.node
            accepted = resolution.choice == .accept
        }
        conflicts[id] = record
        return accepted
    }

    /// Applies a project or plan-line change field by field under ownership and the status machine.
    mutating func apply(_ change: Change) {
        let k = key(change.table, change.id.rawValue)
        var row =
            rows[k]
            ?? FoldResult.Row(
                table: change.table, id: change.id.rawValue, office: office, state: MergedRow(), held: false)
        let side = Side(node: change.hlc.node)
        let exists = !row.state.fields.isEmpty

        // A change by an office other than the aggregate's: what the office a merged office's
        // records went to wrote to them while it held them, once the merge is undone (no other
        // office's write of a row gets past the centre). It is that other office's change, as
        // its ledger entries there are: a support raise of the returned office's project and a
        // halt slotted before its own payments stayed in force after the unmerge (round 21).
        if side == .office, office(of: change) != office {
            let mine: [String: FieldValue] = change.op == .delete ? ["deleted": .integer(1)] : change.fields
            let theirs = Dictionary(uniqueKeysWithValues: mine.keys.map { ($0, row.state.fields[$0] ?? .null) })
            let accepted = conflict(
                .ownership, change, office: row.office, mine: mine, theirs: theirs,
                "office \(change.hlc.node) may not change office \(office)'s \(change.table.rawValue): it wrote this while it held the records of office \(office), merged into it, and the merge was undone",
                fund: projectFund)
            if !accepted {
                if exists { rows[k] = row }
                return
            }
        }

        if change.op == .delete {
            let status = row.state.fields["status"]?.text.flatMap(ProjectStatus.init(rawValue:))
            let deletable = change.table != .project || status == nil || status == .draft || status == .returned
            // A project that has been in a status that takes payments is never deleted, not even by
            // its office's acceptance of the refusal (it may have been moved back to draft by another
            // accepted move first): deleted, it left every listing while what it paid still counted
            // (round 14). A project is stopped by a halt instead.
            let wasPayable = change.table == .project && statusTimeline.contains { LedgerRules.statuses(for: .payment).contains($0.status) }
            if side == .office && deletable && !wasPayable && office(of: change) == row.office {
                row.state.merge(change)
            } else if conflict(
                .statusTransition, change, office: row.office, mine: ["deleted": .integer(1)],
                theirs: ["status": row.state.fields["status"] ?? .null],
                wasPayable
                    ? "a project that was approved is never deleted, and no acceptance deletes it: what it paid stays in the figures; halt it instead"
                    : "only the owning office may delete, and only a draft or returned project"),
                !wasPayable
            {
                row.state.merge(change)
            }
            rows[k] = row
            return
        }

        var accepted: [String: FieldValue] = [:]
        var refused: [ConflictRule: [String: FieldValue]] = [:]
        let fund =
            row.state.fields["fund_source"]?.text.flatMap(FundSource.init(rawValue:))
            ?? change.fields["fund_source"]?.text.flatMap(FundSource.init(rawValue:))
        // A project whose fund source is unknown is judged by the stricter rules, the national ones.
        let rulesFund = fund ?? .national
        // Who may accept what this change loses: the office only for a local project that the
        // change would keep local (an office accepting its own move of a project to the national
        // fund would have made it national with the support it approved itself).
        let movesFund = change.fields["fund_source"].map { $0 != .text(FundSource.local.rawValue) } ?? false
        let judgedFund: FundSource? = movesFund ? .national : fund
        let statusBefore = row.state.fields["status"]?.text.flatMap(ProjectStatus.init(rawValue:))
        // Each field is judged against the row as it stood before this change: in any order.
        for (field, value) in change.fields {
            // Writing what is already there changes nothing; a new row's empty fields are taken as
            // they are, whoever owns them, so the row is whole.
            if exists && row.state.fields[field] == value { continue }
            if !exists && value == .null {
                accepted[field] = value
                continue
            }
            // Absent from the row that made it, an immutable field stays absent (a project made
            // without a fund source may not take one later, after moves judged without it).
            if exists, FieldOwnership.isImmutable(change.table, field), row.state.fields[field] ?? .null != value {
                refused[.immutableField, default: [:]][field] = value
                continue
            }
            if change.table == .project && field == "status" {
                guard let to = value.text.flatMap(ProjectStatus.init(rawValue:)) else {
                    refused[.statusTransition, default: [:]][field] = value
                    continue
                }
                if let from = row.state.fields["status"]?.text.flatMap(ProjectStatus.init(rawValue:)) {
                    if from == to { continue }
                    if StatusMachine.owner(from: from, to: to, fund: rulesFund) != side {
                        refused[.statusTransition, default: [:]][field] = value
                        continue
                    }
                } else if side != .office {
                    // A project is born at an office, in whatever status its records show.
                    refused[.statusTransition, default: [:]][field] = value
                    continue
                }
                accepted[field] = value
                continue
            }
            let owner = FieldOwnership.owner(change.table, field, fund: rulesFund, status: change.table == .project ? statusBefore : nil)
            // New rows are made by their office; the office field must name the writer.
            if owner != side || (field == "office" && side == .office && value != .text(office(of: change))) {
                refused[.ownership, default: [:]][field] = value
                continue
            }
            accepted[field] = value
        }
        for (rule, fields) in refused.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let theirs = Dictionary(uniqueKeysWithValues: fields.keys.map { ($0, row.state.fields[$0] ?? .null) })
            let message: String
            switch rule {
            case .ownership:
                message =
                    "\(side == .centre ? "the centre" : "office \(change.hlc.node)") may not change \(fields.keys.sorted().joined(separator: ", ")) of this \(fund?.rawValue ?? "") \(change.table.rawValue)"
                    + (side == .office && change.table == .project && rulesFund == .national && fields.keys.contains(where: FieldOwnership.proposal.contains)
                        ? " once it is sent to the centre (status \(statusBefore?.rawValue ?? "none")): the centre adjusts it or accepts this change" : "")
            case .immutableField:
                message = "\(fields.keys.sorted().joined(separator: ", ")) cannot change once the \(change.table.rawValue) exists"
            default:
                message =
                    "status \(row.state.fields["status"]?.text ?? "none") → \(fields["status"]?.text ?? "?") is not a move \(side == .centre ? "the centre" : "the office") may make for a \(fund?.rawValue ?? "") project"
            }
            if conflict(rule, change, office: row.office, mine: fields, theirs: theirs, message, fund: change.table == .project ? judgedFund : nil) {
                accepted.merge(fields) { a, _ in a }
            }
        }
        if !accepted.isEmpty {
            row.state.merge(Change(table: change.table, id: change.id, op: .upsert, hlc: change.hlc, fields: accepted))
            if change.table == .project, change.id.rawValue == aggregateID, accepted["status"] != nil,
                let status = row.state.fields["status"]?.text.flatMap(ProjectStatus.init(rawValue:))
            {
                statusTimeline.append((change.hlc, status))
            }
        }
        rows[k] = row
    }

    /// The project's status when a change stamped `hlc` was made: a binary search of the
    /// timeline (in clock order), so a ledger of n entries against m moves folds in n log m, not
    /// n m (a project with ten thousand of each held the centre's writes for seconds per push).
    func status(at hlc: HLCTimestamp) -> ProjectStatus? {
        var low = 0
        var high = statusTimeline.count
        while low < high {
            let middle = (low + high) / 2
            if statusTimeline[middle].hlc <= hlc { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : statusTimeline[low - 1].status
    }

    /// The histories of the rows `changes` (in the fold's order: clock, then table and id) hold,
    /// each in clock order, the rows in the order of their first change: by clock, and rows first
    /// stamped alike by id. Ordered by clock alone, two entries an office stamped alike came in the
    /// order of a dictionary, which changes from one process to the next: the one that counted and
    /// the one held past the limit swapped at every refold, and `audit verify` found the store
    /// altered (round 15).
    static func byRow(_ changes: [Change]) -> [[Change]] {
        var index: [RowID: Int] = [:]
        var histories: [[Change]] = []
        for change in changes {
            if let i = index[change.id] {
                histories[i].append(change)
            } else {
                index[change.id] = histories.count
                histories.append([change])
            }
        }
        return histories
    }

    /// Applies the ledger: entries are append-only; in clock order of their creation, an entry with
    /// a voucher already used, or one that would take the total past the limit, is held.
    mutating func applyLedger(_ changes: [Change]) {
        let entries = Self.byRow(changes)
        let project = rows[key(.project, aggregateID)]?.state.fields
        let limit = LedgerRules.limit(
            fund: projectFund, approved: project?["approved_support"]?.integer, requested: project?["requested_support"]?.integer,
            totalCost: project?["total_cost"]?.integer)
        let ceiling = LedgerRules.ceiling(totalCost: project?["total_cost"]?.integer)
        // What an acceptance may take the ledger to: the total cost; for a local project a cap
        // binds, no further than that cap (or the project's own support, if larger: a value held
        // before the cap was lowered). The caps bind the support an office sets, and an office
        // counted past them by accepting its own held entries: in one push or two, after moving
        // its project through an uncapped category, or banking an acceptance the total cost kept
        // from counting until the centre dismissed another (rounds 11 to 13).
        let capLimit: Int64? =
            projectFund == .local
            ? project.flatMap { fields -> Int64? in
                guard let category = fields["category"]?.text, let province = fields["province"]?.text.map(ReferenceData.provinceInForce),
                    let cost = fields["total_cost"]?.integer
                else { return nil }
                return caps.filter { $0.applies(fund: .local, category: category, province: province) }.map { $0.limit(totalCost: cost) }.min()
            } : nil
        let acceptedCeiling = capLimit.map { min(ceiling, max($0, limit ?? 0)) } ?? ceiling
        // A deleted project counts nothing: an office accepted its own payment on a draft, then
        // deleted the project, and the money counted in its province's totals with no project for
        // the centre to see (round 13). Only a project never approved is deleted (``apply(_:)``),
        // and moves its office stamps after the delete (on to approved) do not bring it back.
        let deleted = rows[key(.project, aggregateID)]?.state.isDeleted == true
        let projectOffice = rows[key(.project, aggregateID)]?.office ?? office
        // What was paid as of each day (``DatedLedger``): an entry keeps it within the bounds on
        // every day from its date on, not only the total now.
        var paid = DatedLedger(days: entries.map { $0[0].fields["paid_on"]?.text ?? "" })
        var vouchers: Set<String> = []
        for history in entries {
            let first = history[0]
            var row = FoldResult.Row(
                table: .disbursement, id: first.id.rawValue, office: first.fields["office"]?.text ?? office(of: first),
                state: MergedRow(), held: false)
            let refusal: (ConflictRule, String)? =
                first.op == .delete
                ? (.ledgerAppendOnly, "a ledger entry is never deleted; record a correcting entry instead")
                : (Side(node: first.hlc.node) != .office || first.fields["office"] != .text(office(of: first))
                    || first.fields["office"] != .text(projectOffice))
                    ? (.ownership, "ledger entries of a project are made by its office \(projectOffice) only") : nil
            if let (rule, message) = refusal,
                !conflict(rule, first, office: row.office, mine: first.fields, theirs: [:], message)
            {
                row.held = true
                row.state = MergedRow(fields: first.fields)
                rows[key(.disbursement, row.id)] = row
                continue
            }
            row.state.merge(first)
            // Later changes to an entry are refused: a correction is a new entry.
            refuseLaterChanges(
                history, to: &row, "a recorded ledger entry is never edited or deleted; record a correcting entry instead",
                keeping: LedgerRules.recordedMoney)
            if row.state.isDeleted {
                rows[key(.disbursement, row.id)] = row
                continue
            }
            let amount = row.state.fields["amount"]?.integer ?? 0
            let kind = row.state.fields["kind"]?.text.flatMap(DisbursementKind.init(rawValue:)) ?? .payment
            let paidOn = row.state.fields["paid_on"]?.text ?? ""
            // Compared by ``ValueRules/voucherKey(_:)``: a zero-width space (round 15), other
            // separators or a number's leading zeros (round 16) made a voucher new.
            let voucherKey = row.state.fields["voucher"]?.text.map(ValueRules.voucherKey) ?? ""
            if let voucher = row.state.fields["voucher"]?.text, !voucherKey.isEmpty, vouchers.contains(voucherKey) {
                if !conflict(
                    .duplicateVoucher, first, office: row.office, mine: ["voucher": .text(voucher), "amount": .integer(amount)],
                    theirs: ["voucher": .text(voucher)], "treasury voucher \(voucher) was already recorded by an earlier entry")
                {
                    row.held = true
                    rows[key(.disbursement, row.id)] = row
                    continue
                }
            }
            // The money rules, against the project as it stood when the entry was made (its
            // status then) and the final limit; the day it was recorded is its clock's date. First
            // the circumstances (status, date), then the amount: accepting the one waives only it.
            let mine: [String: FieldValue] = ["amount": .integer(amount), "kind": .text(kind.rawValue), "paid_on": row.state.fields["paid_on"] ?? .null]
            if deleted {
                _ = conflict(
                    .paymentNotAllowed, first, office: row.office, mine: mine, theirs: ["deleted": .integer(1)],
                    "the project was deleted: its entries count nothing, so no acceptance makes this one count")
                row.held = true
                rows[key(.disbursement, row.id)] = row
                continue
            }
            var circumstancesWaived = false
            if let refusal = LedgerRules.circumstanceProblem(
                kind: kind, paidOn: paidOn, status: status(at: first.hlc), year: project?["year"]?.integer,
                recordedOn: CalendarDate.vietnamDate(milliseconds: first.hlc.milliseconds))
            {
                let theirs: [String: FieldValue] =
                    switch refusal {
                    case .status(let status): ["status": status.map { FieldValue.text($0.rawValue) } ?? .null]
                    default: ["year": project?["year"] ?? .null]
                    }
                if !conflict(refusal.rule, first, office: row.office, mine: mine, theirs: theirs, refusal.message) {
                    row.held = true
                    rows[key(.disbursement, row.id)] = row
                    continue
                }
                circumstancesWaived = true
            }
            // Once its circumstances are waived, a national project without approved support
            // takes the entry against a limit of nothing: an over-disbursement of its own.
            switch LedgerRules.admitAmount(kind: kind, amount: amount, paidOn: paidOn, paid: paid, limit: circumstancesWaived ? limit ?? 0 : limit) {
            case .success:
                paid.add(LedgerRules.signed(kind, amount), on: paidOn)
            case .failure(let refusal):
                var theirs: [String: FieldValue] =
                    switch refusal {
                    case .overLimit(_, let limit, let before, _): ["limit": .integer(limit), "disbursed_before": .integer(before)]
                    case .belowZero(_, let before, _): ["disbursed_before": .integer(before)]
                    default: ["approved_support": .null]
                    }
                if let day = refusal.asOf { theirs["as_of"] = .text(day) }
                // Accepted by a person, it counts as recorded; but no acceptance takes the
                // project's ledger, on any day from the entry's date on, past what the project can
                // take at all (its total cost), or below nothing paid (accepted over-recoveries
                // made an office's totals negative, taking other offices' disbursements off the
                // nation's).
                let beyond: String? =
                    switch LedgerRules.within(0...acceptedCeiling, kind: kind, amount: amount, paidOn: paidOn, paid: paid) {
                    case .success: nil
                    case .failure(.belowZero): "below nothing paid"
                    case .failure where acceptedCeiling < ceiling: "past the support cap in force of \(acceptedCeiling) VND"
                    case .failure: "past its total cost of \(ceiling) VND"
                    }
                let message = beyond.map { "\(refusal.message); it would take the project's ledger \($0), so no acceptance makes it count" } ?? refusal.message
                if !conflict(refusal.rule, first, office: row.office, mine: mine, theirs: theirs, message) || beyond != nil {
                    row.held = true
                    rows[key(.disbursement, row.id)] = row
                    continue
                }
                paid.add(LedgerRules.signed(kind, amount), on: paidOn)
            }
            if !voucherKey.isEmpty { vouchers.insert(voucherKey) }
            rows[key(.disbursement, row.id)] = row
        }
    }

    /// Applies the event log: entries are append-only. Either side logs what it did, for the
    /// project's office; an entry naming another office, a decision entry an office wrote (only
    /// the centre records its decisions), or a later edit or delete, is a conflict.
    mutating func applyEventLog(_ changes: [Change]) {
        let projectOffice = rows[key(.project, aggregateID)]?.office ?? office
        for history in Self.byRow(changes) {
            let first = history[0]
            var row = FoldResult.Row(table: .projectEvent, id: first.id.rawValue, office: projectOffice, state: MergedRow(), held: false)
            let wrongOffice =
                first.fields["office"] != .text(projectOffice)
                || (Side(node: first.hlc.node) == .office && office(of: first) != projectOffice)
            let decisionByOffice = Side(node: first.hlc.node) == .office && first.fields["kind"] == .text(ProjectEventKind.decision.rawValue)
            if first.op == .delete || wrongOffice || decisionByOffice {
                let message =
                    first.op == .delete
                    ? "an event log entry is never deleted"
                    : wrongOffice
                        ? "event log entries of a project are written for its office \(projectOffice), by that office or the centre"
                        : "only the centre records its decisions; an office sent one (after a restore of the centre: a decision it lost, for its operator to re-confirm or drop)"
                // An entry another office wrote (what the receiving office logged of a project
                // while its office was merged into it, once the merge is undone) stays that office's,
                // held, as a ledger entry does: it keeps its row and sees the conflict.
                let holder = wrongOffice && first.op != .delete ? first.fields["office"]?.text ?? office(of: first) : projectOffice
                if !conflict(
                    first.op == .delete ? .ledgerAppendOnly : .ownership, first, office: holder,
                    mine: first.fields, theirs: [:], message)
                {
                    row.office = holder
                    row.held = true
                    row.state = MergedRow(fields: first.fields)
                    rows[key(.projectEvent, row.id)] = row
                    continue
                }
            }
            row.state.merge(first)
            refuseLaterChanges(history, to: &row, "a recorded event is never edited or deleted; log a new event instead")
            rows[key(.projectEvent, row.id)] = row
        }
    }

    /// Refuses every change after an append-only row's first (rule `ledger_append_only`), unless a
    /// person accepted it; a change that writes what is already there is no change.
    /// `keeping`: fields that stay as recorded even when a person accepts the edit.
    mutating func refuseLaterChanges(_ history: [Change], to row: inout FoldResult.Row, _ message: String, keeping: Set<String> = []) {
        for later in history.dropFirst() {
            let changed = later.fields.filter { row.state.fields[$0.key] != $0.value }
            if later.op == .upsert && changed.isEmpty { continue }
            let mine: [String: FieldValue] = later.op == .delete ? ["deleted": .integer(1)] : changed
            let theirs = Dictionary(uniqueKeysWithValues: mine.keys.map { ($0, row.state.fields[$0] ?? .null) })
            // With fields kept, a delete keeps the row too: an accepted delete of a counted payment
            // had taken it out of the figures (round 14).
            let keepsRow = later.op == .delete && !keeping.isEmpty
            let kept = mine.keys.filter(keeping.contains).sorted()
            let said =
                keepsRow
                ? "\(message); it stays recorded whatever is accepted"
                : kept.isEmpty ? message : "\(message); its \(kept.joined(separator: ", ")) stay as recorded whatever is accepted"
            if conflict(.ledgerAppendOnly, later, office: row.office, mine: mine, theirs: theirs, said), !keepsRow {
                var accepted = later
                accepted.fields = later.fields.filter { !keeping.contains($0.key) }
                row.state.merge(accepted)
            }
        }
    }

    /// Keeps the resolution rows themselves, refusing a row whose writer may not resolve.
    mutating func applyResolutionRow(_ change: Change) {
        let k = key(.conflictResolution, change.id.rawValue)
        var row =
            rows[k]
            ?? FoldResult.Row(
                table: .conflictResolution, id: change.id.rawValue,
                office: change.fields["office"]?.text ?? change.hlc.node, state: MergedRow(), held: false)
        row.state.merge(change)
        rows[k] = row
    }

    func result() -> FoldResult {
        FoldResult(
            rows: rows.values.sorted { ($0.table.rawValue, $0.id) < ($1.table.rawValue, $1.id) },
            conflicts: conflicts.values.sorted { $0.id < $1.id })
    }
}
