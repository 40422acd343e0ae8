import ArgumentParser
import Foundation
import SyncCore

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Plan versus disbursed from the consolidated records pulled from the centre (works offline).",
        discussion: "Example: promo-sync report --year 2025 --cutoff 2025-09-30 --region south --by province")

    @OptionGroup var location: ReplicaLocation
    @Option(help: "Plan year.") var year: Int
    @Option(help: "Count payments made on or before this date (YYYY-MM-DD).") var cutoff: String?
    @Option(help: "north, central_highlands or south.") var region: String?
    @Option(help: "A province code.") var province: String?
    @Option(help: "national or local.") var fund: String?
    @Option(help: "Break down by region, province, fund and/or group (comma-separated).") var by: String?
    @Option(help: "table, csv or json.") var format: ReportFormat = .table
    @Option(help: "Decimals of the billions shown.") var decimals = 1

    func run() throws {
        let query = try ProgressReport.query(year: year, cutoff: cutoff, region: region, province: province, fund: fund, by: by)
        let facts = try location.open().reportFacts()
        print(ProgressReport.render(plans: facts.plans, disbursed: facts.disbursed, query: query, format: format, fractionDigits: max(0, min(decimals, 6))))
    }
}

extension ReportFormat: ExpressibleByArgument {}
