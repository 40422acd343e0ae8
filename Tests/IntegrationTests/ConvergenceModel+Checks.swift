import Foundation
import GRDB
import Replica
import SyncCore
import SyncTesting
import WireFormat

@testable import Central

/// A record as the centre stores it.
struct CentreRecord {
    var office: String
    var fields: [String: FieldValue]
    var deleted: Bool
    var held: Bool
}

extension ConvergenceModel {
    /// `table/id` → record, every record of the centre (tombstones included).
    func centreRecords() throws -> [String: CentreRecord] {
        try store.database.read { db in
            var out: [String: CentreRecord] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT tbl, id, office, fields, deleted_at, held FROM record") {
                out["\(row["tbl"] as String)/\(row["id"] as String)"] = CentreRecord(
                    office: row["office"], fields: try FieldCoding.decode(row["fields"] as String),
                    deleted: (row["deleted_at"] as String?) != nil, held: row["held"])
            }
            return out
        }
    }

    /// The changes in the centre's history, as (table, id, clock, op, fields).
    func centreHistory() throws -> [Change] {
        try store.database.read { db in
            try Row.fetchAll(db, sql: "SELECT tbl, id, hlc, op, fields FROM history").compactMap { row in
                guard let table = SyncedTable(rawValue: row["tbl"]), let op = ChangeOperation(rawValue: row["op"]) else { return nil }
                return Change(
                    table: table, id: RowID(unchecked: row["id"]), op: op, hlc: try HLCTimestamp(parsing: row["hlc"]),
                    fields: try FieldCoding.decode(row["fields"] as String))
            }
        }
    }

    /// A row's synced columns, with the ones not set as null, for comparing both sides.
    static func whole(_ table: SyncedTable, _ fields: [String: FieldValue]) -> [String: FieldValue] {
        Dictionary(uniqueKeysWithValues: table.columns.map { ($0.name, fields[$0.name] ?? .null) })
    }

    static func show(_ fields: [String: FieldValue]) -> String {
        fields.sorted { $0.key < $1.key }.map { "\($0.key)=\(show($0.value))" }.joined(separator: " ")
    }

    static func show(_ value: FieldValue?) -> String {
        switch value {
        case .none: "∅"
        case .null: "null"
        case .integer(let n): "\(n)"
        case .text(let t): t.count > 40 ? "\"\(t.prefix(40))…\"" : "\"\(t)\""
        }
    }

    /// The fields of `expected` that `actual` does not hold, as a readable diff.
    static func diff(_ expected: [String: FieldValue], _ actual: [String: FieldValue]) -> String? {
        let differing = expected.keys.sorted().filter { (actual[$0] ?? .null) != expected[$0] }
        guard !differing.isEmpty else { return nil }
        return differing.map { "\($0): expected \(show(expected[$0])), got \(show(actual[$0]))" }.joined(separator: "; ")
    }

    /// After quiescence: the reference model, the money invariants, the conflicts, and every office
    /// against the centre.
    func check() {
        do {
            let records = try centreRecords()
            let history = try centreHistory()
            try checkHistory(history)
            let expected = ReferenceModel.expected(
                changes: received + history.filter { $0.hlc.node == OfficeCode.central.rawValue },
                conflictKeys: conflictKeys, rehomed: rehomed)
            checkReference(expected, records)
            // Changes a recall kept aside at an office never reach the centre, by design.
            var keptAside: Set<String> = []
            for office in offices {
                for change in try office.replica.withdrawnChanges() {
                    guard change.reason.hasPrefix("office_unmerged:") else {
                        problem("withdrawn: \(office.code) withdrew \(change.table)/\(change.id) without a recall: \(change.reason)")
                        continue
                    }
                    keptAside.insert("\(change.table)/\(change.id)")
                }
            }
            checkIntent(expected, records, keptAside: keptAside)
            checkMoney(expected, records)
            checkInformed(records)
            for office in offices where !office.retired { try checkOffice(office, expected, records) }
        } catch {
            problem("the checks could not read a store: \(error)")
        }
    }

    /// The centre's history holds exactly the offices' changes the model saw it confirm.
    func checkHistory(_ history: [Change]) throws {
        func key(_ c: Change) -> String { "\(c.table.rawValue)/\(c.id.rawValue)@\(c.hlc)" }
        let stored = Set(history.filter { $0.hlc.node != OfficeCode.central.rawValue }.map(key))
        let confirmed = Set(received.map(key))
        for missing in confirmed.subtracting(stored).sorted().prefix(5) { problem("history: a confirmed change is not in the centre's history: \(missing)") }
        for extra in stored.subtracting(confirmed).sorted().prefix(5) { problem("history: the centre holds a change no office pushed: \(extra)") }
    }

    /// The centre's rows, held flags and conflicts are the reference model's.
    func checkReference(_ expected: ReferenceModel.Expected, _ records: [String: CentreRecord]) {
        for (id, fields) in expected.projects.sorted(by: { $0.key < $1.key }) {
            guard let record = records["project/\(id)"], record.deleted == expected.deletedProjects.contains(id) else {
                problem("reference: project \(id) is \(expected.deletedProjects.contains(id) ? "not deleted" : "missing") at the centre")
                continue
            }
            if record.office != expected.projectOwner[id] {
                problem("owner: project \(id) is \(record.office)'s, expected \(expected.projectOwner[id] ?? "?")'s")
            }
            if let diff = Self.diff(Self.whole(.project, fields), record.fields) { problem("reference: project \(fields["code"]?.text ?? id): \(diff)") }
        }
        for (id, fields) in expected.planLines.sorted(by: { $0.key < $1.key }) {
            guard let record = records["plan_line/\(id)"], !record.deleted else {
                problem("reference: plan line \(id) is missing at the centre")
                continue
            }
            if record.office != expected.planLineOwner[id] {
                problem("owner: plan line \(id) is \(record.office)'s, expected \(expected.planLineOwner[id] ?? "?")'s")
            }
            if let diff = Self.diff(Self.whole(.planLine, fields), record.fields) { problem("reference: plan line \(id): \(diff)") }
        }
        for (id, entry) in expected.entries.sorted(by: { $0.key < $1.key }) {
            guard let record = records["disbursement/\(id)"], !record.deleted else {
                problem("reference: ledger entry \(id) is missing at the centre")
                continue
            }
            if record.office != entry.office { problem("owner: ledger entry \(id) is \(record.office)'s, expected \(entry.office)'s") }
            if let diff = Self.diff(Self.whole(.disbursement, entry.fields), record.fields) { problem("reference: ledger entry \(id): \(diff)") }
            if record.held != entry.held {
                problem(
                    "reference: ledger entry \(id.suffix(8)) (\(Self.show(entry.fields))) is \(record.held ? "held" : "counted") at the centre, expected \(entry.held ? "held" : "counted")"
                )
            }
            stats.heldEntries += entry.held ? 1 : 0
            stats.acceptedEntries += entry.held ? 0 : 1
        }
        // Conflicts: every losing change is one, and there is no other.
        var actual: [ReferenceModel.ConflictKey: ReferenceModel.ExpectedConflict] = [:]
        for (key, record) in records where key.hasPrefix("conflict/") && !record.deleted {
            let f = record.fields
            actual[
                ReferenceModel.ConflictKey(rule: f["rule"]?.text ?? "", table: f["table"]?.text ?? "", row: f["row_id"]?.text ?? "", hlc: f["hlc"]?.text ?? "")] =
                ReferenceModel.ExpectedConflict(office: record.office, resolution: f["resolution"]?.text, resolvedBy: f["resolved_by"]?.text)
        }
        stats.conflicts += expected.conflicts.count
        for key in Set(expected.conflicts.keys).union(actual.keys).sorted() {
            switch (expected.conflicts[key], actual[key]) {
            case (let e?, nil): problem("conflicts: expected \(key) (\(e)) but the centre has no such conflict")
            case (nil, let a?): problem("conflicts: the centre has \(key) (\(a)) which the model does not expect")
            case (let e?, let a?) where e != a: problem("conflicts: \(key) is \(a) at the centre, expected \(e)")
            default: break
            }
        }
    }

    /// (d) What the commands created is at the centre with the values they were given.
    func checkIntent(_ expected: ReferenceModel.Expected, _ records: [String: CentreRecord], keptAside: Set<String>) {
        for (id, fields) in createdProjects.sorted(by: { $0.key < $1.key })
        where !keptAside.contains("project/\(id)") && !expected.deletedProjects.contains(id) {
            guard let record = records["project/\(id)"], !record.deleted else {
                problem("intent: project \(fields["code"].map(Self.show) ?? id) made by a command is not at the centre")
                continue
            }
            var want = fields
            want["office"] = .text(rehomed[fields["office"]?.text ?? ""] ?? fields["office"]?.text ?? "")
            if let diff = Self.diff(want, record.fields) { problem("intent: project \(fields["code"].map(Self.show) ?? id): \(diff)") }
        }
        for (id, fields) in createdPlanLines.sorted(by: { $0.key < $1.key }) where !keptAside.contains("plan_line/\(id)") {
            guard let record = records["plan_line/\(id)"], !record.deleted else {
                problem("intent: plan line \(id) made by a command is not at the centre")
                continue
            }
            var want = fields
            want["office"] = .text(rehomed[fields["office"]?.text ?? ""] ?? fields["office"]?.text ?? "")
            if let diff = Self.diff(want, record.fields) { problem("intent: plan line \(id): \(diff)") }
        }
        for (id, fields) in createdEntries.sorted(by: { $0.key < $1.key }) where !keptAside.contains("disbursement/\(id)") {
            guard let record = records["disbursement/\(id)"], !record.deleted else {
                problem("intent: ledger entry \(id) made by a command is not at the centre")
                continue
            }
            var want = fields
            want["office"] = .text(rehomed[fields["office"]?.text ?? ""] ?? fields["office"]?.text ?? "")
            if !editedEntries.contains(id), let diff = Self.diff(want, record.fields) { problem("intent: ledger entry \(id): \(diff)") }
            if expected.entries[id]?.held == false && record.held { problem("intent: ledger entry \(id) made by a command is held, the model admits it") }
        }
    }

    /// Commands the office's own check allowed, made with everything the centre had decided on
    /// the project pulled, on a project nobody else touched (no raw SQL, no resolution, no change
    /// of limit, not a merged office's): none of them may lose at the centre.
    func checkInformed(_ records: [String: CentreRecord]) {
        var excluded = tainted
        if !scenario.strictClocks { excluded.formUnion(stampedBehind) }
        if !everMerged.isEmpty {
            for (id, fields) in createdProjects where everMerged.contains(fields["office"]?.text ?? "") { excluded.insert(id) }
        }
        var conflictsByRow: [String: [[String: FieldValue]]] = [:]
        for (key, record) in records where key.hasPrefix("conflict/") && !record.deleted {
            conflictsByRow[record.fields["row_id"]?.text ?? "", default: []].append(record.fields)
        }
        for id in createdProjects.keys.sorted() where !excluded.contains(id) {
            for conflict in conflictsByRow[id] ?? [] where conflict["rule"] == .text("status_transition") {
                problem(
                    "informed: the office's moves \(commandMoves[id] ?? []) on project \(createdProjects[id]?["code"].map(Self.show) ?? id), made with all the centre's decisions pulled, lost at the centre: \(conflict["message"]?.text ?? "") (mine \(conflict["mine"].map(Self.show) ?? ""), clock \(conflict["hlc"].map(Self.show) ?? ""))"
                )
            }
        }
        for (id, fields) in createdEntries.sorted(by: { $0.key < $1.key }) {
            guard let project = fields["project_id"]?.text, !excluded.contains(project), records["disbursement/\(id)"]?.held == true else { continue }
            let why = (conflictsByRow[id] ?? []).map { "\($0["rule"].map(Self.show) ?? ""): \($0["message"]?.text ?? "")" }.joined(separator: "; ")
            problem(
                "informed: ledger entry \(id.suffix(8)) (\(Self.show(fields))) that the office's check allowed, made with all the centre's decisions pulled, is held at the centre: \(why)"
            )
        }
    }

    /// (b) For every project, what its entries not held add up to is within [0, limit] (unless a
    /// person accepted an entry that breaks a money rule) and is the reference model's total.
    func checkMoney(_ expected: ReferenceModel.Expected, _ records: [String: CentreRecord]) {
        var paid: [String: Int64] = [:]
        for (key, record) in records where key.hasPrefix("disbursement/") && !record.deleted && !record.held {
            guard let project = record.fields["project_id"]?.text, let amount = record.fields["amount"]?.integer else { continue }
            paid[project, default: 0] += record.fields["kind"] == .text("recovery") ? -amount : amount
        }
        for (key, record) in records where key.hasPrefix("project/") && !record.deleted {
            let id = String(key.dropFirst("project/".count))
            let limit = record.fields["approved_support"]?.integer ?? record.fields["requested_support"]?.integer ?? 0
            let total = paid[id] ?? 0
            if !expected.acceptedMoney.contains(id), total < 0 || total > limit {
                problem("money: project \(record.fields["code"].map(Self.show) ?? id) has \(total) paid at the centre, outside [0, \(limit)]")
            }
            if total != expected.paid[id] ?? 0 {
                problem(
                    "money: project \(record.fields["code"].map(Self.show) ?? id) has \(total) paid at the centre, the reference ledger says \(expected.paid[id] ?? 0)"
                )
            }
        }
    }

    /// (a) and (c) at the office: its rows equal the centre's (digest tree and row by row), its
    /// conflict records are the centre's, and its `disbursed` figures are the centre's.
    func checkOffice(_ office: ModelOffice, _ expected: ReferenceModel.Expected, _ records: [String: CentreRecord]) throws {
        let code = office.code
        // Row by row.
        var mine: [String: [String: FieldValue]] = [:]
        try office.replica.database.read { db in
            for table in SyncedTable.allCases {
                for row in try Row.fetchAll(
                    db, sql: "SELECT id, \(table.columnNames.joined(separator: ", ")) FROM \(table.rawValue) WHERE office = ?", arguments: [code])
                {
                    var fields: [String: FieldValue] = [:]
                    for (index, column) in table.columns.enumerated() {
                        switch row[index + 1] as DatabaseValue {
                        case let value where value.isNull: fields[column.name] = .null
                        case let value:
                            fields[column.name] =
                                Int64.fromDatabaseValue(value).map(FieldValue.integer) ?? String.fromDatabaseValue(value).map(FieldValue.text) ?? .null
                        }
                    }
                    mine["\(table.rawValue)/\(row["id"] as String)"] = fields
                }
            }
        }
        var theirs: [String: [String: FieldValue]] = [:]
        for (key, record) in records where record.office == code && !record.deleted {
            guard let table = SyncedTable(rawValue: String(key.prefix { $0 != "/" })) else { continue }
            theirs[key] = Self.whole(table, record.fields)
        }
        var rowProblems: [String] = []
        for key in Set(mine.keys).union(theirs.keys).sorted() {
            switch (mine[key], theirs[key]) {
            case (nil, let c?): rowProblems.append("\(key) is missing at office \(code) (centre: \(Self.show(c)))")
            case (let o?, nil): rowProblems.append("\(key) is at office \(code) but not at the centre (office: \(Self.show(o)))")
            case (let o?, let c?): if let diff = Self.diff(c, o) { rowProblems.append("\(key) differs at office \(code) (centre → office): \(diff)") }
            default: break
            }
        }
        for line in rowProblems.prefix(12) { problem("rows: \(line)") }
        if rowProblems.count > 12 { problem("rows: … and \(rowProblems.count - 12) more differences at office \(code)") }
        // Digest trees.
        let officeTree = try office.replica.digestTree()
        let centreTree = try store.digestTree(for: office.office)
        if officeTree.root != centreTree.root {
            let a = digestRows(officeTree)
            let b = digestRows(centreTree)
            let differing = Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
            problem("digest: office \(code)'s tree differs from the centre's in \(differing.count) rows: \(differing.prefix(5).joined(separator: ", "))")
        }
        // The digests the office keeps, brought up to date from the rows marked changed, equal
        // its rows hashed whole (a write with capture off that marked nothing would show here).
        let stored = try office.replica.storedDigestTree()
        if stored.tree.root != officeTree.root {
            problem("digest: office \(code)'s stored digests differ from its rows (\(stored.rowsHashed) rows hashed again)")
        }
        // Conflict records, with their resolutions.
        let local = try office.replica.data.conflicts()
        var localKeys: [String: String] = [:]
        for c in local { localKeys[c.id] = "\(c.rule)/\(c.rowID)/\(c.hlc)/\(c.resolution ?? "open")/\(c.resolvedBy ?? "")" }
        var centreKeys: [String: String] = [:]
        for (key, record) in records where key.hasPrefix("conflict/") && !record.deleted && record.office == code {
            let f = record.fields
            centreKeys[String(key.dropFirst("conflict/".count))] =
                "\(f["rule"]?.text ?? "")/\(f["row_id"]?.text ?? "")/\(f["hlc"]?.text ?? "")/\(f["resolution"]?.text ?? "open")/\(f["resolved_by"]?.text ?? "")"
        }
        for id in Set(localKeys.keys).union(centreKeys.keys).sorted() where localKeys[id] != centreKeys[id] {
            problem(
                "conflicts at office \(code): \(id.prefix(12)) is \(localKeys[id] ?? "missing") at the office, \(centreKeys[id] ?? "missing") at the centre")
        }
        // Money as the office shows it.
        var paid: [String: Int64] = [:]
        for (key, record) in records where key.hasPrefix("disbursement/") && !record.deleted && !record.held && record.office == code {
            guard let project = record.fields["project_id"]?.text, let amount = record.fields["amount"]?.integer else { continue }
            paid[project, default: 0] += record.fields["kind"] == .text("recovery") ? -amount : amount
        }
        for project in try office.replica.data.projects(office: office.office) {
            let limit = project.approvedSupport ?? project.requestedSupport
            if project.disbursed != paid[project.id] ?? 0 {
                problem("money: office \(code) shows \(project.disbursed) disbursed on \(project.code), the centre \(paid[project.id] ?? 0)")
            }
            if !expected.acceptedMoney.contains(project.id), project.disbursed < 0 || project.disbursed > limit {
                problem("money: office \(code) shows \(project.disbursed) disbursed on \(project.code), outside [0, \(limit)]")
            }
        }
    }
}
