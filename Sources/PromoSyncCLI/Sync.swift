import ArgumentParser
import Foundation
import Logging
import Replica
import SyncAgent
import Transport

/// Builds the engine for the replica's recorded settings and the configuration.
struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one sync cycle now (push, then pull). Exit 0 when it succeeded, 1 when it failed.",
        discussion: "With --now and a running daemon, asks the daemon to sync at once and waits for its outcome.")

    @OptionGroup var location: ReplicaLocation

    @Flag(help: "Ask the running daemon to sync now and wait for the outcome (runs the cycle here if no daemon runs).")
    var now = false

    @Option(help: "Seconds to wait for the daemon with --now.")
    var timeout = 300

    func run() async throws {
        let configuration = try location.configuration()
        let logger = Logs.bootstrap(level: configuration.logLevel)
        let replica = try location.open()
        if now, let pid = try replica.status().daemonPID, kill(pid, 0) == 0 {
            try await askDaemon(pid: pid, replica: replica)
            return
        }
        var engine = try OfficeServices.engine(replica, configuration: configuration, logger: logger)
        engine.onProgress = TerminalProgress.handler
        do {
            let report = try await syncingAlone(replica) { () async throws(SyncAgentError) in try await engine.runCycle() }
            TerminalProgress.finish()
            func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
            print(
                "pushed \(count(report.changesPushed, "change")) in \(count(report.changesetsPushed, "changeset"))"
                    + (report.duplicatesAcknowledged > 0 ? " (\(report.duplicatesAcknowledged) already held by the centre)" : "")
                    + "; pulled \(count(report.recordsPulled, "record")) in \(count(report.pagesPulled, "page"))")
        } catch {
            TerminalProgress.finish()
            printError("sync failed: \(error.message)")
            if let hint = error.hint { printError("hint: \(hint)") }
            throw ExitCode(1)
        }
    }
}

extension Sync {
    /// Signals the daemon (SIGUSR1) and waits until a cycle that pulled, or one that failed,
    /// ends after now: a cycle already running when the signal came may only have pushed (the
    /// daemon then runs a whole one at once). Told by the replica's counters, which each cycle
    /// adds to in the commit that records its outcome (times there are kept to the second).
    func askDaemon(pid: Int32, replica: Replica) async throws {
        func tally() throws -> (pulls: Int64, failures: Int64) {
            let counters = try replica.counters()
            return (counters["pages_pulled"] ?? 0, (counters["errors_transient"] ?? 0) + (counters["errors_permanent"] ?? 0))
        }
        let before = try tally()
        guard kill(pid, SIGUSR1) == 0 else {
            printError("cannot signal the daemon (pid \(pid)): \(String(cString: strerror(errno)))")
            printError("hint: run promo-sync sync --now as the service user, or as root")
            throw ExitCode(1)
        }
        let deadline = Date() + TimeInterval(timeout)
        while Date() < deadline {
            try await Task.sleep(for: .milliseconds(100))
            let now = try tally()
            guard now.pulls > before.pulls || now.failures > before.failures else { continue }
            // The last outcome decides: a failure, or a success once a cycle has pulled.
            let status = try replica.status()
            if let error = status.lastError {
                printError("the daemon's sync failed: \(error)")
                if let hint = status.lastErrorHint { printError("hint: \(hint)") }
                throw ExitCode(1)
            }
            guard now.pulls > before.pulls else { continue }
            print("the daemon synced: \(status.pending.changes) changes pending, cursor \(status.position.cursor)")
            return
        }
        printError("the daemon did not finish a sync within \(timeout) s")
        throw ExitCode(1)
    }
}

/// Runs `body` as the only process syncing `replica` (``SyncLock``): a cycle of the daemon that
/// is running ends first (the command says it waits), and the daemon's next cycle waits for it.
func syncingAlone<T>(_ replica: Replica, _ body: () async throws(SyncAgentError) -> T) async throws(SyncAgentError) -> T {
    let lock = try await SyncLock.wait(
        for: replica, waiting: { printError("another process is syncing this replica (the daemon?); waiting for it to finish…") })
    defer { lock?.release() }
    return try await body()
}
