import SyncCore

/// The SQL that reads and writes whole rows of a synced table in the replica, its columns in
/// `SyncedTable.columns` order (the order of the capture triggers' masks and of digests).
extension SyncedTable {
    /// `id` and then the synced columns, comma-separated.
    var idAndColumnList: String { (["id"] + columnNames).joined(separator: ", ") }

    /// One row's synced columns, by id.
    var selectColumnsByIDSQL: String { "SELECT \(columnNames.joined(separator: ", ")) FROM \(rawValue) WHERE id = ?" }

    /// Inserts a whole row, or overwrites every synced column of the row with its id: the
    /// arguments are `id` and then the synced columns.
    var upsertSQL: String {
        let marks = Array(repeating: "?", count: columns.count + 1).joined(separator: ", ")
        let updates = columnNames.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
        return "INSERT INTO \(rawValue)(\(idAndColumnList)) VALUES (\(marks)) ON CONFLICT(id) DO UPDATE SET \(updates)"
    }
}
