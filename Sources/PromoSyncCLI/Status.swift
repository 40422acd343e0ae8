import ArgumentParser
import Foundation
import Replica
import SyncAgent

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the office's sync status. Exit 0 in sync, 1 degraded, 2 broken.",
        discussion: "Works whether or not the daemon runs: it reads the replica. --json prints the schema in docs/OPERATIONS.md.")

    @OptionGroup var location: ReplicaLocation

    @Flag(help: "Print JSON for monitoring.")
    var json = false

    @Option(help: "Minutes pending changes or an unreachable centre may last before the status is degraded (overrides status.degraded_after_minutes).")
    var degradedAfterMinutes: Int?

    func run() throws {
        let report: StatusReport
        do {
            var thresholds = try location.configuration().thresholds
            let replica = try location.open()
            if let degradedAfterMinutes {
                thresholds.maxPendingAge = .seconds(degradedAfterMinutes * 60)
                thresholds.maxOfflineTime = .seconds(degradedAfterMinutes * 60)
            }
            report = StatusReport.evaluate(try replica.status(), now: Date(), thresholds: thresholds,
                                           isRunning: { kill($0, 0) == 0 || errno == EPERM })
        } catch let error as ReplicaError {
            report = StatusReport.broken(error.message, hint: error.hint)
        } catch let error as SyncAgentError {
            report = StatusReport.broken(error.message, hint: error.hint)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.humanReadable())
        }
        throw ExitCode(report.exitCode)
    }
}
