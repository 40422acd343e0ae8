import Foundation
import Logging
import Replica
import ServiceLifecycle
import SyncCore
import Synchronization
import Transport
import WireFormat

/// What one sync cycle did.
public struct CycleReport: Sendable, Equatable {
    /// Changesets the centre acknowledged in this cycle, duplicates included.
    public var changesetsPushed = 0
    /// Captured changes those changesets carried.
    public var changesPushed = 0
    /// Changesets the centre already had (their acknowledgement had been lost).
    public var duplicatesAcknowledged = 0
    /// Pull pages applied.
    public var pagesPulled = 0
    /// Records those pages carried.
    public var recordsPulled = 0
    /// Bytes sent to the centre, on the wire (after compression).
    public var bytesSent: Int64 = 0
    /// Bytes received from the centre, on the wire (before decompression).
    public var bytesReceived: Int64 = 0
    /// Waiting changes stamped again after the office server's clock was set back.
    public var changesRestamped = 0
    /// Changesets split in two because the centre found them too heavy to refold at once.
    public var changesetsSplit = 0

    /// Creates a report of a cycle that has done nothing yet.
    public init() {}

    /// Adds what another cycle did (a repair runs two).
    mutating func add(_ other: CycleReport) {
        changesetsPushed += other.changesetsPushed
        changesPushed += other.changesPushed
        duplicatesAcknowledged += other.duplicatesAcknowledged
        pagesPulled += other.pagesPulled
        recordsPulled += other.recordsPulled
        bytesSent += other.bytesSent
        bytesReceived += other.bytesReceived
        changesRestamped += other.changesRestamped
        changesetsSplit += other.changesetsSplit
    }
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
    /// The rules of `promo-sync status`, for the health the office reports to the centre with
    /// each request (``OfficeReport``).
    public var thresholds = StatusThresholds()

    /// Creates the defaults: changesets of at most 1,000 changes, pages of 5,000 records, resync on a new epoch.
    public init() {}
}

/// One office's push-then-pull cycle against the centre. Stateless between cycles: everything it
/// needs to continue lives in the replica, so a crash or stop at any step resumes cleanly.
public struct SyncEngine: Sendable {
    /// The office's replica: what is pushed comes from it, what is pulled goes into it, and the cycle's outcome is recorded in it.
    public let replica: Replica
    /// The client of the centre, with the office's token.
    public let client: CentralClient
    /// The cycle's tunables.
    public let configuration: SyncEngineConfiguration
    /// Where each cycle's outcome and failures are logged.
    public let logger: Logger
    /// Called after each step with what was done so far (a terminal shows it; the daemon does not set it).
    public var onProgress: (@Sendable (SyncProgress) -> Void)?
    /// What this office last judged of itself (``OfficeReport``), shared by the engine's copies.
    let reportCache = OfficeReportCache()

    /// Creates an engine; it keeps no state of its own between cycles.
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

    /// Runs one cycle and records its outcome in the replica for `promo-sync status`. With
    /// `pushOnly`, the cycle ends once what waits is acknowledged, without pulling (unless the
    /// centre refused a changeset, or the office must heal).
    @discardableResult
    public func runCycle(now: @Sendable () -> Date = Date.init, pushOnly: Bool = false) async throws(SyncAgentError) -> CycleReport {
        do {
            let report: CycleReport
            do {
                report = try await cycle(pushOnly: pushOnly)
            } catch let error where error.code == .centreLostChangesets || (error.code == .epochMismatch && configuration.resyncOnNewEpoch) {
                report = try await heal(after: error, now: now())
            } catch let error where error.code == .replicaBehind {
                report = try await rejoin(after: error, now: now())
            }
            record("the cycle's outcome") { () throws(ReplicaError) in
                try replica.recordAttempt(
                    .success, at: now(),
                    counting: [
                        "cycles_ok": 1, "changesets_pushed": Int64(report.changesetsPushed), "changes_pushed": Int64(report.changesPushed),
                        "pages_pulled": Int64(report.pagesPulled), "records_pulled": Int64(report.recordsPulled),
                        "bytes_sent": report.bytesSent, "bytes_received": report.bytesReceived,
                    ])
            }
            // A cycle that only pushed, after one that went well, changes little of what the
            // office says of itself: the whole cycle that follows within a second judges anew
            // (off the path from one write in a row to the next).
            if !(pushOnly && report.pagesPulled == 0 && reportCache.judgedAfterSuccess) { await judgeItself(afterSuccess: true) }
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
                    at: now(), counting: [error.isTransient ? "errors_transient" : "errors_permanent": 1])
            }
            await judgeItself(afterSuccess: false)
            var metadata: Logger.Metadata = ["error": "\(error.message)", "error.transient": "\(error.isTransient)"]
            if let id = error.requestID { metadata["promo.request_id"] = "\(id)" }
            logger.warning("sync cycle failed", metadata: metadata)
            throw error
        }
    }

    /// The client with what this office says of its health (``OfficeReport``), sent with each
    /// request of the cycle for the centre's fleet page: as judged at the end of the last cycle
    /// (off the path from a commit to its acknowledgement), or now for a first cycle.
    private func reportingClient() async -> CentralClient {
        var client = self.client
        if reportCache.latest == nil { await judgeItself(afterSuccess: false) }
        client.report = reportCache.latest
        return client
    }

    /// Judges this office as `promo-sync status` would, for the next cycle's report, after a
    /// cycle that went well or not (`afterSuccess`). A replica whose state cannot be read keeps
    /// the last report; the cycle meets the failure itself.
    private func judgeItself(afterSuccess: Bool) async {
        let replica = self.replica
        let thresholds = configuration.thresholds
        guard
            let report = try? await runBlocking({ () throws(ReplicaError) -> OfficeReport in
                var status = try replica.status()
                // Judged by a syncing process, its daemon or a one-off `promo-sync sync`: the
                // "no daemon is running" rule does not apply.
                status.daemonPID = status.daemonPID ?? getpid()
                return StatusReport.evaluate(status, now: Date(), thresholds: thresholds, isRunning: { _ in true }).officeReport
            })
        else {
            // The report kept is not a judgement of this cycle: the next cycle judges again.
            reportCache.keep(nil, afterSuccess: false)
            return
        }
        reportCache.keep(report, afterSuccess: afterSuccess)
    }

    /// Carries out the decisions of ``SyncCycle``: reads and writes the replica (blocking work off
    /// the shared threads, `runBlocking`) and calls the centre, one step at a time. While a
    /// changeset travels the next one is made (one ahead at most), and while a page is applied the
    /// next one is fetched and parsed (one page ahead, so memory stays bounded; a page fetched but
    /// not applied when the cycle stops is simply fetched again next time). Every step is its own
    /// transaction, so a graceful stop between steps, a crash or a kill resumes cleanly.
    private func cycle(pushOnly: Bool = false) async throws(SyncAgentError) -> CycleReport {
        let replica = self.replica
        let client = await reportingClient()
        let maxChanges = configuration.maxChangesPerChangeset
        let pageSize = configuration.pageSize
        func blocking<T: Sendable>(_ work: @escaping @Sendable () throws(ReplicaError) -> T) async throws(SyncAgentError) -> T {
            do { return try await runBlocking(work) } catch { throw SyncAgentError(error) }
        }
        typealias Page = Result<CentralClient.Exchange<PullResponse>, TransportError>
        func fetch(after cursor: PullCursor, own: ClosedRange<Int64>?) -> Task<Page, Never> {
            Task {
                do throws(TransportError) { return .success(try await client.pull(after: cursor, limit: pageSize, own: own)) } catch { return .failure(error) }
            }
        }
        var cycle = SyncCycle(knownEpoch: try await blocking { () throws(ReplicaError) in try replica.syncPosition().epoch }, pushOnly: pushOnly)
        var nextPage: Task<Page, Never>?
        defer { nextPage?.cancel() }
        var own: ClosedRange<Int64>?
        var action = cycle.start()
        while true {
            switch action {
            case .makeChangeset:
                // A graceful stop ends the cycle between steps.
                if Task.isShuttingDownGracefully { return cycle.report }
                action = cycle.changesetMade(try await blocking { () throws(ReplicaError) in try replica.nextChangeset(maxChanges: maxChanges) })
            case .push(let changeset):
                if Task.isShuttingDownGracefully { return cycle.report }
                // A failure to make the next one is left for the next `nextChangeset` to meet and report.
                let ahead = Task { try? await runBlocking { () throws(ReplicaError) in try replica.makeChangesetAhead(maxChanges: maxChanges) } }
                let answer: Result<CentralClient.Exchange<PushResponse>, TransportError>
                do throws(TransportError) { answer = .success(try await client.push(changeset)) } catch { answer = .failure(error) }
                action = cycle.pushed(answer, madeAhead: await ahead.value ?? nil)
            case .acknowledge(let sequence):
                // A crash here means the centre applied the changeset but this office did not
                // record it: the next cycle re-sends it and the centre answers "duplicate".
                do { try replica.faults.check(.afterPushBeforeAck) } catch {
                    throw SyncAgentError(.injectedFault, error.description, transient: true, centralAnswered: true)
                }
                try await blocking { () throws(ReplicaError) in try replica.acknowledge(sequence) }
                if let onProgress, case .pushing(let sent?) = cycle.phase {
                    let remaining = (try? await blocking { () throws(ReplicaError) in try replica.pendingSummary().changes }) ?? 0
                    onProgress(.pushed(changes: sent.changes.count, totalChanges: cycle.report.changesPushed, remaining: remaining))
                }
                action = cycle.acknowledged()
            case .recordRefusal(let refusal):
                try await blocking { () throws(ReplicaError) in try replica.recordRefusal(refusal) }
                logger.error(
                    "the centre refused a changeset",
                    metadata: [
                        "sync.sequence": "\(refusal.sequence)", "sync.table": "\(refusal.table ?? "")", "sync.id": "\(refusal.id ?? "")",
                        "error.code": "\(refusal.code)",
                    ])
                action = cycle.refusalRecorded()
            case .readPosition:
                action = cycle.positionRead(try await blocking { () throws(ReplicaError) in try replica.syncPosition() })
            case .fetch(let cursor, let ownChangesets):
                own = ownChangesets
                nextPage = fetch(after: cursor, own: ownChangesets)
                action = .awaitPage
            case .awaitPage:
                if Task.isShuttingDownGracefully { return cycle.report }
                guard let page = nextPage else { preconditionFailure("the sync cycle waits for a page nobody fetches") }
                action = cycle.fetched(await page.value)
            case .apply(let page, let clock, let prefetch):
                nextPage = prefetch.map { fetch(after: $0, own: own) }
                // What this office does next is stamped after what it has now seen of the centre.
                // Changesets a page before it made again (a recall) are not sent before the pull ends.
                let madeAgain = cycle.pushAgain
                let applied = try await blocking { () throws(ReplicaError) in
                    try replica.applyPulledPage(page, centreClock: clock, changesetsMadeAgain: madeAgain)
                }
                if applied.keptAside > 0 {
                    logger.warning(
                        "rows went back to an office whose merge into this one was undone; this office's pending changes of them were kept aside (promo-sync outbox show)",
                        metadata: ["sync.kept_aside": "\(applied.keptAside)"])
                }
                action = cycle.applied(clearedRefusal: applied.clearedRefusal)
                onProgress?(.pulled(records: cycle.report.recordsPulled))
            case .split:
                let split = try await blocking { () throws(ReplicaError) in try replica.splitOldestUnsent() }
                if split { logger.notice("the centre found a changeset too heavy to refold at once; split it in two") }
                action = cycle.split(split)
            case .restamp(let centreClock):
                let restamp = try await blocking { () throws(ReplicaError) in try replica.restampAfterClockSetBack(centreClock: centreClock) }
                if let restamp {
                    logger.warning(
                        "this office server's clock was set back after it stamped changes the centre refused as ahead of its time; stamped them again",
                        metadata: ["sync.restamped": "\(restamp.changes)", "sync.clock.from": "\(restamp.from)", "sync.clock.to": "\(restamp.to)"])
                }
                action = cycle.restamped(restamp)
            case .finish(let report):
                return report
            case .fail(let error):
                if error.code == .epochMismatch {
                    record("the epoch mismatch") { () throws(ReplicaError) in try replica.recordEpochMismatch(error.message) }
                }
                throw error
            }
        }
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

    /// How long after a rejoin (``rejoin(after:now:)``) another stops the cycle instead.
    static let rejoinInterval: TimeInterval = 24 * 3600

    /// Heals, within the cycle and without a person, a replica behind what it sent the centre (a
    /// server restored from an old backup): continues the chain from what the centre holds and
    /// repairs what differs, as `promo-sync resync --force` does (``repair()``); records the
    /// repair for status and counts it (`rejoins`) for metrics. Once a day: a second time within
    /// 24 hours, another server is taken to be syncing with this office's token (each would push
    /// over the other's changesets), and the cycle stops for a person.
    private func rejoin(after error: SyncAgentError, now: Date) async throws(SyncAgentError) -> CycleReport {
        let last: Date?
        do { last = try replica.lastRejoin() } catch { throw SyncAgentError(error) }
        if let last, now.timeIntervalSince(last) < Self.rejoinInterval {
            throw SyncAgentError(
                .replicaBehind, "\(error.message); it already rejoined the centre's chain by itself at \(Timestamps.format(last))",
                hint:
                    "Another server may be syncing with this office's token: stop every copy but one (promo-sync status shows the daemon), then run promo-sync resync --force on it",
                transient: false, centralAnswered: true)
        }
        logger.warning(
            "this replica is behind what it sent the centre; continuing from the centre's chain and repairing what differs",
            metadata: ["error": "\(error.message)"])
        let (report, before, after, withdrawn) = try await repair(rejoinedAt: now) { () async throws(SyncAgentError) -> CycleReport in
            try await cycle()
        }
        let sentBefore =
            withdrawn == 0 ? "" : "; \(withdrawn) rows waiting in the backup had been sent already by the server it replaces, and were not sent again"
        record("the repair") { () throws(ReplicaError) in
            try replica.recordRepair("\(error.message); rejoined the centre's chain\(sentBefore): \(before.summary) before, \(after.summary) after", at: now)
        }
        record("the counters") { () throws(ReplicaError) in try replica.addToCounters(["rejoins": 1]) }
        return report
    }

    /// Writes something status and metrics read. A failure (a full or read-only disk) does not end
    /// the cycle, whose own outcome stands, but is logged: status would otherwise show old news.
    func record(_ what: String, _ write: () throws(ReplicaError) -> Void) {
        do { try write() } catch { logger.warning("could not record \(what) in the replica", metadata: ["error": "\(error)"]) }
    }
}

/// The office's last judgement of itself, kept between cycles (``SyncEngine``).
final class OfficeReportCache: Sendable {
    private let value = Mutex<(report: OfficeReport?, afterSuccess: Bool)>((nil, false))

    /// The last report judged.
    var latest: OfficeReport? { value.withLock { $0.report } }

    /// Whether ``latest`` was judged after a cycle that went well (false too when the last
    /// judgement could not be made).
    var judgedAfterSuccess: Bool { value.withLock { $0.afterSuccess } }

    /// Keeps `report` (nil keeps the one before) as judged after a cycle that went well or not.
    func keep(_ report: OfficeReport?, afterSuccess: Bool) {
        value.withLock { $0 = (report ?? $0.report, afterSuccess) }
    }
}
