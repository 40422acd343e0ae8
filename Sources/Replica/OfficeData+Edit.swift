import Foundation
import GRDB
import SyncCore

/// Changes staff make to a project's proposal content (the fields the office owns).
public struct ProjectUpdate: Sendable, Equatable {
    /// A new name; nil leaves it as it is (so for every field of the update).
    public var name: String?
    /// A new activity category's code, kept in upper case.
    public var category: String?
    /// A new beneficiary.
    public var beneficiary: String?
    /// A new total cost in VND; more than 0, and no less than the support and counterpart funds.
    public var totalCost: Int64?
    /// A new requested support in VND, within the total cost and the support caps in force.
    public var requestedSupport: Int64?
    /// A new commune (xã/phường).
    public var commune: String?
    /// A new amount of the beneficiary's own contribution (vốn đối ứng) in VND; not negative.
    public var counterpartFunds: Int64?
    /// A programme id or code.
    public var program: String?
    /// The beneficiary's tax code (mã số thuế).
    public var taxCode: String?

    /// Creates an update of the fields given; the others stay as they are, and a category code is upper-cased.
    public init(
        name: String? = nil, category: String? = nil, beneficiary: String? = nil, totalCost: Int64? = nil, requestedSupport: Int64? = nil,
        commune: String? = nil, counterpartFunds: Int64? = nil, program: String? = nil, taxCode: String? = nil
    ) {
        self.name = name
        self.category = category?.uppercased()  // codes are read in any case
        self.beneficiary = beneficiary
        self.totalCost = totalCost
        self.requestedSupport = requestedSupport
        self.commune = commune
        self.counterpartFunds = counterpartFunds
        self.program = program
        self.taxCode = taxCode
    }

    /// The project columns this update sets, for the event log.
    var columnsSet: [String] {
        let set: [(String, Bool)] = [
            ("name", name != nil), ("category", category != nil), ("beneficiary", beneficiary != nil),
            ("total_cost", totalCost != nil), ("requested_support", requestedSupport != nil), ("commune", commune != nil),
            ("counterpart_funds", counterpartFunds != nil), ("program", program != nil), ("tax_code", taxCode != nil),
        ]
        return set.filter { $0.1 }.map { $0.0 }
    }

    /// Whether the update sets no field (``OfficeData/updateProject(_:_:now:)`` refuses it).
    public var isEmpty: Bool { self == ProjectUpdate() }
}

/// A ledger entry as listed.
public struct LedgerEntry: Sendable, Codable, Equatable {
    /// The entry's row id.
    public var id: String
    /// A ``DisbursementKind`` raw value: `advance`, `payment`, `recovery` or `settlement_adjustment`.
    public var kind: String
    /// The amount in VND as entered, positive whatever the kind (a recovery subtracts in totals).
    public var amount: Int64
    /// The treasury voucher's number, if it has one.
    public var voucher: String?
    /// The day the money moved (`YYYY-MM-DD`); the ledger is listed in its order.
    public var paidOn: String
    /// Held out of the totals by a ledger conflict.
    public var held: Bool
}

/// A plan line as listed.
public struct PlanLineRow: Sendable, Codable, Equatable {
    /// The plan line's row id.
    public var id: String
    /// The budget year it plans.
    public var year: Int
    /// `national` or `local`.
    public var fundSource: String
    /// The planned amount in VND.
    public var amount: Int64
    /// Free text about the line, if any.
    public var note: String?
}

extension OfficeData {
    /// Updates a project's proposal content (by id or code) with the same checks as entering it.
    public func updateProject(_ reference: String, _ update: ProjectUpdate, now: Date = Date()) throws(ReplicaError) {
        let office = try settings().office
        guard !update.isEmpty else {
            throw ReplicaError(
                .invalidInput, "nothing to change",
                hint: "Give at least one of --name, --category, --beneficiary, --total-cost, --requested, --commune, --counterpart, --program, --tax-code.")
        }
        if let name = update.name { try Validation.nonEmpty(name, "project name") }
        if let total = update.totalCost { try Validation.positive(total, "total cost") }
        if let requested = update.requestedSupport { try Validation.positive(requested, "requested support") }
        let taxCode = try update.taxCode.map { (code) throws(ReplicaError) in try Validation.taxCode(code) }
        if let category = update.category, ReferenceData.category(code: category) == nil {
            throw ReplicaError(
                .invalidInput, "unknown activity category '\(category)'",
                hint: "Use one of: \(ReferenceData.categories.map(\.code).joined(separator: ", ")).")
        }
        try write("updating a project") { db in
            let row = try Self.findProject(db, reference, office: office)
            let fund = FundSource(rawValue: row["fund_source"]) ?? .local
            let status = ProjectStatus(rawValue: row["status"])
            if fund == .national && !FieldOwnership.officeWritesProposal(in: status) {
                let proposed: [(String, DatabaseValue?)] = [
                    ("total_cost", update.totalCost?.databaseValue), ("requested_support", update.requestedSupport?.databaseValue),
                    ("counterpart_funds", update.counterpartFunds?.databaseValue), ("category", update.category?.databaseValue),
                ]
                let changed = proposed.filter { field, value in value.map { $0 != (row[field] as DatabaseValue) } ?? false }.map(\.0)
                if !changed.isEmpty {
                    throw ReplicaError(
                        .invalidInput,
                        "\(changed.joined(separator: ", ")) of national project \(row["code"] as String) cannot change once it is sent to the centre (status \(row["status"] as String))",
                        hint: "Ask the department to adjust it; once it returns the project, you can change it and send it again.")
                }
            }
            let total = update.totalCost ?? row["total_cost"]
            let requested = update.requestedSupport ?? row["requested_support"]
            try Validation.costSplit(total: total, requested: requested, counterpart: update.counterpartFunds ?? row["counterpart_funds"])
            if let violation = try Self.capViolation(
                db, fund: fund, category: update.category ?? row["category"], province: row["province"],
                requested: requested, totalCost: total)
            {
                throw ReplicaError(.invalidInput, violation, hint: "Lower the requested support, or ask about the cap that applies.")
            }
            let program = try update.program.map { try Self.programID(db, $0, office: office) } ?? row["program_id"]
            try db.execute(
                sql: """
                    UPDATE project SET name = ?, category = ?, beneficiary = ?, total_cost = ?, requested_support = ?,
                                       commune = ?, counterpart_funds = ?, program_id = ?, tax_code = ? WHERE id = ?
                    """,
                arguments: [
                    update.name ?? row["name"], update.category ?? row["category"], update.beneficiary ?? row["beneficiary"],
                    total, requested, update.commune ?? row["commune"], update.counterpartFunds ?? row["counterpart_funds"],
                    program, taxCode ?? row["tax_code"], row["id"] as String,
                ])
            try Self.logEvent(
                db, office: office, project: row["id"], kind: .updated, on: CalendarDate.today(now),
                note: "changed: " + update.columnsSet.joined(separator: ", "), now: now)
        }
    }

    /// A project's ledger in date order.
    public func ledger(_ reference: String) throws(ReplicaError) -> [LedgerEntry] {
        let office = try settings().office
        return try read("reading a ledger") { db in
            let id: String = try Self.findProject(db, reference, office: office, mustOwn: false)["id"]
            return try Row.fetchAll(
                db, sql: "SELECT d.*, NOT (\(Self.notHeld)) AS held FROM disbursement d WHERE d.project_id = ? ORDER BY d.paid_on, d.id",
                arguments: [id]
            ).map { LedgerEntry(id: $0["id"], kind: $0["kind"], amount: $0["amount"], voucher: $0["voucher"], paidOn: $0["paid_on"], held: $0["held"]) }
        }
    }

    /// This office's plan lines, by year and fund.
    public func planLines() throws(ReplicaError) -> [PlanLineRow] {
        let office = try settings().office
        return try read("listing plan lines") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM plan_line WHERE office = ? ORDER BY year, fund_source, id", arguments: [office.rawValue]).map {
                PlanLineRow(id: $0["id"], year: $0["year"], fundSource: $0["fund_source"], amount: $0["amount"], note: $0["note"])
            }
        }
    }
}
