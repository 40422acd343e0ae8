import Foundation
import GRDB
import SyncCore
import SyncTesting
import Testing
import WireFormat

@testable import Replica

/// What a pull brings from a later release is kept, not dropped, and applied once a release that
/// knows it opens the replica; a replica a later release migrated is refused, not misread.
@Suite struct ForwardCompatibilityTests {
    let project = "01a220b8-0000-7000-8000-00000000000b"

    func record(cursor: Int64, extra: [String: FieldValue]) -> PulledRecord {
        var fields: [String: FieldValue] = [
            "office": .text("79"), "province": .text("79"), "code": .text("KC-1"), "name": .text("Máy sấy"), "category": .text("MH_TRINHDIEN"),
            "fund_source": .text("local"), "year": .integer(2025), "total_cost": .integer(900), "requested_support": .integer(300),
            "status": .text("approved"),
        ]
        fields.merge(extra) { $1 }
        return PulledRecord(cursor: PullCursor(cursor), table: "project", id: project, office: OfficeCode(unchecked: "79"), deleted: false, fields: fields)
    }

    func kept(_ replica: Replica) throws -> [String: String] {
        try replica.database.read { db in
            try Dictionary(
                uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT tbl, row_id, fields FROM _sync_deferred").map {
                    ("\($0["tbl"] as String)/\($0["row_id"] as String)", $0["fields"] as String)
                })
        }
    }

    @Test func fieldsAndTablesOfALaterReleaseAreKeptAndTheCursorMovesOnlyPastWhatIsKept() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let page = PullResponse(
            epoch: Epoch("e1"),
            records: [
                record(cursor: 4, extra: ["tax_code": .text("0312345678"), "floor_area": .integer(120), "gone": .null]),
                PulledRecord(
                    cursor: PullCursor(5), table: "beneficiary_site", id: "s1", office: OfficeCode(unchecked: "79"), deleted: false,
                    fields: ["name": .text("Xưởng 1")]),
            ], nextCursor: PullCursor(5), hasMore: false)
        let result = try replica.applyPulledPage(page)
        #expect(result.applied == 1 && result.deferred == 2)
        #expect(try replica.data.projects().first?.taxCode == "0312345678")
        #expect(try kept(replica) == ["project/\(project)": #"{"floor_area":120}"#, "beneficiary_site/s1": #"{"name":"Xưởng 1"}"#])
        #expect(try replica.syncPosition().cursor == PullCursor(5))
        #expect(try outbox(replica).isEmpty)

        // A later version of the row without the field: nothing of it is kept any more.
        _ = try replica.applyPulledPage(PullResponse(epoch: Epoch("e1"), records: [record(cursor: 6, extra: [:])], nextCursor: PullCursor(6), hasMore: false))
        #expect(try kept(replica) == ["beneficiary_site/s1": #"{"name":"Xưởng 1"}"#])
    }

    @Test func whatAnOlderReleaseKeptIsAppliedWhenThisOneOpensTheReplica() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        _ = try replica.applyPulledPage(PullResponse(epoch: Epoch("e1"), records: [record(cursor: 3, extra: [:])], nextCursor: PullCursor(3), hasMore: false))
        // As release 1.2.0 would have kept them had tax_code and province_total come after it.
        try replica.database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO _sync_deferred(tbl, row_id, office, deleted, fields, cursor, whole) VALUES
                      ('project', ?, '79', 0, '{"tax_code":"0312345678-001","floor_area":120}', 3, 0),
                      ('province_total', '79/2025/local', 'central', 0, '{"province":"79","year":2025,"fund_source":"local","plan_amount":10,"disbursed_amount":4}', 4, 1)
                    """, arguments: [project])
        }
        let reopened = try Replica.open(at: replica.path)
        #expect(try reopened.data.projects().first?.taxCode == "0312345678-001")
        #expect(try reopened.data.consolidatedTotals().first { $0.province == "79" }?.disbursedAmount == 4)
        // Still unknown here: kept for the release after.
        #expect(try kept(reopened) == ["project/\(project)": #"{"floor_area":120}"#])
        // The centre's values, not this office's edits: nothing to push.
        #expect(try outbox(reopened).isEmpty)
    }

    func recall(cursor: Int64, deleted: Bool = false) -> PulledRecord {
        PulledRecord(
            cursor: PullCursor(cursor), table: ConsolidatedTable.recall.rawValue, id: "project/\(project)", office: OfficeCode(unchecked: "79"),
            deleted: deleted,
            fields: ["table": .text("project"), "row_id": .text(project), "office": .text("77"), "reason": .text("merged by mistake")])
    }

    /// A recall (`promo-central office unmerge`) an older release kept unapplied is applied on
    /// upgrade: the row goes, its pending edit is kept aside; a recall the centre withdrew since
    /// (the office merged again) is kept as its tombstone, which deletes nothing.
    @Test func aRecallAnOlderReleaseKeptIsAppliedOnUpgradeUnlessWithdrawn() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        _ = try replica.applyPulledPage(PullResponse(epoch: Epoch("e1"), records: [record(cursor: 3, extra: [:])], nextCursor: PullCursor(3), hasMore: false))
        try replica.data.updateProject("KC-1", ProjectUpdate(name: "Sửa tại 79"))
        func keep(_ record: PulledRecord) throws {
            try replica.database.write { db in
                try db.execute(
                    sql: "INSERT OR REPLACE INTO _sync_deferred(tbl, row_id, office, deleted, fields, cursor, whole) VALUES (?, ?, '79', ?, ?, ?, 1)",
                    arguments: [record.table, record.id, record.deleted, FieldCoding.encode(record.fields), record.cursor.rawValue])
            }
        }
        try keep(recall(cursor: 4))
        try keep(recall(cursor: 5, deleted: true))
        #expect(try Replica.open(at: replica.path).data.projects().map(\.code) == ["KC-1"])

        try keep(recall(cursor: 6))
        let upgraded = try Replica.open(at: replica.path)
        #expect(try upgraded.data.projects().isEmpty)
        #expect(try outbox(upgraded).isEmpty)
        let aside = try upgraded.withdrawnChanges()
        #expect(aside.map(\.table).sorted() == ["project", "project_event"])
        #expect(aside.allSatisfy { $0.reason.contains("project KC-1 (\(project)) went back to office 77") })
    }

    /// While a changeset carrying the row's pending changes is in flight (made, neither
    /// acknowledged nor refused: the centre may hold it), the recall waits with the row untouched;
    /// once the centre refused it, for any row, the next page makes it again without them (here it
    /// carries nothing else, so it goes) and keeps the changes aside.
    @Test func aRecallWaitsForAChangesetInFlight() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        _ = try replica.applyPulledPage(PullResponse(epoch: Epoch("e1"), records: [record(cursor: 3, extra: [:])], nextCursor: PullCursor(3), hasMore: false))
        try replica.data.updateProject("KC-1", ProjectUpdate(name: "Sửa tại 79"))
        let inFlight = try #require(try replica.nextChangeset())
        let result = try replica.applyPulledPage(PullResponse(epoch: Epoch("e1"), records: [recall(cursor: 4)], nextCursor: PullCursor(4), hasMore: false))
        #expect(result.keptAside == 0 && result.deferred == 1)
        #expect(try replica.data.projects().map(\.name) == ["Sửa tại 79"])
        #expect(try replica.withdrawnChanges().isEmpty)
        #expect(try replica.nextChangeset()?.sequence == inFlight.sequence)
        #expect(try replica.syncPosition().cursor == PullCursor(4))

        // Refused, even for another row (until 1.8.0 the recall waited for a person then): it was
        // not applied, so it is unmade; a refusal of another row comes back when that is pushed again.
        let other = ChangesetRefusal(sequence: inFlight.sequence, code: "bad_request", message: "bad", table: "plan_line", id: "p1")
        try replica.recordRefusal(other)
        let next = try replica.applyPulledPage(PullResponse(epoch: Epoch("e1"), records: [], nextCursor: PullCursor(4), hasMore: false))
        #expect(next.keptAside == 2 && next.clearedRefusal)
        #expect(try replica.data.projects().isEmpty && kept(replica).isEmpty)
        #expect(try replica.refusal() == nil && outbox(replica).isEmpty && replica.nextChangeset() == nil)
    }

    @Test func aReplicaALaterReleaseMigratedIsRefusedWithWhatToDo() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        try replica.database.write { try $0.execute(sql: "INSERT INTO grdb_migrations(identifier) VALUES ('v9-beneficiary-sites')") }
        let error = #expect(throws: ReplicaError.self) { _ = try Replica.open(at: replica.path) }
        #expect(error?.message.contains("later release") == true && error?.message.contains("v9-beneficiary-sites") == true)
        #expect(error?.hint?.contains("resync --rebuild") == true)
    }
}
