import Foundation
import GRDB
import SyncCore
import SyncTesting
import Testing

@testable import Replica

func makeReplica(_ dir: TemporaryDirectory, office: String = "79") throws -> Replica {
    try Replica.create(
        at: dir.file(Replica.fileName),
        settings: ReplicaSettings(office: try OfficeCode(office), centralURL: "http://127.0.0.1:1", tokenFile: dir.file("token")))
}

func outbox(_ replica: Replica) throws -> [(tbl: Int, id: String, op: Int, cols: Int64)] {
    try replica.database.read { db in
        try Row.fetchAll(db, sql: "SELECT tbl, row_id, op, cols FROM _sync_outbox ORDER BY seq").map {
            (tbl: $0["tbl"], id: $0["row_id"], op: $0["op"], cols: $0["cols"])
        }
    }
}

func sampleProject(_ code: String = "KC-01") -> NewProject {
    NewProject(
        code: code, name: "Mô hình máy sấy nông sản", category: "MH_TRINHDIEN", fundSource: .local, year: 2025,
        totalCost: 1_000_000_000, requestedSupport: 300_000_000)
}

@Suite struct CaptureTests {
    @Test func referenceDataIsSeeded() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let counts = try replica.database.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT count(*) FROM province")!,
                try Int.fetchOne(db, sql: "SELECT count(*) FROM former_province")!,
                try Int.fetchOne(db, sql: "SELECT count(*) FROM activity_category")!,
                try String.fetchOne(db, sql: "SELECT region FROM province WHERE code = '96'")!
            )
        }
        #expect(counts.0 == 34 && counts.1 == 63 && counts.2 == 11 && counts.3 == "south")
        #expect(try replica.database.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } == "wal")
    }

    @Test func insertUpdateAndDeleteAreCapturedWithChangedColumns() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let id = try replica.data.addProject(sampleProject())
        try replica.database.write { db in
            try db.execute(sql: "UPDATE project SET name = 'Tên mới', total_cost = 2000000000 WHERE id = ?", arguments: [id.rawValue])
            try db.execute(sql: "UPDATE project SET name = name WHERE id = ?", arguments: [id.rawValue])  // no real change
            try db.execute(sql: "DELETE FROM project WHERE id = ?", arguments: [id.rawValue])
        }
        let entries = try outbox(replica).filter { $0.tbl == SyncedTable.project.tableID }
        #expect(entries.count == 4)
        #expect(entries[0].op == 1 && entries[0].cols == -1 && entries[0].tbl == SyncedTable.project.tableID)
        let columns = SyncedTable.project.columnNames
        let expectedMask = Int64(1 << columns.firstIndex(of: "name")!) | Int64(1 << columns.firstIndex(of: "total_cost")!)
        #expect(entries[1].op == 2 && entries[1].cols == expectedMask)
        #expect(entries[2].op == 2 && entries[2].cols == 0)  // captured as "nothing changed"; never sent
        #expect(entries[3].op == 3 && entries[3].id == id.rawValue)
    }

    @Test func appendOnlyUpdatesAreCapturedAsWholeRows() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        try replica.data.addProject(sampleProject())
        try replica.data.approveLocally("KC-01")
        try replica.data.addDisbursement(NewDisbursement(project: "KC-01", kind: .advance, amount: 1_000_000, voucher: nil, paidOn: "2025-03-01"))
        let before = try outbox(replica).count
        try replica.database.write { db in
            try db.execute(sql: "UPDATE disbursement SET amount = 2000000")
            try db.execute(sql: "UPDATE project_event SET note = note WHERE kind = 'created'")
        }
        let updates = try outbox(replica).dropFirst(before).filter { $0.op == CaptureTriggers.Operation.update.rawValue }
        #expect(updates.map(\.tbl) == [SyncedTable.disbursement.tableID, SyncedTable.projectEvent.tableID])
        // No column comparison: the centre compares an edit with the entry as recorded.
        #expect(updates.allSatisfy { $0.cols == CaptureTriggers.allColumns })
        #expect(SyncedTable.allCases.filter(\.isAppendOnly) == [.disbursement, .projectEvent])
    }

    @Test func aReplicaFromBeforeV5GetsTheAppendOnlyTriggersAndKeepsItsPendingChanges() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        try replica.data.addProject(sampleProject())
        try replica.data.approveLocally("KC-01")
        // Put the ledger's update trigger back as v4 left it, comparing every column.
        try replica.database.write { db in
            try db.execute(
                sql: """
                    DELETE FROM grdb_migrations WHERE identifier = 'v5-append-only-capture';
                    DROP TRIGGER _sync_disbursement_update;
                    CREATE TRIGGER _sync_disbursement_update AFTER UPDATE ON disbursement
                    BEGIN INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (3, NEW.id, 2, (OLD.amount IS NOT NEW.amount) << 3); END;
                    """)
        }
        let pending = try replica.pendingSummary().changes
        try replica.database.close()

        let upgraded = try Replica.open(at: dir.file(Replica.fileName))
        #expect(try upgraded.pendingSummary().changes == pending)
        try upgraded.data.addDisbursement(NewDisbursement(project: "KC-01", kind: .advance, amount: 1_000_000, voucher: nil, paidOn: "2025-03-01"))
        try upgraded.database.write { db in try db.execute(sql: "UPDATE disbursement SET voucher = 'KB-9'") }
        #expect(try outbox(upgraded).last.map { [$0.op, Int($0.cols)] } == [2, -1])
    }

    @Test func rowIDsCannotChange() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let id = try replica.data.addProject(sampleProject())
        #expect(throws: DatabaseError.self) {
            try replica.database.write { db in
                try db.execute(sql: "UPDATE project SET id = 'other' WHERE id = ?", arguments: [id.rawValue])
            }
        }
    }

    @Test func aWriteByAnotherConnectionIsCaptured() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        // A separate connection that knows nothing of promo-sync, as another program would open it.
        let other = try DatabaseQueue(path: replica.path)
        try other.write { db in
            try db.execute(
                sql: """
                    INSERT INTO plan_line(id, office, year, fund_source, amount, note)
                    VALUES ('01a220b8-0000-7000-8000-000000000001', '79', 2025, 'local', 5000000000, 'từ chương trình khác')
                    """)
        }
        try other.close()
        let entries = try outbox(replica)
        #expect(entries.count == 1 && entries[0].tbl == SyncedTable.planLine.tableID)
    }

    @Test func aWriteByTheSqlite3ShellIsCaptured() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let shell = try #require(
            ["/usr/bin/sqlite3", "/bin/sqlite3"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "the sqlite3 shell is needed (make setup installs it)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: shell)
        process.arguments = [
            replica.path,
            """
            INSERT INTO plan_line(id, office, year, fund_source, amount) VALUES ('01a220b8-0000-7000-8000-000000000002', '79', 2025, 'national', 7);
            UPDATE plan_line SET amount = 8 WHERE id = '01a220b8-0000-7000-8000-000000000002';
            """,
        ]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let entries = try outbox(replica)
        #expect(entries.map(\.op) == [1, 2])
    }

    @Test func openingAMissingReplicaSaysToInit() throws {
        let dir = try TemporaryDirectory()
        let error = #expect(throws: ReplicaError.self) { try Replica.open(at: dir.file("none.sqlite")) }
        #expect(error?.code == .notInitialised)
        #expect(error?.hint?.contains("promo-sync init") == true)
    }

    @Test func creatingOverAnExistingReplicaIsRefused() throws {
        let dir = try TemporaryDirectory()
        _ = try makeReplica(dir)
        let error = #expect(throws: ReplicaError.self) { try makeReplica(dir) }
        #expect(error?.code == .alreadyExists)
    }

    @Test func aDamagedFileIsReportedAsDamaged() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("replica.sqlite")
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: ReplicaError.self) { try Replica.open(at: path) }
        #expect(error?.code == .damaged)
        #expect(error?.hint?.contains("resync --rebuild") == true)
    }
}
