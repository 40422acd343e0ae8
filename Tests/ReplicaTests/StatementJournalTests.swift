import Foundation
import GRDB
import SyncCore
import SyncTesting
import Testing

@testable import Replica

/// A captured write must not make SQLite keep a statement journal (Schema `v6`): that journal
/// copied every page a write touched, half of capture's cost (docs/BENCHMARKS.md, ninth round).
/// SQLite keeps one for a statement that writes two tables (a trigger's) when part of it could
/// be undone alone: a constraint that aborts the statement, or a function that may fail.
@Suite struct StatementJournalTests {
    /// The columns of a table as SQLite reports them: name, type, not null, default, primary key.
    static func columns(_ db: Database, _ table: String) throws -> [[String?]] {
        try Row.fetchAll(db, sql: "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid", arguments: [table])
            .map { row in (0..<5).map { row[$0] as DatabaseValue }.map { $0.isNull ? nil : "\($0)" } }
    }

    @Test func capturedWritesCannotAbortAStatementHalfway() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        try replica.database.read { db in
            for table in SyncedTable.allCases {
                let columns = table.columns.map(\.name)
                let statements = [
                    "INSERT INTO \(table.rawValue)(id, \(columns.joined(separator: ", "))) VALUES (?\(String(repeating: ", ?", count: columns.count)))",
                    "UPDATE \(table.rawValue) SET \(columns.map { "\($0) = ?" }.joined(separator: ", ")) WHERE id = ?",
                    "DELETE FROM \(table.rawValue) WHERE id = ?",
                ]
                for sql in statements {
                    // OP_Halt and OP_HaltIfNull with P2 = 2 (OE_Abort) undo the statement alone.
                    let unbound = StatementArguments(Array(repeating: nil as String?, count: sql.filter { $0 == "?" }.count))
                    let aborts = try Row.fetchAll(db, sql: "EXPLAIN " + sql, arguments: unbound).filter {
                        ["Halt", "HaltIfNull"].contains($0["opcode"] as String) && ($0["p2"] as Int) == 2
                    }
                    #expect(aborts.isEmpty, "\(sql) can abort halfway: \(aborts)")
                }
                // The triggers call no function (any function may fail, and so needs the journal).
                let triggers = try String.fetchAll(
                    db, sql: "SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = ? AND name NOT LIKE '%id_immutable'",
                    arguments: [table.rawValue])
                #expect(triggers.count == 3)
                for sql in triggers {
                    let body = sql.replacingOccurrences(of: "_sync_outbox(", with: "").replacingOccurrences(of: "VALUES (", with: "")
                    #expect(body.range(of: #"[A-Za-z_]\s*\("#, options: .regularExpression) == nil, "\(sql)")
                }
            }
            // The outbox: no constraint and no default.
            #expect(try Self.columns(db, "_sync_outbox").allSatisfy { $0[2] == "0" && $0[3] == nil })
        }
    }

    @Test func aRebuildRefusesWhatItWouldDrop() throws {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, amount INTEGER CHECK (amount > 0), reference TEXT) STRICT")
            try db.execute(sql: "INSERT INTO t VALUES ('a', 1, 'r')")
            #expect(throws: DatabaseError.self) { try Schema.rebuildWithRollbackConstraints(db, table: "t") }
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM t") == 1)
            // A column merely named like a keyword is no reason to refuse.
            try db.execute(sql: "CREATE TABLE u (id TEXT PRIMARY KEY NOT NULL, reference TEXT, unique_code TEXT) STRICT")
            try Schema.rebuildWithRollbackConstraints(db, table: "u")
            #expect(try String.fetchOne(db, sql: "SELECT sql FROM sqlite_schema WHERE name = 'u'")?.contains("ON CONFLICT ROLLBACK") == true)
        }
    }

    @Test func aReplicaFromBeforeV6KeepsItsRowsIndexesAndPendingChanges() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file(Replica.fileName)
        // A replica as v5 left it, with rows and pending changes.
        do {
            let queue = try DatabaseQueue(path: path)
            try Schema.migrator().migrate(queue, upTo: "v5-append-only-capture")
            try queue.write { db in
                try Replica.recordNewReplica(
                    db,
                    settings: ReplicaSettings(
                        office: try OfficeCode("79"), centralURL: "http://127.0.0.1:1", tokenFile: dir.file("token")))
                try db.execute(
                    sql: """
                        INSERT INTO project(id, office, province, code, name, category, fund_source, year, total_cost, requested_support, status, commune)
                        VALUES ('01a220b8-0000-7000-8000-000000000001', '79', '79', 'KC-01', 'Máy sấy', 'MH_TRINHDIEN', 'local', 2025, 1000, 300, 'draft', 'Xã A');
                        INSERT INTO disbursement(id, office, project_id, kind, amount, voucher, paid_on)
                        VALUES ('01a220b8-0000-7000-8000-000000000002', '79', '01a220b8-0000-7000-8000-000000000001', 'advance', 100, NULL, '2025-03-01');
                        UPDATE project SET name = 'Máy sấy nông sản';
                        """)
            }
            try queue.close()
        }
        func snapshot(_ db: Database) throws -> [String] {
            var lines: [String] = []
            for table in SyncedTable.allCases.map(\.rawValue) {
                // The columns v6 carried over (v8 appends project.tax_code, not this test's concern).
                let columns = try Self.columns(db, table).filter { $0.first != "\"tax_code\"" && $0.first != "tax_code" }
                lines += columns.map { "\(table) column \($0)" }
                lines += try String.fetchAll(db, sql: "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? ORDER BY name", arguments: [table])
                    .map { "\(table) index \($0)" }
                lines += try Row.fetchAll(db, sql: "SELECT \(columns.compactMap { $0.first ?? nil }.joined(separator: ", ")) FROM \(table) ORDER BY id").map {
                    "\(table) row \($0)"
                }
                lines.append(
                    "\(table) strict \(try Bool.fetchOne(db, sql: "SELECT strict FROM pragma_table_list WHERE name = ?", arguments: [table]) ?? false)")
            }
            lines += try Row.fetchAll(db, sql: "SELECT seq, tbl, row_id, op, cols FROM _sync_outbox ORDER BY seq").map { "outbox \($0)" }
            return lines
        }
        let before = try DatabaseQueue(path: path).read(snapshot)
        #expect(before.contains { $0.hasPrefix("project row") } && before.filter { $0.hasPrefix("outbox") }.count == 3)

        let replica = try Replica.open(at: path)
        try replica.database.read { db in
            #expect(try snapshot(db) == before)
            for table in SyncedTable.allCases {
                let sql = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_schema WHERE name = ?", arguments: [table.rawValue]) ?? ""
                #expect(sql.contains("PRIMARY KEY ON CONFLICT ROLLBACK"), "\(sql)")
            }
        }
        // Capture still works, and a write that breaks a constraint ends its whole transaction.
        try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 5, note: nil)
        #expect(try replica.pendingSummary().changes == 4)
        let connection = try DatabaseQueue(path: path)
        try connection.writeWithoutTransaction { db in
            try db.execute(sql: "BEGIN")
            try db.execute(
                sql: "INSERT INTO plan_line(id, office, year, fund_source, amount) VALUES ('01a220b8-0000-7000-8000-0000000000aa', '79', 2026, 'local', 1)")
            #expect(throws: DatabaseError.self) {
                try db.execute(
                    sql:
                        "INSERT INTO plan_line(id, office, year, fund_source, amount) VALUES ('01a220b8-0000-7000-8000-0000000000ab', '79', 2026, 'local', NULL)"
                )
            }
            #expect(!db.isInsideTransaction)
        }
        #expect(try replica.pendingSummary().changes == 4)
    }
}
