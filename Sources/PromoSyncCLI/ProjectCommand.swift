import ArgumentParser
import CLISupport
import Foundation
import Replica
import SyncCore

struct ProjectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "project", abstract: "Enter and list projects (đề án).",
        subcommands: [Add.self, List.self, Show.self, Update.self, Move.self, Accept.self, Settle.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a draft project of this office.")

        @OptionGroup var location: ReplicaLocation
        @Option(help: "The office's own project code, unique at the office.") var code: String
        @Option(help: "Project name (Vietnamese in UTF-8 is fine).") var name: String
        @Option(help: "Activity category code, e.g. MH_TRINHDIEN.") var category: String
        @Option(help: "Fund source: national or local.") var fund: FundSource
        @Option(help: "Beneficiary (facility) name.") var beneficiary: String?
        @Option(help: "Plan year.") var year: Int
        @Option(name: .customLong("total-cost"), parsing: .unconditional, help: "Total cost in VND.", transform: amountArgument) var totalCost: Int64
        @Option(parsing: .unconditional, help: "Requested support in VND.", transform: amountArgument) var requested: Int64
        @Option(help: "Former province code when the project was made under one.") var province: String?
        @Option(help: "The programme (code or id) it belongs to.") var program: String?
        @Option(help: "The commune (xã/phường) of the facility.") var commune: String?
        @Option(parsing: .unconditional, help: "The beneficiary's own contribution (counterpart funds) in VND.", transform: amountArgument) var counterpart:
            Int64?
        @Option(name: .customLong("tax-code"), help: "The beneficiary enterprise's tax code (mã số thuế): 10 digits, or 13 for a branch.") var taxCode: String?

        func run() throws {
            let replica = try location.open()
            let id = try replica.data.addProject(
                NewProject(
                    code: code, name: name, category: category, fundSource: fund, beneficiary: beneficiary, year: year,
                    totalCost: totalCost, requestedSupport: requested, province: province,
                    program: program, commune: commune, counterpartFunds: counterpart, taxCode: taxCode))
            print(id.rawValue)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the projects in the replica.")

        @OptionGroup var location: ReplicaLocation
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let projects = try location.open().data.projects()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(projects), as: UTF8.self))
                return
            }
            print("code        year fund      status     requested (VND)  approved (VND)   disbursed (VND)  name")
            for p in projects {
                print(
                    [
                        p.code.padding(10), String(p.year), p.fundSource.padding(9), p.status.padding(10),
                        String(p.requestedSupport).leftPadding(16), (p.approvedSupport.map(String.init) ?? "-").leftPadding(16),
                        String(p.disbursed).leftPadding(16), p.name,
                    ].joined(separator: " "))
            }
            print("\(projects.count) projects")
        }
    }
}

extension ProjectCommand {
    struct Move: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status", abstract: "Move a project to its next status (the steps the office owns).")

        @OptionGroup var location: ReplicaLocation
        @Argument(help: "Project id or code.") var project: String
        @Option(help: "The new status, e.g. submitted, appraised_locally, submitted_to_centre, contracted, in_progress, accepted.")
        var to: ProjectStatus

        func run() throws {
            try location.open().data.setProjectStatus(project, to: to)
            print("\(project) → \(to.rawValue)")
        }
    }
}

extension ProjectCommand {
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a project with its ledger and open conflicts.")

        @OptionGroup var location: ReplicaLocation
        @Argument(help: "Project id or code.") var project: String

        func run() throws {
            let replica = try location.open()
            guard let p = try replica.data.projects().first(where: { $0.id == project || $0.code == project }) else {
                throw CommandFailure("no project '\(project)' in this replica; see: promo-sync project list")
            }
            print("\(p.code)  \(p.name)")
            print("  id \(p.id), office \(p.office), province \(p.province), year \(p.year), \(p.fundSource) fund, status \(p.status)")
            let program = try p.programID.flatMap { id in try replica.data.programs().first { $0.id == id }.map { "\($0.code) \($0.name)" } }
            print(
                "  category \(p.category), beneficiary \(p.beneficiary ?? "-"), tax code \(p.taxCode ?? "-"), commune \(p.commune ?? "-"), programme \(program ?? "-")"
            )
            print(
                "  total cost \(p.totalCost) VND, requested \(p.requestedSupport) VND, counterpart \(p.counterpartFunds.map { "\($0) VND" } ?? "-"), approved \(p.approvedSupport.map { "\($0) VND" } ?? "-"), disbursed \(p.disbursed) VND"
            )
            let entries = try replica.data.ledger(p.id)
            print("  ledger (\(entries.count) entries):")
            for e in entries {
                print(
                    "    \(e.paidOn)  \(e.kind.padding(22))  \(String(e.amount).leftPadding(16)) VND  \(e.voucher ?? "-")\(e.held ? "  HELD by a conflict" : "")"
                )
            }
            let events = try replica.data.events(p.id)
            print("  event log (\(events.count) entries):")
            for e in events {
                let details = [e.amount.map { "\($0) VND" }, e.reference.map { "no. \($0)" }, e.note].compactMap { $0 }.joined(separator: ", ")
                print("    \(e.occurredOn)  \(e.kind.padding(10))  \(details)")
            }
            for c in try replica.data.conflicts(openOnly: true) where c.aggregateID == p.id {
                print("  open conflict \(c.id): \(c.message)")
            }
        }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a project's proposal content (the fields the office owns).")

        @OptionGroup var location: ReplicaLocation
        @Argument(help: "Project id or code.") var project: String
        @Option(help: "New name.") var name: String?
        @Option(help: "New activity category code.") var category: String?
        @Option(help: "New beneficiary.") var beneficiary: String?
        @Option(name: .customLong("total-cost"), parsing: .unconditional, help: "New total cost in VND.", transform: amountArgument) var totalCost: Int64?
        @Option(parsing: .unconditional, help: "New requested support in VND.", transform: amountArgument) var requested: Int64?
        @Option(help: "New commune.") var commune: String?
        @Option(parsing: .unconditional, help: "New counterpart funds in VND.", transform: amountArgument) var counterpart: Int64?
        @Option(help: "The programme (code or id) it belongs to.") var program: String?
        @Option(name: .customLong("tax-code"), help: "The beneficiary enterprise's tax code (mã số thuế).") var taxCode: String?

        func run() throws {
            try location.open().data.updateProject(
                project,
                ProjectUpdate(
                    name: name, category: category, beneficiary: beneficiary, totalCost: totalCost, requestedSupport: requested,
                    commune: commune, counterpartFunds: counterpart, program: program, taxCode: taxCode))
            print("\(project) updated; the change reaches the centre with the next sync")
        }
    }
}

extension ProjectCommand {
    struct Accept: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record facility acceptance (nghiệm thu): the project moves from in_progress to accepted.")

        @OptionGroup var location: ReplicaLocation
        @Argument(help: "Project id or code.") var project: String
        @Option(help: "Date of the acceptance, YYYY-MM-DD.", transform: dateArgument) var on: String
        @Option(help: "Number of the acceptance minutes.") var minutes: String
        @Option(help: "The result as written in the minutes.") var result: String?

        func run() throws {
            try location.open().data.acceptProject(project, Acceptance(acceptedOn: on, minutes: minutes, result: result))
            print("\(project) accepted on \(on) (minutes \(minutes)); the record reaches the centre with the next sync")
        }
    }

    struct Settle: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record the settlement (quyết toán): the project moves from accepted to settled.")

        @OptionGroup var location: ReplicaLocation
        @Argument(help: "Project id or code.") var project: String
        @Option(help: "Date of the settlement decision, YYYY-MM-DD.", transform: dateArgument) var on: String
        @Option(parsing: .unconditional, help: "The settled support in VND.", transform: amountArgument) var amount: Int64
        @Option(help: "Number of the settlement decision.") var decision: String

        func run() throws {
            let difference = try location.open().data.settleProject(project, Settlement(settledOn: on, amount: amount, decision: decision))
            print("\(project) settled at \(amount) VND (decision \(decision))")
            if difference > 0 {
                print("the ledger shows \(difference) VND less than settled: record the rest with promo-sync disburse --kind settlement_adjustment")
            } else if difference < 0 {
                print("the ledger shows \(-difference) VND more than settled: record the money returned with promo-sync disburse --kind recovery")
            }
        }
    }
}

extension ProjectStatus: ExpressibleByArgument {
    /// A status by its name, e.g. `appraised_locally`, in any case.
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension DisbursementKind: ExpressibleByArgument {
    /// An entry kind by its name (`advance`, `payment`, `recovery` or `settlement_adjustment`), in any case.
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
    func leftPadding(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
