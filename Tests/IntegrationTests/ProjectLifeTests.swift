import Foundation
import GRDB
import Replica
import SyncAgent
import SyncCore
import SyncTesting
import Testing

@testable import Central
@testable import Transport

/// Programmes, the project event log, facility acceptance and settlement, and office merges,
/// entered through the replica's commands and synced through a real central over libcurl.
@Suite struct ProjectLifeTests {
    @Test func aLocalProjectRunsFromProgrammeToSettlementAndItsLogReachesTheCentre() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "79", central: central)
            let replica = office.replica
            try replica.data.addProgram(NewProgram(code: "CT-KC-2025", name: "Chương trình khuyến công TP.HCM 2025–2030", startYear: 2025, endYear: 2030))
            let id = try replica.data.addProject(
                NewProject(
                    code: "DP-01", name: "Máy sấy nông sản", category: "MH_TRINHDIEN", fundSource: .local, beneficiary: "HTX Tân Phú",
                    year: 2025, totalCost: 1_000_000_000, requestedSupport: 300_000_000, program: "CT-KC-2025", commune: "Xã Tân Phú",
                    counterpartFunds: 700_000_000))
            for step: ProjectStatus in [.submitted, .appraisedLocally, .approved, .contracted, .inProgress] {
                try replica.data.setProjectStatus("DP-01", to: step)
            }
            try replica.data.addDisbursement(NewDisbursement(project: "DP-01", kind: .advance, amount: 200_000_000, voucher: "KB-7", paidOn: "2025-06-02"))
            try replica.data.acceptProject("DP-01", Acceptance(acceptedOn: "2025-10-15", minutes: "12/BB-NT", result: "đạt"))
            let difference = try replica.data.settleProject("DP-01", Settlement(settledOn: "2025-11-20", amount: 290_000_000, decision: "45/QĐ-SCT"))
            #expect(difference == 90_000_000)

            let events = try replica.data.events("DP-01")
            #expect(Dictionary(grouping: events, by: \.kind).mapValues(\.count) == ["created": 1, "status": 7, "acceptance": 1, "settlement": 1])
            // The move to accepted is dated by the acceptance, the move to settled by the settlement.
            #expect(events.filter { $0.occurredOn == "2025-10-15" }.map(\.kind).sorted() == ["acceptance", "status"])
            #expect(events.first { $0.kind == "acceptance" }?.reference == "12/BB-NT")
            #expect(events.first { $0.kind == "settlement" }?.amount == 290_000_000)
            #expect(try replica.data.programs().map(\.projects) == [1])

            try await office.engine.runCycle()
            let atCentre = try #require(try central.store.projects(office: "79").first)
            #expect(atCentre.fields["status"] == .text("settled") && atCentre.fields["commune"] == .text("Xã Tân Phú"))
            #expect(atCentre.fields["counterpart_funds"] == .integer(700_000_000))
            #expect(atCentre.fields["program_id"] == .text(try replica.data.programs()[0].id))
            let centralEvents = try await central.store.database.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM record WHERE tbl = 'project_event' AND aggregate = ? AND held = 0", arguments: [id.rawValue])
            }
            #expect(centralEvents == events.count)
            #expect(try central.store.conflicts().isEmpty)
        }
    }

    @Test func theCentresDecisionsReachTheOfficesEventLog() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "80", central: central)
            let id = try office.addProject(code: "QG-9", requested: 400_000_000, fund: .national)
            for step: ProjectStatus in [.submitted, .appraisedLocally, .submittedToCentre] {
                try office.replica.data.setProjectStatus("QG-9", to: step)
            }
            try await office.engine.runCycle()
            try central.store.decide(project: "80/QG-9", .appraise)
            try central.store.decide(project: id.rawValue, .approve(amount: 350_000_000), reference: "812/QĐ-BCT")
            try await office.engine.runCycle()

            let decisions = try office.replica.data.events("QG-9").filter { $0.kind == "decision" }
            #expect(decisions.map(\.note) == ["appraised by the centre", "approved by the centre"])
            #expect(decisions.last?.amount == 350_000_000 && decisions.last?.reference == "812/QĐ-BCT")
            #expect(decisions.allSatisfy { $0.office == "80" })
            // Pulled entries are not echoed back as the office's own changes.
            #expect(try office.replica.pendingSummary().changes == 0)
        }
    }

    @Test func anEditedEventIsAConflictAndTheLoggedEntryStands() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "82", central: central)
            try office.addProject(code: "E-1")
            try await office.engine.runCycle()
            // Someone rewrites history with the sqlite3 shell.
            try await office.replica.database.write { db in
                try db.execute(sql: "UPDATE project_event SET note = 'never happened' WHERE kind = 'created'")
            }
            try await office.engine.runCycle()
            let conflicts = try central.store.conflicts()
            #expect(conflicts.map { $0.record["rule"] } == [.text("ledger_append_only")])
            #expect(try office.replica.data.events("E-1").first?.note == "entered as draft")
        }
    }

    /// Ledger updates are captured without a changed-column mask (CaptureTriggers); the centre
    /// names what changed, against the entry as recorded, and a write of the same values is no edit.
    @Test func anEditedLedgerEntryIsAConflictNamingOnlyWhatChanged() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "83", central: central)
            try office.addProject(code: "L-1")
            try office.replica.data.approveLocally("L-1")
            let entry = try office.replica.data.addDisbursement(
                NewDisbursement(project: "L-1", kind: .advance, amount: 100_000_000, voucher: "KB-1", paidOn: "2025-05-02"))
            try await office.engine.runCycle()
            func edit(_ sql: String) async throws {
                // As another program would, with the sqlite3 shell.
                try await office.replica.database.write { db in try db.execute(sql: sql, arguments: [entry.rawValue]) }
                try await office.engine.runCycle()
            }
            func amount() throws -> Int64? {
                try office.replica.database.read { db in
                    try Int64.fetchOne(db, sql: "SELECT amount FROM disbursement WHERE id = ?", arguments: [entry.rawValue])
                }
            }

            try await edit("UPDATE disbursement SET amount = amount, voucher = voucher WHERE id = ?")
            #expect(try central.store.conflicts().isEmpty)
            #expect(try office.replica.pendingSummary().changes == 0)

            try await edit("UPDATE disbursement SET amount = 90000000, voucher = voucher WHERE id = ?")
            let conflicts = try central.store.conflicts()
            #expect(conflicts.map { $0.record["rule"] } == [.text("ledger_append_only")])
            #expect(try office.replica.data.conflicts().map(\.mine) == [["amount": .integer(90_000_000)]])
            #expect(try office.replica.data.conflicts().map(\.theirs) == [["amount": .integer(100_000_000)]])
            #expect(try amount() == 100_000_000)
        }
    }

    @Test func acceptanceAndSettlementAreChecked() async throws {
        let directory = try TemporaryDirectory(prefix: "life")
        let replica = try Replica.create(
            at: directory.file("r.sqlite"),
            settings: ReplicaSettings(
                office: try OfficeCode("79"), centralURL: "http://127.0.0.1:1", tokenFile: directory.file("t")))
        try replica.data.addProject(
            NewProject(
                code: "A", name: "A", category: "MH_TRINHDIEN", fundSource: .local, year: 2025,
                totalCost: 1_000_000_000, requestedSupport: 300_000_000))
        func message(_ work: () throws -> Void) -> String {
            do {
                try work()
                return ""
            } catch { return (error as? ReplicaError)?.message ?? "\(error)" }
        }
        #expect(
            message { try replica.data.acceptProject("A", Acceptance(acceptedOn: "2025-10-15", minutes: "1")) }
                .contains("cannot go from draft to accepted"))
        #expect(message { try replica.data.acceptProject("A", Acceptance(acceptedOn: "2025-02-30", minutes: "1")) }.contains("not a date"))
        #expect(message { try replica.data.acceptProject("A", Acceptance(acceptedOn: "2025-10-15", minutes: " ")) }.contains("minutes number is empty"))
        #expect(
            message { try replica.data.settleProject("A", Settlement(settledOn: "2025-11-20", amount: 300_000_001, decision: "9")) }
                .contains("more than the requested support"))
        #expect(
            message {
                try replica.data.addProject(
                    NewProject(
                        code: "B", name: "B", category: "MH_TRINHDIEN", fundSource: .local, year: 2025,
                        totalCost: 1_000, requestedSupport: 600, counterpartFunds: 500))
            }
            .contains("add up to more than the total cost"))
        #expect(
            message {
                try replica.data.addProject(
                    NewProject(
                        code: "B", name: "B", category: "MH_TRINHDIEN", fundSource: .local, year: 2025,
                        totalCost: 1_000, requestedSupport: 600, counterpartFunds: -1))
            }
            .contains("must not be negative"))
        #expect(
            message {
                try replica.data.addProject(
                    NewProject(
                        code: "B", name: "B", category: "MH_TRINHDIEN", fundSource: .local, year: 2025,
                        totalCost: 1_000, requestedSupport: 600, program: "NOPE"))
            }
            .contains("no programme 'NOPE'"))
        #expect(
            message { try replica.data.addProgram(NewProgram(code: "P", name: "P", startYear: 2030, endYear: 2025)) }.contains("ends (2025) before it starts"))
        // Nothing refused was written, and no event was logged for it.
        #expect(try replica.data.projects().map(\.code) == ["A"])
        #expect(try replica.data.events("A").map(\.kind) == ["created"])
    }

    @Test func mergingAnOfficeRehomesItsRecordsAndTellsItsDaemon() async throws {
        try await withLiveCentral { central in
            // Bà Rịa–Vũng Tàu (77) still runs its own office until it is merged into Hồ Chí Minh (79).
            let old = try OfficeFixture(office: "77", central: central)
            let new = try OfficeFixture(office: "79", central: central)
            try old.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 5_000_000_000, note: nil)
            try old.addProject(code: "BR-1", requested: 200_000_000)
            try old.replica.data.approveLocally("BR-1")
            try old.replica.data.addDisbursement(NewDisbursement(project: "BR-1", kind: .advance, amount: 50_000_000, voucher: "KB-77", paidOn: "2025-05-05"))
            try await old.engine.runCycle()
            try await new.engine.runCycle()
            #expect(try new.replica.data.projects(office: OfficeCode(unchecked: "79")).isEmpty)

            let outcome = try central.store.merge([OfficeCode("77")], into: OfficeCode("79"))
            #expect(outcome.aggregates == 2)
            #expect(try central.store.offices().first { $0.code.rawValue == "77" }?.mergedInto?.rawValue == "79")

            // The receiving office pulls the project as its own, with its former province kept, and may pay on it.
            try await new.engine.runCycle()
            let project = try #require(try new.replica.data.projects(office: OfficeCode(unchecked: "79")).first { $0.code == "BR-1" })
            #expect(project.province == "77" && project.disbursed == 50_000_000)
            try new.replica.data.addDisbursement(
                NewDisbursement(project: project.id, kind: .payment, amount: 100_000_000, voucher: "KB-79", paidOn: "2025-09-09"))
            try await new.engine.runCycle()
            #expect(try central.store.conflicts().isEmpty)
            #expect(try central.store.projects(office: "79").count == 1)
            let plan79 = try central.store.totals().filter { $0.province == "79" }.reduce(0) { $0 + $1.plan }
            #expect(plan79 == 5_000_000_000)
            // No row for the retired code and no empty rows: its figures are under 79.
            #expect(try central.store.totals().allSatisfy { $0.province != "77" && ($0.plan != 0 || $0.disbursed != 0) })

            // The retired office's pending change is delivered; then its daemon is told clearly.
            try old.replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 1_000_000_000, note: "late")
            await #expect(throws: SyncAgentError.self) { try await old.engine.runCycle() }
            #expect(try old.replica.pendingSummary().changes == 0)
            let status = try old.replica.status()
            #expect(status.lastError?.contains("was merged into office 79") == true)
            #expect(status.lastErrorHint?.contains("stop this daemon") == true)
            try await new.engine.runCycle()
            #expect(try new.replica.data.planLines().map(\.amount).sorted() == [1_000_000_000, 5_000_000_000])

            // A merge that cannot be done is refused with what to do, and changes nothing.
            let before = try central.store.offices()
            let mistakes: [([String], String, CentralError.Code, String)] = [
                ([], "79", .badRequest, "name at least one office"),
                (["79"], "79", .badRequest, "cannot be merged into itself"),
                (["78"], "79", .notFound, "office 78 is not registered"),
                (["77"], "79", .officeMerged, "office 77 was already merged into office 79"),
                (["79"], "77", .officeMerged, "office 77 was already merged into office 79"),
            ]
            for (retired, into, code, message) in mistakes {
                let error = #expect(throws: CentralError.self) {
                    try central.store.merge(retired.map(OfficeCode.init(unchecked:)), into: OfficeCode(unchecked: into))
                }
                #expect(error?.code == code && error?.message.contains(message) == true, "\(error?.message ?? "no error")")
            }
            #expect(try central.store.offices() == before)
        }
    }
}

/// Merges follow the official map of Decision 19/2025 unless a reason is given (kept in the
/// centre's journal, which the audit after this test replays), and a merge can be undone.
@Suite struct OfficialMergeMapTests {
    @Test func mergesFollowTheMapAndCanBeUndone() async throws {
        try await withLiveCentral { central in
            for code in ["74", "80", "26", "79"] { _ = try central.addOffice(code) }
            let old = try OfficeFixture(office: "77", central: central)
            try old.addProject(code: "VT-1")
            try await old.engine.runCycle()

            // Bình Dương (74) went to Hồ Chí Minh (79), not Tây Ninh (80); Vĩnh Phúc (26) to the north.
            let wrong = #expect(throws: CentralError.self) { try central.store.merge([OfficeCode("74")], into: OfficeCode("80")) }
            #expect(wrong?.code == .mergeNotInMap && wrong?.message.contains("merges 74 into 79, not into 80") == true, "\(wrong?.message ?? "")")
            #expect(wrong?.hint?.contains("--override-reason") == true)
            let north = #expect(throws: CentralError.self) { try central.store.merge([OfficeCode("26")], into: OfficeCode("79")) }
            #expect(north?.code == .mergeNotInMap)
            let inForce = #expect(throws: CentralError.self) { try central.store.merge([OfficeCode("80")], into: OfficeCode("79")) }
            #expect(inForce?.message.contains("into no other province: it is in force") == true, "\(inForce?.message ?? "")")
            #expect(try central.store.offices().allSatisfy { $0.mergedInto == nil })
            // With a reason it goes through, and the reason is journaled.
            _ = try central.store.merge([OfficeCode("26")], into: OfficeCode("79"), overrideReason: "test of an override")
            #expect(try central.store.offices().first { $0.code.rawValue == "26" }?.mergedInto?.rawValue == "79")

            // 77 into 79 follows the map; then it is undone, and 77 works as before.
            _ = try central.store.merge([OfficeCode("77")], into: OfficeCode("79"))
            #expect(try central.store.projects(office: "79").map { $0.fields["code"] } == [.text("VT-1")])
            await #expect(throws: SyncAgentError.self) { try await old.engine.runCycle() }
            #expect(throws: CentralError.self) { try central.store.unmerge(OfficeCode("77"), reason: " ") }
            let undone = try central.store.unmerge(OfficeCode("77"), reason: "merged by mistake")
            #expect(undone.aggregates == 1 && undone.into.rawValue == "79")
            #expect(try central.store.projects(office: "79").isEmpty)
            #expect(try central.store.projects(office: "77").map { $0.fields["code"] } == [.text("VT-1")])
            try old.addProject(code: "VT-2")
            try await old.engine.runCycle()
            #expect(try central.store.projects(office: "77").count == 2)
            let again = #expect(throws: CentralError.self) { try central.store.unmerge(OfficeCode("77"), reason: "twice") }
            #expect(again?.code == .notMerged)
        }
    }

    /// Undoing a merge takes the records back from the office that held them: it deletes its
    /// copies, keeps aside (not pushed, not lost) the edits of them it had not yet pushed, and its
    /// later changes go through without a person; merged again, it holds them once more.
    @Test func anUndoneMergeTakesTheRecordsBackFromTheOfficeThatHeldThem() async throws {
        try await withLiveCentral { central in
            let old = try OfficeFixture(office: "77", central: central)
            try old.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 2_000_000_000, note: nil)
            try old.addProject(code: "VT-1", requested: 200_000_000)
            try old.replica.data.approveLocally("VT-1")
            try old.replica.data.addDisbursement(NewDisbursement(project: "VT-1", kind: .advance, amount: 50_000_000, voucher: "KB-77", paidOn: "2025-05-05"))
            try await old.engine.runCycle()
            let hcm = try OfficeFixture(office: "79", central: central)
            try hcm.addProject(code: "HCM-1")
            try await hcm.engine.runCycle()
            _ = try central.store.merge([OfficeCode("77")], into: OfficeCode("79"))
            try await hcm.engine.runCycle()
            #expect(try hcm.replica.data.projects().map(\.code).sorted() == ["HCM-1", "VT-1"])
            #expect(try hcm.replica.data.planLines().count == 1)

            // A payment 79 made and pushed while it held the project: after the undo it is judged
            // as another office's entry (held, a conflict of 79's), and stays 79's, not recalled.
            try hcm.replica.data.addDisbursement(
                NewDisbursement(project: "VT-1", kind: .payment, amount: 10_000_000, voucher: "KB-79A", paidOn: "2025-08-08"))
            try await hcm.engine.runCycle()

            // Made at 79 while the merge is undone, not yet pushed: an edit of the received project,
            // a payment on it, and after them a change of 79's own project.
            try hcm.replica.data.updateProject("VT-1", ProjectUpdate(name: "Sửa tại 79"))
            try hcm.replica.data.addDisbursement(
                NewDisbursement(project: "VT-1", kind: .payment, amount: 20_000_000, voucher: "KB-79", paidOn: "2025-09-09"))
            let undone = try central.store.unmerge(OfficeCode("77"), reason: "merged by mistake")
            #expect(undone.aggregates == 2)
            try hcm.replica.data.updateProject("HCM-1", ProjectUpdate(name: "Dự án của 79"))

            // The push is refused (forbidden_owner); the pull's recalls keep the two changes aside
            // and make the refused changesets again without them, which the same cycle pushes.
            let report = try await hcm.engine.runCycle()
            #expect(try hcm.replica.refusal() == nil)
            #expect(try hcm.replica.pendingSummary().changes == 0)
            #expect(report.changesetsPushed >= 1)
            #expect(try hcm.replica.data.projects().map(\.code) == ["HCM-1"])
            #expect(try hcm.replica.data.planLines().isEmpty)
            let keptAside = try hcm.replica.withdrawnChanges()
            // The edit, the event the edit logged, and the payment.
            #expect(keptAside.map(\.table).sorted() == ["disbursement", "project", "project_event"], "\(keptAside)")
            #expect(
                keptAside.allSatisfy {
                    $0.reason.contains("project VT-1 ") && $0.reason.contains("went back to office 77") && $0.reason.contains("merged by mistake")
                })
            #expect(keptAside.contains { $0.fields?.contains("Sửa tại 79") == true })
            #expect(try hcm.replica.status().lastRepair?.contains("kept aside") == true)
            #expect(try central.store.projects(office: "79").map { $0.fields["name"] } == [.text("Dự án của 79")])
            #expect(try await hcm.engine.verify().identical)
            let pushedPayment = try await hcm.replica.database.read { db in try String.fetchAll(db, sql: "SELECT voucher FROM disbursement") }
            #expect(pushedPayment == ["KB-79A"])
            #expect(try hcm.replica.data.conflicts().map(\.rule) == ["ownership"])
            // 79 may resolve its own conflict, though it lies in 77's project now.
            try hcm.replica.data.resolveConflict(try hcm.replica.data.conflicts()[0].id, .keepTheirs, note: "paid twice by mistake")
            try await hcm.engine.runCycle()
            let resolved = try hcm.replica.data.conflicts()
            #expect(try hcm.replica.refusal() == nil && resolved.first?.resolution == "dismiss", "\(resolved)")

            // 77 has its records back as they were, the payments 79 made not counted.
            try await old.engine.runCycle()
            #expect(try old.replica.data.projects().map(\.code) == ["VT-1"])
            #expect(try old.replica.data.projects().first?.disbursed == 50_000_000)
            #expect(try await old.engine.verify().identical)

            // Merged again, 79 holds them once more (the recalls it applied are withdrawn).
            _ = try central.store.merge([OfficeCode("77")], into: OfficeCode("79"))
            try await hcm.engine.runCycle()
            #expect(try hcm.replica.data.projects().map(\.code).sorted() == ["HCM-1", "VT-1"])
            #expect(try await hcm.engine.verify().identical)
        }
    }

    /// Merges of merges: 26 into 79, then 79 into 80, so 80 holds both offices' records. Undoing
    /// 79's merge gives 79 its records and 26's back (26 is still merged into 79), and 80 is told.
    @Test func undoingAMergeOfMergesRecallsEveryRowThatChangesHands() async throws {
        try await withLiveCentral { central in
            let vinhPhuc = try OfficeFixture(office: "26", central: central)
            try vinhPhuc.addProject(code: "VP-1")
            try await vinhPhuc.engine.runCycle()
            let hcm = try OfficeFixture(office: "79", central: central)
            try hcm.addProject(code: "HCM-1")
            try await hcm.engine.runCycle()
            let tayNinh = try OfficeFixture(office: "80", central: central)
            try tayNinh.addProject(code: "TN-1")
            _ = try central.store.merge([OfficeCode("26")], into: OfficeCode("79"), overrideReason: "test of a chain")
            _ = try central.store.merge([OfficeCode("79")], into: OfficeCode("80"), overrideReason: "test of a chain")
            try await tayNinh.engine.runCycle()
            #expect(try tayNinh.replica.data.projects().map(\.code).sorted() == ["HCM-1", "TN-1", "VP-1"])

            let undone = try central.store.unmerge(OfficeCode("79"), reason: "chain undone")
            #expect(undone.aggregates == 2)
            #expect(try central.store.projects(office: "79").compactMap { $0.fields["code"]?.text }.sorted() == ["HCM-1", "VP-1"])
            try await tayNinh.engine.runCycle()
            #expect(try tayNinh.replica.data.projects().map(\.code) == ["TN-1"])
            #expect(try await tayNinh.engine.verify().identical)
            try await hcm.engine.runCycle()
            #expect(try hcm.replica.data.projects(office: OfficeCode("79")).map(\.code).sorted() == ["HCM-1", "VP-1"])
            #expect(try await hcm.engine.verify().identical)
        }
    }

    /// An office merged into another still pushes what it had pending of its own records, as
    /// that office; it may not write the other office's, however its changes are stamped (an
    /// earlier stamp naming itself would make it the project's creator once the merge is undone).
    @Test func aMergedOfficeMayPushOnlyItsOwnRecords() async throws {
        try await withLiveCentral { central in
            let old = try OfficeFixture(office: "77", central: central)
            try old.addProject(code: "VT-1")
            try await old.engine.runCycle()
            let hcm = try OfficeFixture(office: "79", central: central)
            let target = try hcm.addProject(code: "HCM-1")
            try await hcm.engine.runCycle()
            _ = try central.store.merge([OfficeCode("77")], into: OfficeCode("79"))
            let before = try central.store.projects(office: "79").first { $0.id == target.rawValue }

            // 77 writes 79's project as its own, the whole row naming office 77.
            try old.replica.data.updateProject("VT-1", ProjectUpdate(name: "Còn chờ ở 77"))
            try await old.replica.database.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO project(id, office, province, code, name, category, fund_source, year, total_cost, requested_support, status)
                        VALUES (?, '77', '77', 'HCM-1', 'Của 77', 'MH_TRINHDIEN', 'local', 2025, 800000000, 200000000, 'draft')
                        """, arguments: [target.rawValue])
            }
            // Refused; then the pull is answered 410, as for any merged office.
            await #expect(throws: SyncAgentError.self) { try await old.engine.runCycle() }
            let refusal = try #require(try old.replica.refusal())
            #expect(refusal.code == "forbidden_owner" && refusal.id == target.rawValue)
            #expect(refusal.message.contains("may push only its own records"), "\(refusal.message)")
            #expect(try central.store.projects(office: "79").first { $0.id == target.rawValue } == before)

            // Its own pending edit still goes through once the forged row is withdrawn.
            _ = try old.replica.withdraw(table: .project, id: target.rawValue)
            await #expect(throws: SyncAgentError.self) { try await old.engine.runCycle() }  // then 410: merged
            #expect(try old.replica.pendingSummary().changes == 0)
            #expect(try central.store.projects(office: "79").contains { $0.fields["name"] == .text("Còn chờ ở 77") })
        }
    }

    /// The receiving office writes a merged office's records (by design), but may not send one's
    /// project row stamped before its creation naming itself: the fold would take it for the
    /// creator, and give it the project once the merge is undone.
    @Test func theReceivingOfficeMayNotClaimAMergedOfficesRecordWithAnEarlierStamp() async throws {
        try await withLiveCentral { central in
            let old = try OfficeFixture(office: "77", central: central)
            let project = try old.addProject(code: "VT-1")
            try await old.engine.runCycle()
            let hcm = CentralClient(baseURL: central.url, token: try central.addOffice("79"), http: HTTPClient())
            _ = try central.store.merge([OfficeCode("77")], into: OfficeCode("79"))

            let forged = Change(
                table: .project, id: project, op: .upsert, hlc: HLCTimestamp(milliseconds: 1, counter: 0, node: "79"),
                fields: ["office": .text("79"), "name": .text("Của 79")])
            let refused = await #expect(throws: TransportError.self) {
                try await hcm.push(Changeset(office: OfficeCode("79"), sequence: ChangesetSequence(1), previousHash: Changeset.genesisHash, changes: [forged]))
            }
            #expect(refused?.status == 403 && refused?.message.contains("sent it stamped earlier") == true, "\(refused?.message ?? "")")

            // An edit stamped after the creation is the receiving office's to make.
            let edit = Change(
                table: .project, id: project, op: .upsert, hlc: HLCTimestamp(milliseconds: UInt64(Date().timeIntervalSince1970 * 1000), counter: 0, node: "79"),
                fields: ["name": .text("Sửa ở 79")])
            _ = try await hcm.push(Changeset(office: OfficeCode("79"), sequence: ChangesetSequence(1), previousHash: Changeset.genesisHash, changes: [edit]))
            #expect(try central.store.projects(office: "79").map(\.fields["name"]) == [.text("Sửa ở 79")])

            // Undone, the project goes back to the office that made it.
            _ = try central.store.unmerge(OfficeCode("77"), reason: "merged by mistake")
            #expect(try central.store.projects(office: "77").map(\.id) == [project.rawValue])
            #expect(try central.store.projects(office: "79").isEmpty)
        }
    }

    /// After a merge outside the map, the receiving office may send the records it received
    /// whole again (`resync --force`, `verify --repair` queue them so), and they keep the former
    /// office's province: the centre accepts it from the office it merged that one into.
    @Test func aMergeOutsideTheMapLetsTheReceivingOfficeResendWhatItReceived() async throws {
        try await withLiveCentral { central in
            let vinhPhuc = try OfficeFixture(office: "26", central: central)
            try vinhPhuc.addProject(code: "VP-1")
            try await vinhPhuc.engine.runCycle()
            let hcm = try OfficeFixture(office: "79", central: central)
            _ = try central.store.merge([OfficeCode("26")], into: OfficeCode("79"), overrideReason: "test of an override")
            try await hcm.engine.runCycle()
            let received = try #require(try hcm.replica.data.projects(office: OfficeCode("79")).first)
            #expect(received.code == "VP-1" && received.province == "26")

            try hcm.replica.queueForPush(table: .project, ids: [received.id])
            try await hcm.engine.runCycle()
            #expect(try hcm.replica.pendingSummary().changes == 0)
            #expect(try central.store.projects(office: "79").map { $0.fields["province"] } == [.text("26")])

            // Another office, with nothing merged into it, naming that record and its province is refused.
            let tayNinh = CentralClient(baseURL: central.url, token: try central.addOffice("80"), http: HTTPClient())
            let forged = Change(
                table: .project, id: try RowID(received.id), op: .upsert, hlc: HLCTimestamp(milliseconds: 1, counter: 0, node: "80"),
                fields: ["province": .text("26"), "name": .text("Của 80")])
            let refused = await #expect(throws: TransportError.self) {
                try await tayNinh.push(
                    Changeset(office: OfficeCode("80"), sequence: ChangesetSequence(1), previousHash: Changeset.genesisHash, changes: [forged]))
            }
            #expect(refused?.status == 400 && refused?.message.contains("province 26 is not office 80's to write") == true, "\(refused?.message ?? "")")
            #expect(try central.store.projects(office: "79").map { $0.fields["name"] } == [.text("Dự án VP-1")])

            // Only on those records: 79's own project moved into 26 behind the commands' back is refused.
            try hcm.addProject(code: "HCM-1")
            try await hcm.engine.runCycle()
            try await hcm.replica.database.write { db in try db.execute(sql: "UPDATE project SET province = '26' WHERE code = 'HCM-1'") }
            let moved = await #expect(throws: SyncAgentError.self) { try await hcm.engine.runCycle() }
            #expect(moved?.message.contains("province 26 is not office 79's to write; it writes 79, 74, 77") == true, "\(moved?.message ?? "")")
        }
    }
}
