import CSVFormat
import Foundation
import GRDB
import SyncCore

/// What an import did.
public struct ImportReport: Sendable, Equatable {
    /// The kind of file, recognised from its header.
    public enum Kind: String, Sendable { case projects, plan, disbursements }
    /// Which kind of file was imported.
    public var kind: Kind
    /// Rows of the file that were new and were added.
    public var inserted = 0
    /// Rows that matched a row held (projects by code, plan lines by year and fund) with other values, and changed it.
    public var updated = 0
    /// Rows that matched a row held with the same values; nothing was written for them.
    public var unchanged = 0
}

extension ImportReport.Kind {
    /// The synced table the file's rows go to.
    var table: SyncedTable {
        switch self {
        case .projects: .project
        case .plan: .planLine
        case .disbursements: .disbursement
        }
    }
}

/// A file that was refused whole, with every bad row.
public struct ImportRejection: Error, Sendable, CustomStringConvertible {
    /// `line N: reason`, in line order.
    public var problems: [String]
    /// Says that nothing was imported, with each problem on a line of its own.
    public var description: String {
        "the file was not imported (nothing changed): \(problems.count) problem\(problems.count == 1 ? "" : "s")\n"
            + problems.map { "  " + $0 }.joined(separator: "\n")
    }
}

extension OfficeData {
    /// The columns of each kind of file. The kind is recognised from the header.
    static let importColumns: [ImportReport.Kind: (required: [String], optional: [String])] = [
        .projects: (
            ["code", "name", "category", "fund_source", "year", "total_cost", "requested_support"],
            ["beneficiary", "province", "status", "commune", "counterpart_funds", "program"]
        ),
        .plan: (["year", "fund_source", "amount"], ["note"]),
        .disbursements: (["project_code", "kind", "amount", "voucher", "paid_on"], []),
    ]

    /// Imports a CSV file of projects, plan lines or disbursements: all or nothing. Every bad row
    /// is reported with its line and reason; importing the same file again changes nothing
    /// (projects are matched by code, plan lines by year and fund source, payments by voucher).
    public func importCSV(_ text: String) throws -> ImportReport {
        let office = try settings().office
        let records: [CSV.Record]
        do { records = try CSV.parse(text) } catch { throw ImportRejection(problems: [error.description]) }
        guard let header = records.first else { throw ImportRejection(problems: ["the file is empty: the first line must name the columns"]) }
        if header.fields.count == 1, header.fields[0].contains(";") {
            throw ImportRejection(problems: [
                "line \(header.line): the columns are separated by ';', as a spreadsheet set to Vietnamese saves CSV; "
                    + "save the file as \"CSV UTF-8 (comma delimited)\", or replace the ';' between columns with ','"
            ])
        }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let kind = Self.importColumns.first(where: { Set($0.value.required).isSubset(of: names) })?.key else {
            throw ImportRejection(problems: [
                "line \(header.line): the columns do not match a known file; projects need "
                    + "\(Self.importColumns[.projects]!.required.joined(separator: ",")), plan lines need "
                    + "\(Self.importColumns[.plan]!.required.joined(separator: ",")), disbursements need "
                    + "\(Self.importColumns[.disbursements]!.required.joined(separator: ","))"
            ])
        }
        let known = Set(Self.importColumns[kind]!.required + Self.importColumns[kind]!.optional)
        if let unknown = names.first(where: { !known.contains($0) }) {
            throw ImportRejection(problems: [
                "line \(header.line): unknown column '\(unknown)' for a \(kind.rawValue) file; allowed: \(known.sorted().joined(separator: ", "))"
            ])
        }
        let rows = Array(records.dropFirst())
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        do {
            // Checking and writing share one transaction: the file goes in whole or not at all.
            return try replica.database.write { db in
                let before = try Replica.lastOutboxEntry(db)
                var importer = Importer(db: db, office: office.rawValue, index: index, columnCount: names.count, kind: kind)
                for row in rows { importer.check(row) }
                guard importer.problems.isEmpty else { throw ImportRejection(problems: importer.problems) }
                try importer.apply()
                try Replica.checkCapturedValues(db, after: before)
                return importer.report
            }
        } catch let rejection as ImportRejection {
            throw rejection
        } catch {
            throw ReplicaError.wrap(error, during: "importing a CSV file")
        }
    }

    /// Writes the office's projects, plan lines or disbursements as CSV that `importCSV` reads back.
    /// Text columns go through `CSV.textCell`, so a spreadsheet opening the file shows a name
    /// like `=HYPERLINK(…)` as text instead of evaluating it; amounts and years are numbers and are
    /// written as they are (docs/SECURITY.md).
    public func exportCSV(_ kind: ImportReport.Kind) throws(ReplicaError) -> String {
        let office = try settings().office
        return try read("exporting") { db in
            var lines: [String] = []
            func text(_ value: String?) -> CSV.Cell { value.map(CSV.Cell.text) ?? .empty }
            func integer(_ value: Int64?) -> CSV.Cell { value.map(CSV.Cell.integer) ?? .empty }
            switch kind {
            case .projects:
                lines.append(
                    CSV.line([
                        "code", "name", "category", "fund_source", "beneficiary", "year", "total_cost", "requested_support", "province", "status",
                        "commune", "counterpart_funds", "program",
                    ]))
                for r in try Row.fetchAll(
                    db, sql: "SELECT p.*, g.code AS program_code FROM project p LEFT JOIN program g ON g.id = p.program_id WHERE p.office = ? ORDER BY p.code",
                    arguments: [office.rawValue])
                {
                    lines.append(
                        CSV.line([
                            text(r["code"]), text(r["name"]), text(r["category"]), text(r["fund_source"]), text(r["beneficiary"]),
                            integer(r["year"]), integer(r["total_cost"]), integer(r["requested_support"]), text(r["province"]),
                            text(r["status"]), text(r["commune"]), integer(r["counterpart_funds"]), text(r["program_code"]),
                        ]))
                }
            case .plan:
                lines.append(CSV.line(["year", "fund_source", "amount", "note"]))
                for r in try Row.fetchAll(db, sql: "SELECT * FROM plan_line WHERE office = ? ORDER BY year, fund_source", arguments: [office.rawValue]) {
                    lines.append(CSV.line([integer(r["year"]), text(r["fund_source"]), integer(r["amount"]), text(r["note"])]))
                }
            case .disbursements:
                lines.append(CSV.line(["project_code", "kind", "amount", "voucher", "paid_on"]))
                for r in try Row.fetchAll(
                    db, sql: "SELECT p.code, d.* FROM disbursement d JOIN project p ON p.id = d.project_id WHERE d.office = ? ORDER BY d.paid_on, d.voucher",
                    arguments: [office.rawValue])
                {
                    lines.append(CSV.line([text(r["code"]), text(r["kind"]), integer(r["amount"]), text(r["voucher"]), text(r["paid_on"])]))
                }
            }
            return lines.joined(separator: "\n") + "\n"
        }
    }
}

/// Checks every row first, then applies them all in the caller's transaction.
private struct Importer {
    let db: Database
    let office: String
    let index: [String: Int]
    let columnCount: Int
    let kind: ImportReport.Kind
    var problems: [String] = []
    var report: ImportReport
    private var pending: [() throws -> Void] = []
    private var seenKeys: [String: Int] = [:]
    /// Per project code: its counted entries (day, signed amount), those of the file before included.
    private var projectTotals: [String: (id: String, limit: Int64?, entries: [(day: String, signed: Int64)], status: ProjectStatus?, year: Int64)] = [:]

    init(db: Database, office: String, index: [String: Int], columnCount: Int, kind: ImportReport.Kind) {
        self.db = db
        self.office = office
        self.index = index
        self.columnCount = columnCount
        self.kind = kind
        self.report = ImportReport(kind: kind)
    }

    func apply() throws { for step in pending { try step() } }

    mutating func check(_ record: CSV.Record) {
        let line = record.line
        func fail(_ message: String) { problems.append("line \(line): \(message)") }
        guard record.fields.count == columnCount else {
            return fail("\(record.fields.count) fields where the header has \(columnCount)")
        }
        /// A field as the file has it, without surrounding spaces; nil when empty. Numbers are
        /// read from this: an export never writes a number with the formula quote.
        func raw(_ name: String) -> String? {
            index[name].map { record.fields[$0].trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        /// A text field, with the quote that an export puts before a formula character taken off.
        func text(_ name: String) -> String? { raw(name).map(CSV.untextCell) }
        func amount(_ name: String) -> Int64? {
            guard let t = raw(name) else {
                fail("\(name) is empty")
                return nil
            }
            let v: Int64
            switch Money.parse(t) {
            case .success(let value): v = value
            case .failure(let error):
                fail("\(name): \(error.description)")
                return nil
            }
            guard (1...ValueRules.maxAmount).contains(v) else {
                fail("\(name) must be more than 0 and at most \(ValueRules.maxAmount) VND (got \(v))")
                return nil
            }
            return v
        }
        func year() -> Int? {
            guard let t = raw("year"), let y = Int(t), ValueRules.years.contains(Int64(y)) else {
                fail("year '\(raw("year") ?? "")' is not a year between \(ValueRules.years.lowerBound) and \(ValueRules.years.upperBound)")
                return nil
            }
            return y
        }
        func fund() -> FundSource? {
            guard let f = text("fund_source").flatMap(FundSource.init(rawValue:)) else {
                fail("fund_source '\(text("fund_source") ?? "")' must be national or local")
                return nil
            }
            return f
        }
        func duplicate(_ key: String, _ what: String) -> Bool {
            if let earlier = seenKeys[key] {
                fail("\(what) is also on line \(earlier)")
                return true
            }
            seenKeys[key] = line
            return false
        }
        // Every text column against the bounds the centre keeps (too long, or holding U+0000).
        for (name, _) in index.sorted(by: { $0.value < $1.value }) where kind.table.column(named: name)?.column.kind == .text {
            if let value = text(name), let problem = ValueRules.textProblem(name, value) { fail(problem) }
        }
        let before = problems.count
        do {
            switch kind {
            case .projects:
                guard let code = text("code") else { return fail("code is empty") }
                let name = text("name")
                if name == nil { fail("name is empty") }
                let category = text("category")?.uppercased()
                if category.flatMap(ReferenceData.category(code:)) == nil { fail("unknown activity category '\(category ?? "")'") }
                let fund = fund()
                let year = year()
                let total = amount("total_cost")
                let requested = amount("requested_support")
                if let total, let requested, requested > total { fail("requested_support (\(requested)) is more than total_cost (\(total))") }
                let province = text("province") ?? office
                if let problem = ValueRules.problem(.project, "province", .text(province), writer: OfficeCode(unchecked: office)) {
                    fail(problem)
                }
                let status = text("status") ?? ProjectStatus.draft.rawValue
                if ProjectStatus(rawValue: status) == nil { fail("unknown status '\(status)'") }
                if duplicate("project/\(code)", "project code \(code)") || problems.count > before { return }
                guard let name, let category, let fund, let year, let total, let requested else { return }
                if let violation = try OfficeData.capViolation(db, fund: fund, category: category, province: province, requested: requested, totalCost: total) {
                    return fail(violation)
                }
                let beneficiary = text("beneficiary")
                let commune = text("commune")
                var counterpart: Int64?
                if let t = raw("counterpart_funds") {
                    guard let v = Int64(t.replacingOccurrences(of: "_", with: "")), v >= 0 else {
                        return fail("counterpart_funds '\(t)' is not a whole number of VND of 0 or more")
                    }
                    guard v <= total - requested else { return fail("requested_support and counterpart_funds add up to more than total_cost (\(total))") }
                    counterpart = v
                }
                var program: String?
                if let code = text("program") {
                    guard
                        let id = try String.fetchOne(
                            db, sql: "SELECT id FROM program WHERE office = ? AND (code = ? OR id = ?)", arguments: [office, code, code])
                    else {
                        return fail("unknown programme '\(code)' (see promo-sync program list)")
                    }
                    program = id
                }
                let today = CalendarDate.today()
                if let existing = try Row.fetchOne(db, sql: "SELECT * FROM project WHERE office = ? AND code = ?", arguments: [office, code]) {
                    if (existing["fund_source"] as String) != fund.rawValue {
                        return fail("project \(code) exists as a \(existing["fund_source"] as String)-fund project; the fund source cannot change")
                    }
                    // Columns the file does not have keep what the project holds.
                    let commune: String? = index["commune"] == nil ? existing["commune"] : commune
                    let counterpart: Int64? = index["counterpart_funds"] == nil ? existing["counterpart_funds"] : counterpart
                    let program: String? = index["program"] == nil ? existing["program_id"] : program
                    let sameProposal: Bool =
                        (existing["name"] as String) == name && (existing["category"] as String) == category
                        && (existing["beneficiary"] as String?) == beneficiary && (existing["year"] as Int) == year
                    let sameAmounts: Bool =
                        (existing["total_cost"] as Int64) == total && (existing["requested_support"] as Int64) == requested
                        && (existing["counterpart_funds"] as Int64?) == counterpart
                    let samePlace: Bool = (existing["commune"] as String?) == commune && (existing["program_id"] as String?) == program
                    let same = sameProposal && sameAmounts && samePlace
                    if same {
                        report.unchanged += 1
                        return
                    }
                    let sameFigures: Bool = sameAmounts && (existing["category"] as String) == category && (existing["year"] as Int) == year
                    let withCentre = !FieldOwnership.officeWritesProposal(in: ProjectStatus(rawValue: existing["status"] as String))
                    if fund == .national && withCentre && !sameFigures {
                        return fail(
                            "national project \(code) is with the centre (status \(existing["status"] as String)): its total_cost, requested_support, counterpart_funds, category and year cannot change; ask the department to adjust it"
                        )
                    }
                    report.updated += 1
                    let id: String = existing["id"]
                    let office = OfficeCode(unchecked: self.office)
                    pending.append { [db] in
                        try db.execute(
                            sql: """
                                UPDATE project SET name = ?, category = ?, beneficiary = ?, year = ?, total_cost = ?, requested_support = ?,
                                                   commune = ?, counterpart_funds = ?, program_id = ? WHERE id = ?
                                """, arguments: [name, category, beneficiary, year, total, requested, commune, counterpart, program, id])
                        try OfficeData.logEvent(db, office: office, project: id, kind: .updated, on: today, note: "changed by a CSV import")
                    }
                } else {
                    report.inserted += 1
                    let office = OfficeCode(unchecked: self.office)
                    pending.append { [db] in
                        let id = RowID.make().rawValue
                        try db.execute(
                            sql: """
                                INSERT INTO project(id, office, province, code, name, category, fund_source, beneficiary, year,
                                                    total_cost, requested_support, approved_support, status, commune, counterpart_funds, program_id)
                                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)
                                """,
                            arguments: [
                                id, office.rawValue, province, code, name, category, fund.rawValue, beneficiary,
                                year, total, requested, status, commune, counterpart, program,
                            ])
                        try OfficeData.logEvent(db, office: office, project: id, kind: .created, on: today, note: "imported as \(status)")
                    }
                }
            case .plan:
                let year = year()
                let fund = fund()
                let amount = amount("amount")
                guard let year, let fund, let amount, problems.count == before else { return }
                if duplicate("plan/\(year)/\(fund.rawValue)", "the \(year) \(fund.rawValue) plan line") { return }
                let note = text("note")
                if let existing = try Row.fetchOne(
                    db, sql: "SELECT id, amount, note FROM plan_line WHERE office = ? AND year = ? AND fund_source = ? ORDER BY id LIMIT 1",
                    arguments: [office, year, fund.rawValue])
                {
                    if (existing["amount"] as Int64) == amount && (existing["note"] as String?) == note {
                        report.unchanged += 1
                        return
                    }
                    report.updated += 1
                    let id: String = existing["id"]
                    pending.append { [db] in try db.execute(sql: "UPDATE plan_line SET amount = ?, note = ? WHERE id = ?", arguments: [amount, note, id]) }
                } else {
                    report.inserted += 1
                    let office = self.office
                    pending.append { [db] in
                        try db.execute(
                            sql: "INSERT INTO plan_line(id, office, year, fund_source, amount, note) VALUES (?, ?, ?, ?, ?, ?)",
                            arguments: [RowID.make().rawValue, office, year, fund.rawValue, amount, note])
                    }
                }
            case .disbursements:
                guard let code = text("project_code") else { return fail("project_code is empty") }
                let kind = text("kind").flatMap(DisbursementKind.init(rawValue:))
                if kind == nil { fail("kind '\(text("kind") ?? "")' must be advance, payment, recovery or settlement_adjustment") }
                let amount = amount("amount")
                guard let voucher = text("voucher") else { return fail("voucher is empty: imported entries are matched by their treasury voucher") }
                guard let given = text("paid_on") else { return fail("paid_on is empty") }
                let paidOn: String
                switch CalendarDate.parse(given) {
                case .success(let day): paidOn = day
                case .failure(let error): return fail("paid_on: \(error.description)")
                }
                guard let kind, let amount, problems.count == before else { return }
                if duplicate("voucher/\(voucher)", "voucher \(voucher)") { return }
                if projectTotals[code] == nil {
                    guard
                        let project = try Row.fetchOne(
                            db, sql: "SELECT id, fund_source, requested_support, approved_support, status, year FROM project WHERE office = ? AND code = ?",
                            arguments: [office, code])
                    else {
                        return fail("no project with code '\(code)' at this office (import the projects first)")
                    }
                    let id: String = project["id"]
                    projectTotals[code] = (
                        id, OfficeData.limit(of: project),
                        try OfficeData.datedEntries(db, project: id),
                        (project["status"] as String?).flatMap(ProjectStatus.init(rawValue:)), project["year"]
                    )
                }
                guard let project = projectTotals[code] else { return }
                if let existing = try Row.fetchOne(db, sql: "SELECT * FROM disbursement WHERE office = ? AND voucher = ?", arguments: [office, voucher]) {
                    let same =
                        (existing["project_id"] as String) == project.id && (existing["kind"] as String) == kind.rawValue
                        && (existing["amount"] as Int64) == amount && (existing["paid_on"] as String) == paidOn
                    if same {
                        report.unchanged += 1
                        return
                    }
                    return fail("voucher \(voucher) is already recorded with other values; the ledger is append-only (record a correcting entry)")
                }
                // The centre's rules (LedgerRules), in the file's order.
                switch LedgerRules.admit(
                    kind: kind, amount: amount, paidOn: paidOn, paid: DatedLedger(entries: project.entries, more: [paidOn]), limit: project.limit,
                    status: project.status, year: project.year, recordedOn: CalendarDate.today())
                {
                case .success: projectTotals[code]?.entries.append((paidOn, LedgerRules.signed(kind, amount)))
                case .failure(let refusal): return fail("project \(code): \(refusal.message)")
                }
                report.inserted += 1
                let office = self.office
                pending.append { [db] in
                    try db.execute(
                        sql: "INSERT INTO disbursement(id, office, project_id, kind, amount, voucher, paid_on) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        arguments: [RowID.make().rawValue, office, project.id, kind.rawValue, amount, voucher, paidOn])
                }
            }
        } catch {
            fail("could not check the row against the replica: \(error)")
        }
    }
}
