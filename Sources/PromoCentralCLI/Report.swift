import ArgumentParser
import CLISupport
import Foundation

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Plan versus disbursed, nationally or by region, province, fund and reporting group.",
        discussion: "Example: promo-central report --year 2025 --cutoff 2025-09-30 --region south --by province")

    @OptionGroup var location: StoreLocation
    @OptionGroup var report: ReportOptions

    func run() async throws {
        let store = try await location.open(.reading)
        try store.refreshTotals()
        let facts = try store.reportFacts()
        print(try report.render(plans: facts.plans, disbursed: facts.disbursed))
    }
}
