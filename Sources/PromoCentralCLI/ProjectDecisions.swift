import ArgumentParser
import CLISupport
import Central
import Foundation
import SyncCore

struct ProjectDecisions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "project",
        abstract: "List projects and record the centre's decisions on national-fund projects.",
        subcommands: [List.self, Decide.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the projects the centre holds.")
        @OptionGroup var location: StoreLocation
        @Option(help: "Only this office's projects.") var office: String?

        func run() async throws {
            for p in try await location.open(.reading).projects(office: office) {
                let f = p.fields
                print(
                    Terminal.printable(
                        [
                            p.office, f["code"]?.description ?? "", f["fund_source"]?.description ?? "", f["status"]?.description ?? "",
                            "requested \(f["requested_support"]?.description ?? "-")", "approved \(f["approved_support"]?.description ?? "-")",
                            p.id,
                        ].joined(separator: "  ")))
            }
        }
    }

    struct Decide: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Appraise, approve, return, reject, adjust or halt a national project.",
            discussion: "PROJECT is the project id or OFFICE/CODE (e.g. 79/HCM-01). Amounts are whole VND.")

        enum Action: String, ExpressibleByArgument, CaseIterable {
            case appraise, approve, `return`, reject, adjust, halt
        }

        @OptionGroup var location: StoreLocation
        @Argument(help: "appraise, approve, return, reject, adjust or halt.") var action: Action
        @Argument(help: "The project id or OFFICE/CODE.") var project: String
        @Option(help: "The approved support in VND (approve, adjust).") var amount: Int64?
        @Option(help: "The number of the decision document, kept in the project's event log.") var document: String?

        func validate() throws {
            if [.approve, .adjust].contains(action) && amount == nil {
                throw ValidationError("\(action.rawValue) needs --amount VND")
            }
        }

        func run() async throws {
            let decision: CentreDecision =
                switch action {
                case .appraise: .appraise
                case .approve: .approve(amount: amount ?? 0)
                case .return: .returnToOffice
                case .reject: .reject
                case .adjust: .adjust(amount: amount ?? 0)
                case .halt: .halt
                }
            let decided = try await location.open(.writing).decide(project: project, decision, reference: document)
            let name = decided.fields["name"]?.text.map { " (\(Terminal.printable($0)))" } ?? ""
            print(
                "recorded: \(action.rawValue) \(decided.office)/\(Terminal.printable(decided.fields["code"]?.text ?? "?")) id \(decided.id)\(name); the office receives it at its next pull"
            )
        }
    }
}

struct ConflictsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conflicts", abstract: "List, show and resolve conflict records.", subcommands: [List.self, Show.self, Resolve.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List open conflicts (--all for resolved ones too).")
        @OptionGroup var location: StoreLocation
        @Flag(help: "Include resolved conflicts.") var all = false
        @Option(help: "Only this office's conflicts.") var office: String?

        func run() async throws {
            let conflicts = try await location.open(.reading).conflicts(all: all, office: office)
            for c in conflicts {
                print(Terminal.printable("office \(c.office)  \(c.description.summary)"))
                print(Terminal.printable("    \(c.description.message)"))
                if !all, let choice = c.record["resolution"]?.text, let by = c.record["resolved_by"]?.text {
                    print(Terminal.printable("    \(choice == "accept" ? "accepted" : "dismissed") by office \(by); the centre's answer stands over it"))
                }
            }
            print("\(conflicts.count) conflicts")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one conflict with both versions.")
        @OptionGroup var location: StoreLocation
        @Argument(help: "The conflict id (or its first 6+ characters).") var id: String

        func run() async throws {
            let matching = try await location.open(.reading).conflicts(all: true).filter { $0.id == id || (id.count >= 6 && $0.id.hasPrefix(id)) }
            guard let c = matching.first(where: { $0.id == id }) ?? matching.first else {
                throw ValidationError("no conflict '\(id)'; list them with: promo-central conflicts list --all")
            }
            if matching.count > 1 && c.id != id {
                throw ValidationError("more than one conflict starts with '\(id)' (\(matching.map(\.id).joined(separator: ", "))): give more of the id")
            }
            for line in c.description.lines { print(Terminal.printable(line)) }
        }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resolve a conflict: --accept lets the losing change take effect, --dismiss keeps what stood.")
        @OptionGroup var location: StoreLocation
        @Argument(help: "The conflict id (or its first 6+ characters).") var id: String
        @Flag(help: "Let the losing change take effect.") var accept = false
        @Flag(help: "Keep the version that stood.") var dismiss = false
        @Option(help: "Why (kept in the audit trail).") var note: String?

        func validate() throws {
            if accept == dismiss { throw ValidationError("say either --accept or --dismiss") }
        }

        func run() async throws {
            try await location.open(.writing).resolve(conflict: id, accept ? .accept : .dismiss, note: note)
            print("resolved \(id); the office sees it at its next pull")
        }
    }
}

struct LostDecisionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decisions",
        abstract: "After a restore: the centre's decisions that offices still hold but the restored store lost.",
        discussion: """
            Offices re-send what they hold after a restore; a decision of the centre among it is kept aside as a conflict, \
            never applied by itself. List them, then re-confirm each (a new decision, in the order they were made) or drop it.
            """,
        subcommands: [Lost.self, Reconfirm.self, Drop.self])

    static func line(_ d: LostDecision) -> String {
        [
            d.conflict, "office \(d.office)", "project \(d.projectCode ?? d.projectID)", d.decision?.description ?? "'\(d.summary)'",
            d.document.map { "document \($0)" } ?? "", d.occurredOn.map { "on \($0)" } ?? "",
        ]
        .filter { !$0.isEmpty }.joined(separator: "  ")
    }

    struct Lost: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the lost decisions offices hold, oldest first, with the commands for each.")
        @OptionGroup var location: StoreLocation

        func run() async throws {
            let lost = try await location.open(.reading).lostDecisions()
            guard !lost.isEmpty else {
                print("no lost decisions: no office holds a decision of the centre that the centre lacks")
                return
            }
            for d in lost {
                print(Terminal.printable(LostDecisionsCommand.line(d)))
                print("    reported by office \(d.office); check it against the decision document")
                print("    re-confirm: promo-central decisions reconfirm \(d.conflict)\(d.decision?.amountIsTyped == true ? " --amount VND" : "")")
                print("    drop:       promo-central decisions drop \(d.conflict) --reason TEXT")
            }
        }
    }

    struct Reconfirm: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a lost decision again, as a new decision of the centre; the office receives it at its next pull.")
        @OptionGroup var location: StoreLocation
        @Argument(help: "The conflict id of the lost decision (or its first 6+ characters).") var id: String
        @Option(help: "For an approval or adjustment: the amount in VND, from the decision document (not the office's copy).") var amount: Int64?

        func run() async throws {
            let d = try await location.open(.writing).reconfirm(lost: id, amount: amount)
            print(Terminal.printable("re-confirmed: \(LostDecisionsCommand.line(d))"))
        }
    }

    struct Drop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drop a lost decision; the office takes the project as the centre holds it at its next pull.")
        @OptionGroup var location: StoreLocation
        @Argument(help: "The conflict id of the lost decision (or its first 6+ characters).") var id: String
        @Option(help: "Why (kept in the audit trail).") var reason: String

        func validate() throws {
            if reason.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--reason must say why") }
        }

        func run() async throws {
            let d = try await location.open(.writing).drop(lost: id, reason: reason)
            print(Terminal.printable("dropped: \(LostDecisionsCommand.line(d))"))
        }
    }
}
