import Foundation
import GRDB
import SyncCore
import SyncTesting
import Testing
import WireFormat

@testable import Replica

@Suite struct PullApplyTests {
    static let epoch = Epoch("e1")

    func projectRecord(_ id: String, cursor: Int64, name: String, approved: FieldValue = .null) -> PulledRecord {
        PulledRecord(
            cursor: PullCursor(cursor), table: "project", id: id, office: OfficeCode(unchecked: "79"), deleted: false,
            fields: [
                "office": .text("79"), "province": .text("79"), "code": .text("KC-9"), "name": .text(name),
                "category": .text("MH_TRINHDIEN"), "fund_source": .text("national"), "beneficiary": .null, "year": .integer(2025),
                "total_cost": .integer(900), "requested_support": .integer(300), "approved_support": approved, "status": .text("approved"),
            ])
    }

    @Test func pulledRecordsAreNotEchoedIntoTheOutbox() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let page = PullResponse(
            epoch: Self.epoch,
            records: [
                projectRecord("01a220b8-0000-7000-8000-00000000000a", cursor: 5, name: "Từ trung tâm"),
                PulledRecord(
                    cursor: PullCursor(6), table: "province_total", id: "79/2025/local", office: .central, deleted: false,
                    fields: [
                        "province": .text("79"), "year": .integer(2025), "fund_source": .text("local"),
                        "plan_amount": .integer(10), "disbursed_amount": .integer(3),
                    ]),
                PulledRecord(cursor: PullCursor(7), table: "from_the_future", id: "x", office: .central, deleted: false, fields: [:]),
            ], nextCursor: PullCursor(7), hasMore: false)
        let result = try replica.applyPulledPage(page)
        #expect(result.applied == 2 && result.deferred == 1)
        #expect(try outbox(replica).isEmpty)
        #expect(try replica.syncPosition() == SyncPosition(cursor: PullCursor(7), epoch: Self.epoch))
        #expect(try replica.data.consolidatedTotals().first?.disbursedAmount == 3)
        // Captures work again after the page.
        try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 1, note: nil)
        #expect(try outbox(replica).count == 1)
    }

    @Test func localFieldsWaitingToBePushedAreKept() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let id = "01a220b8-0000-7000-8000-00000000000b"
        _ = try replica.applyPulledPage(
            PullResponse(
                epoch: Self.epoch, records: [projectRecord(id, cursor: 1, name: "Cũ")],
                nextCursor: PullCursor(1), hasMore: false))
        try replica.database.write { try $0.execute(sql: "UPDATE project SET name = 'Sửa tại văn phòng' WHERE id = ?", arguments: [id]) }
        // The centre meanwhile approved an amount; its copy still has the old name.
        let result = try replica.applyPulledPage(
            PullResponse(
                epoch: Self.epoch, records: [projectRecord(id, cursor: 2, name: "Cũ", approved: .integer(250))],
                nextCursor: PullCursor(2), hasMore: false))
        #expect(result.keptLocal == 1)
        let row = try #require(try replica.data.projects().first)
        #expect(row.name == "Sửa tại văn phòng")
        #expect(row.approvedSupport == 250)
    }

    @Test func aCrashBeforeTheCursorIsSavedLeavesNothingOfThePage() throws {
        let dir = try TemporaryDirectory()
        let faults = FaultInjector()
        _ = try makeReplica(dir)
        let replica = try Replica.open(at: dir.file(Replica.fileName), faults: faults)
        faults.arm(.afterApplyBeforeCursorSave)
        let page = PullResponse(
            epoch: Self.epoch, records: [projectRecord("01a220b8-0000-7000-8000-00000000000c", cursor: 3, name: "X")],
            nextCursor: PullCursor(3), hasMore: false)
        #expect(throws: ReplicaError.self) { try replica.applyPulledPage(page) }
        #expect(try replica.data.count(.project) == 0)
        #expect(try replica.syncPosition().cursor == .start)
        // The failed page left capture on: a local write on the same connection is captured.
        try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 1, note: nil)
        #expect(try outbox(replica).count == 1)
        // Retrying the same page is clean, and the page is not captured.
        _ = try replica.applyPulledPage(page)
        #expect(try replica.data.count(.project) == 1)
        #expect(try outbox(replica).count == 1)
    }

    @Test func aRowTheSchemaRefusesFailsThePageWholeAndNamesTheConstraint() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        var bad = projectRecord("01a220b8-0000-7000-8000-00000000000e", cursor: 4, name: "X")
        bad.fields["name"] = nil  // project.name is NOT NULL
        let page = PullResponse(
            epoch: Self.epoch, records: [projectRecord("01a220b8-0000-7000-8000-00000000000d", cursor: 3, name: "Y"), bad],
            nextCursor: PullCursor(4), hasMore: false)
        let error = #expect(throws: ReplicaError.self) { try replica.applyPulledPage(page) }
        #expect(error?.description.contains("NOT NULL") == true, "\(error?.description ?? "")")
        #expect(try replica.data.count(.project) == 0)
        #expect(try replica.syncPosition().cursor == .start)
        // The cached statement is usable again: the next good page applies.
        _ = try replica.applyPulledPage(
            PullResponse(
                epoch: Self.epoch, records: [projectRecord("01a220b8-0000-7000-8000-00000000000d", cursor: 3, name: "Y")],
                nextCursor: PullCursor(3), hasMore: false))
        #expect(try replica.data.count(.project) == 1)
    }

    @Test func aPulledTombstoneDeletesTheRow() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let id = "01a220b8-0000-7000-8000-00000000000d"
        _ = try replica.applyPulledPage(
            PullResponse(epoch: Self.epoch, records: [projectRecord(id, cursor: 1, name: "A")], nextCursor: PullCursor(1), hasMore: false))
        var tombstone = projectRecord(id, cursor: 2, name: "A")
        tombstone.deleted = true
        _ = try replica.applyPulledPage(PullResponse(epoch: Self.epoch, records: [tombstone], nextCursor: PullCursor(2), hasMore: false))
        #expect(try replica.data.count(.project) == 0)
        #expect(try outbox(replica).isEmpty)
    }

    /// The centre withdraws a conflict its fold no longer produces (docs/CONFLICTS.md) with a
    /// tombstone; the office's copy goes, as does any consolidated row the centre tombstones.
    /// Provinces are retired by merger, never erased, so their tombstones are ignored.
    @Test func consolidatedTombstonesDeleteTheOfficesCopiesButNotProvinces() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        func record(_ cursor: Int64, _ table: ConsolidatedTable, _ id: String, _ fields: [String: FieldValue], deleted: Bool = false) -> PulledRecord {
            PulledRecord(
                cursor: PullCursor(cursor), table: table.rawValue, id: id, office: table == .conflict ? OfficeCode(unchecked: "79") : .central,
                deleted: deleted, fields: deleted ? [:] : fields)
        }
        let rows: [(ConsolidatedTable, String, [String: FieldValue])] = [
            (
                .conflict, "c-1",
                [
                    "table": .text("project"), "row_id": .text("p"), "aggregate_id": .text("p"), "office": .text("79"),
                    "writer": .text("79"), "hlc": .text("1-0-n"), "rule": .text("status_transition"),
                    "mine": .text(#"{"status":"contracted"}"#), "theirs": .text(#"{"status":"halted"}"#), "message": .text("m"),
                ]
            ),
            (
                .provinceTotal, "79/2025/local",
                [
                    "province": .text("79"), "year": .integer(2025), "fund_source": .text("local"),
                    "plan_amount": .integer(10), "disbursed_amount": .integer(3),
                ]
            ),
            (
                .disbursedTotal, "79/2025/local/1/2025-06-01",
                [
                    "province": .text("79"), "year": .integer(2025), "fund_source": .text("local"),
                    "report_group": .integer(1), "paid_on": .text("2025-06-01"), "amount": .integer(3),
                ]
            ),
            (
                .supportCap, "cap-1",
                [
                    "fund_source": .text("local"), "category": .text("MH_TRINHDIEN"), "province": .null,
                    "max_percent_of_cost": .integer(30), "max_amount": .integer(800),
                ]
            ),
            (.province, "79", ["name": .text("Thành phố Hồ Chí Minh"), "kind": .text("city"), "region": .text("south")]),
        ]
        func count(_ table: String) throws -> Int {
            try replica.database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0 }
        }
        let provincesBefore = try count("province")
        _ = try replica.applyPulledPage(
            PullResponse(
                epoch: Self.epoch, records: rows.enumerated().map { record(Int64($0 + 1), $1.0, $1.1, $1.2) },
                nextCursor: PullCursor(5), hasMore: false))
        func stored(_ table: ConsolidatedTable, _ id: String) throws -> Bool {
            try replica.database.read { db in
                try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM \(table.rawValue) WHERE id = ?)", arguments: [id]) ?? false
            }
        }
        for (table, id, _) in rows where table != .province { #expect(try stored(table, id), "\(table)") }
        #expect(try replica.data.conflicts(openOnly: true).map(\.id) == ["c-1"])

        _ = try replica.applyPulledPage(
            PullResponse(
                epoch: Self.epoch, records: rows.enumerated().map { record(Int64($0 + 6), $1.0, $1.1, $1.2, deleted: true) },
                nextCursor: PullCursor(10), hasMore: false))
        for (table, id, _) in rows where table != .province { #expect(try !stored(table, id), "\(table)") }
        #expect(try count("province") == provincesBefore)
        #expect(try replica.database.read { db in try String.fetchOne(db, sql: "SELECT name FROM province WHERE code = '79'") } != nil)
        #expect(try outbox(replica).isEmpty)
    }
}
