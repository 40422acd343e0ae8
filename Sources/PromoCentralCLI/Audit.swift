import ArgumentParser
import Central
import Foundation

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify the stored changeset chains and read the audit trail.", subcommands: [Verify.self, Log.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-verify every office's stored changeset chain. Exit 0 when intact, 1 when a break is found.")
        @OptionGroup var location: StoreLocation
        @Option(help: "Only this office.") var office: String?

        func run() throws {
            let problems = try location.open().verifyChains(office: office)
            if problems.isEmpty {
                print("audit: every changeset chain is intact")
                return
            }
            for problem in problems { print("audit: \(problem)") }
            throw ExitCode(1)
        }
    }

    struct Log: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Who changed what, and when (newest first).")
        @OptionGroup var location: StoreLocation
        @Option(help: "Only this office's records.") var office: String?
        @Option(help: "Only this record or project id.") var record: String?
        @Option(help: "At most this many entries.") var limit = 100

        func run() throws {
            for e in try location.open().auditTrail(office: office, record: record, limit: limit) {
                print("\(e.hlc)  \(e.writer)  \(e.op) \(e.table) \(e.id)  \(e.fields)")
            }
        }
    }
}
