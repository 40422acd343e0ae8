import ArgumentParser
import Foundation
import Replica
import SyncCore

struct ProgramCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "program", abstract: "Enter and list the province's local programmes (chương trình khuyến công).",
        subcommands: [Add.self, List.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a programme of this office; projects join it with --program.")

        @OptionGroup var location: ReplicaLocation
        @Option(help: "The office's own programme code, unique at the office.") var code: String
        @Option(help: "Programme name.") var name: String
        @Option(help: "First year.") var from: Int
        @Option(help: "Last year.") var to: Int
        @Option(help: "A note, e.g. the decision that adopted it.") var note: String?

        func run() throws {
            print(try location.open().data.addProgram(NewProgram(code: code, name: name, startYear: from, endYear: to, note: note)).rawValue)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List this office's programmes.")
        @OptionGroup var location: ReplicaLocation

        func run() throws {
            let programs = try location.open().data.programs()
            for g in programs {
                print("\(g.code.padding(12))  \(g.startYear)–\(g.endYear)  \(String(g.projects).leftPadding(5)) projects  \(g.name)")
            }
            print("\(programs.count) programmes")
        }
    }
}
