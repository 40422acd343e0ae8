import Central
import Foundation
import GRDB
import Replica
import SyncAgent
import SyncCore
import SyncTesting
import Testing
import Transport

/// The centre restored from a backup older than some of its own decisions: the offices heal by
/// themselves (nothing refused, nothing stuck), the lost decisions are listed for the centre's
/// operator, who re-confirms or drops each; none is applied or lost without a person
/// (docs/OPERATIONS.md, "After an outage").
@Suite struct LostDecisionsTests {
    @Test func decisionsMadeAfterTheBackupAreListedAndReconfirmedOrDropped() async throws {
        let folder = try TemporaryDirectory(prefix: "central-restore")
        let storePath = folder.file(CentralStore.fileName)
        let backupPath = folder.file("backup.sqlite")
        let officeFolder = try TemporaryDirectory(prefix: "office-79")
        let tokenPath = officeFolder.file("office.token")
        let replicaPath = officeFolder.file(Replica.fileName)
        try await withLiveCentral(directory: folder, storePath: storePath) { central in
            try TokenFile.write(try central.addOffice("79"), to: tokenPath)
            let office = try OfficeFixture.attach(replicaPath: replicaPath, office: "79", central: central, tokenPath: tokenPath)
            for code in ["N-1", "N-2"] {
                try office.addProject(code: code, fund: .national)
                for status in [ProjectStatus.submitted, .appraisedLocally, .submittedToCentre] { try office.replica.data.setProjectStatus(code, to: status) }
            }
            try await office.engine.runCycle()
            try central.store.backup(to: backupPath)
            // After the backup: the centre decides on both projects, and dismisses a conflict the
            // office caused (an office may not set the approved support of a national project).
            try central.store.decide(project: "79/N-1", .appraise)
            try central.store.decide(project: "79/N-1", .approve(amount: 250_000_000), reference: "QĐ-12/BCT")
            try central.store.decide(project: "79/N-2", .reject)
            try await office.engine.runCycle()
            try await office.replica.database.write { try $0.execute(sql: "UPDATE project SET approved_support = 1 WHERE code = 'N-2'") }
            try await office.engine.runCycle()
            let caused = try #require(try central.store.conflicts().first)
            try central.store.resolve(conflict: caused.id, .dismiss, note: "the centre decides the support")
            try await office.engine.runCycle()
            let before = try office.replica.data.projects().map { "\($0.code) \($0.status)" }.sorted()
            #expect(before == ["N-1 approved", "N-2 rejected"], "\(before)")
        }
        try CentralStore.restore(from: backupPath, to: storePath)
        try await withLiveCentral(directory: folder, storePath: storePath) { central in
            let office = try OfficeFixture.attach(replicaPath: replicaPath, office: "79", central: central, tokenPath: tokenPath)
            // The office heals in one cycle: the centre's resolution it holds is not re-sent as its
            // own (that was refused whole, 403, leaving the office stuck until a person withdrew it).
            try await office.engine.runCycle()
            let status = try office.replica.status()
            #expect(status.refusal == nil)
            #expect(status.pending.changes == 0)
            // Nor does verify's repair queue it (the same rule: only rows the office may send).
            let centreResolutions = try await office.replica.database.read { db in
                try String.fetchAll(db, sql: "SELECT id FROM conflict_resolution WHERE resolved_by = 'central'")
            }
            #expect(centreResolutions.count == 1)
            try office.replica.queueForPush(table: .conflictResolution, ids: centreResolutions)
            #expect(try office.replica.pendingSummary().changes == 0)
            #expect(try office.replica.data.projects().map(\.status) == ["submitted_to_centre", "submitted_to_centre"])

            // The three lost decisions, oldest first, with what each said; nothing applied by itself.
            let lost = try central.store.lostDecisions()
            #expect(lost.map(\.decision) == [.appraise, .approve(amount: 250_000_000), .reject])
            #expect(lost.map(\.projectCode) == ["N-1", "N-1", "N-2"])
            #expect(lost[1].document == "QĐ-12/BCT")
            #expect(lost.allSatisfy { $0.office == "79" })
            #expect(try central.store.projects(office: "79").map { $0.fields["status"] } == [.text("submitted_to_centre"), .text("submitted_to_centre")])

            // Out of order, the approval is refused with nothing written: it needs the appraisal first.
            #expect(throws: CentralError.self) { try central.store.reconfirm(lost: lost[1].conflict, amount: 250_000_000) }
            _ = try central.store.reconfirm(lost: lost[0].conflict)
            // An approval takes the amount typed from the decision document, not the office's copy.
            let untyped = #expect(throws: CentralError.self) { try central.store.reconfirm(lost: lost[1].conflict) }
            #expect(untyped?.message.contains("needs the amount from the decision document") == true)
            _ = try central.store.reconfirm(lost: lost[1].conflict, amount: 250_000_000)
            _ = try central.store.drop(lost: lost[2].conflict, reason: "the appraisal is to be redone")
            #expect(try central.store.lostDecisions().isEmpty)
            let projects = try central.store.projects(office: "79")
            #expect(projects.map { $0.fields["status"] } == [.text("approved"), .text("submitted_to_centre")])
            #expect(projects[0].fields["approved_support"] == .integer(250_000_000))
            // The office's re-sent copy of the fields the approval set is answered too.
            let open = try central.store.conflicts()
            #expect(open.filter { $0.description.record.contains("N-1") }.isEmpty, "\(open.map(\.description.message))")

            try await office.engine.runCycle()
            let after = try office.replica.data.projects().map { "\($0.code) \($0.status)" }.sorted()
            #expect(after == ["N-1 approved", "N-2 submitted_to_centre"], "\(after)")
            // Both re-confirmations are in the journal, and the store still follows from its logs
            // (withLiveCentral audits it).
            #expect(try central.store.journalEntries(from: 0, limit: 1_000).filter { $0.kind == "decided" }.count == 2)
        }
    }

    /// An office may not record a decision of the centre in a project's event log.
    @Test func anOfficeCannotWriteADecisionIntoTheEventLog() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "80", central: central)
            try office.addProject(code: "TN-9", fund: .national)
            try await office.engine.runCycle()
            let project = try #require(try office.replica.data.projects().first)
            try await office.replica.database.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO project_event(id, office, project_id, kind, occurred_on, amount, reference, note)
                        VALUES (?, '80', ?, 'decision', '2025-05-01', 900000000, 'QĐ-giả', 'approved by the centre')
                        """, arguments: [RowID.make().rawValue, project.id])
            }
            try await office.engine.runCycle()
            let conflicts = try central.store.conflicts()
            #expect(conflicts.count == 1)
            #expect(conflicts.first?.record["rule"] == .text("ownership"))
            #expect(conflicts.first?.description.message.contains("only the centre records its decisions") == true)
            // The centre keeps the office's entry held with the conflict, out of the project's log.
            let held = try await central.store.database.read { db in
                try Bool.fetchAll(db, sql: "SELECT held FROM record WHERE tbl = 'project_event' AND json_extract(fields, '$.kind') = 'decision'")
            }
            #expect(held == [true])
            // Without a restore there are no lost decisions: what the office sent is its own overstep.
            #expect(try central.store.lostDecisions().isEmpty)
        }
    }
}
