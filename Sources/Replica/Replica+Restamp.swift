import Foundation
import GRDB
import SyncCore

/// What ``Replica/restampAfterClockSetBack(centreClock:now:)`` did.
public struct Restamp: Sendable, Equatable {
    /// The office's clock before: the latest stamp it gave or saw.
    public var from: HLCTimestamp
    /// The office's clock after: the later of its wall clock and the centre's.
    public var to: HLCTimestamp
    /// Changes in changesets not yet acknowledged that were stamped again.
    public var changes: Int

    /// Creates the record of a restamp from its parts.
    public init(from: HLCTimestamp, to: HLCTimestamp, changes: Int) {
        self.from = from
        self.to = to
        self.changes = changes
    }
}

extension Replica {
    /// How far this office's clock must be ahead of its own wall clock before it counts as set
    /// back: a server's clock is stepped by more than this only by a person or after a long drift.
    public static let clockSetBackMargin: TimeInterval = 60

    /// Stamps again, in the order they were made, the changes of the changesets not yet
    /// acknowledged, after the centre refused the oldest whole (422 `clock_ahead`: stamped more than
    /// ten minutes after the centre's time) and the office server's clock has since been set right.
    ///
    /// An office's clock never runs backwards: it resumes after the latest stamp it gave. A server
    /// whose clock ran hours ahead (local time taken for UTC, a year typed wrong) therefore went on
    /// stamping in that future after the fix, and the centre would take nothing of it until real
    /// time caught up. Here, when the office's clock is more than ``clockSetBackMargin`` ahead of
    /// its own wall clock (the wall clock was set back), the clock restarts from the later of the
    /// wall clock and `centreClock` (the centre's clock from a page just pulled: it has taken in
    /// every stamp it accepted, this office's included, so what follows is still after them and
    /// after every decision seen), and the waiting changes are stamped from there, each keeping its
    /// values, status steps and changeset. The centre holds none of them: it refused the oldest
    /// whole and was sent none after it. The changes now count as made at the time of the fix.
    ///
    /// Recorded as the last repair (`promo-sync status`). Returns nil, changing nothing, when the
    /// clock is not ahead of the wall clock (it is still wrong: the refusal stands until a person
    /// sets it right), or when no page carried the centre's clock.
    public func restampAfterClockSetBack(centreClock: HLCTimestamp?, now: Date = Date()) throws(ReplicaError) -> Restamp? {
        try write("stamping the waiting changes again") { db in
            let clock = try Self.officeClock(db)
            let wall = HybridLogicalClock.wallMilliseconds(now)
            // Without the centre's clock (no page carried one) a restart from the wall clock could
            // stamp before this office's own accepted changes: the refusal stands.
            guard let centreClock, clock.latest.milliseconds > wall + UInt64(Self.clockSetBackMargin * 1000) else { return nil }
            var restarted = HybridLogicalClock(node: clock.node)
            restarted.observe(centreClock, nowMilliseconds: wall)
            var changes = 0
            try Self.rewriteUnsentChangesets(db) { change in
                var stamped = change
                stamped.hlc = restarted.tick(nowMilliseconds: wall)
                changes += 1
                return stamped
            }
            try State.set(db, .hlc, restarted.latest.description)
            // Shown by status as the last repair, in the same transaction.
            try Self.recordRepair(
                db,
                "the centre refused changes stamped up to \(clock.latest), ahead of its time, and this server's clock was set back since: stamped \(changes) waiting changes again from \(restarted.latest)",
                at: now)
            return Restamp(from: clock.latest, to: restarted.latest, changes: changes)
        }
    }
}
