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
    /// The synced table the row is in.
    public var table: SyncedTable
    /// The id of the row changed, the same at every office and at the centre.
    public var id: RowID
    /// Whether the change upserts fields or deletes the row.
    public var op: ChangeOperation
    /// The writer's clock at the change: its node names the writer, and a field keeps the value of the latest clock.
    public var hlc: HLCTimestamp
    /// The changed columns by name (every column for an insert); empty for a delete.
    public var fields: [String: FieldValue]

    /// Creates a change from its parts; nothing is checked until ``validate(writer:)``.
    public init(table: SyncedTable, id: RowID, op: ChangeOperation, hlc: HLCTimestamp, fields: [String: FieldValue]) {
        self.table = table
        self.id = id
        self.op = op
        self.hlc = hlc
        self.fields = fields
    }

    /// Checks the change against its table's columns (known names, the right kinds, no nulls where
    /// none are allowed) and every value against ``ValueRules`` (bounds, known codes, a province
    /// `writer` may write, itself or as the office that `absorbed` offices were merged into).
    /// Returns the first problem found.
    public func validate(writer: OfficeCode? = nil, absorbed: [OfficeCode] = []) throws(SyncCoreError) {
        func problem(_ name: String, _ value: FieldValue) -> String? {
            guard let column = table.column(named: name)?.column else { return "unknown field '\(name)'" }
            switch (value, column.kind) {
            case (.null, _) where !column.nullable: return "field '\(name)' may not be null"
            case (.null, _), (.integer, .integer), (.text, .text): return ValueRules.problem(table, name, value, writer: writer, absorbed: absorbed)
            default: return "field '\(name)' must be \(column.kind.rawValue)"
            }
        }
        // The first bad field by name is reported, whatever the dictionary's order.
        var first: (name: String, message: String)?
        for (name, value) in fields where first == nil || name < first!.name {
            if let message = problem(name, value) { first = (name, message) }
        }
        if let first { throw SyncCoreError(.invalidValue, "\(table.rawValue) \(id): \(first.message)") }
        if let problem = ValueRules.rowProblem(table, fields) { throw SyncCoreError(.invalidValue, "\(table.rawValue) \(id): \(problem)") }
    }
}

extension Change {
    /// The fields that say who wrote a change or whose its row is. With the clock's node they are
    /// the change's claims of identity, which the centre never believes (docs/SECURITY.md).
    public static let identityFields = ["office", "resolved_by"]

    /// Why `writer`, the office whose token pushed this change, may not have sent it, or nil.
    ///
    /// The writer of a change is the authenticated office, so its clock must be stamped by that
    /// office (the fold reads the side that wrote a change from the clock's node) and every field
    /// naming a writer or an owner must name it. An office merged into another still names itself:
    /// the fold re-homes its records.
    public func identityProblem(pushedBy writer: OfficeCode) -> String? {
        if hlc.node != writer.rawValue {
            return "\(table.rawValue) \(id) is stamped by '\(hlc.node)' but the token is office \(writer)"
        }
        for name in Self.identityFields {
            if let value = fields[name], value != .text(writer.rawValue) {
                return "\(table.rawValue) \(id) names \(name) \(value) but the token is office \(writer)"
            }
        }
        return nil
    }
}
