import Logging
import NIOPosix

/// The one writer of the consolidated totals while the centre serves.
///
/// A push marks its office's totals pending in its own transaction and calls ``changed()`` after
/// it commits; the refresher recomputes them on the store's thread pool once pushes pause for
/// ``quietPeriod`` (a stream of changesets is not slowed by a recomputation after each one, which
/// nobody reads meanwhile), one pass at a time. A pull calls ``upToDate()`` before it reads the
/// log, which starts a pass at once if one is due and waits for it, so an office never pulls
/// totals older than the changesets the centre has acknowledged, and the GET itself only reads.
/// Totals marked pending by another process (a `promo-central` command) are found the same way.
public actor TotalsRefresher {
    private let store: CentralStore
    private var pass: Task<Void, Never>?
    /// Counts the requests for a pass; a pass covers every request counted before it started.
    private var requested = 0
    private var finished = 0
    /// How long pushes must pause before totals are recomputed without a pull asking.
    let quietPeriod: Duration
    private var quiet: Task<Void, Never>?

    public init(store: CentralStore, quietPeriod: Duration = .milliseconds(500)) {
        self.store = store
        self.quietPeriod = quietPeriod
    }

    /// A push marked totals pending: recompute them once pushes pause (or when a pull asks).
    public func changed() {
        requested += 1
        quiet?.cancel()
        let period = quietPeriod
        quiet = Task {
            guard (try? await Task.sleep(for: period)) != nil else { return }
            self.pauseEnded()
        }
    }

    private func pauseEnded() {
        quiet = nil
        if pass == nil, requested > finished { startPass() }
    }

    /// A pass now, or after the running one, covering every request counted so far.
    private func due() {
        quiet?.cancel()
        quiet = nil
        if pass == nil, requested > finished { startPass() }
    }

    /// Returns once the totals cover every push acknowledged before the call (a pull that waits
    /// sees them), after at most the running pass and one more, however many pushes follow. A
    /// store that cannot be read is logged by the pass, not waited for again.
    public func upToDate() async {
        if pass == nil, requested == finished, (try? await store.threadPool.runIfActive({ [store] in try store.totalsOutOfDate() })) == true {
            requested += 1
        }
        due()
        var target = requested
        while finished < target, let running = pass { await running.value }
        // A pass that read the pending offices before another process marked more: once more.
        if (try? await store.threadPool.runIfActive({ [store] in try store.totalsOutOfDate() })) == true {
            requested += 1
            due()
            target = requested
            while finished < target, let running = pass { await running.value }
        }
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
        if requested > finished { startPass() }
    }
}
