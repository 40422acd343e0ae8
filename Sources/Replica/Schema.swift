import Foundation
import GRDB
import SyncCore

/// The replica's schema: the migrations in ``FrozenMigrations``, in order. Never edit a shipped
/// migration; add a new one as literal SQL.
enum Schema {
    static func migrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in FrozenMigrations.replica {
            migrator.registerMigration(migration.id) { db in try db.execute(sql: migration.sql) }
        }
        return migrator
    }

    /// Writes the SQL that `v6-no-statement-journal` ran for each synced table, and that a future
    /// migration would run to rebuild one:
    /// rebuilds `table` as it is (columns in order, types, STRICT, indexes, rows) with its primary
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
}

extension Replica {
    /// The replica schema this release migrates to: the number of its last migration (`v7-…`),
    /// told to the centre with every request.
    public static let schemaVersion: Int = {
        let last = Schema.migrator().migrations.last ?? "v0"
        return Int(last.dropFirst().prefix { $0.isNumber }) ?? 0
    }()
}
