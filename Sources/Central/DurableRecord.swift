import Foundation

/// A second, durable record of the central store that every acknowledgement waits for: with
/// `store.postgres_url` set, the PostgreSQL copy (docs/OPERATIONS.md, "The centre in
/// PostgreSQL"). A changeset is answered `applied` or `duplicate` only once the record holds it,
/// so the loss of the centre's machine loses nothing an office was told is kept: a new centre is
/// restored from the record (`promo-central store restore --from`).
public protocol DurableRecord: Sendable {
    /// Returns once the record holds everything the store committed before the call. Throws a
    /// 503 ``CentralError`` (`record_unavailable`) when that cannot be done in time; what was
    /// committed stays in the store, and the office's next attempt is answered `duplicate` once
    /// the record holds it.
    func holdsEverythingCommitted() async throws(CentralError)

    /// Where the record is known to stand, with everything before it: pulls serve no record
    /// past its ``LogMark/recordPosition``, so no office holds what a restore from the record
    /// would lack and then number differently.
    func heldMark() async -> LogMark

    /// When a pass last brought the record up to date (nil: none has since the centre started
    /// serving), for `/metrics`: a record that cannot be written is seen there before any office
    /// is answered `record_unavailable`.
    func lastHeldAt() async -> Date?

    /// Throws a 503 ``CentralError`` (`record_unavailable`) while this centre cannot be sure it
    /// still serves from the record: with a serving lease that its passes have not renewed for
    /// most of its length, a standby centre may take over at any moment, and this centre's store
    /// may already be behind what that one acknowledges. Offices are answered only once a pass
    /// renews the lease again (or the centre stops, having lost it).
    func admitsOffices() async throws(CentralError)

    /// What the record is, for the dashboard: its address (never a password) and, when several
    /// centres may serve from it, this centre's name among them.
    var summary: String { get }
}

/// A durable record's state as the dashboard shows it.
public struct RecordState: Sendable {
    /// ``DurableRecord/summary``.
    public var summary: String
    /// ``DurableRecord/lastHeldAt()``.
    public var heldAt: Date?
    /// ``DurableRecord/heldMark()``.
    public var held: LogMark

    /// The state of `record` now.
    public static func of(_ record: any DurableRecord) async -> RecordState {
        RecordState(summary: record.summary, heldAt: await record.lastHeldAt(), held: await record.heldMark())
    }
}

/// Where a store stands in its logs, or a durable record in the store's: the last log position
/// (changesets and journal entries share one numbering) and the last record position
/// (`record.seq`). A record whose mark is at or past the store's holds everything the store
/// committed, and a pull need not wait for it.
public struct LogMark: Sendable, Equatable {
    /// The last changeset or journal entry, by `position`.
    public var logPosition: Int64
    /// The last record version, by `seq`.
    public var recordPosition: Int64

    /// A mark at these positions.
    public init(logPosition: Int64, recordPosition: Int64) {
        self.logPosition = logPosition
        self.recordPosition = recordPosition
    }

    /// Whether everything up to `other` is also up to this mark.
    public func covers(_ other: LogMark) -> Bool {
        logPosition >= other.logPosition && recordPosition >= other.recordPosition
    }
}
