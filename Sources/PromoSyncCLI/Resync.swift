import ArgumentParser
import Foundation
import Logging
import Replica
import SyncAgent
import SyncCore
import Transport

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

    @Flag(help: "Compare with the centre and repair what differs.")
    var force = false

    @Flag(
        help: "Build a new replica from the centre (for a damaged or lost file), keeping the old file aside and the unacknowledged changes it can still read.")
    var rebuild = false

    @Option(help: "With --rebuild when the old file is unreadable: the office code.") var office: String?
    @Option(help: "With --rebuild when the old file is unreadable: the central URL.") var central: String?
    @Option(name: .customLong("token-file"), help: "With --rebuild when the old file is unreadable: the token file.") var tokenFile: String?

    func run() async throws {
        guard force != rebuild else {
            throw ValidationError("say --force (compare and repair) or --rebuild (a new replica from the centre)")
        }
        let configuration = try location.configuration()
        let logger = Logs.bootstrap(level: configuration.logLevel)
        if rebuild {
            try await runRebuild(configuration, logger: logger)
            return
        }
        var engine = try OfficeServices.engine(try location.open(), configuration: configuration, logger: logger)
        engine.onProgress = TerminalProgress.handler
        defer { TerminalProgress.finish() }
        do {
            switch try await syncingAlone(engine.replica, { () async throws(SyncAgentError) in try await engine.resync() }) {
            case .resent(let reason, let queued, let report):
                print("resync done: \(reason); re-sent \(queued) records in \(report.changesetsPushed) changesets, pulled \(report.recordsPulled) records")
            case .repaired(let before, let after):
                print("resync: before: \(before.summary); after: \(after.summary)")
                if !after.identical { throw ExitCode(1) }
            }
            // A running daemon in backoff syncs at once instead of waiting out its delay.
            _ = pokeDaemon(engine.replica)
        } catch let error as SyncAgentError {
            printError("resync failed: \(error.message)")
            if let hint = error.hint { printError("hint: \(hint)") }
            throw ExitCode(1)
        }
    }
}

extension Resync {
    func runRebuild(_ configuration: OfficeConfiguration, logger: Logger) async throws {
        let path = try location.checkedReplicaPath
        // The rebuild moves the file aside: a daemon holding it would take that for a deletion.
        if let status = try? Replica.open(at: path).status(), let pid = status.daemonPID, kill(pid, 0) == 0 || errno == EPERM,
            status.agentState != "stopped"
        {
            throw ValidationError("the daemon (pid \(pid)) is running on this replica; stop it first: systemctl stop promo-sync")
        }
        // Nor beside another command that syncs it (a person's promo-sync sync, outbox or resync
        // --force): the file would move aside under it. Refused rather than waited for: the
        // lock is taken for the whole rebuild, and the file it guards stays where it is.
        let lock: SyncLock?
        do { lock = try SyncLock.take(replicaPath: path) } catch { throw ValidationError(error.description) }
        guard let lock else {
            throw ValidationError(
                "another process is syncing this replica (promo-sync sync, outbox or resync --force); let it finish, then run the rebuild again")
        }
        defer { lock.release() }
        var fallback: ReplicaSettings?
        if let office, let central, let tokenFile {
            fallback = ReplicaSettings(office: try OfficeCode(office), centralURL: central, tokenFile: tokenFile)
        }
        // The damaged file is read once: for its settings and for the changes to keep.
        let rescued = ReplicaRebuilder.rescue(at: path)
        let settings = rescued.settings ?? fallback
        guard let settings else {
            throw ValidationError("the old replica's settings cannot be read; give --office, --central and --token-file")
        }
        let client = try OfficeServices.client(settings: settings, configuration: configuration)
        let result: Result<ReplicaRebuilder.Outcome, SyncAgentError>
        do {
            result = .success(
                try await ReplicaRebuilder.rebuild(
                    at: path, rescued: rescued, settings: fallback, client: client,
                    configuration: configuration.engine, logger: logger,
                    onProgress: TerminalProgress.handler))
        } catch {
            result = .failure(error)
        }
        TerminalProgress.finish()
        switch result {
        case .success(let outcome):
            print("rebuilt \(path): pulled \(outcome.recordsPulled) records, kept \(outcome.rescuedChanges) unacknowledged local changes")
            if let aside = outcome.oldFileKeptAt { print("the old file is kept at \(aside)") }
            for copy in outcome.rescueCopies { print("took back the daemon's rescue copy \(copy) (kept as \(copy).restored)") }
            for item in outcome.unreadable { print("could not read: \(item)") }
        case .failure(let error):
            printError("rebuild failed: \(error.message)")
            if let hint = error.hint { printError("hint: \(hint)") }
            throw ExitCode(1)
        }
    }
}
