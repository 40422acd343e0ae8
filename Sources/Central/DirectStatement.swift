import CSQLite
import GRDB

/// One of GRDB's cached statements stepped through SQLite's C API: values bound by position and
/// columns read by index, without the argument arrays and rows GRDB makes per execution. For the
/// push path, which runs five statements per change (docs/BENCHMARKS.md). Each use starts with a
/// reset and binds every parameter, and ends reset.
///
/// Only inside a transaction the caller holds (checked: outside one, or after SQLite rolled it
/// back by itself, a statement would commit on its own), since nothing here passes through GRDB's
/// checks before a statement runs; and only for SQL that no GRDB call executes too, since GRDB's
/// record of the statement's arguments does not see these bindings. Nothing here notifies
/// GRDB's transaction observers; the centre's store has none.
struct DirectStatement {
    private let statement: Statement
    private let connection: SQLiteConnection?
    private var handle: SQLiteStatement { statement.sqliteStatement }

    init(_ db: Database, _ sql: String) throws {
        statement = try db.cachedStatement(sql: sql)
        connection = db.sqliteConnection
    }

    /// Binds `values` to the parameters in order, one per parameter, after a reset.
    func bind(_ values: DirectValue...) throws {
        sqlite3_reset(handle)
        guard sqlite3_get_autocommit(connection) == 0 else {
            throw DatabaseError(resultCode: .SQLITE_ABORT, message: "no transaction is open for a direct statement", sql: statement.sql)
        }
        assert(Int32(values.count) == sqlite3_bind_parameter_count(handle), "\(values.count) values for \(statement.sql)")
        for (index, value) in values.enumerated() {
            let position = Int32(index + 1)
            let code: Int32
            switch value {
            case .null: code = sqlite3_bind_null(handle, position)
            case .integer(let integer): code = sqlite3_bind_int64(handle, position, integer)
            case .text(var text):
                code = text.withUTF8 { bytes in
                    // An empty string is bound as empty text, never as the NULL a nil address means.
                    guard let address = bytes.baseAddress else { return sqlite3_bind_text(handle, position, "", 0, Self.transient) }
                    return sqlite3_bind_text(handle, position, address, Int32(bytes.count), Self.transient)
                }
            }
            guard code == SQLITE_OK else { throw failure(code) }
        }
    }

    /// Steps once: true when a row is there to read, false when the statement is done.
    func step() throws -> Bool {
        let code = sqlite3_step(handle)
        if code == SQLITE_ROW { return true }
        if code == SQLITE_DONE { return false }
        let error = failure(code)
        sqlite3_reset(handle)
        throw error
    }

    /// Runs a statement that returns no rows, then resets it.
    func run() throws {
        while try step() {}
        sqlite3_reset(handle)
    }

    /// Resets the statement after its rows were read (its reads and locks end).
    func finish() { sqlite3_reset(handle) }

    /// The current row's column as text, nil when NULL.
    func text(_ column: Int32) -> String? {
        guard let bytes = sqlite3_column_text(handle, column) else { return nil }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(handle, column))), as: UTF8.self)
    }

    /// The current row's column as a whole number (NULL reads as 0).
    func integer(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    private func failure(_ code: Int32) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(connection)), sql: statement.sql)
    }

    /// SQLite copies the bound text (`SQLITE_TRANSIENT`): the Swift string may go away at once.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

/// A value bound to a ``DirectStatement``'s parameter.
enum DirectValue {
    case null
    case integer(Int64)
    case text(String)

    /// Text, or NULL for nil.
    static func textOrNull(_ value: String?) -> DirectValue { value.map { .text($0) } ?? .null }
    /// A whole number, or NULL for nil.
    static func integerOrNull(_ value: Int64?) -> DirectValue { value.map { .integer($0) } ?? .null }
}
