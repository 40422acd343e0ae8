import Foundation
import GRDB
import SyncCore

/// A conflict record as the office holds it.
public struct LocalConflict: Sendable, Codable, Equatable {
    /// The conflict's id, made from its rule, row and clock (24 hex digits); a prefix of six or more names it in commands.
    public var id: String
    /// The synced table of the row in conflict.
    public var table: String
    /// The id of the row in conflict.
    public var rowID: String
    /// The project (or plan line, or programme) whose records the row belongs to.
    public var aggregateID: String
    /// Who wrote the losing change: an office code or `central`.
    public var writer: String
    /// The losing change's hybrid logical clock, as text; the list is newest first by it.
    public var hlc: String
    /// The rule the change broke (a ``ConflictRule`` raw value, such as `over_disbursement`).
    public var rule: String
    /// The losing values, by column.
    public var mine: [String: FieldValue]
    /// The values that stood, by column.
    public var theirs: [String: FieldValue]
    /// A sentence saying why the change lost.
    public var message: String
    /// `accept` or `dismiss` once the centre has the resolution; nil while open.
    public var resolution: String?
    /// Who resolved it (an office code or `central`); nil while open.
    public var resolvedBy: String?
    /// A resolution made here and not yet confirmed by the centre.
    public var pendingResolution: String?
    /// The record in business terms (project code, voucher, plan year and fund).
    public var record: String = ""
    /// The conflict's office and its project's fund source (who may accept depends on it).
    public var office: String = ""
    /// `national` or `local`; nil when the conflict is not on a project's records.
    public var fund: String?

    /// Whether no one has resolved it yet, here or at the centre.
    public var isOpen: Bool { resolution == nil && pendingResolution == nil }

    /// The conflict as people read it (docs/CONFLICTS.md).
    public var description: ConflictDescription {
        ConflictDescription(
            id: id, rule: rule, record: record, office: office, writer: writer, hlc: hlc, message: message, mine: mine, theirs: theirs,
            state: ConflictDescription.state(resolution: resolution, resolvedBy: resolvedBy, pending: pendingResolution),
            fund: fund.flatMap(FundSource.init(rawValue:)))
    }
}

/// How a person settles a conflict at the office.
public enum OfficeResolution: Sendable, Equatable {
    /// The office's losing version takes effect (only where the office owns what the rule protects).
    case keepMine
    /// The version that stood stays.
    case keepTheirs
    /// The version that stood stays and a corrected value is written as a new change (a new ledger
    /// entry for a held payment, a field update otherwise).
    case corrected(FieldValue)
}

extension OfficeData {
    /// Conflicts of this office, newest first; `openOnly` leaves out resolved ones.
    public func conflicts(openOnly: Bool = false) throws(ReplicaError) -> [LocalConflict] {
        try read("listing conflicts") { db in
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT c.*, (SELECT r.choice FROM conflict_resolution r WHERE r.conflict_id = c.id ORDER BY r.rowid DESC LIMIT 1) AS pending,
                           p.code AS project_code, p.fund_source AS project_fund, d.kind AS entry_kind, d.voucher AS entry_voucher,
                           l.year AS plan_year, l.fund_source AS plan_fund, g.code AS program_code
                    FROM conflict c
                    LEFT JOIN project p ON p.id = c.aggregate_id
                    LEFT JOIN disbursement d ON c.tbl = 'disbursement' AND d.id = c.row_id
                    LEFT JOIN plan_line l ON c.tbl = 'plan_line' AND l.id = c.row_id
                    LEFT JOIN program g ON c.tbl = 'program' AND g.id = c.row_id
                    ORDER BY c.hlc DESC
                    """
            ).map { row in
                let resolution: String? = row["resolution"]
                return LocalConflict(
                    id: row["id"], table: row["tbl"], rowID: row["row_id"], aggregateID: row["aggregate_id"], writer: row["writer"],
                    hlc: row["hlc"], rule: row["rule"],
                    mine: ConflictRecord.publishedValues(row["mine"]), theirs: ConflictRecord.publishedValues(row["theirs"]),
                    message: row["message"], resolution: resolution, resolvedBy: row["resolved_by"],
                    pendingResolution: resolution == nil ? row["pending"] : nil,
                    record: ConflictDescription.record(
                        table: row["tbl"], kind: row["entry_kind"], voucher: row["entry_voucher"],
                        projectCode: row["project_code"], planYear: row["plan_year"], planFund: row["plan_fund"],
                        programCode: row["program_code"]),
                    office: row["office"], fund: row["project_fund"])
            }.filter { !openOnly || $0.isOpen }
        }
    }

    /// The number of open conflicts (for status).
    public func openConflictCount() throws(ReplicaError) -> Int {
        try conflicts(openOnly: true).count
    }

    /// Records a person's resolution as a synced row; the centre applies it and the outcome comes
    /// back with the next pull. A corrected value is written as a new change in the same transaction;
    /// for a held ledger entry it is a new entry under the ledger's rules, with `voucher` (its own
    /// treasury voucher, if it has one: the held entry's is never used twice).
    public func resolveConflict(
        _ id: String, _ resolution: OfficeResolution, note: String?, voucher: String? = nil,
        now: Date = Date()
    ) throws(ReplicaError) {
        let office = try settings().office
        guard let conflict = try conflicts().first(where: { $0.id == id || $0.id.hasPrefix(id) && id.count >= 6 }) else {
            throw ReplicaError(.invalidInput, "no conflict '\(id)' at this office", hint: "List them with: promo-sync conflicts list")
        }
        guard conflict.resolution == nil else {
            throw ReplicaError(.invalidInput, "conflict \(conflict.id) is already resolved (\(conflict.resolution ?? ""))", hint: "Nothing to do.")
        }
        let rule = ConflictRule(rawValue: conflict.rule)
        let fund = try read("reading the project") { db in
            try String.fetchOne(db, sql: "SELECT fund_source FROM project WHERE id = ?", arguments: [conflict.aggregateID])
        }.flatMap(FundSource.init(rawValue:))
        if resolution == .keepMine, let rule {
            guard rule.acceptingSide(fund: fund) == .office else {
                throw ReplicaError(
                    .invalidInput, "only the centre can keep this office's version here (\(conflict.rule) on a national project)",
                    hint: "Keep theirs, give a corrected value, or ask the centre to accept it.")
            }
        }
        let choice: ResolutionChoice = resolution == .keepMine ? .accept : .dismiss
        try write("resolving a conflict") { db in
            try db.execute(
                sql: """
                    INSERT INTO conflict_resolution(id, office, conflict_id, aggregate_id, choice, resolved_by, note)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    RowID.make(now: now).rawValue, office.rawValue, conflict.id, conflict.aggregateID, choice.rawValue,
                    office.rawValue, note,
                ])
            guard case .corrected(let value) = resolution else { return }
            switch (conflict.table, rule) {
            case ("disbursement", .overDisbursement?), ("disbursement", .overRecovery?), ("disbursement", .duplicateVoucher?):
                // The held entry stays out; the correction is a new entry with the corrected amount,
                // under the same rules as any entry, and with a voucher of its own or none.
                guard let amount = value.integer, amount > 0 else {
                    throw ReplicaError(.invalidInput, "a corrected ledger amount must be a whole number of VND above 0", hint: "e.g. --value 400000000")
                }
                guard let held = try Row.fetchOne(db, sql: "SELECT * FROM disbursement WHERE id = ?", arguments: [conflict.rowID]) else {
                    throw ReplicaError(.invalidInput, "the held entry \(conflict.rowID) is not in this replica", hint: "Sync, then try again.")
                }
                if let voucher, try Self.voucherRecorded(db, voucher, office: office) {
                    throw ReplicaError(
                        .invalidInput, "treasury voucher '\(voucher)' is already recorded",
                        hint: "Give the voucher of the corrected payment, or none (the held entry keeps its own).")
                }
                let project = try Self.findProject(db, held["project_id"], office: office)
                let kind = DisbursementKind(rawValue: held["kind"]) ?? .payment
                let (outcome, paid, limit) = try Self.admit(db, kind, amount, paidOn: held["paid_on"], on: project, now: now)
                if case .failure(let refusal) = outcome {
                    throw ReplicaError(
                        .invalidInput, "the corrected entry would be refused too: \(refusal.message)",
                        hint: "Give an amount within what the project may still take (\(limit - paid) VND now).")
                }
                try db.execute(
                    sql: "INSERT INTO disbursement(id, office, project_id, kind, amount, voucher, paid_on) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    arguments: [
                        RowID.make(now: now).rawValue, office.rawValue, held["project_id"] as String, kind.rawValue, amount,
                        voucher, held["paid_on"] as String,
                    ])
            case ("project", _), ("plan_line", _):
                guard conflict.mine.count == 1, let field = conflict.mine.keys.first,
                    let table = SyncedTable(rawValue: conflict.table), table.columnNames.contains(field), field != "office"
                else {
                    throw ReplicaError(.invalidInput, "a corrected value needs a conflict about one field", hint: "Keep mine or keep theirs instead.")
                }
                try db.execute(
                    sql: "UPDATE \(table.rawValue) SET \(field) = ? WHERE id = ?",
                    arguments: [Replica.databaseValue(value), conflict.rowID])
            default:
                throw ReplicaError(.invalidInput, "this conflict takes no corrected value", hint: "Keep mine or keep theirs instead.")
            }
        }
    }
}
