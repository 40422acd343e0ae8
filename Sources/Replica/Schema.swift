import Foundation
import GRDB
import SyncCore

/// The replica's schema: migrations in order. Never edit a shipped migration; add a new one.
enum Schema {
    static func migrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-reference") { db in
            try createReferenceTables(db)
            try seedReferenceData(db)
        }
        migrator.registerMigration("v1-office-data") { db in
            try createOfficeTables(db)
        }
        migrator.registerMigration("v1-sync") { db in
            try createSyncTables(db)
            try CaptureTriggers.install(db, tables: [.planLine, .project, .disbursement, .conflictResolution])
        }
        migrator.registerMigration("v2-programs-events") { db in
            try db.execute(
                sql: """
                    ALTER TABLE project ADD COLUMN program_id TEXT;
                    ALTER TABLE project ADD COLUMN commune TEXT;
                    ALTER TABLE project ADD COLUMN counterpart_funds INTEGER;
                    CREATE INDEX project_program ON project(program_id);
                    CREATE TABLE program (
                        id TEXT PRIMARY KEY NOT NULL,
                        office TEXT NOT NULL,
                        code TEXT NOT NULL,
                        name TEXT NOT NULL,
                        start_year INTEGER NOT NULL,
                        end_year INTEGER NOT NULL,
                        note TEXT
                    ) STRICT;
                    CREATE INDEX program_code ON program(office, code);
                    CREATE TABLE project_event (
                        id TEXT PRIMARY KEY NOT NULL,
                        office TEXT NOT NULL,
                        project_id TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        occurred_on TEXT NOT NULL,
                        amount INTEGER,
                        reference TEXT,
                        note TEXT
                    ) STRICT;
                    CREATE INDEX project_event_project ON project_event(project_id, occurred_on);
                    """)
            // The project's triggers compute their mask over its columns: replace them.
            try CaptureTriggers.install(db, tables: [.project, .program, .projectEvent])
        }
        migrator.registerMigration("v3-lean-outbox") { db in
            // Capture costs what the outbox insert costs: no AUTOINCREMENT bookkeeping and no
            // indexes. A changeset covers the entries up to its last_seq; the entries after the
            // newest changeset are the unsent ones (docs/ARCHITECTURE.md).
            try CaptureTriggers.drop(db, tables: SyncedTable.allCases)
            try db.execute(
                sql: """
                    ALTER TABLE _sync_changeset ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
                    UPDATE _sync_changeset SET last_seq = coalesce((SELECT max(o.seq) FROM _sync_outbox o WHERE o.changeset = _sync_changeset.seq), 0);
                    CREATE TABLE _sync_outbox_new (
                        seq INTEGER PRIMARY KEY,
                        tbl INTEGER NOT NULL,
                        row_id TEXT NOT NULL,
                        op INTEGER NOT NULL,
                        cols INTEGER NOT NULL,
                        at INTEGER NOT NULL DEFAULT (unixepoch())
                    );
                    INSERT INTO _sync_outbox_new(seq, tbl, row_id, op, cols, at) SELECT seq, tbl, row_id, op, cols, at FROM _sync_outbox;
                    DROP TABLE _sync_outbox;
                    ALTER TABLE _sync_outbox_new RENAME TO _sync_outbox;
                    """)
            try CaptureTriggers.install(db, tables: SyncedTable.allCases)
        }
        migrator.registerMigration("v4-unguarded-capture") { db in
            // The triggers no longer read a guard table on every write: applying the centre's
            // records turns the triggers of that one connection off instead, and an update's
            // mask is written as computed (0 when nothing changed; changeset making drops it).
            try CaptureTriggers.install(db, tables: SyncedTable.allCases)
            try db.execute(sql: "DROP TABLE _sync_guard")
        }
        migrator.registerMigration("v5-append-only-capture") { db in
            // Updates of the ledger and the event log are captured as "all columns" without
            // comparing them (CaptureTriggers): the centre refuses any edit of a recorded entry.
            try CaptureTriggers.install(db, tables: SyncedTable.allCases.filter(\.isAppendOnly))
        }
        migrator.registerMigration("v6-no-statement-journal") { db in
            // A captured write is a statement that writes two tables (the row, then its outbox
            // entry), and SQLite keeps a statement journal for such a statement whenever part of
            // it could be undone alone: a constraint that aborts the statement (the default), or
            // a function in it that may fail (the outbox's `at` time stamp). That journal copied
            // every page each write touched (CaptureTriggers, docs/BENCHMARKS.md). Now the synced
            // tables' constraints roll back the whole transaction, and the outbox has no
            // constraints and no time stamp: the age of pending changes is read from the
            // changesets the daemon makes of them (Replica+Outbox.swift).
            try CaptureTriggers.drop(db, tables: SyncedTable.allCases)
            try db.execute(
                sql: """
                    CREATE TABLE _sync_outbox_new (seq INTEGER PRIMARY KEY, tbl INTEGER, row_id TEXT, op INTEGER, cols INTEGER);
                    INSERT INTO _sync_outbox_new(seq, tbl, row_id, op, cols) SELECT seq, tbl, row_id, op, cols FROM _sync_outbox;
                    DROP TABLE _sync_outbox;
                    ALTER TABLE _sync_outbox_new RENAME TO _sync_outbox;
                    """)
            for table in SyncedTable.allCases { try rebuildWithRollbackConstraints(db, table: table.rawValue) }
            try CaptureTriggers.install(db, tables: SyncedTable.allCases)
        }
        migrator.registerMigration("v7-withdrawn") { db in
            // Local changes the office withdrew after the centre refused them (promo-sync outbox
            // withdraw): kept, so that taking a change back loses nothing.
            try db.execute(
                sql: """
                    CREATE TABLE _sync_withdrawn (
                        id INTEGER PRIMARY KEY,
                        tbl TEXT NOT NULL,
                        row_id TEXT NOT NULL,
                        fields TEXT,
                        reason TEXT NOT NULL,
                        withdrawn_at TEXT NOT NULL
                    ) STRICT
                    """)
        }
        return migrator
    }

    /// Rebuilds `table` as it is (columns in order, types, STRICT, indexes, rows) with its primary
    /// key and NOT NULL constraints declared `ON CONFLICT ROLLBACK`: a write that breaks one ends
    /// the whole transaction instead of undoing its own statement, so SQLite needs no statement
    /// journal for it. Its triggers are dropped with it; the caller reinstalls them.
    static func rebuildWithRollbackConstraints(_ db: Database, table: String) throws {
        let columns = try Row.fetchAll(db, sql: "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid", arguments: [table])
        // Only what is carried over may be there: no CHECK, foreign key, UNIQUE, collation or
        // generated column would survive the rebuild.
        let created = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?", arguments: [table]) ?? ""
        let unsupported = ["CHECK", "REFERENCES", "UNIQUE", "COLLATE", "GENERATED", "AUTOINCREMENT"].filter {
            created.range(of: "\\b\($0)\\b", options: [.regularExpression, .caseInsensitive]) != nil
        }
        guard columns.filter({ ($0["pk"] as Int) > 0 }).count == 1, unsupported.isEmpty else {
            throw DatabaseError(
                resultCode: .SQLITE_SCHEMA,
                message:
                    "\(table) cannot be rebuilt with rollback constraints: \(unsupported.isEmpty ? "no single-column primary key" : unsupported.joined(separator: ", "))"
            )
        }
        let strict = try Bool.fetchOne(db, sql: "SELECT strict FROM pragma_table_list WHERE schema = 'main' AND name = ?", arguments: [table]) ?? false
        let indexes = try String.fetchAll(
            db, sql: "SELECT sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", arguments: [table])
        let definitions = columns.map { column -> String in
            var definition = "\(column["name"] as String) \(column["type"] as String)"
            if (column["pk"] as Int) > 0 { definition += " PRIMARY KEY ON CONFLICT ROLLBACK" }
            if column["notnull"] as Bool { definition += " NOT NULL ON CONFLICT ROLLBACK" }
            if let value = column["dflt_value"] as String? { definition += " DEFAULT \(value)" }
            return definition
        }
        let names = columns.map { $0["name"] as String }.joined(separator: ", ")
        try db.execute(sql: "CREATE TABLE _rebuilt (\(definitions.joined(separator: ", ")))\(strict ? " STRICT" : "")")
        try db.execute(sql: "INSERT INTO _rebuilt(\(names)) SELECT \(names) FROM \(table)")
        try db.execute(sql: "DROP TABLE \(table)")
        try db.execute(sql: "ALTER TABLE _rebuilt RENAME TO \(table)")
        for index in indexes { try db.execute(sql: index) }
    }

    static func createReferenceTables(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE province (
                    code TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    region TEXT NOT NULL
                ) STRICT;
                CREATE TABLE former_province (
                    code TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    successor TEXT NOT NULL REFERENCES province(code)
                ) STRICT;
                CREATE TABLE activity_category (
                    code TEXT PRIMARY KEY NOT NULL,
                    name_vi TEXT NOT NULL,
                    name_en TEXT NOT NULL,
                    report_group INTEGER NOT NULL,
                    basis TEXT NOT NULL
                ) STRICT;
                CREATE TABLE report_group (
                    grp INTEGER PRIMARY KEY NOT NULL,
                    name_en TEXT NOT NULL,
                    name_vi TEXT NOT NULL
                ) STRICT;
                CREATE TABLE office (
                    code TEXT PRIMARY KEY NOT NULL,
                    province TEXT NOT NULL REFERENCES province(code)
                ) STRICT;
                CREATE TABLE support_cap (
                    id TEXT PRIMARY KEY NOT NULL,
                    fund_source TEXT NOT NULL,
                    category TEXT NOT NULL,
                    province TEXT,
                    max_percent_of_cost INTEGER,
                    max_amount INTEGER
                ) STRICT;
                """)
    }

    static func seedReferenceData(_ db: Database) throws {
        for p in ReferenceData.provinces {
            try db.execute(
                sql: "INSERT INTO province(code, name, kind, region) VALUES (?, ?, ?, ?)",
                arguments: [p.code, p.name, p.kind, p.region.rawValue])
            try db.execute(sql: "INSERT INTO office(code, province) VALUES (?, ?)", arguments: [p.code, p.code])
        }
        for f in ReferenceData.formerProvinces {
            try db.execute(
                sql: "INSERT INTO former_province(code, name, successor) VALUES (?, ?, ?)",
                arguments: [f.code, f.name, f.successor])
        }
        for c in ReferenceData.categories {
            try db.execute(
                sql: "INSERT INTO activity_category(code, name_vi, name_en, report_group, basis) VALUES (?, ?, ?, ?, ?)",
                arguments: [c.code, c.nameVi, c.nameEn, c.reportGroup, c.basis])
        }
        for c in ReferenceData.supportCaps {
            try db.execute(
                sql: "INSERT INTO support_cap(id, fund_source, category, province, max_percent_of_cost, max_amount) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [c.id, c.fund.rawValue, c.category, c.province, c.maxPercentOfCost, c.maxAmount])
        }
        for g in ReferenceData.reportGroups {
            try db.execute(
                sql: "INSERT INTO report_group(grp, name_en, name_vi) VALUES (?, ?, ?)",
                arguments: [g.group, g.nameEn, g.nameVi])
        }
    }

    static func createOfficeTables(_ db: Database) throws {
        // Synced tables hold what the office enters and what it pulls back from the centre, so
        // they carry no foreign keys: a pulled page may bring a disbursement before its project.
        // Domain rules are checked by the commands and by the centre's merge.
        try db.execute(
            sql: """
                CREATE TABLE plan_line (
                    id TEXT PRIMARY KEY NOT NULL,
                    office TEXT NOT NULL,
                    year INTEGER NOT NULL,
                    fund_source TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    note TEXT
                ) STRICT;
                CREATE TABLE project (
                    id TEXT PRIMARY KEY NOT NULL,
                    office TEXT NOT NULL,
                    province TEXT NOT NULL,
                    code TEXT NOT NULL,
                    name TEXT NOT NULL,
                    category TEXT NOT NULL,
                    fund_source TEXT NOT NULL,
                    beneficiary TEXT,
                    year INTEGER NOT NULL,
                    total_cost INTEGER NOT NULL,
                    requested_support INTEGER NOT NULL,
                    approved_support INTEGER,
                    status TEXT NOT NULL
                ) STRICT;
                CREATE TABLE disbursement (
                    id TEXT PRIMARY KEY NOT NULL,
                    office TEXT NOT NULL,
                    project_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    voucher TEXT,
                    paid_on TEXT NOT NULL
                ) STRICT;
                CREATE INDEX disbursement_project ON disbursement(project_id);
                CREATE INDEX disbursement_voucher ON disbursement(office, voucher);
                CREATE INDEX project_code ON project(office, code);
                CREATE INDEX plan_line_year ON plan_line(office, year, fund_source);
                CREATE TABLE conflict_resolution (
                    id TEXT PRIMARY KEY NOT NULL,
                    office TEXT NOT NULL,
                    conflict_id TEXT NOT NULL,
                    aggregate_id TEXT NOT NULL,
                    choice TEXT NOT NULL,
                    resolved_by TEXT NOT NULL,
                    note TEXT
                ) STRICT;
                CREATE TABLE conflict (
                    id TEXT PRIMARY KEY NOT NULL,
                    tbl TEXT NOT NULL,
                    row_id TEXT NOT NULL,
                    aggregate_id TEXT NOT NULL,
                    office TEXT NOT NULL,
                    writer TEXT NOT NULL,
                    hlc TEXT NOT NULL,
                    rule TEXT NOT NULL,
                    mine TEXT NOT NULL,
                    theirs TEXT NOT NULL,
                    message TEXT NOT NULL,
                    resolution TEXT,
                    resolved_by TEXT
                ) STRICT;
                CREATE INDEX conflict_row ON conflict(row_id);
                CREATE TABLE disbursed_total (
                    id TEXT PRIMARY KEY NOT NULL,
                    province TEXT NOT NULL,
                    year INTEGER NOT NULL,
                    fund_source TEXT NOT NULL,
                    report_group INTEGER NOT NULL,
                    paid_on TEXT NOT NULL,
                    amount INTEGER NOT NULL
                ) STRICT;
                CREATE TABLE province_total (
                    id TEXT PRIMARY KEY NOT NULL,
                    province TEXT NOT NULL,
                    year INTEGER NOT NULL,
                    fund_source TEXT NOT NULL,
                    plan_amount INTEGER NOT NULL,
                    disbursed_amount INTEGER NOT NULL
                ) STRICT;
                """)
    }

    static func createSyncTables(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE _sync_guard (
                    applying INTEGER NOT NULL
                );
                INSERT INTO _sync_guard(applying) VALUES (0);
                CREATE TABLE _sync_outbox (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    tbl INTEGER NOT NULL,
                    row_id TEXT NOT NULL,
                    op INTEGER NOT NULL,
                    cols INTEGER NOT NULL,
                    changeset INTEGER,
                    at INTEGER NOT NULL DEFAULT (unixepoch())
                );
                CREATE INDEX _sync_outbox_row ON _sync_outbox(tbl, row_id);
                CREATE INDEX _sync_outbox_changeset ON _sync_outbox(changeset);
                CREATE TABLE _sync_changeset (
                    seq INTEGER PRIMARY KEY NOT NULL,
                    hash TEXT NOT NULL,
                    previous_hash TEXT NOT NULL,
                    change_count INTEGER NOT NULL,
                    body BLOB NOT NULL,
                    created_at INTEGER NOT NULL
                );
                CREATE TABLE _sync_state (
                    key TEXT PRIMARY KEY NOT NULL,
                    value TEXT NOT NULL
                );
                """)
    }
}

extension Replica {
    /// The replica schema this release migrates to: the number of its last migration (`v7-…`),
    /// told to the centre with every request.
    public static let schemaVersion: Int = {
        let last = Schema.migrator().migrations.last ?? "v0"
        return Int(last.dropFirst().prefix { $0.isNumber }) ?? 0
    }()
}
