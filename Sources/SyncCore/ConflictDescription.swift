/// A conflict record as people read it, the same at the office and at the centre: the record by
/// its business keys (project code, voucher, plan year and fund), the writer's office, a calendar
/// time in Vietnam, the two versions side by side with amounts in VND, and who may accept it.
public struct ConflictDescription: Sendable, Equatable {
    /// The conflict's id (``ConflictRecord/id``), the same at every replica.
    public var id: String
    /// The name of the rule that decided against the change, e.g. `over_disbursement`.
    public var rule: String
    /// The record in business terms, e.g. "payment (voucher KB-2) of project HCM-2025-01".
    public var record: String
    /// The office the conflict belongs to.
    public var office: String
    /// Who wrote the losing change (an office code or `central`) and when (its clock).
    public var writer: String
    /// The losing change's clock in its text form; ``when`` reads it as a time in Vietnam.
    public var hlc: String
    /// Why the rule decided against the change, in one sentence.
    public var message: String
    /// The losing values, by field name.
    public var mine: [String: FieldValue]
    /// The values that stood, by field name.
    public var theirs: [String: FieldValue]
    /// `open`, `resolved (accept) by 79`, `resolution sent (dismiss)`.
    public var state: String
    /// The project's fund source, which decides who may accept (nil for plan lines and programmes).
    public var fund: FundSource?

    /// Creates a description from its parts, as read from the replica or the central store.
    public init(
        id: String, rule: String, record: String, office: String, writer: String, hlc: String, message: String,
        mine: [String: FieldValue], theirs: [String: FieldValue], state: String, fund: FundSource?
    ) {
        self.id = id
        self.rule = rule
        self.record = record
        self.office = office
        self.writer = writer
        self.hlc = hlc
        self.message = message
        self.mine = mine
        self.theirs = theirs
        self.state = state
        self.fund = fund
    }

    /// The record of a conflict in business terms, from what the reader holds of it.
    public static func record(
        table: String, kind: String?, voucher: String?, projectCode: String?, planYear: Int64?, planFund: String?,
        programCode: String?
    ) -> String {
        let project = projectCode.map { "project \($0)" } ?? "a project"
        switch table {
        case "disbursement": return "\(kind ?? "ledger entry")\(voucher.map { " (voucher \($0))" } ?? " (no voucher)") of \(project)"
        case "project_event": return "an event log entry of \(project)"
        case "project": return project
        case "plan_line": return "plan line \(planYear.map(String.init) ?? "?") \(planFund ?? "?")"
        case "program": return "programme \(programCode ?? "?")"
        case "conflict_resolution": return "a resolution of a conflict of \(project)"
        default: return table
        }
    }

    /// A conflict's state in words: resolved and by whom, a resolution sent and not yet confirmed
    /// by the centre (the office's), or open.
    public static func state(resolution: String?, resolvedBy: String?, pending: String? = nil) -> String {
        resolution.map { "resolved (\($0)) by \(resolvedBy ?? "?")" } ?? pending.map { "resolution sent (\($0))" } ?? "open"
    }

    /// The writer as people say it.
    public var writerName: String { writer == OfficeCode.central.rawValue ? "the centre" : "office \(writer)" }

    /// The clock as a calendar time in Vietnam, or the clock itself if it cannot be read.
    public var when: String {
        guard let clock = try? HLCTimestamp(parsing: hlc) else { return hlc }
        return CalendarDate.vietnamDateTime(milliseconds: clock.milliseconds) + " (giờ Việt Nam)"
    }

    /// Who may keep the losing version: the owner of what the rule protects.
    public var acceptedBy: String {
        guard let rule = ConflictRule(rawValue: rule) else { return "?" }
        return rule.acceptingSide(fund: fund) == .centre ? "the centre" : "office \(office)"
    }

    /// Who may resolve it, as `conflicts show` says it.
    public var whoMayResolve: String { "anyone may keep theirs, \(acceptedBy) may keep mine" }

    /// One line for a list.
    public var summary: String {
        "\(id.prefix(8))  \(rule)  \(record)  by \(writerName) at \(when)  \(state)"
    }

    /// The full description, line by line, with the two versions side by side.
    public var lines: [String] {
        var out = [
            "conflict \(id)", "  rule:      \(rule)", "  record:    \(record) (office \(office))", "  by:        \(writerName) at \(when)",
            "  why:       \(message)", "  state:     \(state); \(whoMayResolve)",
        ]
        let fields = Set(mine.keys).union(theirs.keys).sorted()
        let width = max(5, fields.map(\.count).max() ?? 0)
        func show(_ field: String, _ value: FieldValue?) -> String {
            switch value {
            case nil, .null?: return "-"
            case .integer(let n)? where Self.isAmount(field): return Money.vnd(n)
            case .integer(let n)?: return String(n)
            case .text(let t)?: return t
            }
        }
        let column = max(18, fields.map { show($0, mine[$0]).count }.max() ?? 0)
        out.append(
            "  " + "field".padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                + "mine (the losing change)".padding(toLength: max(column, 24), withPad: " ", startingAt: 0) + "  theirs (what stands)")
        for field in fields {
            out.append(
                "  " + field.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                    + show(field, mine[field]).padding(toLength: max(column, 24), withPad: " ", startingAt: 0) + "  " + show(field, theirs[field]))
        }
        return out
    }

    /// Whether `field` holds an amount in VND, which ``lines`` shows grouped with its currency (``Money/vnd(_:)``).
    public static func isAmount(_ field: String) -> Bool {
        [
            "amount", "limit", "disbursed_before", "total_cost", "requested_support", "approved_support", "counterpart_funds",
            "plan_amount", "disbursed_amount",
        ].contains(field)
    }
}

extension Money {
    /// An amount in VND with the thousands grouped by '.', as Vietnamese write it: `250.000.000 VND`.
    public static func vnd(_ amount: Int64) -> String {
        let digits = String(amount.magnitude)
        var grouped = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { grouped.append(".") }
            grouped.append(c)
        }
        return (amount < 0 ? "-" : "") + grouped + " VND"
    }
}

extension CalendarDate {
    /// The calendar date and time (to the minute) in Vietnam of a time in milliseconds since 1970.
    public static func vietnamDateTime(milliseconds: UInt64) -> String {
        let minuteOfDay = (milliseconds / 60_000 + 7 * 60) % (24 * 60)
        func two(_ n: UInt64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return vietnamDate(milliseconds: milliseconds) + " " + two(minuteOfDay / 60) + ":" + two(minuteOfDay % 60)
    }
}
