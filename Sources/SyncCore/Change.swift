/// What a change does to its row.
public enum ChangeOperation: String, Codable, Sendable {
    /// Insert the row or update the given fields.
    case upsert
    /// Mark the row deleted (a tombstone; rows are never erased).
    case delete
}

/// One change to one row of a synced table, stamped with the writer's hybrid logical clock.
///
/// An upsert carries only the fields that changed (all of them for an insert), so concurrent
/// edits of different fields both survive the merge.
public struct Change: Hashable, Codable, Sendable {
    public var table: SyncedTable
    public var id: RowID
    public var op: ChangeOperation
    public var hlc: HLCTimestamp
    public var fields: [String: FieldValue]

    public init(table: SyncedTable, id: RowID, op: ChangeOperation, hlc: HLCTimestamp, fields: [String: FieldValue]) {
        self.table = table
        self.id = id
        self.op = op
        self.hlc = hlc
        self.fields = fields
    }

    /// Checks the change against its table's columns: known names, the right kinds, no nulls where
    /// none are allowed. Returns the first problem found.
    public func validate() throws(SyncCoreError) {
        let columns = Dictionary(uniqueKeysWithValues: table.columns.map { ($0.name, $0) })
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
            guard let column = columns[name] else {
                throw SyncCoreError(.invalidValue, "\(table.rawValue) \(id): unknown field '\(name)'")
            }
            switch (value, column.kind) {
            case (.null, _) where !column.nullable:
                throw SyncCoreError(.invalidValue, "\(table.rawValue) \(id): field '\(name)' may not be null")
            case (.null, _), (.integer, .integer), (.text, .text):
                continue
            default:
                throw SyncCoreError(
                    .invalidValue, "\(table.rawValue) \(id): field '\(name)' must be \(column.kind.rawValue)")
            }
        }
    }
}
