import ArgumentParser
import Foundation
import SyncAgent

struct Resync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Resynchronise with the centre after an outage or a restored centre.",
        discussion: """
            --force pushes what is pending, compares digests with the centre, re-sends the rows the centre \
            lacks and fetches the rows that differ, then verifies again. When the centre's epoch changed \
            (it was restored from a backup) it adopts the new epoch, re-sends every record this office owns \
            (the centre's merge makes that harmless) and pulls the whole change log again. Safe to interrupt \
            and run again.
            """)

    @OptionGroup var location: ReplicaLocation

    @Flag(help: "Required: re-send everything and pull everything.")
    var force = false

    func run() async throws {
        guard force else {
            throw ValidationError("resync re-sends every record of this office; say --force to do it")
        }
        let configuration = try location.configuration()
        let logger = Logs.bootstrap(level: configuration.logLevel)
        let engine = try makeEngine(try location.open(), configuration, logger: logger)
        do {
            if try engine.replica.status().epochMismatch != nil {
                let (queued, report) = try await engine.forceResync()
                print("resync done: adopted the centre's new epoch, re-sent \(queued) records in \(report.changesetsPushed) changesets, pulled \(report.recordsPulled) records")
            } else {
                let (before, after) = try await engine.repair()
                print("resync: before: \(before.summary); after: \(after.summary)")
                if !after.identical { throw ExitCode(1) }
            }
        } catch let error as SyncAgentError {
            printError("resync failed: \(error.message)")
            if let hint = error.hint { printError("hint: \(hint)") }
            throw ExitCode(1)
        }
    }
}
