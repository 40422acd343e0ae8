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

    /// The highest record position (`record.seq`) the record is known to hold, with everything
    /// below it: pulls serve nothing past it, so no office holds what a restore from the record
    /// would lack and then number differently.
    func heldRecordPosition() async -> Int64
}
