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
        func problem(_ name: String, _ value: FieldValue) -> String? {
            guard let column = table.column(named: name)?.column else { return "unknown field '\(name)'" }
            switch (value, column.kind) {
            case (.null, _) where !column.nullable: return "field '\(name)' may not be null"
            case (.null, _), (.integer, .integer), (.text, .text): return nil
            default: return "field '\(name)' must be \(column.kind.rawValue)"
            }
        }
        // The first bad field by name is reported, whatever the dictionary's order.
        var first: (name: String, message: String)?
        for (name, value) in fields where first == nil || name < first!.name {
            if let message = problem(name, value) { first = (name, message) }
        }
        if let first { throw SyncCoreError(.invalidValue, "\(table.rawValue) \(id): \(first.message)") }
    }
}
