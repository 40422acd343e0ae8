import Central
import Foundation
import Logging
import PostgresNIO
import SyncCore

/// The PostgreSQL copy as the central store's durable record while the centre serves
/// (`store.postgres_url`; docs/OPERATIONS.md, "The centre in PostgreSQL"): every acknowledgement
/// waits until the copy holds what the store committed, so the copy holds every changeset an
/// office was told is kept, and a centre whose machine is lost is restored from it
/// (``PostgresStoreRestore``) with nothing missing.
///
/// Passes are the follower's (``PostgresStoreFollower``), one at a time, and cover together every
/// push that was waiting when they started: under load each pass carries many changesets
/// (a group commit), and an idle centre runs one every ``interval`` for what its commands journaled.
public actor PostgresRecord: DurableRecord {
    let location: PostgresLocation
    let storePath: String
    let logger: Logger
    /// How long one pass may take before its backend is ended and the waiting pushes are answered 503.
    let deadline: Duration
    /// How often an idle centre brings the copy up to date (journaled commands, office visits).
    let interval: Duration
    let faults: FaultInjector
    /// The serving lease each pass renews (``ServingLease``); nil when no other centre can serve
    /// from this record (the tests' centres).
    let lease: ServingLease?

    /// Counts the waits; a pass covers every wait counted before it started.
    private var requested = 0
    /// Where the last finished pass left the copy (``heldMark()``).
    private var held = LogMark(logPosition: 0, recordPosition: 0)
    /// When a pass last finished (``lastHeldAt()``).
    private var heldAt: Date?
    /// When the last pass that renewed the lease began (a renewal commits after it), for
    /// ``admitsOffices()``.
    private var renewedFrom: ContinuousClock.Instant?
    /// Numbers the passes: a pass given up at its deadline may still end later, and is then ignored.
    private var generation = 0
    private var stopped = false
    private var deadlineTask: Task<Void, Never>?
    /// The client of the passes, kept between them (a connection per pass cost more than the
    /// pass); dropped after a failed pass, so the next one finds the primary again.
    private var connection: (client: PostgresClient, run: Task<Void, Never>)?
    private var pass: Task<Void, Never>?
    private var waiting: [(target: Int, continuation: CheckedContinuation<Void, any Error>)] = []
    /// Set once a pass found the lease another centre's: no pass runs again.
    private var takenOver: ServingLease.TakenOver?
    private var awaitingTakeOver: [CheckedContinuation<ServingLease.TakenOver?, Never>] = []

    /// A pass of the record fails here when a test arms it.
    public static let passFault = FaultPoint("record-pass")

    /// A record of the store at `storePath` in `location`, which must already hold its copy
    /// (`promo-central store migrate --to`).
    public init(
        location: PostgresLocation, storePath: String, logger: Logger, deadline: Duration = .seconds(10), interval: Duration = .seconds(5),
        lease: ServingLease? = nil, faults: FaultInjector = FaultInjector()
    ) {
        self.location = location
        self.storePath = storePath
        self.logger = logger
        self.deadline = deadline
        self.interval = interval
        self.faults = faults
        self.lease = lease
    }

    /// Brings the copy up to date before the centre serves. Refuses, as `configuration`, a
    /// database that holds no copy of this store, or the copy of another epoch or a longer log.
    public func start() async throws(CentralError) {
        let began = ContinuousClock.now
        do {
            let pass = try await PostgresStoreFollower.pass(storePath: storePath, into: location, lease: lease, timeout: deadline * 6, logger: logger)
            held = pass.mark
            heldAt = Date()
            renewedFrom = began
            logger.info(
                "the PostgreSQL record holds the store", metadata: ["store.record": "\(location)", "store.position": "\(pass.position)"])
        } catch let error as CentralError where ServingLease.TakenOver.within(error) == nil {
            throw error
        } catch {
            throw CentralError(
                .serviceUnavailable, .recordUnavailable, "the PostgreSQL record at \(location) cannot be brought up to date: \(error)",
                hint: "Check that PostgreSQL runs and the address and password; the centre does not serve without its record.")
        }
    }

    /// Runs a pass every ``interval`` until cancelled, for what no push waits for.
    public func keepCurrent() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            if pass == nil, !stopped, takenOver == nil {
                requested += 1
                startPass()
            }
        }
    }

    /// Waits for a pass that started after the call (the store's commit is in its snapshot);
    /// a pass that fails or outlasts ``deadline`` answers `record_unavailable` (503).
    public nonisolated func holdsEverythingCommitted() async throws(CentralError) {
        do {
            try await wait()
        } catch {
            // Whatever stopped the pass (PostgreSQL away, no primary, the deadline), the office
            // hears the one code that says its change is kept and will be acknowledged later.
            throw CentralError(
                .serviceUnavailable, .recordUnavailable,
                "the store's PostgreSQL record did not take the change: \((error as? CentralError)?.message ?? "\(error)")",
                hint: "The change is kept at the centre; promo-sync sends it again and it is acknowledged once PostgreSQL holds it.",
                underlying: error)
        }
    }

    /// Where the last pass that finished left the copy: pulls serve no record past its record position.
    public func heldMark() async -> LogMark { held }

    /// When a pass last finished.
    public func lastHeldAt() async -> Date? { heldAt }

    /// With a serving lease, refuses offices once four fifths of the lease have passed since the
    /// last renewing pass began: a standby counts the lease from after that renewal committed, so
    /// this centre stops answering before one can take over.
    public func admitsOffices() throws(CentralError) {
        if let takenOver {
            throw CentralError(
                .serviceUnavailable, .recordUnavailable, "\(takenOver)", hint: "promo-sync tries again by itself, and reaches whichever centre serves.")
        }
        guard let lease, let renewedFrom else { return }
        let since = ContinuousClock.now - renewedFrom
        guard since > lease.duration * 4 / 5 else { return }
        throw CentralError(
            .serviceUnavailable, .recordUnavailable,
            "this centre has not renewed its serving lease on the PostgreSQL record for \(since.components.seconds) s; a standby centre may be taking over",
            hint: "Nothing is lost: promo-sync tries again by itself, and reaches whichever centre serves.")
    }

    /// The address and, with a serving lease, this centre's name in it.
    public nonisolated var summary: String {
        lease.map { "\(location), this centre serving as \($0.holder)" } ?? "\(location)"
    }

    private func wait() async throws {
        if let takenOver { throw takenOver }
        requested += 1
        let target = requested
        try await withCheckedThrowingContinuation { continuation in
            waiting.append((target, continuation))
            if pass == nil { startPass() }
        }
    }

    private func startPass() {
        let target = requested
        generation += 1
        let current = generation
        let (location, storePath, logger, deadline, faults, lease) = (location, storePath, logger, deadline, faults, lease)
        let began = ContinuousClock.now
        pass = Task {
            let result: Result<LogMark, any Error>
            do {
                try faults.check(Self.passFault)
                let client = try await self.client()
                result = .success(
                    try await PostgresStoreFollower.pass(storePath: storePath, client: client, lease: lease, timeout: deadline, logger: logger).mark)
            } catch {
                result = .failure(error)
            }
            self.ended(target: target, generation: current, result, began: began)
        }
        // The deadline holds even when PostgreSQL never answers (a host gone without a reset): the
        // waiting pushes are answered, the connection is closed, and whatever the pass does later
        // is ignored.
        deadlineTask = Task {
            guard (try? await Task.sleep(for: deadline + .seconds(1))) != nil else { return }
            self.ended(
                target: target, generation: current,
                .failure(CentralError(.serviceUnavailable, .busy, "PostgreSQL did not finish a pass within \(deadline)")))
        }
    }

    private func client() async throws -> PostgresClient {
        if let connection { return connection.client }
        // Half the pass's deadline at most, so that the pass itself still has time.
        let node = try await location.primaryNode(logger: logger, within: deadline / 2)
        // Another pass may have connected, or the centre stopped, while the nodes were asked.
        if let connection { return connection.client }
        guard !stopped else { throw CancellationError() }
        let client = PostgresClient(configuration: location.configuration(node), backgroundLogger: logger)
        connection = (client, Task { await client.run() })
        return client
    }

    /// Returns once a pass found that another centre took the serving lease over: the centre
    /// must stop serving (every push it would answer from then on is refused anyway). Returns nil
    /// once the record is stopped (``stop()``).
    public func whenTakenOver() async -> ServingLease.TakenOver? {
        if let takenOver { return takenOver }
        if stopped { return nil }
        return await withCheckedContinuation { awaitingTakeOver.append($0) }
    }

    /// Closes the passes' connection and starts no more passes (the centre is stopping).
    public func stop() {
        stopped = true
        for waiter in awaitingTakeOver { waiter.resume(returning: nil) }
        awaitingTakeOver = []
        dropClient(after: pass)
    }

    /// Gives the passes' connection up: the next pass finds the primary again. The client is
    /// shut down only once `running` (a pass past its deadline, still waiting on PostgreSQL) has
    /// ended, however long that takes (PostgreSQL's answer, the connection's keepalive, or the
    /// pool giving up on a connection it cannot make end it): PostgresNIO traps when a
    /// connection it is closing is handed a query ("Invalid query state machine action in state:
    /// .closing"), which took the whole centre down when a pass outlived its deadline. A pass
    /// that waits meanwhile keeps its one client; the next passes have a new one.
    private func dropClient(after running: Task<Void, Never>?) {
        guard let connection else { return }
        self.connection = nil
        Task {
            await running?.value
            connection.run.cancel()
        }
    }

    /// Answers the waits the pass covered, once (by its result or by its deadline, whichever
    /// comes first); starts the next pass at once when more are waiting.
    private func ended(target: Int, generation ended: Int, _ result: Result<LogMark, any Error>, began: ContinuousClock.Instant? = nil) {
        guard ended == generation, let finishing = pass else { return }
        pass = nil
        deadlineTask?.cancel()
        switch result {
        case .success(let mark):
            held = LogMark(logPosition: max(held.logPosition, mark.logPosition), recordPosition: max(held.recordPosition, mark.recordPosition))
            heldAt = Date()
            if let began { renewedFrom = max(renewedFrom ?? began, began) }
        case .failure(let error):
            if takenOver == nil, let taken = ServingLease.TakenOver.within(error) {
                logger.critical("\(taken)", metadata: ["store.record": "\(location)"])
                takenOver = taken
                for waiter in awaitingTakeOver { waiter.resume(returning: taken) }
                awaitingTakeOver = []
            } else {
                logger.warning("the PostgreSQL record did not take a pass", metadata: ["store.record": "\(location)", "error": "\(error)"])
            }
            // The next pass finds the primary again, on a new connection.
            dropClient(after: finishing)
        }
        // Once another centre serves, no later pass can answer the rest either.
        let (covered, later) =
            takenOver != nil ? (waiting, []) : (waiting.filter { $0.target <= target }, waiting.filter { $0.target > target })
        waiting = later
        for wait in covered { wait.continuation.resume(with: result.map { _ in () }) }
        if !waiting.isEmpty, !stopped { startPass() }
    }
}
