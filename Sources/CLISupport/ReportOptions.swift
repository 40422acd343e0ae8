import ArgumentParser
import SyncCore

/// The options of `promo-sync report` and `promo-central report`, which print the same report
/// from different stores.
public struct ReportOptions: ParsableArguments {
    /// The plan year reported on.
    @Option(help: "Plan year.") public var year: Int
    /// Counts only payments made on or before this date (`YYYY-MM-DD`); nil counts all.
    @Option(help: "Count payments made on or before this date (YYYY-MM-DD).") public var cutoff: String?
    /// Only this region's provinces (`north`, `central_highlands` or `south`); nil for every region.
    @Option(help: "north, central_highlands or south.") public var region: String?
    /// Only this province, by code; a former province's code selects the province it merged into.
    @Option(help: "A province code.") public var province: String?
    /// Only this fund source (`national` or `local`); nil for both.
    @Option(help: "national or local.") public var fund: String?
    /// The dimensions to break down by, comma-separated (`region`, `province`, `fund`, `group`); nil for the total alone.
    @Option(help: "Break down by region, province, fund and/or group (comma-separated).") public var by: String?
    /// How the report is printed: a table, CSV or JSON.
    @Option(help: "table, csv or json.") public var format: ReportFormat = .table
    /// Decimals of the amounts in billions of VND; ``render(plans:disbursed:)`` keeps it between 0 and 6.
    @Option(help: "Decimals of the billions shown.") public var decimals = 1

    /// Options at their defaults, for ArgumentParser to fill.
    public init() {}

    /// The report of these facts, as chosen.
    public func render(plans: [PlanFact], disbursed: [DisbursedFact]) throws -> String {
        let query = try ProgressReport.query(year: year, cutoff: cutoff, region: region, province: province, fund: fund, by: by)
        return ProgressReport.render(plans: plans, disbursed: disbursed, query: query, format: format, fractionDigits: max(0, min(decimals, 6)))
    }
}

extension ReportFormat: ExpressibleByArgument {}

/// An amount option read by the one parser of amounts (`Money.parse`), with its message; use it
/// with `parsing: .unconditional` so that a negative number is read as a value, not an option.
public func amountArgument(_ text: String) throws -> Int64 {
    switch Money.parse(text) {
    case .success(let value): return value
    case .failure(let error): throw ValidationError(error.description)
    }
}

/// A date option read by the one parser of dates (`CalendarDate.parse`), with its message.
public func dateArgument(_ text: String) throws -> String {
    switch CalendarDate.parse(text) {
    case .success(let day): return day
    case .failure(let error): throw ValidationError(error.description)
    }
}

/// A command that cannot do what was asked, for a reason that is not a mistake in the command line
/// (an unknown project, say): printed as `Error: …` without the usage, exit 1.
public struct CommandFailure: Error, CustomStringConvertible {
    /// The reason, printed after `Error: `.
    public let description: String
    /// A failure with its reason.
    public init(_ description: String) { self.description = description }
}

extension FundSource: ExpressibleByArgument {
    /// `national` or `local`, in any case.
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}
