import Replica
import SyncCore
import Transport
import WireFormat

/// The decisions of one push-then-pull cycle (or push only, ``pushOnly``), apart from the I/O that carries them out (the
/// pattern of NIO's and Hummingbird's state machines).
///
/// ``SyncEngine`` reads the replica and calls the centre; after each step it hands what happened
/// to this value, which answers with the next ``Action``. Every rule of the cycle is here: the
/// order of the steps, what an answer of the centre means (an acknowledgement, a refusal of a
/// row, a centre that lost acknowledged changesets, another epoch), when a changeset made ahead
/// may be sent, when the pull ends, and what the cycle reports. It touches no socket, file or
/// clock, so the tests drive it with plain values (`SyncCycleTests`). An event it did not ask for
/// is a bug of the engine and traps, as NIO's state machines do.
struct SyncCycle {
    /// What the engine does next.
    enum Action: Equatable {
        /// Reads the oldest unacknowledged changeset from the replica (``changesetMade(_:)``).
        case makeChangeset
        /// Sends the changeset and makes the next one meanwhile (``pushed(_:madeAhead:)``).
        case push(Changeset)
        /// Records the centre's acknowledgement in the replica (``acknowledged()``).
        case acknowledge(ChangesetSequence)
        /// Records that the centre refused a row of the changeset (``refusalRecorded()``); the
        /// cycle still pulls.
        case recordRefusal(ChangesetRefusal)
        /// Reads the cursor and what this office sent (``positionRead(_:)``).
        case readPosition
        /// Fetches the first page after `cursor` (``fetched(_:)``).
        case fetch(after: PullCursor, own: ClosedRange<Int64>?)
        /// Applies the page to the replica (``applied()``), fetching the next one meanwhile when
        /// `prefetch` is set.
        case apply(PullResponse, centreClock: HLCTimestamp?, prefetch: PullCursor?)
        /// Waits for the page being fetched (``fetched(_:)``).
        case awaitPage
        /// Splits the oldest waiting changeset in two (``split(_:)``): the centre found it too heavy
        /// to refold at once (`changeset_too_heavy`).
        case split
        /// Stamps the waiting changes again from the centre's clock last seen, if this office's
        /// clock was set back since it stamped them (``restamped(_:)``).
        case restamp(centreClock: HLCTimestamp?)
        /// The cycle is done.
        case finish(CycleReport)
        /// The cycle ends with this error; an epoch mismatch is also recorded for status.
        case fail(SyncAgentError)
    }

    enum Phase: Equatable {
        case pushing(Changeset?)
        case pulling(SyncPosition?)
        case applying(PullResponse)
        case restamping
        case done
    }

    /// The epoch the office synced with when the cycle began (nil before the first contact).
    let knownEpoch: Epoch?
    /// The cycle ends once everything waiting is acknowledged, without pulling (the daemon's
    /// cycles for local writes that follow a recent pull). A refusal still pulls: the refused
    /// rows may have been recalled.
    let pushOnly: Bool
    private(set) var report = CycleReport()
    private(set) var phase: Phase = .pushing(nil)
    /// The changeset being pushed, and one made ahead that directly follows it.
    private var sending: Changeset?
    private var madeAhead: Changeset?
    /// A refusal met while pushing: reported after the pull.
    private(set) var refusal: ChangesetRefusal?
    /// Another reason the push stopped that is reported after the pull (``centreTooOld(for:_:)``).
    private(set) var failAfterPull: SyncAgentError?
    private var position: SyncPosition?
    /// A page made the changesets waiting again without rows it recalled, clearing the push's
    /// refusal (``applied(clearedRefusal:)``): they are pushed once the pull ends, in this cycle,
    /// and the pull's later pages may make them again too (nothing was sent since).
    private(set) var pushAgain = false
    /// The pull has ended: a push after it that finds nothing waiting ends the cycle.
    private var pulled = false
    /// The centre's clock on the last page fetched.
    private var centreClock: HLCTimestamp?
    /// The waiting changes were stamped again once (``restamped(_:)``); a second `clock_ahead` ends the cycle.
    private var restampAsked = false
    /// The centre's `changeset_too_heavy`, while the changeset is split (``split(_:)``).
    private var tooHeavy: SyncAgentError?

    init(knownEpoch: Epoch?, pushOnly: Bool = false) {
        self.knownEpoch = knownEpoch
        self.pushOnly = pushOnly
    }

    /// The first step: push what waits.
    mutating func start() -> Action { .makeChangeset }

    /// The replica's oldest unacknowledged changeset, or nil when nothing waits (the pull begins,
    /// unless the cycle is ``pushOnly``).
    mutating func changesetMade(_ changeset: Changeset?) -> Action {
        guard let changeset else {
            if pushOnly || pulled {
                phase = .done
                return .finish(report)
            }
            phase = .pulling(nil)
            return .readPosition
        }
        sending = changeset
        phase = .pushing(changeset)
        return .push(changeset)
    }

    /// The centre's answer to the push, and the changeset made while it travelled (if any).
    mutating func pushed(
        _ answer: Result<CentralClient.Exchange<PushResponse>, TransportError>, madeAhead ahead: Changeset?
    ) -> Action {
        guard let changeset = sending else { preconditionFailure("the sync cycle was told of a push it did not ask for") }
        switch answer {
        case .failure(let error):
            if let mismatch = epochProblem(error.epoch) { return .fail(mismatch) }
            // A centre too old for a field this changeset carries: nothing after it can be pushed
            // until the centre is upgraded, but the office still pulls.
            if let tooOld = Self.centreTooOld(for: changeset, error) { return stopPushing(failingAfterPull: tooOld) }
            // The office server's clock is ahead: nothing of the changeset was applied. The office
            // still pulls; then, if its clock has been set right since, it stamps again (``restamped(_:)``).
            if error.remoteCode == "clock_ahead" {
                return stopPushing(failingAfterPull: SyncAgentError(.clockAhead, error.message, hint: error.hint, transient: true, centralAnswered: true))
            }
            // The aggregates this changeset adds to hold more than the centre refolds for one
            // changeset (a forced resync of an office with large projects): it is split in two and
            // the halves are pushed in turn.
            if error.remoteCode == "changeset_too_heavy" {
                tooHeavy = SyncAgentError(error)
                sending = nil
                madeAhead = nil
                return .split
            }
            // The centre refused what a row of this changeset says. Retrying cannot help and
            // nothing after it can be pushed, but the office still pulls; a person fixes or
            // withdraws the row (promo-sync status names it).
            if let refused = Self.refusal(of: changeset, error) {
                refusal = refused
                return .recordRefusal(refused)
            }
            // The changeset does not follow the last the centre holds, in the same epoch: the
            // centre lost changesets it had acknowledged.
            if error.remoteCode == "sequence_gap" {
                return .fail(
                    SyncAgentError(
                        .centreLostChangesets, "the centre lacks changesets before \(changeset.sequence) that it acknowledged",
                        transient: true, centralAnswered: true))
            }
            // The centre holds this number with other content: this replica is behind what it
            // sent (restored from an old backup). The engine rejoins the centre's chain.
            if error.remoteCode == "sequence_conflict" {
                return .fail(
                    SyncAgentError(
                        .replicaBehind,
                        "the centre holds changeset \(changeset.sequence) of this office with other content: this replica is behind what it sent (restored from an old backup?)",
                        hint: error.hint, transient: true, centralAnswered: true))
            }
            return .fail(SyncAgentError(error))
        case .success(let exchange):
            if let mismatch = epochProblem(exchange.value.epoch) { return .fail(mismatch) }
            // Sent next only if it directly follows this one (it is then the oldest unacknowledged
            // once this one is acknowledged); otherwise the stored changesets decide.
            madeAhead = ahead.flatMap { $0.sequence == changeset.sequence.next ? $0 : nil }
            report.changesetsPushed += 1
            report.changesPushed += changeset.changes.count
            if exchange.value.outcome == .duplicate { report.duplicatesAcknowledged += 1 }
            report.bytesSent += exchange.bytesSent
            report.bytesReceived += exchange.bytesReceived
            return .acknowledge(exchange.value.sequence)
        }
    }

    /// The acknowledgement is stored: the next changeset (the one made ahead, when it follows).
    mutating func acknowledged() -> Action {
        sending = nil
        if let next = madeAhead {
            madeAhead = nil
            sending = next
            phase = .pushing(next)
            return .push(next)
        }
        return .makeChangeset
    }

    /// Nothing more is pushed this cycle: the pull begins, and `error` ends the cycle after it.
    private mutating func stopPushing(failingAfterPull error: SyncAgentError) -> Action {
        failAfterPull = error
        sending = nil
        madeAhead = nil
        phase = .pulling(nil)
        return .readPosition
    }

    /// The refusal is stored: nothing more can be pushed this cycle; the pull begins.
    mutating func refusalRecorded() -> Action {
        sending = nil
        madeAhead = nil
        phase = .pulling(nil)
        return .readPosition
    }

    /// Where the pull starts. The unchanged echoes of changesets this replica made are skipped.
    mutating func positionRead(_ position: SyncPosition) -> Action {
        self.position = position
        phase = .pulling(position)
        return .fetch(after: position.cursor, own: position.ownChangesets)
    }

    /// A page (or the failure to fetch it).
    mutating func fetched(_ answer: Result<CentralClient.Exchange<PullResponse>, TransportError>) -> Action {
        guard let position else { preconditionFailure("the sync cycle was given a page before it asked for one") }
        let exchange: CentralClient.Exchange<PullResponse>
        switch answer {
        case .failure(let error): return .fail(epochProblem(error.epoch) ?? SyncAgentError(error))
        case .success(let value): exchange = value
        }
        let page = exchange.value
        if let mismatch = epochProblem(page.epoch) { return .fail(mismatch) }
        if let held = exchange.officeSequence, held.rawValue < position.lastAcked {
            return .fail(
                SyncAgentError(
                    .centreLostChangesets, "the centre holds changeset \(held) of this office but had acknowledged \(position.lastAcked)",
                    transient: true, centralAnswered: true))
        }
        report.bytesSent += exchange.bytesSent
        report.bytesReceived += exchange.bytesReceived
        phase = .applying(page)
        centreClock = exchange.centreClock ?? centreClock
        return .apply(page, centreClock: exchange.centreClock, prefetch: page.hasMore ? page.nextCursor : nil)
    }

    /// The page and its cursor are committed: the next page, or the end of the cycle (with the
    /// push's refusal, if there was one, as its error). `clearedRefusal`: the page recalled rows
    /// the refused changesets carried, kept this office's pending changes of them aside and made
    /// the changesets again without them (``PullApplyResult/clearedRefusal``); they are pushed
    /// again once the pull ends, so a refusal of another row they carry is met in this cycle.
    mutating func applied(clearedRefusal: Bool = false) -> Action {
        guard case .applying(let page) = phase else { preconditionFailure("the sync cycle was told of a page it did not hand out") }
        if clearedRefusal {
            refusal = nil
            pushAgain = true
        }
        report.pagesPulled += 1
        report.recordsPulled += page.records.count
        if page.hasMore {
            phase = .pulling(position)
            return .awaitPage
        }
        pulled = true
        if failAfterPull?.code == .clockAhead && !restampAsked {
            restampAsked = true
            phase = .restamping
            return .restamp(centreClock: centreClock)
        }
        if pushAgain && failAfterPull == nil {
            pushAgain = false
            phase = .pushing(nil)
            return .makeChangeset
        }
        phase = .done
        if let refusal {
            return .fail(
                SyncAgentError(
                    .refused, "the centre refused changeset \(refusal.sequence): \(refusal.message)", hint: refusal.hint,
                    transient: false, centralAnswered: true))
        }
        if let failAfterPull { return .fail(failAfterPull) }
        return .finish(report)
    }

    /// The changeset the centre found too heavy was split in two (`done`), and what waits is pushed
    /// again; one change alone still too heavy cannot be, and ends the cycle with the centre's
    /// answer (its operator raises `limits.refold_changes_burst`).
    mutating func split(_ done: Bool) -> Action {
        guard let tooHeavy else { preconditionFailure("the sync cycle was told of a split it did not ask for") }
        self.tooHeavy = nil
        guard done else {
            phase = .done
            return .fail(tooHeavy)
        }
        report.changesetsSplit += 1
        phase = .pushing(nil)
        return .makeChangeset
    }

    /// The waiting changes were stamped again (`restamp`), or not (nil: this office's clock is
    /// still ahead): what waits is pushed again in this cycle, or the cycle ends with `clock_ahead`.
    mutating func restamped(_ restamp: Restamp?) -> Action {
        guard case .restamping = phase, let clockAhead = failAfterPull else {
            preconditionFailure("the sync cycle was told of a restamp it did not ask for")
        }
        guard let restamp else {
            phase = .done
            return .fail(clockAhead)
        }
        report.changesRestamped += restamp.changes
        failAfterPull = nil
        pushAgain = false
        phase = .pushing(nil)
        return .makeChangeset
    }

    /// The error that stops the cycle when the centre's epoch is not the one this office synced
    /// with: a restored centre may lack changes the office believes acknowledged, so syncing on
    /// would diverge silently.
    func epochProblem(_ epoch: Epoch?) -> SyncAgentError? {
        guard let epoch, let knownEpoch, epoch != knownEpoch else { return nil }
        return SyncAgentError(
            .epochMismatch, "the centre's epoch changed from \(knownEpoch) to \(epoch): it was restored or replaced",
            hint: "Sync is paused so nothing diverges. Confirm with the centre's operator, then run: promo-sync resync --force",
            transient: false, centralAnswered: true)
    }

    /// A refusal by a centre older than the release that added a field this changeset carries: not
    /// the row's fault, so it is not recorded as a refusal; the office keeps its changes and retries
    /// (with backoff) until the centre is upgraded.
    static func centreTooOld(for changeset: Changeset, _ error: TransportError) -> SyncAgentError? {
        // An old centre refuses a field it does not know as a bad request (a null one too: a new
        // row carries every column); its other answers (a gap, a merged office) mean what they say.
        guard error.status == 400, error.remoteCode == "bad_request" else { return nil }
        var newest: (column: String, schema: Int)?
        for change in changeset.changes {
            for name in change.fields.keys {
                if let schema = change.table.column(named: name)?.column.addedInSchema, schema > (newest?.schema ?? 0) {
                    newest = ("\(change.table.rawValue).\(name)", schema)
                }
            }
        }
        guard let newest else { return nil }
        let needed = SoftwareVersion.firstRelease(withSchema: newest.schema)
        let centre = error.centreRelease.flatMap(ReleaseNumber.init)
        if let centre, let required = ReleaseNumber(needed), centre >= required { return nil }
        return SyncAgentError(
            .centreTooOld,
            "the centre runs \(centre.map { "promo-central \($0)" } ?? "a promo-central release before 1.2.0"), which does not know \(newest.column) (added in \(needed)); it refused changeset \(changeset.sequence)",
            hint:
                "Upgrade the centre first (docs/OPERATIONS.md, \"Rolling out a release\"). This office keeps its changes and sends them once the centre is upgraded.",
            transient: true, centralAnswered: true)
    }

    /// The centre's error codes for a changeset refused for what one of its rows says.
    static let refusalCodes: Set<String> = ["forbidden_writer", "forbidden_owner", "unknown_parent", "bad_request", "aggregate_full"]

    /// The refusal `error` is, when the centre refused `changeset` for its content.
    static func refusal(of changeset: Changeset, _ error: TransportError) -> ChangesetRefusal? {
        guard let code = error.remoteCode, refusalCodes.contains(code), error.status.map({ (400..<500).contains($0) }) == true else {
            return nil
        }
        return ChangesetRefusal(
            sequence: changeset.sequence, code: code, message: error.message,
            table: error.remoteRow?.table.rawValue, id: error.remoteRow?.id)
    }
}
