import Foundation
import GRDB
import SyncCore

/// A province's local industrial-promotion programme as staff enter it.
public struct NewProgram: Sendable {
    /// The programme's code, unique among this office's programmes.
    public var code: String
    /// The programme's name; must not be empty.
    public var name: String
    /// The first year it runs, within ``ValueRules/years``.
    public var startYear: Int
    /// The last year it runs, no earlier than `startYear`.
    public var endYear: Int
    /// Free text about it, if any.
    public var note: String?

    /// Creates a programme to enter; it runs from `startYear` to `endYear`, both included.
    public init(code: String, name: String, startYear: Int, endYear: Int, note: String? = nil) {
        self.code = code
        self.name = name
        self.startYear = startYear
        self.endYear = endYear
        self.note = note
    }
}

/// A programme as stored, with the projects that belong to it.
public struct ProgramRow: Sendable, Codable, Equatable {
    /// The programme's row id.
    public var id: String
    /// The office that owns it.
    public var office: String
    /// Its code, unique within its office.
    public var code: String
    /// Its name.
    public var name: String
    /// The first year it runs.
    public var startYear: Int
    /// The last year it runs.
    public var endYear: Int
    /// Free text about it, if any.
    public var note: String?
    /// How many projects of the replica belong to it.
    public var projects: Int
}

/// One entry of a project's event log.
public struct ProjectEventRow: Sendable, Codable, Equatable {
    /// The entry's row id.
    public var id: String
    /// What happened (a ``ProjectEventKind`` raw value: `created`, `status`, `decision`, `acceptance`, …).
    public var kind: String
    /// The day it happened (`YYYY-MM-DD`); the log is ordered by it.
    public var occurredOn: String
    /// The amount in VND the entry records (settled support, an approval's), if any.
    public var amount: Int64?
    /// The number of the document behind it (acceptance minutes, settlement or centre decision), if any.
    public var reference: String?
    /// What the entry says: the fields changed, `from → to` for a status move, an acceptance's result; nil when nothing.
    public var note: String?
    /// Who wrote it: this office, another, or the centre (from the row's synced state).
    public var office: String
}

/// Facility acceptance (nghiệm thu) of a project's works, as the office records it.
public struct Acceptance: Sendable {
    /// `YYYY-MM-DD`.
    public var acceptedOn: String
    /// The number of the acceptance minutes.
    public var minutes: String
    /// The result as written in the minutes.
    public var result: String?

    /// Creates an acceptance to record; `acceptedOn` is `YYYY-MM-DD`.
    public init(acceptedOn: String, minutes: String, result: String? = nil) {
        self.acceptedOn = acceptedOn
        self.minutes = minutes
        self.result = result
    }
}

/// The settlement (quyết toán) of a project's support.
public struct Settlement: Sendable {
    /// `YYYY-MM-DD`.
    public var settledOn: String
    /// The settled support in VND.
    public var amount: Int64
    /// The number of the settlement decision.
    public var decision: String

    /// Creates a settlement from its parts; the amount is VND and `settledOn` is `YYYY-MM-DD`.
    public init(settledOn: String, amount: Int64, decision: String) {
        self.settledOn = settledOn
        self.amount = amount
        self.decision = decision
    }
}

extension OfficeData {
    /// Adds a programme of this office and returns its id.
    @discardableResult
    public func addProgram(_ p: NewProgram, now: Date = Date()) throws(ReplicaError) -> RowID {
        let office = try settings().office
        try Validation.nonEmpty(p.code, "programme code")
        try Validation.nonEmpty(p.name, "programme name")
        try Validation.year(p.startYear)
        try Validation.year(p.endYear)
        guard p.startYear <= p.endYear else {
            throw ReplicaError(.invalidInput, "the programme ends (\(p.endYear)) before it starts (\(p.startYear))", hint: "Check --from and --to.")
        }
        let id = RowID.make(now: now)
        try write("adding a programme") { db in
            if try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM program WHERE office = ? AND code = ?)", arguments: [office.rawValue, p.code]) == true {
                throw ReplicaError(.invalidInput, "programme code '\(p.code)' is already used at this office", hint: "Choose another code.")
            }
            try db.execute(
                sql: "INSERT INTO program(id, office, code, name, start_year, end_year, note) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [id.rawValue, office.rawValue, p.code, p.name, p.startYear, p.endYear, p.note])
        }
        return id
    }

    /// This office's programmes by start year, with how many projects each holds.
    public func programs() throws(ReplicaError) -> [ProgramRow] {
        let office = try settings().office
        return try read("listing programmes") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT g.*, (SELECT count(*) FROM project p WHERE p.program_id = g.id) AS projects
                    FROM program g WHERE g.office = ? ORDER BY g.start_year, g.code
                    """,
                arguments: [office.rawValue]
            ).map {
                ProgramRow(
                    id: $0["id"], office: $0["office"], code: $0["code"], name: $0["name"], startYear: $0["start_year"],
                    endYear: $0["end_year"], note: $0["note"], projects: $0["projects"])
            }
        }
    }

    /// The id of this office's programme `reference` (id or code).
    static func programID(_ db: Database, _ reference: String, office: OfficeCode) throws -> String {
        guard
            let id = try String.fetchOne(
                db, sql: "SELECT id FROM program WHERE office = ? AND (id = ? OR code = ?)",
                arguments: [office.rawValue, reference, reference])
        else {
            throw ReplicaError(.invalidInput, "no programme '\(reference)' at this office", hint: "See: promo-sync program list")
        }
        return id
    }

    /// A project's event log, oldest first.
    public func events(_ reference: String) throws(ReplicaError) -> [ProjectEventRow] {
        let office = try settings().office
        return try read("reading a project's event log") { db in
            let project = try Self.findProject(db, reference, office: office, mustOwn: false)
            return try Row.fetchAll(
                db, sql: "SELECT * FROM project_event WHERE project_id = ? ORDER BY occurred_on, id",
                arguments: [project["id"] as String]
            ).map {
                ProjectEventRow(
                    id: $0["id"], kind: $0["kind"], occurredOn: $0["occurred_on"], amount: $0["amount"],
                    reference: $0["reference"], note: $0["note"], office: $0["office"])
            }
        }
    }

    /// Records facility acceptance: the project moves from in progress to accepted, and the
    /// acceptance (date, minutes, result) goes into its event log, in one transaction.
    public func acceptProject(_ reference: String, _ acceptance: Acceptance, now: Date = Date()) throws(ReplicaError) {
        try Validation.date(acceptance.acceptedOn)
        try Validation.nonEmpty(acceptance.minutes, "acceptance minutes number")
        let office = try settings().office
        try write("recording facility acceptance") { db in
            let project = try Self.findProject(db, reference, office: office)
            try Self.move(db, project, to: .accepted, reference: reference, on: acceptance.acceptedOn, now: now)
            try Self.logEvent(
                db, office: office, project: project["id"], kind: .acceptance, on: acceptance.acceptedOn,
                reference: acceptance.minutes, note: acceptance.result, now: now)
        }
    }

    /// Records the settlement: the project moves from accepted to settled, and the settled support
    /// goes into its event log. Returns the settled amount minus what the ledger shows disbursed:
    /// a difference is for a settlement adjustment entry (`promo-sync disburse --kind
    /// settlement_adjustment`) or a recovery, which staff record themselves.
    @discardableResult
    public func settleProject(_ reference: String, _ settlement: Settlement, now: Date = Date()) throws(ReplicaError) -> Int64 {
        try Validation.date(settlement.settledOn)
        try Validation.positive(settlement.amount, "settled amount")
        try Validation.nonEmpty(settlement.decision, "settlement decision number")
        let office = try settings().office
        return try write("recording a settlement") { db in
            let project = try Self.findProject(db, reference, office: office)
            let limit = Self.limit(of: project) ?? 0
            guard settlement.amount <= limit else {
                throw ReplicaError(
                    .invalidInput,
                    "the settled support (\(settlement.amount)) is more than the \(project["approved_support"] == nil ? "requested" : "approved") support (\(limit))",
                    hint: "Settlement cannot exceed the support in force; check the amount (in VND).")
            }
            try Self.move(db, project, to: .settled, reference: reference, on: settlement.settledOn, now: now)
            try Self.logEvent(
                db, office: office, project: project["id"], kind: .settlement, on: settlement.settledOn,
                amount: settlement.amount, reference: settlement.decision, now: now)
            return settlement.amount - (try Self.disbursedTotal(db, project: project["id"]))
        }
    }

    /// The project `reference` (id, or code at this office); with `mustOwn`, refused unless this office owns it.
    static func findProject(_ db: Database, _ reference: String, office: OfficeCode, mustOwn: Bool = true) throws -> Row {
        guard
            let row = try Row.fetchOne(
                db, sql: "SELECT * FROM project WHERE id = ? OR (code = ? AND office = ?)",
                arguments: [reference, reference, office.rawValue])
        else {
            throw ReplicaError(.invalidInput, "no project '\(reference)' in this replica", hint: "See: promo-sync project list")
        }
        if mustOwn, (row["office"] as String) != office.rawValue {
            throw ReplicaError(.invalidInput, "project \(reference) belongs to office \(row["office"] as String)", hint: "Only the owning office changes it.")
        }
        return row
    }

    /// Moves `project` to `status` if the status machine gives that move to the office, and logs it.
    static func move(_ db: Database, _ project: Row, to status: ProjectStatus, reference: String, on day: String? = nil, now: Date = Date()) throws {
        let fund = (project["fund_source"] as String?).flatMap(FundSource.init(rawValue:)) ?? .local
        guard let from = (project["status"] as String?).flatMap(ProjectStatus.init(rawValue:)) else {
            throw ReplicaError(.invalidInput, "project \(reference) has an unknown status", hint: "Sync with the centre first.")
        }
        guard StatusMachine.owner(from: from, to: status, fund: fund) == .office else {
            let allowed = StatusMachine.transitions(fund).filter { $0.from == from && $0.owner == .office }.map(\.to.rawValue)
            throw ReplicaError(
                .invalidInput, "a \(fund.rawValue) project cannot go from \(from.rawValue) to \(status.rawValue) at the office",
                hint: allowed.isEmpty
                    ? "The next step is the centre's." : "From \(from.rawValue) the office may move it to: \(allowed.joined(separator: ", ")).")
        }
        let id: String = project["id"]
        // What was written before the move reaches the centre before it, with its values of now:
        // each move arrives as a step of its own (sealPending). What follows the move is stamped
        // after it, in this changeset or a later one.
        try Replica.sealPending(db, now: now)
        try db.execute(sql: "UPDATE project SET status = ? WHERE id = ?", arguments: [status.rawValue, id])
        try logEvent(
            db, office: OfficeCode(unchecked: project["office"]), project: id, kind: .status, on: day ?? CalendarDate.today(now),
            note: "\(from.rawValue) → \(status.rawValue)", now: now)
    }

    /// Appends an entry to a project's event log (captured and synced like any office write).
    static func logEvent(
        _ db: Database, office: OfficeCode, project: String, kind: ProjectEventKind, on day: String,
        amount: Int64? = nil, reference: String? = nil, note: String? = nil, now: Date = Date()
    ) throws {
        try db.execute(
            sql: "INSERT INTO project_event(id, office, project_id, kind, occurred_on, amount, reference, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            arguments: [RowID.make(now: now).rawValue, office.rawValue, project, kind.rawValue, day, amount, reference, note])
    }
}
