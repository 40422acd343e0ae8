import ArgumentParser
import Foundation
import Replica
import SyncCore

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Enter annual budget plan lines.", subcommands: [Add.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a plan line for a year and fund source.")

        @OptionGroup var location: ReplicaLocation
        @Option(help: "Plan year.") var year: Int
        @Option(help: "national or local.") var fund: FundSource
        @Option(help: "Planned amount in VND.") var amount: Int64
        @Option(help: "A note.") var note: String?

        func run() throws {
            print(try location.open().addPlanLine(year: year, fundSource: fund, amount: amount, note: note).rawValue)
        }
    }
}
