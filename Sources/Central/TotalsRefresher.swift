import Logging
import NIOPosix

/// The one writer of the consolidated totals while the centre serves.
///
/// A push marks its office's totals pending in its own transaction and calls ``changed()`` after
/// it commits; the refresher recomputes them on the store's thread pool, one pass at a time,
/// folding every push that arrives during a pass into the next one. A pull calls ``upToDate()``
/// before it reads the log, so an office never pulls totals older than the changesets the centre
/// has acknowledged, and the GET itself only reads. Totals marked pending by another process (a
/// `promo-central` command) are found by the same check.
public actor TotalsRefresher {
    private let store: CentralStore
    private var pass: Task<Void, Never>?
    /// Counts the requests for a pass; a pass covers every request counted before it started.
    private var requested = 0
    private var finished = 0

    public init(store: CentralStore) {
        self.store = store
    }

    /// Something marked totals pending: recompute them now, or after the pass that is running.
    public func changed() {
        requested += 1
        if pass == nil { startPass() }
    }

    /// Returns once the totals cover every push acknowledged before the call (a pull that waits
    /// sees them), after at most the running pass and one more, however many pushes follow. A
    /// store that cannot be read is logged by the pass, not waited for again.
    public func upToDate() async {
        if pass == nil, (try? await store.threadPool.runIfActive({ [store] in try store.totalsOutOfDate() })) == true {
            changed()
        }
        var target = requested
        while finished < target, let running = pass { await running.value }
        // A pass that read the pending offices before another process marked more: once more.
        if (try? await store.threadPool.runIfActive({ [store] in try store.totalsOutOfDate() })) == true {
            changed()
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
