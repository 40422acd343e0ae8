import ArgumentParser
import Foundation
import SyncAgent

struct Resync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Resynchronise with the centre after an outage or a restored centre.",
        discussion: """
            --force adopts the centre's current epoch, re-sends every record this office owns (the \
            centre's merge makes that harmless) and pulls the whole change log again. Safe to interrupt \
            and run again. Stop the daemon first or let it pause: both may run, but the work is done twice.
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
            let (queued, report) = try await engine.forceResync()
            print("resync done: re-sent \(queued) records in \(report.changesetsPushed) changesets, pulled \(report.recordsPulled) records")
        } catch {
            printError("resync failed: \(error.message)")
            if let hint = error.hint { printError("hint: \(hint)") }
            throw ExitCode(1)
        }
    }
}
