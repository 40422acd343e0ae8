import ArgumentParser
import Central
import Foundation

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prove the store follows from its logs, and read the audit trail and the centre's journal.",
        subcommands: [Verify.self, Log.self, Journal.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the changeset chains and the centre's journal, replay them and compare the result with the store.",
            discussion: """
                Exit 0: the store's state follows from its logs. Exit 1: a break or a difference was found \
                (each named by table, key and column). Exit 2: nothing wrong was found but the state could not \
                be proven (a store that held data before it was upgraded to the journal). Exit 3: proven, but \
                changesets the centre accepted when they arrived are refused by this release's rules (a rule \
                tightened since, or a forgery an earlier release let through): each is named for review \
                (--reviewed OFFICE/SEQUENCE once a person has). Keep the \
                chain heads it prints elsewhere and pass them back with --expect: a head the store no longer holds \
                shows a rewrite.
                """)
        @OptionGroup var location: StoreLocation
        @Option(help: "Only this office's changeset chain (no replay).") var office: String?
        @Option(name: .customLong("expect"), help: "A chain head printed by an earlier run (CHAIN/POSITION=HASH); repeatable.")
        var expected: [String] = []
        @Option(
            name: .customLong("reviewed"),
            help: "A changeset an earlier run named for review (OFFICE/SEQUENCE) that a person has reviewed: still listed, no longer exit 3; repeatable.")
        var reviewed: [String] = []
        @Option(
            name: .customLong("scratch-dir"),
            help: "Where to rebuild the store from its logs (default: the system's temporary folder); needs about the store's size.")
        var scratchDirectory: String?

        func run() async throws {
            let store = try await location.open(.reading)
            if let office {
                let problems = try store.verifyChains(office: office)
                for problem in problems { print("audit: \(problem)") }
                if problems.isEmpty { print("audit: the changeset chain of office \(office) is intact") } else { throw ExitCode(1) }
                return
            }
            let heads = try expected.map { text in
                guard let head = ChainHead(text) else { throw ValidationError("--expect \(text): give CHAIN/POSITION=HASH as audit verify prints it") }
                return head
            }
            let started = ContinuousClock.now
            let report = try store.auditVerify(expectedHeads: heads, scratchDirectory: scratchDirectory)
            let elapsed = ContinuousClock.now - started
            for problem in report.chainProblems { print("audit: \(problem)") }
            for problem in report.journalProblems { print("audit: \(problem)") }
            for problem in report.headProblems { print("audit: \(problem)") }
            if let failure = report.replayFailure { print("audit: \(failure)") }
            for difference in report.differences { print("audit: \(difference)") }
            if let reason = report.notReplayable { print("audit: not proven: \(reason)") }
            if report.notReplayable == nil {
                print(
                    "audit: replayed \(report.replayedChangesets) changesets and \(report.replayedJournalEntries) journal entries in \(String(format: "%.1f", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)) s"
                )
            }
            let reviewedAlready = Set(reviewed)
            let toReview = report.refusedNow.filter { !reviewedAlready.contains($0.changeset) }
            for refused in report.refusedNow { print("audit: \(reviewedAlready.contains(refused.changeset) ? "reviewed" : "review"): \(refused)") }
            if report.isProven { print("audit: the store's state follows from its changesets and journal") }
            if !toReview.isEmpty {
                print(
                    "audit: \(toReview.count) refusal(s) by this release's rules of changesets accepted when they arrived; they were replayed as accepted. Review the records they wrote (promo-central audit log --record ID), then pass each changeset back with --reviewed OFFICE/SEQUENCE."
                )
            }
            print("chain heads (keep them elsewhere; pass them back with --expect):")
            for head in report.heads { print("  \(head)") }
            if report.problemsFound { throw ExitCode(1) }
            if !report.isProven { throw ExitCode(2) }
            if !toReview.isEmpty { throw ExitCode(3) }
        }
    }

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Who changed what, and when (newest first).")
        @OptionGroup var location: StoreLocation
        @Option(help: "Only this office's records.") var office: String?
        @Option(help: "Only this record or project id.") var record: String?
        @Option(help: "At most this many entries.") var limit = 100

        func run() async throws {
            for e in try await location.open(.reading).auditTrail(office: office, record: record, limit: limit) {
                let carrier = e.changeset.map { "changeset \($0)" } ?? e.journalPosition.map { "journal \($0)" } ?? "-"
                print("\(e.hlc)  \(e.writer) (\(carrier))  \(e.op) \(e.table) \(e.id)  \(e.fields)")
            }
        }
    }

    struct Journal: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What the centre itself did: offices, tokens, merges, decisions, resolutions, caps (oldest first).")
        @OptionGroup var location: StoreLocation
        @Option(help: "From this position on.") var from: Int64 = 0
        @Option(help: "At most this many entries.") var limit = 100

        func run() async throws {
            for e in try await location.open(.reading).journalEntries(from: from, limit: limit) {
                print("\(e.position)  \(e.at)  \(e.kind)  \(e.payload)")
            }
        }
    }
}
