import Foundation
import GRDB
import SyncCore
import SyncTesting
import Testing
import WireFormat

@testable import Replica

/// A recall (docs/PROTOCOL.md) gives a row this office held back to its owner: what this office
/// had not pushed of it is kept aside. It waits only while a changeset in flight carries such a
/// change, not for a refusal of another row, which a person may take days to deal with.
@Suite struct RecallTests {
    /// A page carrying a recall of `row` (a plan line) back to office 77.
    static func recall(_ row: RowID, cursor: Int64) -> PullResponse {
        PullResponse(
            epoch: Epoch("e"),
            records: [
                PulledRecord(
                    cursor: PullCursor(cursor), table: ConsolidatedTable.recall.rawValue, id: "recall-\(cursor)", office: OfficeCode(unchecked: "79"),
                    deleted: false,
                    fields: ["table": .text(SyncedTable.planLine.rawValue), "row_id": .text(row.rawValue), "office": .text("77"), "reason": .text("test")])
            ],
            nextCursor: PullCursor(cursor), hasMore: false)
    }

    @Test func aChangesetRefusedForAnotherRowIsUnmadeAndTheRecallIsNotHeldBack() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let own = try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 1_000, note: "79's own")
        let received = try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 2_000, note: "held for 77")
        let sent = try #require(try replica.nextChangeset())
        #expect(sent.changes.count == 2)
        try replica.recordRefusal(
            ChangesetRefusal(sequence: sent.sequence, code: "bad_request", message: "refused", table: SyncedTable.planLine.rawValue, id: own.rawValue))

        let applied = try replica.applyPulledPage(Self.recall(received, cursor: 1))
        #expect(applied.clearedRefusal)
        #expect(try replica.data.planLines().map(\.id) == [own.rawValue])
        #expect(try replica.withdrawnChanges().map(\.id) == [received.rawValue])
        #expect(try replica.refusal() == nil)
        // 79's own change is made again, alone, under the refused changeset's number.
        let again = try #require(try replica.nextChangeset())
        #expect(again.sequence == sent.sequence && again.changes.map(\.id) == [own])
    }

    @Test func aChangesetInFlightHoldsTheRecallBackOnlyWhileItCarriesTheRow() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let received = try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 2_000, note: "held for 77")
        let first = try #require(try replica.nextChangeset())

        // In flight with the row: the centre may hold it, so the recall waits, the row untouched.
        _ = try replica.applyPulledPage(Self.recall(received, cursor: 1))
        #expect(try replica.data.planLines().map(\.id) == [received.rawValue])
        #expect(try replica.withdrawnChanges().isEmpty)

        // Acknowledged; another row's changeset in flight, and the received row edited after it:
        // the next page applies the waiting recall and keeps the edit aside.
        try replica.acknowledge(first.sequence)
        let other = try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 3_000, note: nil)
        let second = try #require(try replica.nextChangeset())
        #expect(second.changes.map(\.id) == [other])
        try replica.database.write { db in try db.execute(sql: "UPDATE plan_line SET note = 'sửa' WHERE id = ?", arguments: [received.rawValue]) }
        _ = try replica.applyPulledPage(PullResponse(epoch: Epoch("e"), records: [], nextCursor: PullCursor(2), hasMore: false))
        #expect(try replica.data.planLines().map(\.id) == [other.rawValue])
        #expect(try replica.withdrawnChanges().map(\.id) == [received.rawValue])
        // The changeset in flight is untouched, and acknowledged as any other.
        try replica.acknowledge(second.sequence)
        #expect(try replica.pendingSummary().changes == 0)
    }
}
