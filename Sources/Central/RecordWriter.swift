import GRDB
import SyncCore
import WireFormat

/// Reads the owner and aggregate of the centre's records within one write transaction, its
/// statement prepared once and stepped directly (``DirectStatement``).
struct RecordLookup {
    private let select: DirectStatement

    init(_ db: Database) throws {
        select = try DirectStatement(db, "SELECT office, aggregate, fields = '{}' FROM record WHERE tbl = ? AND id = ?")
    }

    /// The owner and aggregate of a row as the centre stores it, or nil for a row it does not
    /// hold; `empty` for a row with no fields (a delete of a row it never held).
    func stored(_ table: SyncedTable, _ id: String) throws -> StoredRow? {
        try select.bind(.text(table.rawValue), .text(id))
        defer { select.finish() }
        guard try select.step() else { return nil }
        return StoredRow(office: select.text(0) ?? "", aggregate: select.text(1), empty: select.integer(2) != 0)
    }
}

/// A row as the centre stores it, for the checks of a change of it (``RecordLookup``).
struct StoredRow {
    /// Whose row it is (an office, or `central`).
    let office: String
    /// The aggregate it belongs to.
    let aggregate: String?
    /// It holds no field: it was only ever deleted (an office deleted it before the centre held it).
    let empty: Bool
}

/// Writes the centre's records (`record`) within one write transaction, its statements prepared
/// once and stepped directly (``DirectStatement``), and hands out their change-log positions
/// (``LogPositions``). A push reads and writes records once or more per change.
struct RecordWriter {
    /// The records' owners and aggregates, as stored so far in this transaction.
    let lookup: RecordLookup
    private var positions: LogPositions
    private let compare: DirectStatement
    private let upsert: DirectStatement

    init(_ db: Database) throws {
        lookup = try RecordLookup(db)
        positions = try LogPositions(db)
        compare = try DirectStatement(db, "SELECT office, fields, clocks, deleted_at, held FROM record WHERE tbl = ? AND id = ?")
        upsert = try DirectStatement(
            db,
            """
            INSERT INTO record(tbl, id, office, fields, clocks, deleted_at, seq, aggregate, held, echo_office, echo_sequence)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(tbl, id) DO UPDATE SET office = excluded.office, fields = excluded.fields, clocks = excluded.clocks,
                deleted_at = excluded.deleted_at, seq = excluded.seq, aggregate = excluded.aggregate, held = excluded.held,
                echo_office = excluded.echo_office, echo_sequence = excluded.echo_sequence
            """)
    }

    /// The next change-log position.
    mutating func nextPosition() -> Int64 { positions.next() }

    /// Writes a record if it differs from what is stored (or always, with `force`), giving it a
    /// new log position. Returns whether it was written. With `echo`, the record is marked as that
    /// office's changeset's echo if its fields are exactly what the office sent (`sent`, encoded).
    mutating func put(
        table: String, id: String, office: String, aggregate: String?,
        fields: [String: FieldValue], clocks: [String: HLCTimestamp], deletedAt: String?, held: Bool,
        force: Bool = false, echo: (office: String, sequence: Int64, sent: String)? = nil
    ) throws -> Bool {
        let encodedFields = FieldCoding.encode(fields)
        let echo = echo.flatMap { $0.sent == encodedFields ? $0 : nil }
        let encodedClocks = FieldCoding.encode(clocks: clocks)
        if !force {
            try compare.bind(.text(table), .text(id))
            // Clocks stored by a release before 1.8.0 are an object even when all are one clock:
            // the same clocks, so the record is not written again (and republished) for that.
            let found = try compare.step()
            let storedClocks = found ? compare.text(2) : nil
            let sameClocks =
                storedClocks == encodedClocks
                || (encodedClocks.utf8.first == UInt8(ascii: "\"") && storedClocks.map(FieldCoding.currentForm(ofClocks:)) == encodedClocks)
            let unchanged =
                found && sameClocks && compare.text(0) == office && compare.text(1) == encodedFields && compare.text(3) == deletedAt
                && (compare.integer(4) != 0) == held
            compare.finish()
            if unchanged { return false }
        }
        try upsert.bind(
            .text(table), .text(id), .text(office), .text(encodedFields), .text(encodedClocks), .textOrNull(deletedAt),
            .integer(positions.next()), .textOrNull(aggregate), .integer(held ? 1 : 0), .textOrNull(echo?.office),
            .integerOrNull(echo?.sequence))
        try upsert.run()
        return true
    }
}
