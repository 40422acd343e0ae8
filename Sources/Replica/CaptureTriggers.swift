import CSQLite
import GRDB
import SyncCore

/// The SQL triggers that capture every insert, update and delete of a synced table into
/// `_sync_outbox` in the same transaction as the write, whichever program makes it.
///
/// Each outbox entry is compact: the table's number, the row id, the operation (1 insert,
/// 2 update, 3 delete) and for updates a bit mask of the columns that changed (bit i is
/// `SyncedTable.columns[i]`; -1 means all; 0 for an update that changed nothing, which changeset
/// making drops). Values are read from the row when a changeset is made, so the outbox never
/// copies money or text.
///
/// The mask is what field-level merging needs: an update must not claim columns it did not
/// change, or it would overwrite a concurrent edit of them. The append-only tables
/// (`SyncedTable.isAppendOnly`: the ledger and the event log) never merge by field: the centre
/// refuses any edit of a recorded entry, naming the columns that differ from the entry as
/// recorded, and an edit that changes nothing is no change. Their updates are captured as
/// "all columns" (-1), which spares every write to them the column comparisons (a quarter of
/// capture's cost; docs/BENCHMARKS.md).
///
/// A write that fires a trigger writes two tables, and SQLite copies every page such a statement
/// touches into a statement journal whenever the statement could be undone on its own: if a
/// constraint in it aborts the statement (SQLite's default), or a function in it may fail. That
/// copying was half of what capture cost. So the outbox has no constraints and no time stamp,
/// the synced tables' constraints are `ON CONFLICT ROLLBACK` (a write that breaks one ends its
/// transaction; Schema `v6`), and these triggers call no function. Keep it so: a `NOT NULL` on
/// the outbox, or `unixepoch()` here, brings the journal back (a test pins it).
///
/// The triggers test nothing before they write: while promo-sync applies records from the centre
/// it turns the triggers of its own connection off for that transaction (`suspended`), so the
/// centre's records are not echoed back. No other connection is affected. (Until `v4` a guard
/// table was read by every trigger firing; that read cost more than the outbox insert.)
enum CaptureTriggers {
    enum Operation: Int {
        case insert = 1
        case update = 2
        case delete = 3
    }

    static let allColumns: Int64 = -1

    /// What a row's outbox entries add up to, taken in order: the changed columns, and whether
    /// the row ends deleted. Shared by changeset making and by pulls that keep pending fields.
    struct RowChanges {
        var mask: Int64 = 0
        var deleted = false

        mutating func add(op: Int, cols: Int64) {
            if op == Operation.delete.rawValue {
                deleted = true
            } else {
                deleted = false
                mask = (cols == allColumns || mask == allColumns) ? allColumns : mask | cols
            }
        }

        /// Whether the entries changed nothing (updates that wrote the values already there).
        var isEmpty: Bool { !deleted && mask == 0 }

        /// Whether column `index` of the table changed.
        func contains(column index: Int) -> Bool {
            mask == allColumns || mask & (1 << Int64(index)) != 0
        }
    }

    /// Runs `body` with the triggers of this connection off: what it writes is not captured.
    /// The triggers are on again when it returns or throws; if SQLite will not turn them back on,
    /// this throws, and the caller's transaction rolls back rather than leave capture off.
    static func suspended<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        try setTriggers(db, enabled: false)
        let result = Result { try body() }
        try setTriggers(db, enabled: true)
        return try result.get()
    }

    private static func setTriggers(_ db: Database, enabled: Bool) throws {
        var now: Int32 = -1
        let code = promo_sqlite_enable_triggers(db.sqliteConnection, enabled ? 1 : 0, &now)
        guard code == SQLITE_OK, (now != 0) == enabled else {
            throw DatabaseError(
                resultCode: ResultCode(rawValue: code == SQLITE_OK ? SQLITE_MISUSE : code),
                message: "could not turn capture triggers \(enabled ? "on" : "off")")
        }
    }

    /// The capture triggers of `table` for its columns as this release declares them. Migrations
    /// carry these statements as literal SQL (``FrozenMigrations``), written out from here when
    /// a migration changes a synced table; `FrozenMigrationTests` checks that a migrated replica
    /// has exactly these triggers.
    static func sql(for table: SyncedTable) -> [String] {
        let name = table.rawValue
        let number = table.tableID
        let mask =
            table.isAppendOnly
            ? String(allColumns)
            : table.columns.enumerated()
                .map { index, column in "((OLD.\(column.name) IS NOT NEW.\(column.name)) << \(index))" }
                .joined(separator: " | ")
        return [
            """
            CREATE TRIGGER _sync_\(name)_id_immutable BEFORE UPDATE OF id ON \(name)
            WHEN OLD.id IS NOT NEW.id
            BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END
            """,
            """
            CREATE TRIGGER _sync_\(name)_insert AFTER INSERT ON \(name)
            BEGIN
                INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (\(number), NEW.id, 1, -1);
            END
            """,
            """
            CREATE TRIGGER _sync_\(name)_update AFTER UPDATE ON \(name)
            BEGIN
                INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (\(number), NEW.id, 2, \(mask));
            END
            """,
            """
            CREATE TRIGGER _sync_\(name)_delete AFTER DELETE ON \(name)
            BEGIN
                INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (\(number), OLD.id, 3, 0);
            END
            """,
        ]
    }
}
