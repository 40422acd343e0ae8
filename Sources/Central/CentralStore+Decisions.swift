import Foundation
import GRDB
import SyncCore
import WireFormat

/// A decision of the centre on a national project.
public enum CentreDecision: Sendable, Equatable {
    case appraise
    case approve(amount: Int64)
    case returnToOffice
    case reject
    case adjust(amount: Int64)
    case halt

    var fields: [String: FieldValue] {
        switch self {
        case .appraise: ["status": .text(ProjectStatus.appraisedCentrally.rawValue)]
        case .approve(let amount): ["status": .text(ProjectStatus.approved.rawValue), "approved_support": .integer(amount)]
        case .returnToOffice: ["status": .text(ProjectStatus.returned.rawValue)]
        case .reject: ["status": .text(ProjectStatus.rejected.rawValue)]
        case .adjust(let amount): ["approved_support": .integer(amount)]
        case .halt: ["status": .text(ProjectStatus.halted.rawValue)]
        }
    }

    /// How the project's event log names the decision.
    var summary: String {
        switch self {
        case .appraise: "appraised by the centre"
        case .approve: "approved by the centre"
        case .returnToOffice: "returned to the office by the centre"
        case .reject: "rejected by the centre"
        case .adjust: "approved support adjusted by the centre"
        case .halt: "halted by the centre"
        }
    }

    var amount: Int64? {
        switch self {
        case .approve(let amount), .adjust(let amount): amount
        default: nil
        }
    }

    /// How the journal names the decision.
    var name: String {
        switch self {
        case .appraise: "appraise"
        case .approve: "approve"
        case .returnToOffice: "return"
        case .reject: "reject"
        case .adjust: "adjust"
        case .halt: "halt"
        }
    }

    /// The decision the journal names, with its amount (approve, adjust).
    init?(name: String, amount: Int64?) {
        switch (name, amount) {
        case ("appraise", _): self = .appraise
        case ("approve", let amount?): self = .approve(amount: amount)
        case ("return", _): self = .returnToOffice
        case ("reject", _): self = .reject
        case ("adjust", let amount?): self = .adjust(amount: amount)
        case ("halt", _): self = .halt
        default: return nil
        }
    }
}

/// A project as the centre holds it.
public struct CentralProject: Sendable, Equatable {
    /// The project's id.
    public var id: String
    /// The office that owns the project.
    public var office: String
    /// The project's fields as the centre holds them, by column name.
    public var fields: [String: FieldValue]
}

/// A conflict as the centre holds it.
public struct CentralConflict: Sendable, Equatable {
    /// The conflict record's fields (`table`, `row_id`, `mine`, `resolution`…), by column name.
    public var record: [String: FieldValue]
    /// The conflict record's id.
    public var id: String
    /// The office that owns the row in conflict; the conflict is published to it with its pull.
    public var office: String
    /// The conflict as people read it, with the record's business keys (docs/CONFLICTS.md).
    public var description: ConflictDescription
}

extension CentralStore {
    /// Projects, optionally of one office.
    public func projects(office: String? = nil) throws(CentralError) -> [CentralProject] {
        do {
            return try database.read { db in
                try Row.fetchAll(
                    db,
                    sql:
                        "SELECT id, office, fields FROM record WHERE tbl = 'project' AND deleted_at IS NULL AND (?1 IS NULL OR office = ?1) ORDER BY office, id",
                    arguments: [office]
                ).map { row in
                    CentralProject(
                        id: row["id"], office: row["office"],
                        fields: try FieldCoding.decode(row["fields"] as String))
                }
            }
        } catch {
            throw CentralError.storage(error, during: "listing projects")
        }
    }

    /// Records a decision of the centre on a project (by id, or `OFFICE/CODE`). A move the status
    /// machine does not allow from the project's current status is refused before anything is written.
    /// Returns the project decided, as it stood before the decision.
    @discardableResult
    public func decide(
        project reference: String, _ decision: CentreDecision, reference document: String? = nil,
        now: Date = Date()
    ) throws(CentralError) -> CentralProject {
        do {
            return try database.write { db in
                try Self.decide(db, project: reference, decision, document: document, now: now, position: Self.nextPosition(db), recorded: nil)
            }
        } catch {
            throw CentralError.storage(error, during: "recording a decision on \(reference)")
        }
    }

    /// A decision, journaled with the clocks and event id it was given; `recorded` (a replay)
    /// gives them back instead of new ones.
    @discardableResult
    static func decide(
        _ db: Database, project reference: String, _ decision: CentreDecision, document: String?, now: Date,
        position: Int64, recorded: CentreAction.Decided?
    ) throws -> CentralProject {
        let project = try findProject(db, reference)
        let fund = project.fields["fund_source"]?.text.flatMap(FundSource.init(rawValue:))
        guard fund == .national else {
            throw CentralError(
                .conflict, .forbiddenOwner, "project \(reference) is a local-fund project: the province owns its decisions",
                hint: "The centre decides national-fund projects only.")
        }
        if let amount = decision.amount {
            try checkAmount(amount)
            // Checked as decisions are made, not on a replay of what an earlier release took.
            if recorded == nil { try checkSupport(amount, decision, of: project, reference) }
        }
        if let to = decision.fields["status"]?.text.flatMap(ProjectStatus.init(rawValue:)) {
            let from = project.fields["status"]?.text.flatMap(ProjectStatus.init(rawValue:)) ?? .draft
            guard StatusMachine.owner(from: from, to: to, fund: .national) == .centre else {
                throw CentralError(
                    .conflict, .statusTransition,
                    "project \(reference) is \(from.rawValue); the centre cannot move it to \(to.rawValue)",
                    hint: "See docs/CONFLICTS.md for the status machine.")
            }
        }
        var clock = try centreClock(db)
        let change = Change(
            table: .project, id: RowID(unchecked: project.id), op: .upsert,
            hlc: stamp(&clock, recorded: recorded?.stamps.first, now: now), fields: decision.fields)
        // The decision goes into the project's event log, for the office that made the project:
        // while that office is merged into another the fold gives the entry to the other, and once
        // the merge is undone to it again. Named after the receiving office, the entry stayed
        // that office's after an unmerge, as a conflict in the project's log (the convergence model,
        // seed 2026120843).
        let creator = try creation(db, of: project.id, root: SyncedTable.project.rawValue)?.office ?? project.office
        let event = Change(
            table: .projectEvent, id: recorded.map { RowID(unchecked: $0.event) } ?? RowID.make(now: now), op: .upsert,
            hlc: stamp(&clock, recorded: recorded?.stamps.dropFirst().first, now: now),
            fields: [
                "office": .text(creator), "project_id": .text(project.id), "kind": .text(ProjectEventKind.decision.rawValue),
                "occurred_on": .text(CalendarDate.today(now)), "amount": decision.amount.map(FieldValue.integer) ?? .null,
                "reference": document.map(FieldValue.text) ?? .null, "note": .text(decision.summary),
            ])
        try saveCentreClock(db, clock)
        _ = try ingest(db, changes: [change, event], from: .central, position: position, at: now)
        try journal(
            db,
            .decided(
                .init(
                    project: project.id, decision: decision.name, amount: decision.amount, document: document,
                    stamps: [change.hlc, event.hlc], event: event.id.rawValue)), at: now, position: position)
        return project
    }

    /// The earliest stamped change of an aggregate's root row that names an office, as the fold
    /// orders them: the one that gives the aggregate its owner (before merges).
    static func creation(_ db: Database, of aggregate: String, root table: String) throws -> (hlc: HLCTimestamp, office: String)? {
        var earliest: (hlc: HLCTimestamp, office: String)?
        for row in try Row.fetchAll(
            db.cachedStatement(
                sql: "SELECT hlc, json_extract(fields, '$.office') FROM history WHERE tbl = ? AND id = ? AND json_type(fields, '$.office') = 'text'"),
            arguments: [table, aggregate])
        {
            guard let hlc = try? HLCTimestamp(parsing: row[0]), let office = row[1] as String? else { continue }
            if earliest.map({ hlc < $0.hlc }) ?? true { earliest = (hlc, office) }
        }
        return earliest
    }

    /// The clock of a change the centre makes: the next tick of its clock, or in a replay the
    /// stamp the journal recorded (the clock then stands where the tick had left it).
    static func stamp(_ clock: inout HybridLogicalClock, recorded: HLCTimestamp?, now: Date) -> HLCTimestamp {
        guard let recorded else { return clock.tick(nowMilliseconds: HybridLogicalClock.wallMilliseconds(now)) }
        clock.observe(recorded, nowMilliseconds: 0)
        return recorded
    }

    /// SQL that holds for a conflict `record` the centre still has to answer: unresolved, or of
    /// the centre's own change and resolved by an office only (an office's dismissal of the
    /// centre's decision hid it from the centre's list, round 12; the centre's resolution stands
    /// over it). The centre's list, its dashboard and `promo_central_open_conflicts` count these.
    static let openForTheCentre = """
        (json_extract(fields, '$.resolution') IS NULL
         OR (json_extract(fields, '$.writer') = 'central' AND json_extract(fields, '$.resolved_by') IS NOT 'central'))
        """

    /// Conflicts, open ones only (``openForTheCentre``) unless `all`.
    public func conflicts(all: Bool = false, office: String? = nil) throws(CentralError) -> [CentralConflict] {
        do {
            return try database.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT id, office, fields FROM record
                        WHERE tbl = 'conflict' AND deleted_at IS NULL AND (?1 IS NULL OR office = ?1) AND (?2 OR \(Self.openForTheCentre))
                        ORDER BY id
                        """,
                    arguments: [office, all]
                ).map { row in
                    let fields = try FieldCoding.decode(row["fields"] as String)
                    return CentralConflict(
                        record: fields, id: row["id"], office: row["office"],
                        description: try Self.describe(db, id: row["id"], office: row["office"], fields))
                }
            }
        } catch {
            throw CentralError.storage(error, during: "listing conflicts")
        }
    }

    /// A conflict's record by its business keys, read from the records the centre holds.
    static func describe(_ db: Database, id: String, office: String, _ c: [String: FieldValue]) throws -> ConflictDescription {
        func fields(_ table: String, _ id: String?) throws -> [String: FieldValue] {
            guard let id, let text = try String.fetchOne(db, sql: "SELECT fields FROM record WHERE tbl = ? AND id = ?", arguments: [table, id]) else {
                return [:]
            }
            return try FieldCoding.decode(text)
        }
        let table = c["table"]?.text ?? "?"
        let project = try fields("project", c["aggregate_id"]?.text)
        let row = try fields(table, c["row_id"]?.text)
        func decode(_ key: String) -> [String: FieldValue] { ConflictRecord.publishedValues(c[key]?.text) }
        return ConflictDescription(
            id: id, rule: c["rule"]?.text ?? "?",
            record: ConflictDescription.record(
                table: table, kind: row["kind"]?.text, voucher: row["voucher"]?.text, projectCode: project["code"]?.text,
                planYear: row["year"]?.integer, planFund: row["fund_source"]?.text, programCode: row["code"]?.text),
            office: office, writer: c["writer"]?.text ?? "?", hlc: c["hlc"]?.text ?? "", message: c["message"]?.text ?? "",
            mine: decode("mine"), theirs: decode("theirs"),
            state: ConflictDescription.state(resolution: c["resolution"]?.text, resolvedBy: c["resolved_by"]?.text),
            fund: project["fund_source"]?.text.flatMap(FundSource.init(rawValue:)))
    }

    /// Resolves a conflict at the centre; the resolution is a synced, audited change like any other.
    public func resolve(conflict id: String, _ choice: ResolutionChoice, note: String?, now: Date = Date()) throws(CentralError) {
        do {
            try database.write { db in
                try Self.resolve(db, conflict: id, choice, note: note, now: now, position: Self.nextPosition(db), recorded: nil)
            }
        } catch {
            throw CentralError.storage(error, during: "resolving conflict \(id)")
        }
    }

    static func resolve(
        _ db: Database, conflict id: String, _ choice: ResolutionChoice, note: String?, now: Date,
        position: Int64, recorded: CentreAction.Resolved?
    ) throws {
        let rows = try Row.fetchAll(
            db, sql: "SELECT id, office, fields FROM record WHERE tbl = 'conflict' AND deleted_at IS NULL AND (id = ? OR id LIKE ?) ORDER BY id LIMIT 2",
            arguments: [id, id.count >= 6 ? id + "%" : id])
        guard let row = rows.first else {
            throw CentralError(.notFound, .notFound, "no conflict '\(id)'", hint: "List them with: promo-central conflicts list")
        }
        if rows.count > 1, row["id"] as String != id {
            throw CentralError(
                .badRequest, .badRequest, "more than one conflict starts with '\(id)' (\(rows.map { $0["id"] as String }.joined(separator: ", ")), …)",
                hint: "Give more of the id (promo-central conflicts list --all).")
        }
        let fields = try FieldCoding.decode(row["fields"] as String)
        // The centre's resolution stands over an office's (the fold's rule): an office that
        // dismissed a conflict of the centre's own change had taken away the centre's answer to it
        // (round 12). Only the centre's own resolution is final here.
        guard fields["resolved_by"] != .text(OfficeCode.central.rawValue) else {
            throw CentralError(.conflict, .resolved, "conflict \(row["id"] as String) is already resolved by the centre", hint: "Nothing to do.")
        }
        let aggregate = fields["aggregate_id"]?.text ?? ""
        let fund = try String.fetchOne(
            db, sql: "SELECT json_extract(fields, '$.fund_source') FROM record WHERE tbl = 'project' AND id = ?", arguments: [aggregate]
        ).flatMap(FundSource.init(rawValue:))
        if choice == .accept, let rule = fields["rule"]?.text.flatMap(ConflictRule.init(rawValue:)), rule.acceptingSide(fund: fund) != .centre {
            throw CentralError(
                .forbidden, .resolutionAuthority,
                "only office \(row["office"] as String) can accept its change here (\(rule.rawValue))",
                hint: "The centre may dismiss it, or ask the office to resolve it.")
        }
        var clock = try centreClock(db)
        let change = Change(
            table: .conflictResolution, id: recorded.map { RowID(unchecked: $0.resolution) } ?? RowID.make(now: now), op: .upsert,
            hlc: stamp(&clock, recorded: recorded?.stamp, now: now),
            fields: [
                "office": .text(row["office"]), "conflict_id": .text(row["id"]), "aggregate_id": .text(aggregate),
                "choice": .text(choice.rawValue), "resolved_by": .text(OfficeCode.central.rawValue),
                "note": note.map(FieldValue.text) ?? .null,
            ])
        try saveCentreClock(db, clock)
        _ = try ingest(db, changes: [change], from: .central, position: position, at: now)
        try journal(
            db,
            .conflictResolved(
                .init(
                    conflict: row["id"], choice: choice.rawValue, note: note, resolution: change.id.rawValue,
                    stamp: change.hlc)), at: now, position: position)
    }

    static func findProject(_ db: Database, _ reference: String) throws -> CentralProject {
        let parts = reference.split(separator: "/", maxSplits: 1).map(String.init)
        // Codes compare as people read them: in lower case, and canonically (a decomposed letter
        // is the letter), so that a look-alike stored before codes were checked is ambiguous too.
        let rows =
            parts.count == 2
            ? try Row.fetchAll(
                db,
                sql:
                    "SELECT id, office, fields, json_extract(fields, '$.code') AS code FROM record WHERE tbl = 'project' AND office = ? AND deleted_at IS NULL ORDER BY id",
                arguments: [parts[0]]
            ).filter { ($0["code"] as String?).map(ValueRules.codeKey) == ValueRules.codeKey(parts[1]) }
            : try Row.fetchAll(db, sql: "SELECT id, office, fields FROM record WHERE tbl = 'project' AND id = ? AND deleted_at IS NULL", arguments: [reference])
        // An office's code names one of its projects only if no other has it: the office chose
        // its codes, and with two alike a decision given by code landed on whichever row the store
        // returned first, which the office steered by touching its projects (round 12).
        if rows.count > 1 {
            throw CentralError(
                .badRequest, .badRequest,
                "\(rows.count) projects of office \(parts[0]) have the code \(parts[1]): \(rows.map { $0["id"] as String }.joined(separator: ", "))",
                hint: "Give the project by its id (promo-central project list --office \(parts[0]) shows each with its name and figures).")
        }
        guard let row = rows.first else {
            throw CentralError(
                .notFound, .notFound, "no project '\(reference)' at the centre",
                hint: "Give the project id, or OFFICE/CODE such as 79/HCM-01 (promo-central project list).")
        }
        return CentralProject(
            id: row["id"], office: row["office"],
            fields: try FieldCoding.decode(row["fields"] as String))
    }

    /// An approved support is a part of the project's total cost, and an adjustment changes the
    /// support of a project approved already (or run before this system): one still in appraisal,
    /// returned or rejected gets its support by an approval.
    static func checkSupport(_ amount: Int64, _ decision: CentreDecision, of project: CentralProject, _ reference: String) throws {
        if let cost = project.fields["total_cost"]?.integer, amount > cost {
            throw CentralError(
                .badRequest, .badRequest,
                "\(amount) VND of support is more than project \(reference)'s total cost of \(cost) VND",
                hint: "Support is a part of the total cost: check the amount against the decision document.")
        }
        guard case .adjust = decision else { return }
        let status = project.fields["status"]?.text.flatMap(ProjectStatus.init(rawValue:)) ?? .draft
        let unapproved: Set<ProjectStatus> = [.draft, .submitted, .appraisedLocally, .submittedToCentre, .appraisedCentrally, .returned, .rejected]
        guard !unapproved.contains(status) else {
            throw CentralError(
                .conflict, .statusTransition, "project \(reference) is \(status.rawValue): there is no approved support to adjust",
                hint: "A project in appraisal gets its support with: promo-central project decide \(reference) approve --amount N")
        }
    }

    static func checkAmount(_ amount: Int64) throws {
        guard amount > 0 else {
            throw CentralError(.badRequest, .badRequest, "the amount must be more than 0 VND (got \(amount))", hint: "Amounts are whole VND.")
        }
    }
}
