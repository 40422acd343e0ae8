/// The central's merged state of one synced row: every field with the clock of the change that set it.
///
/// Merging is per field, last writer wins by hybrid logical clock. Because the clock order is total
/// and a field only ever moves to a larger clock, merging the same changes in any order, any number
/// of times, gives the same row (commutative, idempotent, convergent).
public struct MergedRow: Hashable, Codable, Sendable {
    /// The current value of every field set so far, by name.
    public var fields: [String: FieldValue]
    /// For each field, the clock of the change that set its current value.
    public var clocks: [String: HLCTimestamp]
    /// Clock of the delete, when the row is a tombstone. A tombstone is never undone by a field
    /// update; the update's values are still merged into the tombstone so nothing is lost.
    public var deletedAt: HLCTimestamp?

    /// A row from its parts; the defaults give an empty row for the first change to fill.
    public init(fields: [String: FieldValue] = [:], clocks: [String: HLCTimestamp] = [:], deletedAt: HLCTimestamp? = nil) {
        self.fields = fields
        self.clocks = clocks
        self.deletedAt = deletedAt
    }

    /// Whether the row is a tombstone.
    public var isDeleted: Bool { deletedAt != nil }

    /// Merges one change; returns whether anything in the row changed.
    @discardableResult
    public mutating func merge(_ change: Change) -> Bool {
        switch change.op {
        case .delete:
            // The earliest delete is kept, so the tombstone's clock does not depend on order.
            if let existing = deletedAt, existing <= change.hlc { return false }
            deletedAt = change.hlc
            return true
        case .upsert:
            // A new row takes every field of its first change, with that change's clock (the
            // dictionaries copied, not rebuilt key by key: the centre makes one row per change it takes in).
            if fields.isEmpty && clocks.isEmpty {
                fields = change.fields
                clocks = change.fields.mapValues { _ in change.hlc }
                return !fields.isEmpty
            }
            var changed = false
            for (name, value) in change.fields {
                if let clock = clocks[name], clock >= change.hlc { continue }
                clocks[name] = change.hlc
                fields[name] = value
                changed = true
            }
            return changed
        }
    }
}
