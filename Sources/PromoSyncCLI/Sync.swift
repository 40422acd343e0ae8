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
            let report = try await engine.runCycle()
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
    /// Signals the daemon (SIGUSR1) and waits until it records an attempt after now that pulled
    /// (a cycle already running when the signal came may only have pushed: the daemon then runs
    /// a whole one at once).
    func askDaemon(pid: Int32, replica: Replica) async throws {
        let before = try replica.status().lastAttemptAt ?? .distantPast
        // Stored to the second.
        let signalled = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        guard kill(pid, SIGUSR1) == 0 else {
            printError("cannot signal the daemon (pid \(pid)): \(String(cString: strerror(errno)))")
            printError("hint: run promo-sync sync --now as the service user, or as root")
            throw ExitCode(1)
        }
        let deadline = Date() + TimeInterval(timeout)
        while Date() < deadline {
            try await Task.sleep(for: .milliseconds(100))
            let status = try replica.status()
            guard let attempt = status.lastAttemptAt, attempt > before else { continue }
            if status.lastError == nil, (status.lastPullAt ?? .distantPast) < signalled { continue }
            if let error = status.lastError {
                printError("the daemon's sync failed: \(error)")
                if let hint = status.lastErrorHint { printError("hint: \(hint)") }
                throw ExitCode(1)
            }
            print("the daemon synced: \(status.pending.changes) changes pending, cursor \(status.position.cursor)")
            return
        }
        printError("the daemon did not finish a sync within \(timeout) s")
        throw ExitCode(1)
    }
}
