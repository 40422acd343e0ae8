import CSVFormat
import Foundation
import GRDB
import SyncCore
import SyncTesting
import Testing

@testable import Replica

/// `promo-sync export` writes files offices open in spreadsheets: text a spreadsheet would run as
/// a formula is written with a leading `'`, numbers are not, and `import` reads the file back to
/// the same rows (docs/SECURITY.md, "Exported files").
@Suite struct CSVInjectionTests {
    /// Projects, plan lines and payments whose text starts with every formula character.
    func fillWithFormulas(_ replica: Replica) throws {
        // A code is letters, digits and - _ . / (ValueRules.codeProblem): "-A1" is its formula.
        let projects: [(code: String, name: String, beneficiary: String?, commune: String?)] = [
            ("-A1", "=HYPERLINK(\"http://x\",\"y\")", "=cmd|' /C calc'!A0", nil),
            ("P-2", "+SUM(A1)", "@SUM(1)", "-xã Tân Phú"),
            ("P-3", "@SUM(1)", nil, "\tphường 1"),
            ("P-4", "-abc", "+84 912 345 678", nil),
            ("P-5", "\tMáy sấy, nông sản", "\rHTX", "=1+1"),
            ("P-6", "'=already quoted", "-5", "Dự án thường"),
        ]
        for p in projects {
            try replica.data.addProject(
                NewProject(
                    code: p.code, name: p.name, category: "MH_TRINHDIEN", fundSource: .local, beneficiary: p.beneficiary,
                    year: 2025, totalCost: 4_000_000, requestedSupport: 1_000_000, commune: p.commune))
            try replica.data.approveLocally(p.code)
        }
        let notes = ["\tKế hoạch", "\rghi chú", "=1+1", "+x", "@x", "-x"]
        for (i, note) in notes.enumerated() {
            try replica.data.addPlanLine(year: 2024 + i / 2, fundSource: i % 2 == 0 ? .local : .national, amount: 1_000_000 * Int64(i + 1), note: note)
        }
        // A voucher holds the characters of a code and spaces (ValueRules.voucherProblem): of the
        // formula signs, only a leading minus.
        for (i, voucher) in ["-KB-1", "KB-2", "-KB-3", "KB-4", "-KB-5", "KB-6"].enumerated() {
            try replica.data.addDisbursement(
                NewDisbursement(
                    project: i % 2 == 0 ? "-A1" : "P-2", kind: .payment, amount: 100_000,
                    voucher: voucher, paidOn: "2025-03-0\(i + 1)"))
        }
    }

    typealias ProjectKey = [String?]
    func projectRows(_ replica: Replica) throws -> [ProjectKey] {
        try replica.data.projects().map {
            [
                $0.code, $0.name, $0.category, $0.fundSource, $0.beneficiary, String($0.year), String($0.totalCost), String($0.requestedSupport),
                $0.status, $0.commune, $0.counterpartFunds.map(String.init),
            ]
        }.sorted { $0.map { $0 ?? "" }.lexicographicallyPrecedes($1.map { $0 ?? "" }) }
    }

    func planRows(_ replica: Replica) throws -> [[String?]] {
        try replica.data.planLines().map { [String($0.year), $0.fundSource, String($0.amount), $0.note] }
    }

    func ledgerRows(_ replica: Replica) throws -> [[String]] {
        try replica.database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT p.code, d.kind, d.amount, d.voucher, d.paid_on FROM disbursement d JOIN project p ON p.id = d.project_id ORDER BY d.voucher"
            )
            .map { [$0["code"], $0["kind"], String($0["amount"] as Int64), $0["voucher"], $0["paid_on"]] }
        }
    }

    @Test func everyFormulaCharacterIsEscapedOnExport() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        try fillWithFormulas(replica)
        let projects = try replica.data.exportCSV(.projects)
        let plan = try replica.data.exportCSV(.plan)
        let ledger = try replica.data.exportCSV(.disbursements)
        // What a spreadsheet would evaluate is written behind a quote (and quoted for the format).
        #expect(projects.contains("\n'-A1,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\","))
        #expect(projects.contains(",'+SUM(A1),") && projects.contains(",'@SUM(1),") && projects.contains(",'-abc,"))
        #expect(projects.contains(",\"'\tMáy sấy, nông sản\",") && projects.contains(",\"'\rHTX\","))
        #expect(projects.contains(",''=already quoted,") && projects.contains(",-5,"))
        #expect(plan.contains(",'\tKế hoạch\n") && plan.contains(",\"'\rghi chú\"\n") && plan.contains(",'=1+1\n") && plan.contains(",'+x\n"))
        #expect(ledger.contains(",'-KB-1,") && ledger.contains(",KB-2,") && ledger.contains(",'-KB-3,") && ledger.contains(",'-KB-5,"))
        // No field of any file starts with a formula character unless it is a whole number.
        for text in [projects, plan, ledger] {
            for record in try CSV.parse(text) {
                for field in record.fields {
                    guard let first = field.unicodeScalars.first, CSV.formulaTriggers.contains(first) else { continue }
                    #expect(first == "-" && Int64(field) != nil, "line \(record.line): \(field.debugDescription)")
                }
            }
        }
    }

    @Test func exportThenImportIntoAnotherReplicaGivesTheSameRows() throws {
        let dirA = try TemporaryDirectory()
        let dirB = try TemporaryDirectory()
        let a = try makeReplica(dirA)
        let b = try makeReplica(dirB)
        try fillWithFormulas(a)
        let files = try [ImportReport.Kind.projects, .plan, .disbursements].map { ($0, try a.data.exportCSV($0)) }
        for (kind, text) in files {
            let report = try b.data.importCSV(text)
            #expect(report.kind == kind && report.inserted == 6 && report.updated == 0, "\(kind)")
        }
        #expect(try projectRows(b) == projectRows(a))
        #expect(try planRows(b) == planRows(a))
        #expect(try ledgerRows(b) == ledgerRows(a))
        #expect(try projectRows(a).contains { $0[1] == "=HYPERLINK(\"http://x\",\"y\")" && $0[4] == "=cmd|' /C calc'!A0" })
        #expect(try planRows(a).contains { $0[3] == "\tKế hoạch" })
        // The second replica writes the same files, and importing them back changes nothing.
        for (kind, text) in files {
            #expect(try b.data.exportCSV(kind) == text, "\(kind)")
            let again = try a.data.importCSV(text)
            #expect(again.inserted == 0 && again.updated == 0 && again.unchanged == 6, "\(kind)")
        }
    }

    @Test func aNegativeAmountStaysANumber() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        try replica.data.addProject(
            NewProject(
                code: "P-1", name: "Dự án", category: "MH_TRINHDIEN", fundSource: .local,
                year: 2025, totalCost: 4_000_000, requestedSupport: 1_000_000))
        try replica.data.approveLocally("P-1")
        try replica.data.addDisbursement(NewDisbursement(project: "P-1", kind: .payment, amount: 900_000, voucher: "KB-1", paidOn: "2025-03-01"))
        // A settlement adjustment carries its own sign: one that gives money back is negative.
        try replica.database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO disbursement(id, office, project_id, kind, amount, voucher, paid_on)
                    SELECT ?, office, id, 'settlement_adjustment', -250000, '-KB-2', '2025-04-01' FROM project WHERE code = 'P-1'
                    """, arguments: [RowID.make().rawValue])
        }
        let lines = try replica.data.exportCSV(.disbursements).split(separator: "\n")
        #expect(lines.last == "P-1,settlement_adjustment,-250000,'-KB-2,2025-04-01")
    }
}
