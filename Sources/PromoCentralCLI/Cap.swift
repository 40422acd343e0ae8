import ArgumentParser
import Central
import Foundation
import SyncCore

struct Cap: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Set a support cap (data the offices receive and check new projects against; a local project's accepted overruns count within it).",
        discussion: "Example: promo-central cap --fund local --category MH_TRINHDIEN --province 79 --max 800000000")

    @OptionGroup var location: StoreLocation
    @Option(help: "national or local.") var fund: String
    @Option(help: "Activity category code.") var category: String
    @Option(help: "A province code; leave out for every province.") var province: String?
    @Option(help: "At most this percent of the total cost.") var percent: Int64?
    @Option(help: "At most this many VND.") var max: Int64?

    func run() async throws {
        guard let fund = FundSource(rawValue: fund) else { throw ValidationError("--fund must be national or local") }
        if let percent, !(1...100).contains(percent) { throw ValidationError("--percent must be between 1 and 100") }
        if let max, max <= 0 { throw ValidationError("--max must be more than 0 VND") }
        let cap = SupportCap(fund: fund, category: category, province: province, maxPercentOfCost: percent, maxAmount: max)
        try await location.open(.writing).setCap(cap)
        print("cap \(cap.id) set; offices receive it with their next pull")
    }
}
