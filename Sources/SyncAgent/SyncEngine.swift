import Foundation
import Logging
import Replica
import ServiceLifecycle
import SyncCore
import Transport

/// What one sync cycle did.
public struct CycleReport: Sendable, Equatable {
    public var changesetsPushed = 0
    public var changesPushed = 0
    /// Changesets the centre already had (their acknowledgement had been lost).
    public var duplicatesAcknowledged = 0
    public var pagesPulled = 0
    public var recordsPulled = 0
    public var bytesSent: Int64 = 0
    public var bytesReceived: Int64 = 0

    public init() {}
}

/// A step of a long run (a forced resync, a rebuild, a first sync), for a progress display.
public enum SyncProgress: Sendable, Equatable {
    /// A changeset was acknowledged; `remaining` changes are still captured and unsent.
    case pushed(changes: Int, totalChanges: Int, remaining: Int)
    /// A page was applied; `records` pulled so far in this cycle.
    case pulled(records: Int)
    /// The digest comparison reached `level` (0 = tables) with `ranges` ranges still differing.
    case compared(level: Int, ranges: Int)
    /// Rows fetched from the centre so far out of those that differ.
    case fetched(rows: Int, of: Int)

    /// One line for a terminal.
    public var line: String {
        switch self {
        case .pushed(_, let total, let remaining): "push: \(total) changes sent, \(remaining) to go"
        case .pulled(let records): "pull: \(records) records applied"
        case .compared(let level, let ranges): "compare: level \(level) of \(DigestTree.depth), \(ranges) ranges differ"
        case .fetched(let rows, let of): "fetch: \(rows) of \(of) differing rows"
        }
    }
}

/// Tunables of a cycle.
public struct SyncEngineConfiguration: Sendable {
    /// Most captured changes in one changeset.
    public var maxChangesPerChangeset = 1_000
    /// Records asked for per pull page.
    public var pageSize = 5_000
    /// After the centre was restored from a backup (a new epoch), resynchronise within the cycle
    /// as `promo-sync resync --force` would; when off, sync pauses and status says what to run.
    public var resyncOnNewEpoch = true

    public init() {}
}

/// One office's push-then-pull cycle against the centre. Stateless between cycles: everything it
/// needs to continue lives in the replica, so a crash or stop at any step resumes cleanly.
public struct SyncEngine: Sendable {
    public let replica: Replica
    public let client: CentralClient
    public let configuration: SyncEngineConfiguration
    public let logger: Logger
    /// Called after each step with what was done so far (a terminal shows it; the daemon does not set it).
    public var onProgress: (@Sendable (SyncProgress) -> Void)?

    public init(
        replica: Replica, client: CentralClient, configuration: SyncEngineConfiguration = .init(), logger: Logger,
        onProgress: (@Sendable (SyncProgress) -> Void)? = nil
    ) {
        self.replica = replica
        self.client = client
        self.configuration = configuration
        self.logger = logger
        self.onProgress = onProgress
    }

    /// Runs one cycle and records its outcome in the replica for `promo-sync status`.
    @discardableResult
    public func runCycle(now: @Sendable () -> Date = Date.init) async throws(SyncAgentError) -> CycleReport {
        do {
            let report: CycleReport
            do {
                report = try await cycle()
            } catch let error where error.code == .centreLostChangesets || (error.code == .epochMismatch && configuration.resyncOnNewEpoch) {
                report = try await heal(after: error, now: now())
            }
            record("the cycle's outcome") { () throws(ReplicaError) in try replica.recordAttempt(.success, at: now()) }
            record("the counters") { () throws(ReplicaError) in
                try replica.addToCounters([
                    "cycles_ok": 1, "changesets_pushed": Int64(report.changesetsPushed), "changes_pushed": Int64(report.changesPushed),
                    "pages_pulled": Int64(report.pagesPulled), "records_pulled": Int64(report.recordsPulled),
                    "bytes_sent": report.bytesSent, "bytes_received": report.bytesReceived,
                ])
            }
            logger.info(
                "sync cycle done",
                metadata: [
                    "sync.pushed.changesets": "\(report.changesetsPushed)", "sync.pushed.changes": "\(report.changesPushed)",
                    "sync.pulled.records": "\(report.recordsPulled)",
                ])
            return report
        } catch {
            record("the cycle's failure") { () throws(ReplicaError) in
                try replica.recordAttempt(
                    .failure(message: error.message, hint: error.hint, transient: error.isTransient, centralAnswered: error.centralAnswered),
                    at: now())
            }
            record("the counters") { () throws(ReplicaError) in try replica.addToCounters([error.isTransient ? "errors_transient" : "errors_permanent": 1]) }
            var metadata: Logger.Metadata = ["error": "\(error.message)", "error.transient": "\(error.isTransient)"]
            if let id = error.requestID { metadata["promo.request_id"] = "\(id)" }
            logger.warning("sync cycle failed", metadata: metadata)
            throw error
        }
    }

    private func cycle() async throws(SyncAgentError) -> CycleReport {
        var report = CycleReport()
        let known: Epoch?
        do { known = try replica.syncPosition().epoch } catch { throw SyncAgentError(error) }

        // 1. Push: the oldest unacknowledged changeset first, re-sent as it was until the centre
        //    acknowledges it; only then are its outbox entries removed.
        var madeAhead: Changeset?
        var refused: ChangesetRefusal?
        while true {
            // A graceful stop ends the cycle between steps; each step is its own transaction.
            if Task.isShuttingDownGracefully { return report }
            let changeset: Changeset?
            let replica = self.replica
            let maxChanges = configuration.maxChangesPerChangeset
            if let next = madeAhead {
                changeset = next
            } else {
                do { changeset = try await runBlocking { () throws(ReplicaError) in try replica.nextChangeset(maxChanges: maxChanges) } } catch {
                    throw SyncAgentError(error)
                }
            }
            guard let changeset else { break }
            // The next changeset is made while this one travels and is applied (one ahead at
            // most); a failure there is left for the next `nextChangeset` to meet and report.
            let ahead = Task { try? await runBlocking { () throws(ReplicaError) in try replica.makeChangesetAhead(maxChanges: maxChanges) } }
            let exchange: CentralClient.Exchange<PushResponse>
            do { exchange = try await client.push(changeset) } catch {
                _ = await ahead.value
                try checkEpoch(error.epoch, known: known)
                // The centre refused what a row of this changeset says. Retrying cannot help and
                // nothing after it can be pushed, but the office still pulls; a person fixes or
                // withdraws the row (promo-sync status names it).
                if let refusal = Self.refusal(of: changeset, error) {
                    do { try replica.recordRefusal(refusal) } catch { throw SyncAgentError(error) }
                    logger.error(
                        "the centre refused a changeset",
                        metadata: [
                            "sync.sequence": "\(changeset.sequence)", "sync.table": "\(refusal.table ?? "")", "sync.id": "\(refusal.id ?? "")",
                            "error.code": "\(refusal.code)",
                        ])
                    refused = refusal
                    break
                }
                // The changeset does not follow the last the centre holds, in the same epoch: the
                // centre lost changesets it had acknowledged.
                if error.remoteCode == "sequence_gap" {
                    throw SyncAgentError(
                        .centreLostChangesets, "the centre lacks changesets before \(changeset.sequence) that it acknowledged",
                        transient: true, centralAnswered: true)
                }
                throw SyncAgentError(error)
            }
            // Sent next only if it directly follows this one (it is then the oldest unacknowledged
            // once this one is acknowledged); otherwise the stored changesets decide.
            madeAhead = (await ahead.value).flatMap { $0.sequence == changeset.sequence.next ? $0 : nil }
            try checkEpoch(exchange.value.epoch, known: known)
            // A crash here means the centre applied the changeset but we did not record it: the
            // next cycle re-sends it and the centre answers "duplicate".
            do { try replica.faults.check(.afterPushBeforeAck) } catch {
                throw SyncAgentError(.injectedFault, error.description, transient: true, centralAnswered: true)
            }
            let sequence = exchange.value.sequence
            do { try await runBlocking { () throws(ReplicaError) in try replica.acknowledge(sequence) } } catch { throw SyncAgentError(error) }
            report.changesetsPushed += 1
            report.changesPushed += changeset.changes.count
            if exchange.value.outcome == .duplicate { report.duplicatesAcknowledged += 1 }
            report.bytesSent += exchange.bytesSent
            report.bytesReceived += exchange.bytesReceived
            if let onProgress {
                let remaining = (try? replica.pendingSummary().changes) ?? 0
                onProgress(.pushed(changes: changeset.changes.count, totalChanges: report.changesPushed, remaining: remaining))
            }
        }

        // 2. Pull: page after page from the saved cursor; each page and its cursor commit together.
        //    The next page is fetched (and parsed) while this one is applied: the centre, the
        //    parser and SQLite work at once. Only one page ahead, so memory stays bounded; a page
        //    fetched but not applied when the cycle stops is simply fetched again next time.
        let position: SyncPosition
        do { position = try replica.syncPosition() } catch { throw SyncAgentError(error) }
        // The unchanged echoes of changesets this replica made are skipped.
        let own = position.ownChangesets
        let client = self.client
        let pageSize = configuration.pageSize
        func fetch(after cursor: PullCursor) -> Task<Result<CentralClient.Exchange<PullResponse>, TransportError>, Never> {
            Task {
                do throws(TransportError) { return .success(try await client.pull(after: cursor, limit: pageSize, own: own)) } catch { return .failure(error) }
            }
        }
        var next = fetch(after: position.cursor)
        defer { next.cancel() }
        while true {
            if Task.isShuttingDownGracefully { return report }
            let exchange: CentralClient.Exchange<PullResponse>
            switch await next.value {
            case .success(let value): exchange = value
            case .failure(let error):
                try checkEpoch(error.epoch, known: known)
                throw SyncAgentError(error)
            }
            let page = exchange.value
            try checkEpoch(page.epoch, known: known)
            if let held = exchange.officeSequence, held.rawValue < position.lastAcked {
                throw SyncAgentError(
                    .centreLostChangesets,
                    "the centre holds changeset \(held) of this office but had acknowledged \(position.lastAcked)",
                    transient: true, centralAnswered: true)
            }
            if page.hasMore { next = fetch(after: page.nextCursor) }
            // What this office does next is stamped after what it has now seen of the centre.
            let replica = self.replica
            let clock = exchange.centreClock
            do { _ = try await runBlocking { () throws(ReplicaError) in try replica.applyPulledPage(page, centreClock: clock) } } catch {
                throw SyncAgentError(error)
            }
            report.pagesPulled += 1
            report.recordsPulled += page.records.count
            report.bytesSent += exchange.bytesSent
            report.bytesReceived += exchange.bytesReceived
            onProgress?(.pulled(records: report.recordsPulled))
            if !page.hasMore { break }
        }
        if let refused {
            throw SyncAgentError(
                .refused, "the centre refused changeset \(refused.sequence): \(refused.message)", hint: refused.hint,
                transient: false, centralAnswered: true)
        }
        return report
    }

    /// The centre's error codes for a changeset refused for what one of its rows says.
    static let refusalCodes: Set<String> = ["forbidden_writer", "forbidden_owner", "unknown_parent", "bad_request"]

    /// The refusal `error` is, when the centre refused `changeset` for its content.
    static func refusal(of changeset: Changeset, _ error: TransportError) -> ChangesetRefusal? {
        guard let code = error.remoteCode, refusalCodes.contains(code), error.status.map({ (400..<500).contains($0) }) == true else { return nil }
        return ChangesetRefusal(
            sequence: changeset.sequence, code: code, message: error.message,
            table: error.remoteRow?.table.rawValue, id: error.remoteRow?.id)
    }

    /// Takes back this office's pending change of one row after the centre refused it, puts back
    /// the centre's version of the row (if the centre has one), and syncs what else waits.
    public func withdraw(table: SyncedTable, id: String) async throws(SyncAgentError) -> (withdrawn: WithdrawnChange, report: CycleReport) {
        let withdrawn: WithdrawnChange
        do {
            withdrawn = try replica.withdraw(table: table, id: id)
            let answer = try await client.records(table: table, ids: [id])
            try replica.applyRecords(answer.value.records)
        } catch {
            throw SyncAgentError.wrap(error)
        }
        logger.notice("withdrew a refused change", metadata: ["sync.table": "\(table.rawValue)", "sync.id": "\(id)"])
        return (withdrawn, try await runCycle())
    }

    /// Resynchronises after an outage or a restored centre: adopts the centre's epoch and chain
    /// position, re-sends every row this office owns, and pulls the whole log again. Safe to
    /// interrupt and run again. Returns the rows queued and the cycle's report.
    public func forceResync() async throws(SyncAgentError) -> (queued: Int, report: CycleReport) {
        let queued = try prepareForcedResync(try await officeState())
        return (queued, try await runCycle())
    }

    /// What ``resync()`` found and did.
    public enum ResyncOutcome: Sendable {
        /// The centre was restored (another epoch) or lost changesets it had acknowledged: every
        /// row this office owns was re-sent and the whole log pulled again.
        case resent(reason: String, queued: Int, report: CycleReport)
        /// Nothing was lost: the rows that differ were compared and repaired.
        case repaired(before: VerifyReport, after: VerifyReport)
    }

    /// `promo-sync resync --force`: asks the centre what it holds of this office, and re-sends
    /// everything when the centre has another epoch or lacks acknowledged changesets (whether or
    /// not a cycle has seen it yet), or else compares digests and repairs what differs. Works the
    /// first time in any state.
    public func resync() async throws(SyncAgentError) -> ResyncOutcome {
        let state = try await officeState()
        let position: SyncPosition
        do { position = try replica.syncPosition() } catch { throw SyncAgentError(error) }
        var reason: String?
        if let known = position.epoch, known != state.epoch {
            reason = "the centre's epoch changed from \(known) to \(state.epoch)"
        } else if state.lastSequence.rawValue < position.lastAcked {
            reason = "the centre holds changeset \(state.lastSequence) of this office but had acknowledged \(position.lastAcked)"
        }
        guard let reason else {
            let (before, after) = try await repair()
            return .repaired(before: before, after: after)
        }
        let queued = try prepareForcedResync(state)
        return .resent(reason: reason, queued: queued, report: try await runCycle())
    }

    /// What the centre holds of this office's chain, and its epoch.
    private func officeState() async throws(SyncAgentError) -> OfficeStateResponse {
        do { return try await client.officeState() } catch { throw SyncAgentError(error) }
    }

    /// Adopts the centre's epoch and chain position (`state`) and queues every row this office owns.
    private func prepareForcedResync(_ state: OfficeStateResponse) throws(SyncAgentError) -> Int {
        let queued: Int
        do {
            queued = try replica.prepareForcedResync(centralSequence: state.lastSequence, centralHash: state.lastHash, epoch: state.epoch)
        } catch { throw SyncAgentError(error) }
        logger.notice("forced resync prepared", metadata: ["sync.queued": "\(queued)", "sync.epoch": "\(state.epoch)"])
        return queued
    }

    /// Heals, within the cycle and without a person, a centre that was restored (a new epoch) or
    /// lost acknowledged changesets: re-sends every row this office owns and pulls the whole log
    /// again, as `promo-sync resync --force` does; records the repair for status and metrics.
    private func heal(after error: SyncAgentError, now: Date) async throws(SyncAgentError) -> CycleReport {
        logger.warning(
            "the centre lacks what this office sent it; re-sending every row this office owns",
            metadata: ["error": "\(error.message)"])
        let queued = try prepareForcedResync(try await officeState())
        let report = try await cycle()
        record("the repair") { () throws(ReplicaError) in try replica.recordRepair("\(error.message); re-sent \(queued) rows", at: now) }
        record("the counters") { () throws(ReplicaError) in try replica.addToCounters(["repairs": 1]) }
        return report
    }

    /// Writes something status and metrics read. A failure (a full or read-only disk) does not end
    /// the cycle, whose own outcome stands, but is logged: status would otherwise show old news.
    func record(_ what: String, _ write: () throws(ReplicaError) -> Void) {
        do { try write() } catch { logger.warning("could not record \(what) in the replica", metadata: ["error": "\(error)"]) }
    }

    /// Stops the cycle when the centre's epoch is not the one this office synced with: a restored
    /// centre may lack changes the office believes acknowledged, so syncing on would diverge silently.
    private func checkEpoch(_ epoch: Epoch?, known: Epoch?) throws(SyncAgentError) {
        guard let epoch, let known, epoch != known else { return }
        let message = "the centre's epoch changed from \(known) to \(epoch): it was restored or replaced"
        record("the epoch mismatch") { () throws(ReplicaError) in try replica.recordEpochMismatch(message) }
        throw SyncAgentError(
            .epochMismatch, message,
            hint: "Sync is paused so nothing diverges. Confirm with the centre's operator, then run: promo-sync resync --force",
            transient: false, centralAnswered: true)
    }
}
