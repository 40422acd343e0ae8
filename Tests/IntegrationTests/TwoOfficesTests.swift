import Foundation
import GRDB
import Replica
import SyncAgent
import SyncCore
import SyncTesting
import Testing
import WireFormat

@testable import Central

/// Two offices and one central over real HTTP, real libcurl and real SQLite files.
@Suite struct TwoOfficesTests {
    @Test func anOfficeDoesNotPullBackWhatItPushedUnchanged() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "86", central: central)
            for i in 0..<50 { try office.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: Int64(i + 1), note: nil) }
            let id = try office.addProject(code: "E-1", fund: .national)
            for step: ProjectStatus in [.submitted, .appraisedLocally, .submittedToCentre] { try office.replica.data.setProjectStatus("E-1", to: step) }
            let first = try await office.engine.runCycle()
            // 55 rows; the project's three status steps go one by one (Replica.sealPending), so the
            // project is sent three more times, its last time as a status update.
            #expect(first.changesPushed == 58)
            // Only the centre's own records come back (reference data, totals) and the project (its
            // last change was not a whole row, so it is not an echo), none of the other 54 rows.
            let ownBack = try await central.store.database.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM record WHERE office = '86' AND echo_office = '86'")
            }
            #expect(ownBack == 54)
            #expect(first.recordsPulled < 80)
            // A row the centre changed is pulled, echo or not.
            try central.store.decide(project: id.rawValue, .appraise)
            let second = try await office.engine.runCycle()
            #expect(second.recordsPulled >= 1)
            #expect(try office.replica.data.projects().first?.status == "appraised_centrally")
            // A rebuilt replica (a new chain from the centre's position) pulls everything back.
            let fresh = try OfficeFixture.attach(
                replicaPath: office.directory.file("fresh.sqlite"), office: "86", central: central,
                tokenPath: office.directory.file("office.token"))
            let state = try await fresh.engine.client.officeState()
            _ = try fresh.replica.rebaseChain(centralSequence: state.lastSequence, centralHash: state.lastHash)
            try await fresh.engine.runCycle()
            #expect(try fresh.replica.data.planLines().count == 50)
            #expect(try fresh.replica.data.events("E-1").count == 5)  // created, three moves, the centre's decision
        }
    }

    @Test func skippedEchoesDoNotCostPages() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "86", central: central)
            for i in 0..<600 { try office.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: Int64(i + 1), note: nil) }
            #expect(try await office.engine.runCycle().changesPushed == 600)
            let code = OfficeCode(unchecked: "86")
            let acknowledged = try #require(try central.store.offices().first { $0.code == code }).lastSequence.rawValue

            func pages(own: (since: Int64, through: Int64)?) throws -> (pages: Int, records: [PulledRecord]) {
                var cursor = PullCursor.start
                var pages = 0
                var records: [PulledRecord] = []
                while true {
                    let page = try central.store.page(for: code, after: cursor, limit: 20, own: own)
                    #expect(page.records.count <= 20)
                    pages += 1
                    records += page.records
                    cursor = page.nextCursor
                    if !page.hasMore { return (pages, records) }
                }
            }
            let everything = try pages(own: nil)
            let skipping = try pages(own: (0, acknowledged))
            // Without skipping, 20 records a page; with it, the same records less the 600 echoes,
            // and the echoes' log positions passed over 200 at a time instead of 20.
            #expect(everything.pages == (everything.records.count + 19) / 20)
            let echoes = Set(try office.replica.data.planLines().map(\.id))
            #expect(skipping.records.map(\.id) == everything.records.map(\.id).filter { !echoes.contains($0) })
            #expect(skipping.pages <= (skipping.records.count + 19) / 20 + 600 / 200 + 1)
            #expect(skipping.pages < everything.pages / 2)
            // Passing over more positions costs only the rows stepped: the page's query merges
            // two index ranges as it goes, with nothing sorted up front.
            let plan = try await central.store.database.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + CentralStore.pageSQL, arguments: ["86", 0, 50_001]).map { $0["detail"] as String }
            }
            #expect(plan.contains("MERGE (UNION ALL)"))
            #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(plan)")
        }
    }

    @Test func recordsReachTheCentreAndConsolidatedRecordsComeBack() async throws {
        try await withLiveCentral { central in
            let hcm = try OfficeFixture(office: "79", central: central)
            let tayNinh = try OfficeFixture(office: "80", central: central)

            try hcm.addProject(code: "HCM-01", requested: 400_000_000)
            try hcm.replica.data.approveLocally("HCM-01")
            try hcm.replica.data.addDisbursement(
                NewDisbursement(project: "HCM-01", kind: .advance, amount: 120_000_000, voucher: "KB-79-1", paidOn: "2025-04-02"))
            try hcm.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 5_000_000_000, note: "Kế hoạch 2025")
            try tayNinh.addProject(code: "TN-01", requested: 200_000_000)
            try tayNinh.addProject(code: "TN-02", requested: 100_000_000)
            try tayNinh.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 2_000_000_000, note: nil)

            let r1 = try await hcm.engine.runCycle()
            let r2 = try await tayNinh.engine.runCycle()
            // Every project also logs its "created" event, and HCM-01 its three status moves; each
            // move goes as a step of its own, so HCM-01's row is sent four times (Replica.sealPending).
            #expect(r1.changesPushed == 10 && r2.changesPushed == 5)

            // The centre holds both offices' rows.
            let counts = Dictionary(grouping: try central.store.recordCounts(), by: \.office)
            #expect(counts["79"]?.reduce(0) { $0 + $1.live } == 7)
            #expect(counts["80"]?.reduce(0) { $0 + $1.live } == 5)

            // 79 pulls again to see 80's consolidated totals (80 pushed after 79's pull).
            try await hcm.engine.runCycle()
            let totals = try hcm.replica.data.consolidatedTotals()
            #expect(totals.contains { $0.province == "79" && $0.planAmount == 5_000_000_000 && $0.disbursedAmount == 120_000_000 })
            #expect(totals.contains { $0.province == "80" && $0.planAmount == 2_000_000_000 && $0.disbursedAmount == 0 })
            // Each office holds only its own projects.
            #expect(try hcm.replica.data.projects().map(\.office) == ["79"])
            #expect(Set(try tayNinh.replica.data.projects().map(\.office)) == ["80"])

            // A second sync with nothing new transfers nothing.
            let idle = try await hcm.engine.runCycle()
            #expect(idle.changesetsPushed == 0 && idle.recordsPulled == 0)
            let idle80 = try await tayNinh.engine.runCycle()
            #expect(idle80.changesetsPushed == 0 && idle80.recordsPulled == 0)
        }
    }

    @Test func aChangesetWhoseAcknowledgementWasLostIsNotAppliedTwice() async throws {
        try await withLiveCentral { central in
            let faults = FaultInjector()
            let office = try OfficeFixture(office: "79", central: central, faults: faults)
            try office.addProject(code: "HCM-01")
            faults.arm(.afterPushBeforeAck)
            await #expect(throws: SyncAgentError.self) { try await office.engine.runCycle() }
            // The centre applied it; the office still holds it as unacknowledged.
            #expect(try central.store.offices().first?.lastSequence == ChangesetSequence(1))
            #expect(try office.replica.pendingSummary().unacknowledgedChangesets == 1)

            let retry = try await office.engine.runCycle()
            #expect(retry.duplicatesAcknowledged == 1)
            #expect(try office.replica.pendingSummary().changes == 0)
            let projects = try central.store.recordCounts().filter { $0.office == "79" && $0.table == "project" }
            #expect(projects.first?.live == 1)
            // And the next local change continues the chain.
            try office.addProject(code: "HCM-02")
            let next = try await office.engine.runCycle()
            #expect(next.changesetsPushed == 1 && next.duplicatesAcknowledged == 0)
            #expect(try central.store.offices().first?.lastSequence == ChangesetSequence(2))
        }
    }

    @Test func aRowWrittenByAnotherConnectionIsPushed() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "96", central: central)
            let other = try DatabaseQueue(path: office.replica.path)
            try await other.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO plan_line(id, office, year, fund_source, amount, note)
                        VALUES ('01a220b8-0000-7000-8000-0000000000aa', '96', 2025, 'national', 1500000000, 'nhập từ phần mềm kế toán')
                        """)
            }
            try other.close()
            let report = try await office.engine.runCycle()
            #expect(report.changesPushed == 1)
            let page = try central.store.page(for: OfficeCode(unchecked: "96"), after: .start, limit: 5_000)
            let row = page.records.first { $0.id == "01a220b8-0000-7000-8000-0000000000aa" }
            #expect(row?.fields["amount"] == .integer(1_500_000_000))
            #expect(row?.fields["note"] == .text("nhập từ phần mềm kế toán"))
        }
    }

    @Test func aRestoredCentralIsDetectedAndResyncBringsBackWhatItLost() async throws {
        let folder = try TemporaryDirectory(prefix: "central-restore")
        let storePath = folder.file(CentralStore.fileName)
        let backupPath = folder.file("backup.sqlite")
        let officeFolder = try TemporaryDirectory(prefix: "office-79")
        let tokenPath = officeFolder.file("office.token")

        // Life 1: the office pushes two projects, the centre is backed up, then a third arrives, and
        // a second office (80) pushes more work after the backup too.
        let replicaPath = officeFolder.file(Replica.fileName)
        let secondPath = officeFolder.file("office-80.sqlite")
        let secondToken = officeFolder.file("office-80.token")
        try await withLiveCentral(directory: folder, storePath: storePath) { central in
            let token = try central.addOffice("79")
            try TokenFile.write(token, to: tokenPath)
            try TokenFile.write(try central.addOffice("80"), to: secondToken)
            let office = try OfficeFixture.attach(replicaPath: replicaPath, office: "79", central: central, tokenPath: tokenPath)
            let second = try OfficeFixture.attach(replicaPath: secondPath, office: "80", central: central, tokenPath: secondToken)
            try office.addProject(code: "A")
            try office.addProject(code: "B")
            try second.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 6_500_000_000, note: nil)
            try await office.engine.runCycle()
            try await second.engine.runCycle()
            try central.store.backup(to: backupPath)
            try office.addProject(code: "C")
            try second.addProject(code: "TN-1")
            try second.replica.data.approveLocally("TN-1")
            try second.replica.data.addDisbursement(NewDisbursement(project: "TN-1", kind: .advance, amount: 1_000_000, voucher: "KB-80", paidOn: "2025-07-01"))
            try await office.engine.runCycle()
            try await second.engine.runCycle()
        }
        // The centre is restored from the backup: it has A and B but not C, under a new epoch.
        try CentralStore.restore(from: backupPath, to: storePath)
        try await withLiveCentral(directory: folder, storePath: storePath) { central in
            // Office 79 heals within its next cycle, without a person: it adopts the new epoch,
            // re-sends what it owns and pulls everything again.
            let office = try OfficeFixture.attach(replicaPath: replicaPath, office: "79", central: central, tokenPath: tokenPath)
            let healed = try await office.engine.runCycle()
            #expect(healed.changesPushed == 6)  // three projects and their "created" events
            let projects = try central.store.recordCounts().first { $0.office == "79" && $0.table == "project" }
            #expect(projects?.live == 3)
            #expect(try office.replica.data.count(.project) == 3)
            let after = StatusReport.evaluate(try office.replica.status(), now: Date(), thresholds: .init(), isRunning: { _ in false })
            #expect(after.health == .ok, "\(after.reasons)")
            #expect(after.lastRepair?.contains("epoch changed") == true && after.lastRepairAt != nil)
            #expect(try office.replica.counters()["repairs"] == 1)
            // Nothing more to do afterwards.
            let idle = try await office.engine.runCycle()
            #expect(idle.changesetsPushed == 0 && idle.recordsPulled == 0)
            // Office 80 switched automatic resync off: its cycle stops and status says what to run;
            // `resync --force` then works the first time (here even before a cycle saw the epoch).
            var manual = SyncEngineConfiguration()
            manual.resyncOnNewEpoch = false
            let second = try OfficeFixture.attach(replicaPath: secondPath, office: "80", central: central, tokenPath: secondToken, configuration: manual)
            guard case .resent(let reason, _, _)? = try? await second.engine.resync() else {
                Issue.record("resync --force did not re-send after a new epoch")
                return
            }
            #expect(reason.contains("epoch changed"))
            for (replica, code) in [(office.replica, "79"), (second.replica, "80")] {
                let mine = digestRows(try replica.digestTree())
                #expect(mine == digestRows(try central.store.digestTree(for: OfficeCode(unchecked: code))))
                #expect(mine.count >= 4)
            }
            #expect(try second.replica.data.ledger("TN-1").map(\.amount) == [1_000_000])
            // The restore is in the centre's journal, and the restored store with what the
            // offices re-sent still follows from its logs.
            #expect(try central.store.journalEntries(from: 0, limit: 1_000).contains { $0.kind == "restored" })
            let audit = try central.store.auditVerify()
            #expect(audit.isProven, "\(audit.chainProblems) \(audit.journalProblems) \(String(describing: audit.replayFailure)) \(audit.differences)")
        }
    }

    /// A row another program made and deleted at an office before it was ever pushed reaches the
    /// centre as a delete of a row it never held. It stays that office's: 1.8.0 made it a record
    /// of the centre's, with a conflict, that every other office pulled and could not store (each
    /// stopped, broken, on every cycle).
    @Test func aRowMadeAndDeletedBeforeItWasPushedBreaksNoOffice() async throws {
        try await withLiveCentral { central in
            let hcm = try OfficeFixture(office: "79", central: central)
            let tayNinh = try OfficeFixture(office: "80", central: central)
            try tayNinh.addProject(code: "TN-1")
            try await tayNinh.engine.runCycle()
            try await hcm.replica.database.write { db in
                let id = RowID.make().rawValue
                try db.execute(
                    sql: "INSERT INTO plan_line(id, office, year, fund_source, amount, note) VALUES (?, '79', 2026, 'local', 1000000, 'nhầm')",
                    arguments: [id])
                try db.execute(sql: "DELETE FROM plan_line WHERE id = ?", arguments: [id])
            }
            try await hcm.engine.runCycle()
            try tayNinh.addProject(code: "TN-2")
            try await tayNinh.engine.runCycle()
            #expect(try tayNinh.replica.status().lastError == nil)
            #expect(try central.store.conflicts().isEmpty)
            #expect(try await tayNinh.engine.verify().identical)
            #expect(try await hcm.engine.verify().identical)
        }
    }
}

/// A centre that lost its tail without a new epoch (a raw copy of its folder put back, or a power
/// cut before the disk had it) is noticed by an office with nothing to push from the next pull's
/// answer, and healed in that cycle without a person; automatic resync after a new epoch can be
/// switched off, and then status names the command.
@Suite struct CentreRollbackTests {
    @Test func aCentreRolledBackInTheSameEpochIsHealedInOneCycle() async throws {
        let folder = try TemporaryDirectory(prefix: "central-rollback")
        let storePath = folder.file(CentralStore.fileName)
        let copyPath = folder.file("copy.sqlite")
        let officeFolder = try TemporaryDirectory(prefix: "office-96")
        let tokenPath = officeFolder.file("office.token")
        let replicaPath = officeFolder.file(Replica.fileName)
        try await withLiveCentral(directory: folder, storePath: storePath) { central in
            try TokenFile.write(try central.addOffice("96"), to: tokenPath)
            let office = try OfficeFixture.attach(replicaPath: replicaPath, office: "96", central: central, tokenPath: tokenPath)
            try office.addProject(code: "CM-1")
            try await office.engine.runCycle()
            try central.store.backup(to: copyPath)  // the same epoch: a copy of the folder, not a restore
            for code in ["CM-2", "CM-3"] {
                try office.addProject(code: code)
                try await office.engine.runCycle()
            }
        }
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: storePath + suffix) }
        try FileManager.default.removeItem(atPath: storePath)
        try FileManager.default.copyItem(atPath: copyPath, toPath: storePath)
        try await withLiveCentral(directory: folder, storePath: storePath) { central in
            #expect(try central.store.projects(office: "96").count == 1)
            let office = try OfficeFixture.attach(replicaPath: replicaPath, office: "96", central: central, tokenPath: tokenPath)
            let status = StatusReport.evaluate(try office.replica.status(), now: Date(), thresholds: .init(), isRunning: { _ in false })
            #expect(status.pending.changes == 0)
            try await office.engine.runCycle()
            #expect(try central.store.projects(office: "96").count == 3)
            #expect(digestRows(try office.replica.digestTree()) == digestRows(try central.store.digestTree(for: OfficeCode(unchecked: "96"))))
            let after = StatusReport.evaluate(try office.replica.status(), now: Date(), thresholds: .init(), isRunning: { _ in false })
            #expect(after.health == .ok, "\(after.reasons)")
            #expect(after.lastRepair?.contains("holds changeset 1 of this office but had acknowledged 3") == true, "\(after.lastRepair ?? "none")")
            #expect(after.humanReadable().contains("last repair:"))
            // Healed once: the next cycle has nothing to do.
            let idle = try await office.engine.runCycle()
            #expect(idle.changesetsPushed == 0)
            #expect(try office.replica.counters()["repairs"] == 1)
        }
    }

    @Test func withAutomaticResyncOffANewEpochStopsAndNamesTheCommand() async throws {
        let folder = try TemporaryDirectory(prefix: "central-epoch")
        let storePath = folder.file(CentralStore.fileName)
        let backupPath = folder.file("backup.sqlite")
        let officeFolder = try TemporaryDirectory(prefix: "office-92")
        let tokenPath = officeFolder.file("office.token")
        let replicaPath = officeFolder.file(Replica.fileName)
        var manual = SyncEngineConfiguration()
        manual.resyncOnNewEpoch = false
        try await withLiveCentral(directory: folder, storePath: storePath) { central in
            try TokenFile.write(try central.addOffice("92"), to: tokenPath)
            let office = try OfficeFixture.attach(replicaPath: replicaPath, office: "92", central: central, tokenPath: tokenPath)
            try office.addProject(code: "CT-1")
            try await office.engine.runCycle()
            try central.store.backup(to: backupPath)
        }
        _ = try CentralStore.restore(from: backupPath, to: storePath)
        try await withLiveCentral(directory: folder, storePath: storePath) { [manual] central in
            let office = try OfficeFixture.attach(replicaPath: replicaPath, office: "92", central: central, tokenPath: tokenPath, configuration: manual)
            let error = await #expect(throws: SyncAgentError.self) { try await office.engine.runCycle() }
            #expect(error?.code == .epochMismatch && error?.hint?.contains("promo-sync resync --force") == true)
            let status = StatusReport.evaluate(try office.replica.status(), now: Date(), thresholds: .init(), isRunning: { _ in false })
            #expect(status.exitCode == 2)
            guard case .resent? = try? await office.engine.resync() else {
                Issue.record("resync --force did not re-send after a new epoch")
                return
            }
            #expect(StatusReport.evaluate(try office.replica.status(), now: Date(), thresholds: .init(), isRunning: { _ in false }).exitCode == 0)
        }
    }
}
