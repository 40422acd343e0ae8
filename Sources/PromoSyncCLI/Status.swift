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

    @Flag(help: "Check every page of the replica even when it is larger than 256 MiB.")
    var check = false

    @Option(help: "Minutes pending changes or an unreachable centre may last before the status is degraded (overrides status.degraded_after_minutes).")
    var degradedAfterMinutes: Int?

    func run() throws {
        var report: StatusReport
        do {
            var thresholds = try location.configuration().thresholds
            let (replica, cannotWrite) = try openForReading()
            defer { cannotWrite?.close() }
            if let degradedAfterMinutes {
                thresholds.maxPendingAge = .seconds(degradedAfterMinutes * 60)
                thresholds.maxOfflineTime = .seconds(degradedAfterMinutes * 60)
            }
            let size = ((try? FileManager.default.attributesOfItem(atPath: replica.path))?[.size] as? NSNumber)?.int64Value ?? 0
            // Reading every page finds overwritten bytes anywhere in the file; skipped past 256 MiB
            // (use --check) so that monitoring stays cheap.
            if check || size < 256 * 1024 * 1024, let problem = try replica.integrityProblems().first {
                throw ReplicaError(
                    .damaged, "the replica file is damaged: \(problem)",
                    hint: "Try: promo-sync resync --rebuild (it keeps the damaged file aside and the changes it can still read)")
            }
            report = StatusReport.evaluate(
                try replica.status(), now: Date(), thresholds: thresholds,
                isRunning: { kill($0, 0) == 0 || errno == EPERM })
            if let cannotWrite { report.flag(.broken, cannotWrite.problem, hint: cannotWrite.hint) }
        } catch let error as ReplicaError {
            report = StatusReport.broken(error.message, hint: error.hint)
        } catch let error as SyncAgentError {
            report = StatusReport.broken(error.message, hint: error.hint)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.humanReadable())
        }
        throw ExitCode(report.exitCode)
    }

    /// The replica, or a private copy of what can still be read, so that status shows the office,
    /// the centre and the last push and pull with the real problem in plain words: the replica
    /// when it cannot be opened for writing (a read-only disk, a folder or file the user cannot
    /// write), or the daemon's rescue copy when the replica was deleted under it.
    private func openForReading() throws -> (Replica, (problem: String, hint: String?, close: @Sendable () -> Void)?) {
        do {
            return (try location.open(), nil)
        } catch let error as ReplicaError where error.code == .storage {
            let path = try location.replicaPath
            guard let cannotWrite = Replica.writeAccessProblem(at: path) else { throw error }
            let copy = try Replica.openCopy(of: path)
            return (copy.replica, (cannotWrite.problem, cannotWrite.fix, copy.close))
        } catch let error as ReplicaError where error.code == .notInitialised {
            guard let rescued = Replica.rescueCopies(beside: try location.replicaPath).last else { throw error }
            let copy = try Replica.openCopy(of: rescued)
            return (copy.replica, (error.message, error.hint, copy.close))
        }
    }
}
