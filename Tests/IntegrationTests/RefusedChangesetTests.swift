import Foundation
import GRDB
import Replica
import SyncAgent
import SyncCore
import SyncTesting
import Testing

@testable import Central

/// An office is never stuck behind a changeset the centre refuses (a bad write made with the
/// `sqlite3` shell, say): status names the row and the reason, the office still pulls, and once
/// the row is fixed or withdrawn its later work flows again with nothing else lost.
@Suite struct RefusedChangesetTests {
    /// 80 holds a project and a programme; 79's accounting program then writes rows pointing at them.
    static func twoOffices(_ central: LiveCentral) async throws -> (hcm: OfficeFixture, tayNinh: OfficeFixture, project: RowID, program: RowID) {
        let tayNinh = try OfficeFixture(office: "80", central: central)
        let project = try tayNinh.addProject(code: "TN-1")
        let program = try tayNinh.replica.data.addProgram(NewProgram(code: "CT-80", name: "Chương trình 80", startYear: 2025, endYear: 2030))
        try await tayNinh.engine.runCycle()
        let hcm = try OfficeFixture(office: "79", central: central)
        try hcm.addProject(code: "HCM-0")
        try await hcm.engine.runCycle()
        return (hcm, tayNinh, project, program)
    }

    /// 79's accounting program, behind promo-sync's back, records a payment (KB-X) on `project`.
    /// Returns the payment's id.
    static func payBehindPromoSync(_ hcm: OfficeFixture, on project: RowID) async throws -> String {
        let id = RowID.make().rawValue
        try await hcm.replica.database.write { db in
            try db.execute(
                sql:
                    "INSERT INTO disbursement(id, office, project_id, kind, amount, voucher, paid_on) VALUES (?, '79', ?, 'payment', 5000000, 'KB-X', '2025-09-01')",
                arguments: [id, project.rawValue])
        }
        return id
    }

    /// 79's project HCM-2, put behind promo-sync's back into office 80's programme: the centre
    /// refuses the changeset that carries it.
    static func projectRefusedForItsProgramme(_ central: LiveCentral) async throws -> (hcm: OfficeFixture, project: RowID) {
        let (hcm, _, _, foreignProgram) = try await twoOffices(central)
        let id = try hcm.addProject(code: "HCM-2")
        try await hcm.replica.database.write { db in
            try db.execute(sql: "UPDATE project SET program_id = ? WHERE id = ?", arguments: [foreignProgram.rawValue, id.rawValue])
        }
        await #expect(throws: SyncAgentError.self) { try await hcm.engine.runCycle() }
        return (hcm, id)
    }

    @Test func aRefusedRowIsNamedAndWithdrawingItLetsTheRestFlow() async throws {
        try await withLiveCentral { central in
            let (hcm, _, foreignProject, _) = try await Self.twoOffices(central)
            let before = try TrustBoundaryTests.snapshot(central.store).filter { $0.contains("office:\"80\"") }
            let bad = try await Self.payBehindPromoSync(hcm, on: foreignProject)
            try hcm.addProject(code: "HCM-1")

            let error = await #expect(throws: SyncAgentError.self) { try await hcm.engine.runCycle() }
            #expect(error?.code == .refused && error?.isTransient == false)
            #expect(error?.hint?.contains("promo-sync outbox withdraw disbursement \(bad)") == true)
            let status = StatusReport.evaluate(try hcm.replica.status(), now: Date(), thresholds: .init(), isRunning: { _ in false })
            #expect(status.exitCode == 2)
            #expect(status.refused?.table == "disbursement" && status.refused?.id == bad && status.refused?.code == "forbidden_owner")
            // The row as people know it: its voucher and project (80's, so named by id here).
            #expect(status.reasons.contains { $0.contains("for disbursement KB-X of project \(foreignProject.rawValue) (\(bad))") }, "\(status.reasons)")
            #expect(status.lastPullAt != nil, "the office still pulls while a changeset is refused")
            #expect(try central.store.projects(office: "79").count == 1)
            // Another cycle refuses the same changeset again; nothing else is lost meanwhile.
            await #expect(throws: SyncAgentError.self) { try await hcm.engine.runCycle() }
            #expect(try hcm.replica.data.projects().count == 2)

            let (withdrawn, report) = try await hcm.engine.withdraw(table: .disbursement, id: bad)
            #expect(withdrawn.fields?.contains("\"voucher\":\"KB-X\"") == true)
            #expect(report.changesPushed >= 1)
            #expect(try hcm.replica.withdrawnChanges().map(\.id) == [bad])
            #expect(try hcm.replica.data.ledger("HCM-0").isEmpty)
            #expect(try central.store.projects(office: "79").map { $0.fields["code"] }.sorted { "\($0!)" < "\($1!)" } == [.text("HCM-0"), .text("HCM-1")])
            let after = StatusReport.evaluate(try hcm.replica.status(), now: Date(), thresholds: .init(), isRunning: { _ in false })
            #expect(after.refused == nil && after.exitCode == 0, "\(after.reasons)")
            #expect(try TrustBoundaryTests.snapshot(central.store).filter { $0.contains("office:\"80\"") } == before)
        }
    }

    /// A changeset refused for one row (waiting days, maybe, for a person) does not keep a recalled
    /// row at the wrong office: the merge undone, 79's pending edit of 77's project is kept aside
    /// and the project goes, in the cycle that meets the refusal, which ends naming the other row.
    @Test func aRecallIsNotHeldBackByTheRefusalOfAnotherRow() async throws {
        try await withLiveCentral { central in
            let (hcm, _, foreignProject, _) = try await Self.twoOffices(central)
            let vungTau = try OfficeFixture(office: "77", central: central)
            try vungTau.addProject(code: "VT-1")
            try await vungTau.engine.runCycle()
            _ = try central.store.merge([OfficeCode("77")], into: OfficeCode("79"))
            try await hcm.engine.runCycle()
            #expect(try hcm.replica.data.projects().map(\.code).sorted() == ["HCM-0", "VT-1"])

            // Written first, so the centre refuses the changeset for it: a payment on 80's project.
            let bad = try await Self.payBehindPromoSync(hcm, on: foreignProject)
            try hcm.replica.data.updateProject("VT-1", ProjectUpdate(name: "Sửa tại 79"))
            try hcm.replica.data.updateProject("HCM-0", ProjectUpdate(name: "Dự án của 79"))
            _ = try central.store.unmerge(OfficeCode("77"), reason: "merged by mistake")

            let error = await #expect(throws: SyncAgentError.self) { try await hcm.engine.runCycle() }
            #expect(error?.code == .refused)
            #expect(try hcm.replica.refusal()?.id == bad)
            #expect(try hcm.replica.data.projects().map(\.code) == ["HCM-0"])
            #expect(try hcm.replica.withdrawnChanges().contains { $0.table == "project" && $0.fields?.contains("Sửa tại 79") == true })
            #expect(try central.store.projects(office: "77").map { $0.fields["name"] } != [.text("Sửa tại 79")])

            // The person withdraws the bad payment: 79's own edit flows, nothing of 77's with it.
            _ = try await hcm.engine.withdraw(table: .disbursement, id: bad)
            #expect(try hcm.replica.pendingSummary().changes == 0 && hcm.replica.refusal() == nil)
            #expect(try central.store.projects(office: "79").map { $0.fields["name"] } == [.text("Dự án của 79")])
            #expect(try await hcm.engine.verify().identical)
            try await vungTau.engine.runCycle()
            #expect(try await vungTau.engine.verify().identical)
        }
    }

    @Test func aRefusedRowFixedLocallyIsPushedAgainWithItsNewValues() async throws {
        try await withLiveCentral { central in
            let (hcm, id) = try await Self.projectRefusedForItsProgramme(central)
            let refusal = try #require(try hcm.replica.refusal())
            #expect(refusal.table == "project" && refusal.id == id.rawValue)
            // Re-sending byte for byte would be refused again: retry remakes it from current values.
            try await hcm.replica.database.write { db in
                try db.execute(sql: "UPDATE project SET program_id = NULL WHERE id = ?", arguments: [id.rawValue])
            }
            try hcm.replica.retryRefused()
            try await hcm.engine.runCycle()
            let stored = try #require(try central.store.projects(office: "79").first { $0.id == id.rawValue })
            #expect((stored.fields["program_id"] ?? .null) == .null)
            #expect(try hcm.replica.refusal() == nil)
            #expect(throws: ReplicaError.self) { try hcm.replica.retryRefused() }
        }
    }

    /// Status moves made while a refusal waits are sealed into changesets of their own, and reach
    /// the centre one at a time after `outbox retry`: the retry made every waiting changeset again
    /// from the outbox, so two moves went as one jump (draft to appraised_locally), which the
    /// centre holds as a `status_transition` conflict.
    @Test func aRetryKeepsTheStatusMovesWaitingBehindTheRefusalOneAtATime() async throws {
        try await withLiveCentral { central in
            let (hcm, id) = try await Self.projectRefusedForItsProgramme(central)
            for step: ProjectStatus in [.submitted, .appraisedLocally] { try hcm.replica.data.setProjectStatus("HCM-0", to: step) }
            try await hcm.replica.database.write { db in
                try db.execute(sql: "UPDATE project SET program_id = NULL, name = 'Dự án đã sửa' WHERE id = ?", arguments: [id.rawValue])
            }
            try hcm.replica.retryRefused()
            try await hcm.engine.runCycle()
            let stored = try central.store.projects(office: "79")
            #expect(stored.first { $0.fields["code"] == .text("HCM-0") }?.fields["status"] == .text("appraised_locally"))
            let fixed = try #require(stored.first { $0.id == id.rawValue })
            #expect((fixed.fields["program_id"] ?? .null) == .null && fixed.fields["name"] == .text("Dự án đã sửa"))
            #expect(try central.store.conflicts().isEmpty)
            #expect(try hcm.replica.pendingSummary().changes == 0 && hcm.replica.refusal() == nil)
        }
    }
}
