import ArgumentParser
import Foundation
import Replica
import SyncAgent
import SyncCore

struct Outbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "What waits to be pushed, and what to do when the centre refuses a changeset.",
        discussion: """
            The centre refuses a changeset whole when one of its rows says something this office may not \
            write (another office's record, a parent the centre does not know, a value out of bounds); \
            nothing after it is pushed until the row is fixed (then: promo-sync outbox retry) or the change \
            is withdrawn (promo-sync outbox withdraw TABLE ID).
            """,
        subcommands: [Show.self, Retry.self, Withdraw.self], defaultSubcommand: Show.self)

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pending changes, the refused changeset and the changes withdrawn.")
        @OptionGroup var location: ReplicaLocation

        func run() throws {
            let replica = try location.open()
            let status = try replica.status()
            print("pending:   \(status.pending.changes) changes in \(status.pending.unacknowledgedChangesets) unacknowledged changesets")
            if let refusal = status.refusal {
                print("refused:   changeset \(refusal.sequence) (\(refusal.code)): \(refusal.message)")
                print("  hint: \(refusal.hint)")
            } else {
                print("refused:   nothing")
            }
            let withdrawn = try replica.withdrawnChanges()
            print("withdrawn: \(withdrawn.count)")
            for change in withdrawn {
                print("  \(change.withdrawnAt)  \(change.table) \(change.id)\n    why:    \(change.reason)\n    values: \(change.fields ?? "(deleted)")")
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "After fixing the refused row, make the waiting changesets again from the current values.")
        @OptionGroup var location: ReplicaLocation

        func run() async throws {
            let replica = try location.open()
            try await syncingAlone(replica) { () throws(SyncAgentError) in
                do throws(ReplicaError) { try replica.retryRefused() } catch { throw SyncAgentError(error) }
            }
            if pokeDaemon(replica) {
                print("the daemon is pushing the waiting changes again with their current values")
            } else {
                print("the waiting changes will be pushed again with their current values by the next sync (promo-sync sync)")
            }
        }
    }

    struct Withdraw: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take back this office's pending change of one row; the centre's version comes back, the rest is pushed.")
        @OptionGroup var location: ReplicaLocation
        @Argument(help: "The table, as promo-sync status names it (e.g. disbursement).") var table: String
        @Argument(help: "The row's id.") var id: String

        func run() async throws {
            guard let synced = SyncedTable(rawValue: table.lowercased()) else {
                throw ValidationError("'\(table)' is not a synced table; use one of \(SyncedTable.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let configuration = try location.configuration()
            let logger = Logs.bootstrap(level: configuration.logLevel)
            let engine = try OfficeServices.engine(try location.open(), configuration: configuration, logger: logger)
            do throws(SyncAgentError) {
                let (withdrawn, report) = try await syncingAlone(engine.replica) { () async throws(SyncAgentError) in
                    try await engine.withdraw(table: synced, id: id)
                }
                print("withdrew \(withdrawn.table) \(withdrawn.id) (its values are kept: promo-sync outbox show)")
                print("then pushed \(report.changesPushed) changes and pulled \(report.recordsPulled) records")
                _ = pokeDaemon(engine.replica)
            } catch {
                printError("withdraw failed: \(error.message)")
                if let hint = error.hint { printError("hint: \(hint)") }
                throw ExitCode(1)
            }
        }
    }
}

/// Asks a running daemon to sync now (SIGUSR1), so it leaves its wait after a refusal was dealt
/// with. Returns whether a daemon was signalled.
func pokeDaemon(_ replica: Replica) -> Bool {
    guard let pid = try? replica.status().daemonPID, kill(pid, 0) == 0 else { return false }
    return kill(pid, SIGUSR1) == 0
}
