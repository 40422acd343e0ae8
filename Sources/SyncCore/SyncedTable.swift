/// The storage class of a synced column. There is no floating-point kind: money is `Int64` VND.
public enum ColumnKind: String, Sendable {
    case text
    case integer
}

/// One column of a synced table, other than its `id`.
public struct Column: Sendable, Hashable {
    /// The column's name, the same in the replica, on the wire and in the central store.
    public let name: String
    /// Whether the column holds text or a whole number.
    public let kind: ColumnKind
    /// Whether the column may hold null; ``Change/validate(writer:)`` refuses a null where it may not.
    public let nullable: Bool
    /// The replica schema that added the column, for a column added after release 1.1.0 (schema
    /// 7): such a column is nullable, and a row's digest counts it only when it holds a value, so
    /// offices on the releases before it and after it compute the same digests for every row
    /// nobody gave the new field (docs/PROTOCOL.md, "Versions").
    public let addedInSchema: Int?

    /// Describes a column; one added to a shipped table (`addedInSchema`) must be nullable.
    public init(_ name: String, _ kind: ColumnKind, nullable: Bool = false, addedInSchema: Int? = nil) {
        precondition(addedInSchema == nil || nullable, "a column added to a shipped table is nullable")
        self.name = name
        self.kind = kind
        self.nullable = nullable
        self.addedInSchema = addedInSchema
    }
}

/// The office tables that sync in both directions. Their columns are the contract between the
/// replica's capture triggers, the wire format and the central store.
public enum SyncedTable: String, CaseIterable, Codable, Sendable {
    case planLine = "plan_line"
    case project
    case disbursement
    /// A person's decision on a conflict record (synced so that both sides see it, audited).
    case conflictResolution = "conflict_resolution"
    /// A province's local industrial-promotion programme, which projects may belong to.
    case program
    /// The append-only project event log: status moves, edits, decisions, facility acceptance, settlement.
    case projectEvent = "project_event"

    /// A small stable number for the outbox (cheaper to store than the name). Never renumber.
    public var tableID: Int {
        switch self {
        case .planLine: 1
        case .project: 2
        case .disbursement: 3
        case .conflictResolution: 4
        case .program: 5
        case .projectEvent: 6
        }
    }

    /// The table with this outbox number.
    public init?(tableID: Int) {
        guard let table = Self.allCases.first(where: { $0.tableID == tableID }) else { return nil }
        self = table
    }

    /// Whether the table is an append-only log (the disbursement ledger, the project event log):
    /// a row is written once, and the centre refuses any later edit or delete of it (rule
    /// `ledger_append_only`), comparing the edit with the row as recorded. Nothing in such a row
    /// merges field by field, so its capture does not track which columns an update changed.
    public var isAppendOnly: Bool {
        switch self {
        case .disbursement, .projectEvent: true
        case .planLine, .project, .conflictResolution, .program: false
        }
    }

    /// Whether a row of this table is the root of an aggregate (docs/CONFLICTS.md, the fold): a
    /// project, a plan line or a programme. Every other row belongs to the aggregate of a project
    /// (`project_id`) or, for a conflict resolution, of the record in conflict (`aggregate_id`).
    public var isAggregateRoot: Bool {
        switch self {
        case .project, .planLine, .program: true
        case .disbursement, .projectEvent, .conflictResolution: false
        }
    }

    /// The columns naming another row that must reach the centre before this one (or with it):
    /// the aggregate root a row belongs to, and a project's programme.
    public var parentColumns: [String] {
        switch self {
        case .project: ["program_id"]
        case .disbursement, .projectEvent: ["project_id"]
        case .conflictResolution: ["aggregate_id"]
        case .planLine, .program: []
        }
    }

    /// Every table, each after the tables its rows name as parents (``parentColumns``): the order
    /// in which rows sent again whole are queued, so a changeset never names a parent that only a
    /// later one carries.
    public static let parentsFirst: [SyncedTable] = [.program, .planLine, .project, .disbursement, .projectEvent, .conflictResolution]

    /// The columns after `id`, in the order of the bits of the outbox's changed-column mask.
    /// Append only: a column's position is its bit. (Made once per table: the centre and the
    /// digests look at them for every row.)
    public var columns: [Column] { Self.schemas[tableID].columns }

    /// Column `name` of this table and its position, or nil when the table has no such column.
    public func column(named name: String) -> (index: Int, column: Column)? {
        Self.schemas[tableID].positions[name].map { ($0, Self.schemas[tableID].columns[$0]) }
    }

    /// A row's fields as values in the order of ``columns``, a missing field as null.
    public func values(of fields: [String: FieldValue]) -> [FieldValue] {
        columns.map { fields[$0.name] ?? .null }
    }

    /// The columns and their positions by name, indexed by `tableID`.
    private static let schemas: [(columns: [Column], positions: [String: Int])] =
        [([], [:])]
        + (1...allCases.count).map { id in
            let columns = SyncedTable(tableID: id)!.declaredColumns
            return (columns, Dictionary(uniqueKeysWithValues: columns.enumerated().map { ($1.name, $0) }))
        }

    private var declaredColumns: [Column] {
        switch self {
        case .planLine:
            [
                Column("office", .text), Column("year", .integer), Column("fund_source", .text),
                Column("amount", .integer), Column("note", .text, nullable: true),
            ]
        case .project:
            [
                Column("office", .text), Column("province", .text), Column("code", .text),
                Column("name", .text), Column("category", .text), Column("fund_source", .text),
                Column("beneficiary", .text, nullable: true), Column("year", .integer),
                Column("total_cost", .integer), Column("requested_support", .integer),
                Column("approved_support", .integer, nullable: true), Column("status", .text),
                Column("program_id", .text, nullable: true), Column("commune", .text, nullable: true),
                Column("counterpart_funds", .integer, nullable: true),
                Column("tax_code", .text, nullable: true, addedInSchema: 8),
            ]
        case .disbursement:
            [
                Column("office", .text), Column("project_id", .text), Column("kind", .text),
                Column("amount", .integer), Column("voucher", .text, nullable: true), Column("paid_on", .text),
            ]
        case .conflictResolution:
            [
                Column("office", .text), Column("conflict_id", .text), Column("aggregate_id", .text),
                Column("choice", .text), Column("resolved_by", .text), Column("note", .text, nullable: true),
            ]
        case .program:
            [
                Column("office", .text), Column("code", .text), Column("name", .text),
                Column("start_year", .integer), Column("end_year", .integer), Column("note", .text, nullable: true),
            ]
        case .projectEvent:
            [
                Column("office", .text), Column("project_id", .text), Column("kind", .text), Column("occurred_on", .text),
                Column("amount", .integer, nullable: true), Column("reference", .text, nullable: true),
                Column("note", .text, nullable: true),
            ]
        }
    }

    /// The column names after `id`.
    public var columnNames: [String] { columns.map(\.name) }
}

/// A row of a synced table, as the key of a set or dictionary (cheaper to hash and compare than
/// `table|id` text).
public struct SyncedRowKey: Hashable, Sendable {
    /// The table the row is in.
    public let table: SyncedTable
    /// The row's id as text.
    public let id: String

    /// The key of row `id` of `table`.
    public init(_ table: SyncedTable, _ id: String) {
        self.table = table
        self.id = id
    }
}

/// Where a project's money comes from.
public enum FundSource: String, CaseIterable, Codable, Sendable {
    case national
    case local
}

/// The kinds of entry in the disbursement ledger (how each counts: ``LedgerRules/signed(_:_:)``).
public enum DisbursementKind: String, CaseIterable, Codable, Sendable {
    case advance
    case payment
    case recovery
    case settlementAdjustment = "settlement_adjustment"

}

/// The kinds of entry in a project's event log.
public enum ProjectEventKind: String, CaseIterable, Codable, Sendable {
    /// The project was entered (or imported).
    case created
    /// Proposal content changed; `note` names the fields.
    case updated
    /// A status move; `note` is `from → to`.
    case status
    /// A decision of the centre (appraisal, approval, return, rejection, adjustment, halt).
    case decision
    /// Facility acceptance (nghiệm thu): `reference` is the minutes' number, `note` the result.
    case acceptance
    /// Settlement (quyết toán): `amount` is the settled support, `reference` the decision's number.
    case settlement
}
