import Logging
import NIOPosix
import SyncCore

/// The one writer of the consolidated totals while the centre serves.
///
/// A push marks its office's totals pending in its own transaction and calls ``changed()`` after
/// it commits; the refresher recomputes them on the store's thread pool once pushes pause for
/// ``quietPeriod`` (a stream of changesets is not slowed by a recomputation after each one, which
/// nobody reads meanwhile), one pass at a time. An office's pull calls ``upToDate(for:)`` before
/// it reads the log, which recomputes that office's own totals if they wait, so an office never
/// pulls its totals older than the changesets of it the centre has acknowledged, and the GET
/// itself only reads; other offices' totals come with the next pass. The dashboard calls
/// ``upToDate()``, which starts a pass at once if one is due and waits for it. Totals marked
/// pending by another process (a `promo-central` command) are found the same way.
public actor TotalsRefresher {
    private let store: CentralStore
    private var pass: Task<Void, Never>?
    /// Counts the requests for a pass; a pass covers every request counted before it started.
    private var requested = 0
    private var finished = 0
    /// How long pushes must pause before totals are recomputed without a pull asking.
    let quietPeriod: Duration
    private var quiet: Task<Void, Never>?
    /// The recomputation of one office's totals running for its pulls, by office.
    private var ownRefreshes: [String: Task<Void, Never>] = [:]

    /// Creates the refresher of `store`'s totals; `quietPeriod` is how long pushes must pause before a pass starts.
    public init(store: CentralStore, quietPeriod: Duration = .milliseconds(500)) {
        self.store = store
        self.quietPeriod = quietPeriod
    }

    /// A push marked totals pending: recompute them once pushes pause (or when a pull asks).
    public func changed() {
        requested += 1
        armQuietPeriod()
    }

    /// Starts a pass once ``quietPeriod`` passes without another push.
    private func armQuietPeriod() {
        quiet?.cancel()
        let period = quietPeriod
        quiet = Task {
            guard (try? await Task.sleep(for: period)) != nil else { return }
            if self.pass == nil, self.requested > self.finished { self.startPass() }
        }
    }

    /// Returns once the totals cover every push acknowledged before the call (a pull that waits
    /// sees them), after at most the running pass and one more, however many pushes follow. A
    /// store that cannot be read is logged by the pass, not waited for again.
    public func upToDate() async {
        if pass == nil, requested == finished, await outOfDate() { requested += 1 }
        await cover(requested)
        // A pass that read the pending offices before another process marked more: once more.
        if await outOfDate() {
            requested += 1
            await cover(requested)
        }
    }

    /// Recomputes `office`'s own totals if they wait (its pull then sees them), without waiting for
    /// a pass over every office: pulls waited for the totals of every office's pushes, so an
    /// office with a large ledger pushing one row at a time held every other office's pull for
    /// 1.5 s a time (round 8 of the attacks, 250,000 payments, a debug build).
    ///
    /// One recomputation of an office runs at a time: its concurrent pulls each recomputed its
    /// totals, and four at once held every other office's pushes for seconds (round 9, A1). A pull
    /// that finds one running waits for it, then for one started after it arrived.
    public func upToDate(for office: OfficeCode) async {
        // The one running may have read before this pull's office's last push.
        if let running = ownRefreshes[office.rawValue] { await running.value }
        if let started = ownRefreshes[office.rawValue] { return await started.value }
        let store = self.store
        let refresh = Task {
            do {
                try await store.threadPool.runIfActive {
                    if try store.totalsOutOfDate(office: office) { try store.refreshTotals(of: office) }
                }
            } catch {
                store.logger.error("consolidated totals not brought up to date", metadata: ["sync.office": "\(office)", "error": "\(error)"])
            }
        }
        ownRefreshes[office.rawValue] = refresh
        await refresh.value
        if ownRefreshes[office.rawValue] == refresh { ownRefreshes[office.rawValue] = nil }
    }

    /// Waits until a pass covering request `target` has ended, starting one when none runs.
    private func cover(_ target: Int) async {
        while finished < target {
            if pass == nil { startPass() }
            await pass?.value
        }
    }

    /// Whether some office's totals wait in the store (marked by a push, or by another process).
    private func outOfDate() async -> Bool {
        (try? await store.threadPool.runIfActive({ [store] in try store.totalsOutOfDate() })) == true
    }

    private func startPass() {
        let generation = requested
        let store = self.store
        pass = Task {
            do {
                try await store.threadPool.runIfActive { try store.refreshTotals() }
            } catch {
                store.logger.error("consolidated totals not brought up to date", metadata: ["error": "\(error)"])
            }
            self.passEnded(generation)
        }
    }

    private func passEnded(_ generation: Int) {
        finished = generation
        pass = nil
        // Pushes that came during the pass wait for the next pause (or a pull), not back to back:
        // chained passes would take the write lock between every changeset of a stream.
        if requested > finished { armQuietPeriod() }
    }
}
