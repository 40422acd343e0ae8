import Foundation
import GRDB
import Replica
import SyncAgent
import SyncCore
import SyncTesting
import Testing

@testable import Central
@testable import Transport

/// The domain rules hold at the office and at the centre with the same SyncCore code
/// (ValueRules, LedgerRules): the office refuses with a message, the centre refuses what an
/// office could still send (a hand-made push, a write behind capture's back) or holds it as a
/// visible conflict.
@Suite struct DomainRulesTests {
    static func plan(_ fields: [String: FieldValue]) -> Change {
        var all: [String: FieldValue] = ["office": .text("79"), "year": .integer(2025), "fund_source": .text("local"), "amount": .integer(5), "note": .null]
        all.merge(fields) { _, new in new }
        return Change(table: .planLine, id: RowID.make(), op: .upsert, hlc: HLCTimestamp(milliseconds: 1, counter: 0, node: "79"), fields: all)
    }

    /// Values the office's commands refuse are refused by the centre too, naming the field.
    @Test func theCentreRefusesValuesOutOfBounds() async throws {
        try await withLiveCentral { central in
            let client = CentralClient(baseURL: central.url, token: try central.addOffice("79"), http: HTTPClient())
            let cases: [([String: FieldValue], String)] = [
                (["amount": .integer(-5)], "amount must be more than 0"),
                (["amount": .integer(.min)], "amount must be more than 0"),
                (["amount": .integer(.max)], "at most 1000000000000000 VND"),
                (["year": .integer(-1)], "year -1 is not a year"),
                (["fund_source": .text("bogus")], "fund_source 'bogus'"),
                (["note": .text(String(repeating: "x", count: 1_000_000))], "note is 1000000 characters long"),
                (["note": .text("Nợ\u{0}DROP")], "note holds the character U+0000"),
            ]
            for (fields, mention) in cases {
                let changeset = Changeset(
                    office: OfficeCode(unchecked: "79"), sequence: ChangesetSequence(1), previousHash: Changeset.genesisHash,
                    changes: [Self.plan(fields)])
                let error = await #expect(throws: TransportError.self) { try await client.push(changeset) }
                #expect(error?.status == 400 && error?.remoteCode == "bad_request")
                #expect(error?.message.contains(mention) == true, "\(error?.message ?? "accepted")")
            }
            #expect(try central.store.offices().first?.lastSequence == ChangesetSequence(0))
        }
    }

    /// A changeset carries a row's values as they are when it is made, so a project entered before
    /// a programme and then put in it names a programme whose insert comes later in the outbox. The
    /// changeset takes the entries up to that insert (beyond its usual size), and the centre
    /// accepts it; cut at the usual size, it was refused whole (`unknown_parent`) and held back
    /// everything after it.
    @Test func aChangesetTakesTheParentsItsRowsNameWithIt() async throws {
        try await withLiveCentral { central in
            var small = SyncEngineConfiguration()
            small.maxChangesPerChangeset = 2
            let hcm = try OfficeFixture(office: "79", central: central, configuration: small)
            try hcm.replica.data.addProject(
                NewProject(
                    code: "P1", name: "Dự án", category: "MH_TRINHDIEN", fundSource: .local, year: 2025, totalCost: 400_000_000, requestedSupport: 100_000_000))
            try hcm.replica.data.addProgram(NewProgram(code: "G1", name: "Chương trình", startYear: 2025, endYear: 2030))
            try hcm.replica.data.updateProject("P1", ProjectUpdate(program: "G1"))
            try hcm.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 5, note: nil)

            let first = try #require(try hcm.replica.nextChangeset(maxChanges: 2))
            #expect(first.changes.map(\.table) == [.project, .projectEvent, .program])
            try await hcm.engine.runCycle()
            #expect(try hcm.replica.pendingSummary().changes == 0)
            let project = try #require(try central.store.projects(office: "79").first)
            #expect(project.fields["program_id"] == first.changes.last.map { .text($0.id.rawValue) })
            #expect(try central.store.offices().first?.lastSequence == ChangesetSequence(3))
        }
    }

    /// An office writes its own province code, or a former province merged into it by the
    /// official map; anything else is refused at entry, import and the centre, listing what it may write.
    @Test func anOfficeWritesOnlyItsOwnProvinces() async throws {
        try await withLiveCentral { central in
            let hcm = try OfficeFixture(office: "79", central: central)
            func add(_ code: String, province: String) throws {
                try hcm.replica.data.addProject(
                    NewProject(
                        code: code, name: "Dự án", category: "MH_TRINHDIEN", fundSource: .local,
                        year: 2025, totalCost: 400_000_000, requestedSupport: 100_000_000, province: province))
            }
            for foreign in ["01", "72", "80"] {
                let error = #expect(throws: ReplicaError.self) { try add("X-\(foreign)", province: foreign) }
                #expect(error?.message.contains("it writes 79, 74, 77") == true, "\(error?.message ?? "")")
            }
            try add("BD-1", province: "74")  // Bình Dương, merged into 79
            try add("VT-1", province: "77")  // Bà Rịa – Vũng Tàu, merged into 79
            let rejected = #expect(throws: ImportRejection.self) {
                try hcm.replica.data.importCSV(
                    "code,name,category,fund_source,year,total_cost,requested_support,province\nTN-9,Dự án,MH_TRINHDIEN,local,2025,400,100,72\n")
            }
            #expect(rejected?.problems.first?.contains("province 72 is not office 79's to write") == true)
            try await hcm.engine.runCycle()
            #expect(try central.store.projects(office: "79").compactMap { $0.fields["province"]?.text }.sorted() == ["74", "77"])

            // Written behind the commands' back, the centre refuses it.
            try await hcm.replica.database.write { db in try db.execute(sql: "UPDATE project SET province = '01' WHERE code = 'BD-1'") }
            let error = await #expect(throws: SyncAgentError.self) { try await hcm.engine.runCycle() }
            #expect(error?.code == .refused && error?.message.contains("province 01 is not office 79's to write") == true)
        }
    }

    /// At the office a ledger entry is refused before a project is approved, past the limit,
    /// below zero (the issue's recovery of 900 m on 101 m paid), or dated outside the project's
    /// life or in the future; written behind the commands' back, the same entries are held at the
    /// centre as conflicts, and the totals never go negative.
    @Test func ledgerEntriesKeepPaidWithinZeroAndTheLimit() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "80", central: central)
            try office.addProject(code: "TN-1", requested: 300_000_000)
            func pay(_ kind: DisbursementKind, _ amount: Int64, on day: String = "2025-06-01", voucher: String? = nil) throws {
                try office.replica.data.addDisbursement(NewDisbursement(project: "TN-1", kind: kind, amount: amount, voucher: voucher, paidOn: day))
            }
            func message(_ body: () throws -> Void) -> String {
                do {
                    try body()
                    return "accepted"
                } catch { return "\(error)" }
            }
            #expect(message { try pay(.payment, 1_000_000) }.contains("status draft takes no such entry"))
            try office.replica.data.approveLocally("TN-1")
            try pay(.payment, 101_000_000)
            #expect(message { try pay(.recovery, 900_000_000) }.contains("below zero"))
            #expect(message { try pay(.payment, 1_000_000, on: "2035-01-01") }.contains("outside the life of a 2025 project"))
            #expect(message { try pay(.payment, 1_000_000, on: "2024-12-31") }.contains("outside the life of a 2025 project"))
            let tomorrow = CalendarDate.today(Date() + 2 * 86_400)
            if tomorrow <= "2030-12-31" {  // within the life of a 2025 project, so only the recording day refuses it
                #expect(message { try pay(.payment, 1_000_000, on: tomorrow) }.contains("after the day it was recorded"))
            }
            #expect(message { try pay(.payment, 200_000_000) }.contains("past its requested support"))
            try pay(.recovery, 1_000_000)
            #expect(try office.replica.data.projects().first?.disbursed == 100_000_000)
            try await office.engine.runCycle()

            // The same entries written by another program are captured, pushed and held.
            try await office.replica.database.write { db in
                for (kind, amount, day) in [("recovery", 900_000_000, "2025-07-01"), ("payment", 1_000_000, "2035-01-01")] {
                    try db.execute(
                        sql: """
                            INSERT INTO disbursement(id, office, project_id, kind, amount, voucher, paid_on)
                            SELECT ?, office, id, ?, ?, NULL, ? FROM project WHERE code = 'TN-1'
                            """, arguments: [RowID.make().rawValue, kind, amount, day])
                }
            }
            try await office.engine.runCycle()
            let rules = try central.store.conflicts().compactMap { $0.record["rule"]?.text }.sorted()
            #expect(rules == ["over_recovery", "payment_not_allowed"])
            #expect(try office.replica.data.conflicts(openOnly: true).map(\.rule).sorted() == rules)
            let total = try central.store.totals().first { $0.province == "80" && $0.fund == "local" }
            #expect(total?.disbursed == 100_000_000)
            #expect(try office.replica.data.projects().first?.disbursed == 100_000_000)
        }
    }

    /// One office's figures that cannot be summed (written into the store by hand past every
    /// bound) stop only that office's totals: other offices pull and their totals move on, and the
    /// failure is named in the metrics.
    @Test func oneOfficesTotalsFailingDoNotStopAnothersPulls() async throws {
        try await withLiveCentral(audit: false) { central in
            let hcm = try OfficeFixture(office: "79", central: central)
            let tayNinh = try OfficeFixture(office: "80", central: central)
            try hcm.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 1_000, note: nil)
            try await hcm.engine.runCycle()
            try await central.store.database.write { db in
                for _ in 0..<2 {
                    try db.execute(
                        sql: """
                            INSERT INTO record(tbl, id, office, fields, clocks, seq, aggregate)
                            VALUES ('plan_line', ?1, '79', '{"amount":9223372036854775807,"fund_source":"local","office":"79","year":2025}', '{}',
                                    (SELECT max(seq) + 1 FROM record), ?1)
                            """, arguments: [RowID.make().rawValue])
                }
                try db.execute(sql: "INSERT OR IGNORE INTO totals_pending(office) VALUES ('79')")
            }
            try tayNinh.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 2_000, note: nil)
            try await tayNinh.engine.runCycle()
            try await tayNinh.engine.runCycle()
            let totals = try tayNinh.replica.data.consolidatedTotals()
            #expect(totals.first { $0.province == "80" }?.planAmount == 2_000)
            #expect(totals.first { $0.province == "79" }?.planAmount == 1_000, "79's last good totals stand")
            #expect(central.store.totalsProblems()["79"]?.contains("plan lines of office 79 add up past") == true)
            #expect(CentralMetrics().exposition(store: central.store).contains("promo_central_offices_totals_failing 1"))
            // The audit runs all the same, and names the first record written by hand.
            let audit = try central.store.auditVerify()
            #expect(audit.differences.first { $0.table == "record" }?.key.hasPrefix("plan_line/") == true)
            #expect(audit.differences.first { $0.table == "record" }?.column == nil)
            #expect(audit.differences.contains { $0.table == "totals_pending" && $0.key == "79" })
        }
    }
}
