import Foundation
import GRDB
import SyncCore

/// The office's data commands: what staff enter, change, import, list and resolve in the replica
/// (projects, plan lines, ledgers, programmes, conflicts), with the checks each command makes
/// before it writes. The sync machinery of the same file (outbox, changesets, pulls, digests,
/// sync state) is ``Replica``'s; capture triggers connect the two, so nothing here knows about
/// syncing. Reached as `replica.data`.
public struct OfficeData: Sendable {
    let replica: Replica

    func settings() throws(ReplicaError) -> ReplicaSettings { try replica.settings() }

    func read<T: Sendable>(_ operation: String, _ body: @Sendable (Database) throws -> T) throws(ReplicaError) -> T {
        try replica.read(operation, body)
    }

    /// Runs a command's writes in one transaction, refused whole when a value it wrote to a synced
    /// row breaks a rule the centre would refuse it for (``Replica/checkCapturedValues(_:after:)``).
    func write<T: Sendable>(_ operation: String, _ body: @Sendable (Database) throws -> T) throws(ReplicaError) -> T {
        try replica.write(operation) { db in
            let before = try Replica.lastOutboxEntry(db)
            let result = try body(db)
            try Replica.checkCapturedValues(db, after: before)
            return result
        }
    }
}

extension Replica {
    /// The office's data commands on this replica.
    public var data: OfficeData { OfficeData(replica: self) }
}

/// A project as staff enter it.
public struct NewProject: Sendable {
    /// The project's code, unique among this office's projects.
    public var code: String
    /// The project's name; must not be empty.
    public var name: String
    /// The activity category's code (``ReferenceData/categories``), kept in upper case.
    public var category: String
    /// Whose money supports it: national or local; fixed once the project is made.
    public var fundSource: FundSource
    /// Who receives the support (an enterprise or a household business), if named.
    public var beneficiary: String?
    /// The plan year, within ``ValueRules/years``.
    public var year: Int
    /// The project's whole cost in VND; more than 0.
    public var totalCost: Int64
    /// The support asked for in VND: more than 0, no more than the total cost, and within the support caps in force.
    public var requestedSupport: Int64
    /// A former province code when the project was made under one; defaults to the office's.
    public var province: String?
    /// The programme (id or code) it belongs to, if any.
    public var program: String?
    /// The commune (xã/phường) where the facility is.
    public var commune: String?
    /// The beneficiary's own contribution (vốn đối ứng) in VND.
    public var counterpartFunds: Int64?
    /// The beneficiary enterprise's tax code (mã số thuế), as entered (``TaxCode`` reads it).
    public var taxCode: String?

    /// Creates a project to enter; amounts are VND, and the category code is upper-cased.
    public init(
        code: String, name: String, category: String, fundSource: FundSource, beneficiary: String? = nil,
        year: Int, totalCost: Int64, requestedSupport: Int64, province: String? = nil,
        program: String? = nil, commune: String? = nil, counterpartFunds: Int64? = nil, taxCode: String? = nil
    ) {
        self.code = code
        self.name = name
        self.category = category.uppercased()  // codes are read in any case
        self.fundSource = fundSource
        self.beneficiary = beneficiary
        self.year = year
        self.totalCost = totalCost
        self.requestedSupport = requestedSupport
        self.province = province
        self.program = program
        self.commune = commune
        self.counterpartFunds = counterpartFunds
        self.taxCode = taxCode
    }
}

/// A project as stored.
public struct ProjectRow: Sendable, Codable, Equatable {
    /// The project's row id.
    public var id: String
    /// The office that owns it.
    public var office: String
    /// The province code it was made under: the office's own, or a former province merged into it.
    public var province: String
    /// The project's code, unique within its office.
    public var code: String
    /// The project's name.
    public var name: String
    /// Its activity category's code.
    public var category: String
    /// `national` or `local`.
    public var fundSource: String
    /// Who receives the support, if named.
    public var beneficiary: String?
    /// The plan year.
    public var year: Int
    /// The whole cost in VND.
    public var totalCost: Int64
    /// The support asked for, in VND.
    public var requestedSupport: Int64
    /// The support approved, in VND; nil while none is set (on a national project only the centre sets it).
    public var approvedSupport: Int64?
    /// Its status (a ``ProjectStatus`` raw value, `draft` when entered).
    public var status: String
    /// The id of the programme it belongs to; nil when none.
    public var programID: String?
    /// The commune (xã/phường) where the facility is, if given.
    public var commune: String?
    /// The beneficiary's own contribution (vốn đối ứng) in VND, if given.
    public var counterpartFunds: Int64?
    /// The beneficiary's tax code (mã số thuế), since release 1.2.0.
    public var taxCode: String?
    /// Sum of the project's ledger entries (recoveries subtract).
    public var disbursed: Int64
}

/// A ledger entry as staff enter it.
public struct NewDisbursement: Sendable {
    /// The project the entry is for, by id or code; it must be this office's.
    public var project: String
    /// What the entry is (advance, payment, recovery, settlement adjustment); a recovery subtracts.
    public var kind: DisbursementKind
    /// The amount in VND, more than 0 whatever the kind.
    public var amount: Int64
    /// The treasury voucher's number; a voucher is recorded once per office. nil or empty: none.
    public var voucher: String?
    /// `YYYY-MM-DD`.
    public var paidOn: String

    /// Creates a ledger entry to add; the amount is VND and `paidOn` is `YYYY-MM-DD`.
    public init(project: String, kind: DisbursementKind, amount: Int64, voucher: String?, paidOn: String) {
        self.project = project
        self.kind = kind
        self.amount = amount
        self.voucher = voucher
        self.paidOn = paidOn
    }
}

extension OfficeData {
    /// Adds a draft project for this office and returns its new id.
    @discardableResult
    public func addProject(_ p: NewProject, now: Date = Date()) throws(ReplicaError) -> RowID {
        let office = try settings().office
        try Validation.nonEmpty(p.code, "project code")
        try Validation.nonEmpty(p.name, "project name")
        try Validation.year(p.year)
        try Validation.positive(p.totalCost, "total cost")
        try Validation.positive(p.requestedSupport, "requested support")
        try Validation.costSplit(total: p.totalCost, requested: p.requestedSupport, counterpart: p.counterpartFunds)
        let taxCode = try p.taxCode.map { (code) throws(ReplicaError) in try Validation.taxCode(code) }
        guard ReferenceData.category(code: p.category) != nil else {
            throw ReplicaError(
                .invalidInput, "unknown activity category '\(p.category)'",
                hint: "Use one of: \(ReferenceData.categories.map(\.code).joined(separator: ", ")).")
        }
        let province = p.province ?? office.rawValue
        if let problem = ValueRules.problem(.project, "province", .text(province), writer: office) {
            throw ReplicaError(
                .invalidInput, problem,
                hint: "Use this office's own code, or the code of a former province merged into it for records made under it.")
        }
        let id = RowID.make(now: now)
        try write("adding a project") { db in
            if let violation = try Self.capViolation(
                db, fund: p.fundSource, category: p.category, province: province,
                requested: p.requestedSupport, totalCost: p.totalCost)
            {
                throw ReplicaError(.invalidInput, violation, hint: "Lower the requested support, or ask about the cap that applies.")
            }
            if try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM project WHERE office = ? AND code = ?)", arguments: [office.rawValue, p.code]) == true {
                throw ReplicaError(.invalidInput, "project code '\(p.code)' is already used at this office", hint: "Choose another code.")
            }
            let program = try p.program.map { try Self.programID(db, $0, office: office) }
            try db.execute(
                sql: """
                    INSERT INTO project(id, office, province, code, name, category, fund_source, beneficiary, year,
                                        total_cost, requested_support, approved_support, status, program_id, commune, counterpart_funds, tax_code)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 'draft', ?, ?, ?, ?)
                    """,
                arguments: [
                    id.rawValue, office.rawValue, province, p.code, p.name, p.category, p.fundSource.rawValue,
                    p.beneficiary, p.year, p.totalCost, p.requestedSupport, program, p.commune, p.counterpartFunds, taxCode,
                ])
            try Self.logEvent(db, office: office, project: id.rawValue, kind: .created, on: CalendarDate.today(now), note: "entered as draft", now: now)
        }
        return id
    }

    /// Projects of every office held in the replica, newest first.
    public func projects(office: OfficeCode? = nil) throws(ReplicaError) -> [ProjectRow] {
        try read("listing projects") { db in
            try Row.fetchAll(
                db,
                sql: "SELECT p.* FROM project p WHERE (?1 IS NULL OR p.office = ?1) ORDER BY p.id DESC",
                arguments: [office?.rawValue]
            ).map { row in
                ProjectRow(
                    id: row["id"], office: row["office"], province: row["province"], code: row["code"], name: row["name"],
                    category: row["category"], fundSource: row["fund_source"], beneficiary: row["beneficiary"],
                    year: row["year"], totalCost: row["total_cost"], requestedSupport: row["requested_support"],
                    approvedSupport: row["approved_support"], status: row["status"], programID: row["program_id"],
                    commune: row["commune"], counterpartFunds: row["counterpart_funds"], taxCode: row["tax_code"],
                    disbursed: try Self.disbursedTotal(db, project: row["id"]))
            }
        }
    }

    /// The first support cap in force that `requested` breaks (the province's own caps and the
    /// nationwide ones both apply), or nil.
    static func capViolation(
        _ db: Database, fund: FundSource, category: String, province: String,
        requested: Int64, totalCost: Int64
    ) throws -> String? {
        let rows = try Row.fetchAll(
            db, sql: "SELECT * FROM support_cap WHERE fund_source = ? AND category = ? AND (province IS NULL OR province = ?) ORDER BY id",
            arguments: [fund.rawValue, category, province])
        for row in rows {
            let cap = SupportCap(
                fund: fund, category: category, province: row["province"],
                maxPercentOfCost: row["max_percent_of_cost"], maxAmount: row["max_amount"])
            if let violation = cap.violation(requested: requested, totalCost: totalCost) { return violation }
        }
        return nil
    }

    /// SQL condition on a disbursement `d`: not held out of the totals by a ledger conflict
    /// (over-disbursement or duplicate voucher) that was not accepted.
    static let notHeld = """
        NOT EXISTS (SELECT 1 FROM conflict c WHERE c.row_id = d.id AND c.rule IN (\(LedgerRules.holdingRules.map { "'\($0.rawValue)'" }.joined(separator: ", ")))
                    AND coalesce(c.resolution, '') <> 'accept')
        """

    /// What a project's ledger adds up to (LedgerRules: recoveries subtract), held entries left out.
    static func disbursedTotal(_ db: Database, project id: String) throws -> Int64 {
        guard let paid = LedgerRules.paid(try countedEntries(db, project: id).map { ($0.kind, $0.amount) }) else {
            throw ReplicaError(
                .damaged, "the ledger of project \(id) adds up past what a 64-bit amount holds",
                hint: "Run promo-sync resync --force to take the centre's ledger.")
        }
        return paid
    }

    /// A project's entries that count (held ones left out), with their dates.
    static func countedEntries(_ db: Database, project id: String) throws -> [(kind: DisbursementKind, amount: Int64, paidOn: String)] {
        try Row.fetchAll(db, sql: "SELECT d.kind, d.amount, d.paid_on FROM disbursement d WHERE d.project_id = ? AND \(notHeld)", arguments: [id])
            .map { (DisbursementKind(rawValue: $0[0]) ?? .payment, $0[1] as Int64, $0[2] as String? ?? "") }
    }

    /// A project's counted entries as ``DatedLedger`` takes them: each day with its signed amount.
    static func datedEntries(_ db: Database, project id: String) throws -> [(day: String, signed: Int64)] {
        try countedEntries(db, project: id).map { ($0.paidOn, LedgerRules.signed($0.kind, $0.amount)) }
    }

    /// Appends a ledger entry. Refuses an amount that would take the project past its approved
    /// support (or its requested support while not yet approved), and a voucher already used.
    @discardableResult
    public func addDisbursement(_ d: NewDisbursement, now: Date = Date()) throws(ReplicaError) -> RowID {
        let office = try settings().office
        try Validation.positive(d.amount, "amount")
        try Validation.date(d.paidOn)
        let id = RowID.make(now: now)
        try write("adding a disbursement") { db in
            let project = try Self.findProject(db, d.project, office: office)
            let projectID: String = project["id"]
            if let voucher = d.voucher, !voucher.isEmpty, try Self.voucherRecorded(db, voucher, office: office) {
                throw ReplicaError(
                    .invalidInput, "treasury voucher '\(voucher)' is already recorded",
                    hint: "A voucher is paid once; record a correction as a new entry of its own.")
            }
            // The centre's rules (LedgerRules), checked here first to say what is wrong.
            let approved: Int64? = project["approved_support"]
            let (outcome, disbursed, limit) = try Self.admit(db, d.kind, d.amount, paidOn: d.paidOn, on: project, now: now)
            if case .failure(let refusal) = outcome {
                let hint: String
                switch refusal {
                case .overLimit(_, _, let before, let day?):
                    hint =
                        "\(before) of \(limit) VND had been disbursed by \(day) (entries dated later take some back); give the payment its real date, or record it after the recoveries that make room."
                case .overLimit:
                    hint =
                        "Already disbursed \(disbursed) of \(limit) VND (\(approved == nil ? "requested" : "approved") support); check the amount or the project's approval."
                case .belowZero(_, _, nil): hint = "Only \(disbursed) VND was disbursed; a recovery returns at most that."
                case .belowZero(_, let before, let day?):
                    hint = "Only \(before) VND had been disbursed by \(day); a recovery returns what was paid before its date: check the date."
                case .status: hint = "Move the project on first (promo-sync project status), or record the entry when the project reaches that stage."
                case .date: hint = "Give the date the money moved, YYYY-MM-DD."
                case .notApproved: hint = "Record it once the centre's approved support reaches this office (promo-sync sync)."
                }
                if case .overLimit(_, _, _, nil) = refusal {
                    throw ReplicaError(.invalidInput, "this entry takes the project past its \(approved == nil ? "requested" : "approved") support", hint: hint)
                }
                throw ReplicaError(.invalidInput, refusal.message, hint: hint)
            }
            try db.execute(
                sql: "INSERT INTO disbursement(id, office, project_id, kind, amount, voucher, paid_on) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [id.rawValue, office.rawValue, projectID, d.kind.rawValue, d.amount, d.voucher, d.paidOn])
        }
        return id
    }

    /// Whether the office has recorded treasury voucher `voucher` (a voucher is paid once), compared as the centre's fold compares vouchers
    /// (``ValueRules/voucherKey(_:)``: without case, separators or a number's leading zeros), so
    /// that what the centre would hold as a duplicate is refused here first.
    static func voucherRecorded(_ db: Database, _ voucher: String, office: OfficeCode) throws -> Bool {
        let key = ValueRules.voucherKey(voucher)
        guard !key.isEmpty else { return false }
        let vouchers = try String.fetchCursor(
            db, sql: "SELECT voucher FROM disbursement WHERE office = ? AND voucher IS NOT NULL AND voucher <> ''", arguments: [office.rawValue])
        while let recorded = try vouchers.next() {
            if ValueRules.voucherKey(recorded) == key { return true }
        }
        return false
    }

    /// The ledger's rules (LedgerRules) for a new entry on `project` as this replica holds it now,
    /// with what the project has paid and may take (``limit(of:)``; 0 when nothing is approved).
    static func admit(
        _ db: Database, _ kind: DisbursementKind, _ amount: Int64, paidOn: String, on project: Row,
        now: Date
    ) throws -> (outcome: Result<Int64, LedgerRules.Refusal>, paid: Int64, limit: Int64) {
        let limit = Self.limit(of: project)
        let paid = DatedLedger(entries: try datedEntries(db, project: project["id"]), more: [paidOn])
        let outcome = LedgerRules.admit(
            kind: kind, amount: amount, paidOn: paidOn, paid: paid, limit: limit,
            status: (project["status"] as String?).flatMap(ProjectStatus.init(rawValue:)), year: project["year"],
            recordedOn: CalendarDate.today(now))
        return (outcome, paid.total, limit ?? 0)
    }

    /// What a project's entries may add up to, by the centre's rule (``LedgerRules/limit(fund:approved:requested:totalCost:)``).
    static func limit(of project: Row) -> Int64? {
        LedgerRules.limit(
            fund: (project["fund_source"] as String?).flatMap(FundSource.init(rawValue:)), approved: project["approved_support"],
            requested: project["requested_support"], totalCost: project["total_cost"])
    }

    /// Moves a project (by id or code) to a new status, if the move is the office's to make, and logs it.
    public func setProjectStatus(_ reference: String, to status: ProjectStatus, now: Date = Date()) throws(ReplicaError) {
        let office = try settings().office
        try write("changing a project's status") { db in
            try Self.move(db, try Self.findProject(db, reference, office: office), to: status, reference: reference, now: now)
        }
    }

    /// Adds an annual budget plan line for this office.
    @discardableResult
    public func addPlanLine(year: Int, fundSource: FundSource, amount: Int64, note: String?, now: Date = Date()) throws(ReplicaError) -> RowID {
        let office = try settings().office
        try Validation.year(year)
        try Validation.positive(amount, "plan amount")
        let id = RowID.make(now: now)
        try write("adding a plan line") { db in
            try db.execute(
                sql: "INSERT INTO plan_line(id, office, year, fund_source, amount, note) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [id.rawValue, office.rawValue, year, fundSource.rawValue, amount, note])
        }
        return id
    }

    /// The centre's consolidated plan and disbursed totals as last pulled.
    public func consolidatedTotals() throws(ReplicaError) -> [ProvinceTotal] {
        try read("reading consolidated totals") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM province_total ORDER BY year, province, fund_source").map {
                ProvinceTotal(
                    province: $0["province"], year: $0["year"], fundSource: $0["fund_source"],
                    planAmount: $0["plan_amount"], disbursedAmount: $0["disbursed_amount"])
            }
        }
    }

    /// Counts rows of a synced table (for reports and tests).
    public func count(_ table: SyncedTable) throws(ReplicaError) -> Int {
        try read("counting rows") { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table.rawValue)") ?? 0 }
    }
}

/// One consolidated total.
public struct ProvinceTotal: Sendable, Codable, Equatable {
    /// The province in force of the office whose figures these are.
    public var province: String
    /// The plan year.
    public var year: Int
    /// `national` or `local`.
    public var fundSource: String
    /// The office's plan lines for the year and fund, added up, in VND.
    public var planAmount: Int64
    /// Its ledgers for the year and fund, added up (recoveries subtract, held entries left out), in VND.
    public var disbursedAmount: Int64
}

/// Checks on values people type.
enum Validation {
    static func nonEmpty(_ text: String, _ what: String) throws(ReplicaError) {
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw ReplicaError(.invalidInput, "the \(what) is empty", hint: "Give a \(what).")
        }
    }

    static func positive(_ amount: Int64, _ what: String) throws(ReplicaError) {
        if !(1...ValueRules.maxAmount).contains(amount) {
            throw ReplicaError(
                .invalidInput, "the \(what) must be more than 0 and at most \(ValueRules.maxAmount) VND (got \(amount))",
                hint: "Amounts are whole VND, e.g. 500000000 for 500 m.")
        }
    }

    /// Support and the beneficiary's own contribution are parts of the total cost.
    /// A tax code as entered, in the form it is kept and sent (``TaxCode``).
    static func taxCode(_ input: String) throws(ReplicaError) -> String {
        guard let code = TaxCode(input) else {
            throw ReplicaError(
                .invalidInput, "'\(input)' is not a tax code (mã số thuế)",
                hint: "Give the 10 digits of the enterprise's code, or 13 for a branch (0312345678-001), as on its registration certificate.")
        }
        return code.text
    }

    static func costSplit(total: Int64, requested: Int64, counterpart: Int64?) throws(ReplicaError) {
        guard requested <= total else {
            throw ReplicaError(
                .invalidInput, "requested support (\(requested)) is more than the total cost (\(total))",
                hint: "Support is part of the cost; check both amounts (in VND).")
        }
        guard let counterpart else { return }
        guard counterpart >= 0 else {
            throw ReplicaError(
                .invalidInput, "the counterpart funds must not be negative (got \(counterpart))", hint: "Give the beneficiary's own contribution in whole VND.")
        }
        guard total - requested >= counterpart else {
            throw ReplicaError(
                .invalidInput, "requested support (\(requested)) and counterpart funds (\(counterpart)) add up to more than the total cost (\(total))",
                hint: "Both are parts of the cost; check the three amounts (in VND).")
        }
    }

    static func year(_ year: Int) throws(ReplicaError) {
        if !ValueRules.years.contains(Int64(year)) {
            throw ReplicaError(
                .invalidInput, "year \(year) is out of range",
                hint: "Give a year between \(ValueRules.years.lowerBound) and \(ValueRules.years.upperBound).")
        }
    }

    static func date(_ text: String) throws(ReplicaError) {
        if case .failure(let error) = CalendarDate.parse(text) { throw ReplicaError(.invalidInput, error.message, hint: error.hint) }
    }
}

extension OfficeData {
    /// The consolidated figures pulled from the centre, as report facts (every province the office
    /// may see: national and regional reports work offline).
    public func reportFacts() throws(ReplicaError) -> (plans: [PlanFact], disbursed: [DisbursedFact]) {
        try read("reading report figures") { db in
            let plans = try Row.fetchAll(db, sql: "SELECT province, year, fund_source, plan_amount FROM province_total").compactMap { r -> PlanFact? in
                guard let fund = FundSource(rawValue: r["fund_source"]) else { return nil }
                return PlanFact(province: r["province"], year: r["year"], fund: fund, amount: r["plan_amount"])
            }
            let paid = try Row.fetchAll(db, sql: "SELECT province, year, fund_source, report_group, paid_on, amount FROM disbursed_total").compactMap {
                r -> DisbursedFact? in
                guard let fund = FundSource(rawValue: r["fund_source"]) else { return nil }
                return DisbursedFact(province: r["province"], year: r["year"], fund: fund, group: r["report_group"], paidOn: r["paid_on"], amount: r["amount"])
            }
            return (plans, paid)
        }
    }
}
