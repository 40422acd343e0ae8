/// Which side of the sync writes something: an office, or the centre.
public enum Side: String, Codable, Sendable {
    case office
    case centre

    /// The side of a writer node (`central` is the centre; any province code is an office).
    public init(node: String) {
        self = node == OfficeCode.central.rawValue ? .centre : .office
    }
}

/// A project's life (DESIGN.md §3): draft → submitted → appraised locally → (national: submitted
/// to the centre → appraised centrally) → approved → contracted → in progress → accepted → settled
/// → closed; returned, rejected and halted on the side (halted from any status that takes payments).
public enum ProjectStatus: String, CaseIterable, Codable, Sendable {
    case draft
    case submitted
    case appraisedLocally = "appraised_locally"
    case submittedToCentre = "submitted_to_centre"
    case appraisedCentrally = "appraised_centrally"
    case approved
    case contracted
    case inProgress = "in_progress"
    case accepted
    case settled
    case closed
    case returned
    case rejected
    case halted
}

/// The project status machine: which transitions exist and which side owns each.
public enum StatusMachine {
    /// The side that may move a project of `fund` from `from` to `to`, or nil if the move is illegal.
    public static func owner(from: ProjectStatus, to: ProjectStatus, fund: FundSource) -> Side? {
        switch fund {
        case .national: national[from]?[to]
        case .local: local[from]?[to]
        }
    }

    /// Every legal transition of a fund source, with its owner.
    public static func transitions(_ fund: FundSource) -> [(from: ProjectStatus, to: ProjectStatus, owner: Side)] {
        let table = fund == .national ? national : local
        return table.flatMap { from, targets in targets.map { (from: from, to: $0.key, owner: $0.value) } }
            .sorted { ($0.from.rawValue, $0.to.rawValue) < ($1.from.rawValue, $1.to.rawValue) }
    }

    /// The office's own steps, the same for both fund sources.
    private static let officeCommon: [ProjectStatus: [ProjectStatus: Side]] = [
        .draft: [.submitted: .office],
        .returned: [.draft: .office, .submitted: .office],
        .submitted: [.appraisedLocally: .office, .returned: .office],
        .approved: [.contracted: .office],
        .contracted: [.inProgress: .office],
        .inProgress: [.accepted: .office],
        .accepted: [.settled: .office],
        .settled: [.closed: .office],
    ]

    /// The statuses from which a project is halted: every one in which it takes payments
    /// (``LedgerRules/statuses(for:)``), so that while money can still move the side that owns
    /// halting can stop it. A halt only from approval to in progress let an office that had pulled
    /// the centre's halt stamp its own moves on (in progress → accepted, or on to closed) between
    /// its last change and the halt: judged at their stamps they stood, the halt found the project
    /// accepted and became a conflict, and the project took payments again (round 10). An office
    /// offline when the centre halted looks the same in the stamps; now either way its moves
    /// stand and the halt applies after them.
    static var haltable: Set<ProjectStatus> { LedgerRules.statuses(for: .payment) }

    /// The halts of a fund source, all owned by `side`, merged into its other steps.
    private static func withHalts(_ steps: [ProjectStatus: [ProjectStatus: Side]], by side: Side) -> [ProjectStatus: [ProjectStatus: Side]] {
        haltable.reduce(into: steps) { table, from in table[from, default: [:]][.halted] = side }
    }

    /// National-fund projects: the centre appraises, approves, returns, rejects and halts.
    private static let national: [ProjectStatus: [ProjectStatus: Side]] = withHalts(
        officeCommon.merging([
            .appraisedLocally: [.submittedToCentre: .office, .returned: .office],
            .submittedToCentre: [.appraisedCentrally: .centre, .returned: .centre, .rejected: .centre],
            .appraisedCentrally: [.approved: .centre, .returned: .centre, .rejected: .centre],
        ]) { _, new in new }, by: .centre)

    /// Local-fund projects: the province owns every step.
    private static let local: [ProjectStatus: [ProjectStatus: Side]] = withHalts(
        officeCommon.merging([
            .submitted: [.appraisedLocally: .office, .returned: .office, .rejected: .office],
            .appraisedLocally: [.approved: .office, .returned: .office, .rejected: .office],
        ]) { _, new in new }, by: .office)
}

/// Who owns each field of the synced tables (DESIGN.md §3).
public enum FieldOwnership {
    /// Fields fixed when the row is made; a later change to them is refused.
    public static func isImmutable(_ table: SyncedTable, _ field: String) -> Bool {
        switch table {
        case .project: ["office", "fund_source"].contains(field)
        case .disbursement, .projectEvent: true  // the ledger and the event log are append-only
        case .planLine, .conflictResolution, .program: field == "office"
        }
    }

    /// A national project's proposal: what the centre appraises and approves (its cost, the
    /// support it asks for, the funds beside it, its plan year and activity category), and the
    /// code the centre knows it by (its commands, its decision documents): an office renamed its
    /// project the centre had appraised and gave the code to a decoy, and the centre's approval
    /// by code landed on the decoy, its halt too while the real project kept paying (round 15).
    public static let proposal: Set<String> = ["code", "total_cost", "requested_support", "counterpart_funds", "year", "category"]

    /// Whether the office writes a national project's proposal in `status`: until it sends the
    /// project to the centre, and again once the centre returns it. From then on the proposal is
    /// the centre's: an office that lowered an approved project's cost below its support held its
    /// own payments and kept the centre from adjusting the support, and raising it again let
    /// entries the centre had accepted count again (round 8).
    public static func officeWritesProposal(in status: ProjectStatus?) -> Bool {
        switch status {
        case nil, .draft?, .submitted?, .appraisedLocally?, .returned?: true
        default: false
        }
    }

    /// The side that may write `field` of a row in `status` (a project's; nil for other rows),
    /// or nil when a rule of its own governs it (a project's status follows the status machine).
    public static func owner(_ table: SyncedTable, _ field: String, fund: FundSource?, status: ProjectStatus?) -> Side? {
        switch table {
        case .project:
            if field == "status" { return nil }
            // National projects: the centre owns the approved amount (approval and adjustment),
            // and the proposal once the project is sent to it.
            if fund == .national && field == "approved_support" { return .centre }
            if fund == .national && proposal.contains(field) && !officeWritesProposal(in: status) { return .centre }
            return .office
        case .planLine, .disbursement, .program:
            return .office
        case .conflictResolution:
            return nil  // either side resolves; authority is checked per resolution
        case .projectEvent:
            return nil  // either side logs what it did; the office field must name the project's office
        }
    }
}
