import ArgumentParser
import CLISupport
import Foundation

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Plan versus disbursed from the consolidated records pulled from the centre (works offline).",
        discussion: "Example: promo-sync report --year 2025 --cutoff 2025-09-30 --region south --by province")

    @OptionGroup var location: ReplicaLocation
    @OptionGroup var report: ReportOptions

    func run() throws {
        let facts = try location.open().data.reportFacts()
        print(try report.render(plans: facts.plans, disbursed: facts.disbursed))
    }
}
