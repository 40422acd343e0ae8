import Foundation
import SyncCore

/// The reference model of the convergence model test: what the centre should hold, computed from
/// the changes it received, written from docs/CONFLICTS.md and deliberately *not* with SyncCore's
/// rules (`AggregateFold`, `StatusMachine`, `LedgerRules`, `FieldOwnership`, `acceptingSide`):
/// a plain per-project ledger (entries in clock order, a running paid total, the final limit),
/// a plain status replay and an owner map. Only data types and codecs of SyncCore are used.
///
/// What it covers: projects (creation, office fields, the centre's approved support, status moves
/// by either side, deletes), plan lines, the ledger (append-only, vouchers, the money rules), resolutions.
/// What it leaves to the row-by-row comparison of offices with the centre: the event log's values
/// (its ownership is modelled: whose log an entry is written to, and by whom).
struct ReferenceModel {
    /// A conflict the model expects: the rule, the row and the clock of the losing change.
    struct ConflictKey: Hashable, Comparable, CustomStringConvertible {
        var rule: String
        var table: String
        var row: String
        var hlc: String
        static func < (a: Self, b: Self) -> Bool { (a.hlc, a.rule, a.row) < (b.hlc, b.rule, b.row) }
        var description: String { "\(rule) on \(table) \(row.suffix(8)) @\(hlc)" }
    }

    struct ExpectedConflict: Equatable {
        var office: String
        /// `accept` or `dismiss` when a valid resolution stands, else nil (open).
        var resolution: String?
        var resolvedBy: String?
    }

    struct ExpectedEntry: Equatable {
        var project: String
        var office: String
        var fields: [String: FieldValue]
        var held: Bool
    }

    struct Expected {
        /// Project id → its fields as they should stand.
        var projects: [String: [String: FieldValue]] = [:]
        var projectOwner: [String: String] = [:]
        /// Projects their office deleted (only while draft or returned, never once approved).
        var deletedProjects: Set<String> = []
        var planLines: [String: [String: FieldValue]] = [:]
        var planLineOwner: [String: String] = [:]
        var entries: [String: ExpectedEntry] = [:]
        var conflicts: [ConflictKey: ExpectedConflict] = [:]
        /// Project id → what its admitted entries add up to.
        var paid: [String: Int64] = [:]
        /// Projects with a money conflict a person accepted: their paid total may pass the limit.
        var acceptedMoney: Set<String> = []
    }

    /// A resolution as it arrived: which conflict, what choice, by whom (its clock's node), when.
    struct Resolution {
        var choice: String
        var hlc: HLCTimestamp
    }

    // MARK: The rules, from docs/CONFLICTS.md

    enum Who { case office, centre }

    static func who(_ node: String) -> Who { node == "central" ? .centre : .office }

    /// Rule 2's table, row by row: (from, to, owner for national, owner for local).
    static let moves: [(String, String, Who?, Who?)] = [
        ("draft", "submitted", .office, .office),
        ("returned", "draft", .office, .office), ("returned", "submitted", .office, .office),
        ("submitted", "appraised_locally", .office, .office), ("submitted", "returned", .office, .office),
        ("submitted", "rejected", nil, .office),
        ("appraised_locally", "submitted_to_centre", .office, nil),
        ("appraised_locally", "approved", nil, .office), ("appraised_locally", "rejected", nil, .office),
        ("appraised_locally", "returned", .office, .office),
        ("submitted_to_centre", "appraised_centrally", .centre, nil), ("submitted_to_centre", "returned", .centre, nil),
        ("submitted_to_centre", "rejected", .centre, nil),
        ("appraised_centrally", "approved", .centre, nil), ("appraised_centrally", "returned", .centre, nil),
        ("appraised_centrally", "rejected", .centre, nil),
        ("approved", "contracted", .office, .office), ("contracted", "in_progress", .office, .office),
        ("in_progress", "accepted", .office, .office),
        ("approved", "halted", .centre, .office), ("contracted", "halted", .centre, .office), ("in_progress", "halted", .centre, .office),
        ("accepted", "halted", .centre, .office), ("settled", "halted", .centre, .office), ("closed", "halted", .centre, .office),
        ("accepted", "settled", .office, .office), ("settled", "closed", .office, .office),
    ]

    static func mover(from: String, to: String, national: Bool) -> Who? {
        moves.first { $0.0 == from && $0.1 == to }.flatMap { national ? $0.2 : $0.3 }
    }

    /// Whether `who` may make the move: one step of its own (rule 2's table).
    static func may(_ who: Who, from: String, to: String, national: Bool) -> Bool {
        mover(from: from, to: to, national: national) == who
    }

    /// The statuses in which each kind of entry may be recorded (rule 3): from approval on; while
    /// halted, recoveries only.
    static let afterApproval: Set<String> = ["approved", "contracted", "in_progress", "accepted", "settled", "closed"]

    /// Who may accept a conflict ("keep mine"): the centre for what it owns on national projects
    /// (ownership, status, the money rules), the office otherwise. Anyone may dismiss.
    static func acceptor(rule: String, national: Bool) -> Who {
        let centreRules: Set<String> = ["ownership", "immutable_field", "status_transition", "over_disbursement", "over_recovery", "payment_not_allowed"]
        return national && centreRules.contains(rule) ? .centre : .office
    }

    /// The date in Vietnam (UTC+7) of a clock's milliseconds, as `YYYY-MM-DD`.
    static func vietnamDate(_ ms: UInt64) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 7 * 3600)!
        let c = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(ms) / 1000))
        return String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
    }

    // MARK: The replay

    /// `changes`: every change the centre received (offices' and its own), duplicates allowed.
    /// `conflictKeys`: conflict id → key, for the conflicts someone resolved. `rehomed`: offices
    /// merged into another.
    static func expected(changes: [Change], conflictKeys: [String: ConflictKey], rehomed: [String: String]) -> Expected {
        var seen: Set<String> = []
        var unique: [Change] = []
        for change in changes where seen.insert("\(change.table.rawValue)/\(change.id.rawValue)/\(change.hlc)").inserted {
            unique.append(change)
        }
        func home(_ office: String) -> String { rehomed[office] ?? office }
        // A merged office's records are read as the receiving office's (docs/CONFLICTS.md, "Merged offices").
        unique = unique.map { change in
            var change = change
            if let office = change.fields["office"]?.text { change.fields["office"] = .text(home(office)) }
            return change
        }
        unique.sort { $0.hlc < $1.hlc }

        // Resolutions, every one per conflict in clock order.
        var resolutions: [ConflictKey: [Resolution]] = [:]
        for change in unique where change.table == .conflictResolution {
            guard let id = change.fields["conflict_id"]?.text, let key = conflictKeys[id], let choice = change.fields["choice"]?.text else { continue }
            resolutions[key, default: []].append(Resolution(choice: choice, hlc: change.hlc))
        }

        var out = Expected()
        /// Records a conflict and returns whether a person accepted the losing change.
        /// `owner`: the project's office, the only office that may accept what an office accepts.
        func lose(_ rule: String, _ table: SyncedTable, _ row: String, _ hlc: HLCTimestamp, office: String, owner: String, national: Bool) -> Bool {
            let key = ConflictKey(rule: rule, table: table.rawValue, row: row, hlc: hlc.description)
            var conflict = ExpectedConflict(office: office)
            // Dismissed by anyone or accepted by the rule's owner (the centre, or the project's own
            // office); the centre's stands over an office's.
            func accepts(_ node: String) -> Bool {
                acceptor(rule: rule, national: national) == .centre ? who(node) == .centre : who(node) == .office && home(node) == owner
            }
            let valid = (resolutions[key] ?? []).filter { $0.choice == "dismiss" || accepts($0.hlc.node) }
            if let resolution = valid.last(where: { $0.hlc.node == "central" }) ?? valid.last {
                conflict.resolution = resolution.choice
                conflict.resolvedBy = resolution.hlc.node
            }
            out.conflicts[key] = conflict
            return conflict.resolution == "accept"
        }

        // Plan lines: made by their office, then last writer wins.
        for change in unique where change.table == .planLine && change.op == .upsert {
            let id = change.id.rawValue
            if out.planLines[id] == nil, let office = change.fields["office"]?.text { out.planLineOwner[id] = home(office) }
            for (field, value) in change.fields { out.planLines[id, default: [:]][field] = value }
        }

        // Projects, one aggregate at a time.
        let projectChanges = Dictionary(grouping: unique.filter { $0.table == .project }, by: { $0.id.rawValue })
        let ledgerChanges = Dictionary(grouping: unique.filter { $0.table == .disbursement }, by: { $0.fields["project_id"]?.text ?? "" })
        let eventChanges = Dictionary(grouping: unique.filter { $0.table == .projectEvent }, by: { $0.fields["project_id"]?.text ?? "" })
        for (project, history) in projectChanges {
            var fields: [String: FieldValue] = [:]
            var timeline: [(HLCTimestamp, String)] = []
            var national = false
            var deleted = false
            // The office that made it; of a project made and deleted before it was pushed (only its
            // delete arrives), the deleting office.
            let creator = history.first { $0.op == .upsert }?.fields["office"]?.text.map(home) ?? home(history[0].hlc.node)
            for change in history {
                let side = who(change.hlc.node)
                // Rule 4: its office deletes a draft or returned project; one that has been approved
                // never, whoever accepts the refusal. Later moves do not bring it back.
                if change.op == .delete {
                    let owner = fields["office"]?.text ?? creator
                    let everApproved = timeline.contains { afterApproval.contains($0.1) }
                    let status = fields["status"]?.text
                    if side == .office && home(change.hlc.node) == owner && [nil, "draft", "returned"].contains(status) && !everApproved {
                        deleted = true
                    } else if lose("status_transition", .project, project, change.hlc, office: owner, owner: owner, national: national), !everApproved {
                        deleted = true
                    }
                    continue
                }
                if fields.isEmpty {
                    // Born at its office, in whatever status its records show; on a national
                    // project the approved support is still the centre's.
                    national = change.fields["fund_source"] == .text("national")
                    fields = change.fields
                    if national, let approved = fields["approved_support"], approved != .null {
                        fields["approved_support"] = .null
                        if lose(
                            "ownership", .project, project, change.hlc, office: fields["office"]?.text ?? "", owner: fields["office"]?.text ?? "",
                            national: national)
                        {
                            fields["approved_support"] = approved
                        }
                    }
                    if let status = fields["status"]?.text { timeline.append((change.hlc, status)) }
                    continue
                }
                var accepted: [String: FieldValue] = [:]
                var refused: [String: [String: FieldValue]] = [:]
                for (field, value) in change.fields where fields[field] != value {
                    switch field {
                    case "office", "fund_source":
                        refused["immutable_field", default: [:]][field] = value
                    case "status":
                        let from = fields["status"]?.text ?? ""
                        if let to = value.text, may(side, from: from, to: to, national: national) {
                            accepted[field] = value
                        } else {
                            refused["status_transition", default: [:]][field] = value
                        }
                    case "approved_support" where national:
                        if side == .centre { accepted[field] = value } else { refused["ownership", default: [:]][field] = value }
                    // Once sent to the centre, a national project's proposal is the centre's.
                    case _
                    where national && ["code", "total_cost", "requested_support", "counterpart_funds", "year", "category"].contains(field)
                        && !["draft", "submitted", "appraised_locally", "returned"].contains(fields["status"]?.text ?? "draft"):
                        if side == .centre { accepted[field] = value } else { refused["ownership", default: [:]][field] = value }
                    default:
                        if side == .office { accepted[field] = value } else { refused["ownership", default: [:]][field] = value }
                    }
                }
                for (rule, losing) in refused
                where lose(rule, .project, project, change.hlc, office: fields["office"]?.text ?? "", owner: fields["office"]?.text ?? "", national: national) {
                    accepted.merge(losing) { a, _ in a }
                }
                for (field, value) in accepted { fields[field] = value }
                if let status = accepted["status"]?.text { timeline.append((change.hlc, status)) }
            }
            let owner = fields["office"]?.text ?? creator
            if !fields.isEmpty {
                out.projects[project] = fields
                out.projectOwner[project] = owner
            }
            if deleted { out.deletedProjects.insert(project) }

            // The event log: its entries are written for the project's office, by it or the centre
            // (after an unmerge, what the receiving office logged meanwhile loses); only the centre
            // records decisions. The entries' values are left to the office-by-office comparison.
            for eventHistory in Dictionary(grouping: eventChanges[project] ?? [], by: { $0.id.rawValue }).values {
                guard let first = eventHistory.min(by: { $0.hlc < $1.hlc }), first.op == .upsert else { continue }
                let byOffice = who(first.hlc.node) == .office
                let wrongOffice = first.fields["office"] != .text(owner) || (byOffice && home(first.hlc.node) != owner)
                if wrongOffice || (byOffice && first.fields["kind"] == .text("decision")) {
                    // Another office's entry stays that office's conflict.
                    let office = wrongOffice ? first.fields["office"]?.text ?? home(first.hlc.node) : owner
                    _ = lose("ownership", .projectEvent, first.id.rawValue, first.hlc, office: office, owner: owner, national: national)
                }
            }

            // The ledger: entries in the clock order of their creation, against the final limit.
            // Support is a part of the total cost: entries count within the smaller of the two.
            let cost = min(fields["total_cost"]?.integer ?? 1_000_000_000_000_000, 1_000_000_000_000_000)
            let limit = min(fields["approved_support"]?.integer ?? fields["requested_support"]?.integer ?? 0, cost)
            let year = fields["year"]?.integer ?? 0
            var paid: Int64 = 0
            var vouchers: Set<String> = []
            let byEntry = Dictionary(grouping: ledgerChanges[project] ?? [], by: { $0.id.rawValue })
            for entryHistory in byEntry.values.map({ $0.sorted { $0.hlc < $1.hlc } })
                .sorted(by: { ($0[0].hlc, $0[0].id.rawValue) < ($1[0].hlc, $1[0].id.rawValue) })
            {
                let first = entryHistory[0]
                let id = first.id.rawValue
                var entry = first.fields
                if entry["office"] != .text(owner) || who(first.hlc.node) != .office || home(first.hlc.node) != owner {
                    if !lose("ownership", .disbursement, id, first.hlc, office: entry["office"]?.text ?? owner, owner: owner, national: national) {
                        out.entries[id] = ExpectedEntry(project: project, office: owner, fields: entry, held: true)
                        continue
                    }
                }
                // Append-only: a later change that changes anything loses.
                for later in entryHistory.dropFirst() {
                    let changed = later.fields.filter { entry[$0.key] != $0.value }
                    if later.op == .upsert && changed.isEmpty { continue }
                    if lose("ledger_append_only", .disbursement, id, later.hlc, office: owner, owner: owner, national: national) {
                        entry.merge(changed) { _, b in b }
                    }
                }
                let kind = entry["kind"]?.text ?? "payment"
                let amount = entry["amount"]?.integer ?? 0
                // Vouchers compare in lower case without spaces (the model writes no other variants).
                let voucher = (entry["voucher"]?.text ?? "").lowercased().replacingOccurrences(of: " ", with: "")
                var held = false
                if !voucher.isEmpty, vouchers.contains(voucher),
                    !lose("duplicate_voucher", .disbursement, id, first.hlc, office: owner, owner: owner, national: national)
                {
                    held = true
                }
                // A deleted project's entries count nothing, whatever anyone accepts.
                if !held && deleted {
                    _ = lose("payment_not_allowed", .disbursement, id, first.hlc, office: owner, owner: owner, national: national)
                    held = true
                }
                if !held {
                    let status = timeline.last { $0.0 <= first.hlc }?.1 ?? ""
                    let allowed = afterApproval.union(kind == "recovery" ? ["halted"] : [])
                    let paidOn = entry["paid_on"]?.text ?? ""
                    let signed = kind == "recovery" ? -amount : amount
                    // The circumstances first (status, date); accepting them waives only them.
                    let notAllowed =
                        !allowed.contains(status) || paidOn < "\(year)-01-01" || paidOn > "\(year + 5)-12-31"
                        || paidOn > vietnamDate(first.hlc.milliseconds)
                    if notAllowed, !lose("payment_not_allowed", .disbursement, id, first.hlc, office: owner, owner: owner, national: national) {
                        held = true
                    } else {
                        // Its circumstances waived, a national project without approved support takes
                        // it against a limit of nothing.
                        let bound = notAllowed && national && fields["approved_support"]?.integer == nil ? 0 : limit
                        let rule: String? = paid + signed > bound ? "over_disbursement" : paid + signed < 0 ? "over_recovery" : nil
                        // Accepted, an entry counts only while the ledger stays within the total cost.
                        if let rule {
                            if lose(rule, .disbursement, id, first.hlc, office: owner, owner: owner, national: national),
                                (0...cost).contains(paid + signed)
                            {
                                paid += signed
                                out.acceptedMoney.insert(project)
                            } else {
                                held = true
                            }
                        } else {
                            paid += signed
                        }
                    }
                }
                if !held, !voucher.isEmpty { vouchers.insert(voucher) }
                out.entries[id] = ExpectedEntry(project: project, office: owner, fields: entry, held: held)
            }
            out.paid[project] = paid
        }
        return out
    }
}
