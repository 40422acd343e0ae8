import ArgumentParser
import CLISupport
import Foundation
import Replica
import SyncCore

struct Conflicts: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, show and resolve this office's conflict records.", subcommands: [List.self, Show.self, Resolve.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List open conflicts (--all for resolved ones too).")
        @OptionGroup var location: ReplicaLocation
        @Flag(help: "Include resolved conflicts.") var all = false
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let conflicts = try location.open().data.conflicts(openOnly: !all)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(conflicts), as: UTF8.self))
                return
            }
            for c in conflicts {
                print(c.description.summary)
                print("    \(c.message)")
            }
            print("\(conflicts.count) conflicts")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one conflict with both versions.")
        @OptionGroup var location: ReplicaLocation
        @Argument(help: "The conflict id (or its first 6+ characters).") var id: String

        func run() throws {
            guard let c = try location.open().data.conflicts().first(where: { $0.id == id || (id.count >= 6 && $0.id.hasPrefix(id)) }) else {
                throw CommandFailure("no conflict '\(id)' here; list them with: promo-sync conflicts list --all")
            }
            for line in c.description.lines { print(line) }
        }
    }

    struct Resolve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resolve a conflict: keep mine, keep theirs, or give a corrected value.",
            discussion: """
                --keep mine lets this office's losing version take effect (only where the office owns what the rule \
                protects); --keep theirs keeps what stood; --value keeps what stood and writes the corrected value as \
                a new change (for a held payment: a new ledger entry of that amount). The resolution syncs to the centre.
                """)

        enum Keep: String, ExpressibleByArgument { case mine, theirs }

        @OptionGroup var location: ReplicaLocation
        @Argument(help: "The conflict id (or its first 6+ characters).") var id: String
        @Option(help: "mine or theirs.") var keep: Keep?
        @Option(help: "A corrected value (whole VND for amounts).") var value: String?
        @Option(help: "With --value for a held ledger entry: the treasury voucher of the corrected payment, if it has one.") var voucher: String?
        @Option(help: "Why (kept in the audit trail).") var note: String?

        func validate() throws {
            if (keep == nil) == (value == nil) { throw ValidationError("give either --keep mine|theirs or --value VALUE") }
        }

        func run() throws {
            let resolution: OfficeResolution
            if let value {
                resolution = .corrected(Int64(value).map(FieldValue.integer) ?? .text(value))
            } else {
                resolution = keep == .mine ? .keepMine : .keepTheirs
            }
            try location.open().data.resolveConflict(id, resolution, note: note, voucher: voucher)
            print("resolution recorded; it reaches the centre with the next sync")
        }
    }
}
