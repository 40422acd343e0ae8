import ArgumentParser
import CLISupport
import Foundation
import Replica
import SyncCore

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Enter annual budget plan lines.", subcommands: [Add.self, List.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a plan line for a year and fund source.")

        @OptionGroup var location: ReplicaLocation
        @Option(help: "Plan year.") var year: Int
        @Option(help: "national or local.") var fund: FundSource
        @Option(parsing: .unconditional, help: "Planned amount in VND.", transform: amountArgument) var amount: Int64
        @Option(help: "A note.") var note: String?

        func run() throws {
            print(try location.open().data.addPlanLine(year: year, fundSource: fund, amount: amount, note: note).rawValue)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List this office's plan lines.")
        @OptionGroup var location: ReplicaLocation

        func run() throws {
            let lines = try location.open().data.planLines()
            for l in lines {
                print("\(l.year)  \(l.fundSource.padding(8))  \(String(l.amount).leftPadding(18)) VND  \(l.note ?? "")")
            }
            print("\(lines.count) plan lines")
        }
    }
}
