import Foundation
import GRDB
import SyncCore
import SyncTesting
import Testing

@testable import Replica

@Suite struct OutboxTests {
    /// Found by `make chaos --long` (centre run 11): an office offline while the centre was
    /// restored had updated a plan line the restored centre no longer held; the forced resync
    /// queued every row whole, but after the waiting update, so the changeset cut first carried
    /// that row as its changed column only, and the centre refused it (422, "does not name its
    /// office"), leaving the office stuck. Every waiting change of a re-sent row is whole now.
    @Test func aForcedResyncSendsEveryRowWholeEvenWhenItsFirstChangesetIsCutShort() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let ids = try (1...3).map { try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: Int64($0) * 1_000, note: nil) }
        try replica.acknowledge(try #require(try replica.nextChangeset()).sequence)
        // Offline: the amounts change (one column each).
        try replica.database.write { db in
            for id in ids { try db.execute(sql: "UPDATE plan_line SET amount = amount + 1 WHERE id = ?", arguments: [id.rawValue]) }
        }
        // The centre was restored to before those rows existed.
        try replica.prepareForcedResync(centralSequence: ChangesetSequence(0), centralHash: Changeset.genesisHash, epoch: Epoch("restored"))
        var seen = 0
        while let changeset = try replica.nextChangeset(maxChanges: 2) {
            for change in changeset.changes {
                #expect(change.fields["office"] == .text("79"), "\(change.id) sent as \(change.fields.keys.sorted())")
                #expect(change.fields.count == SyncedTable.planLine.columns.count)
            }
            seen += changeset.changes.count
            try replica.acknowledge(changeset.sequence)
        }
        #expect(seen >= 3)
    }

    @Test func changesetsCoalescePerRowAndAreResentUntilAcknowledged() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let id = try replica.data.addProject(sampleProject())
        try replica.database.write { db in
            try db.execute(sql: "UPDATE project SET name = 'B' WHERE id = ?", arguments: [id.rawValue])
        }
        let first = try #require(try replica.nextChangeset())
        #expect(first.sequence == ChangesetSequence(1))
        #expect(first.previousHash == Changeset.genesisHash)
        let project = first.changes.filter { $0.table == .project }
        #expect(project.count == 1)  // insert + update coalesced
        #expect(project[0].fields["name"] == .text("B"))
        #expect(project[0].fields.count == SyncedTable.project.columns.count)
        try first.verifyHash()

        // A write after the changeset was made goes into the next one, not this one.
        try replica.database.write { db in
            try db.execute(sql: "UPDATE project SET status = 'submitted' WHERE id = ?", arguments: [id.rawValue])
        }
        let again = try #require(try replica.nextChangeset())
        #expect(again == first)

        try replica.acknowledge(first.sequence)
        let second = try #require(try replica.nextChangeset())
        #expect(second.sequence == ChangesetSequence(2))
        #expect(second.previousHash == first.hash)
        #expect(second.changes.map(\.fields) == [["status": .text("submitted")]])
        #expect(second.changes[0].hlc > project[0].hlc)
        try replica.acknowledge(second.sequence)
        #expect(try replica.nextChangeset() == nil)
        #expect(try replica.pendingSummary().changes == 0)
    }

    @Test func theOldestPendingChangeIsDatedByTheFirstChangesetMadeOfIt() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 5, note: nil)
        // Captured, but no daemon has seen it: counted, not dated.
        #expect(try replica.pendingSummary() == PendingSummary(changes: 1, unacknowledgedChangesets: 0, oldestChangeAt: nil))

        let madeAt = Date(timeIntervalSince1970: 1_780_000_000)
        let first = try #require(try replica.nextChangeset(now: madeAt))
        // Later writes and later attempts (the centre unreachable) do not move the date.
        try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 6, note: nil)
        #expect(try replica.nextChangeset(now: madeAt + 3_600) == first)
        #expect(try replica.makeChangesetAhead(now: madeAt + 3_600) != nil)
        #expect(try replica.pendingSummary() == PendingSummary(changes: 2, unacknowledgedChangesets: 2, oldestChangeAt: madeAt))
        #expect(try replica.status().pending.oldestChangeAt == madeAt)

        try replica.acknowledge(first.sequence)
        #expect(try replica.pendingSummary().oldestChangeAt == madeAt + 3_600)
    }

    @Test func updatesThatChangeNothingAreDroppedNotSent() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let id = try replica.data.addProject(sampleProject())
        try replica.acknowledge(try #require(try replica.nextChangeset()).sequence)

        // Only no-op updates pending (a re-import of the same values): no changeset, and they go.
        try replica.database.write { db in
            for _ in 0..<3 { try db.execute(sql: "UPDATE project SET name = name WHERE id = ?", arguments: [id.rawValue]) }
        }
        #expect(try replica.pendingSummary().changes == 3)
        #expect(try replica.nextChangeset(maxChanges: 2) == nil)
        #expect(try replica.pendingSummary().changes == 0)

        // A no-op beside a real change: only the real change is sent.
        try replica.database.write { db in
            try db.execute(sql: "UPDATE project SET name = name WHERE id = ?", arguments: [id.rawValue])
        }
        try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 9, note: nil)
        let cs = try #require(try replica.nextChangeset())
        #expect(cs.changes.map(\.table) == [.planLine])
        #expect(cs.sequence == ChangesetSequence(2))
    }

    @Test func aReplicaFromBeforeV4KeepsItsPendingChangesAndLosesTheGuard() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file(Replica.fileName)
        let replica = try makeReplica(dir)
        try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 5, note: nil)
        // Put the file back as v3 left it: the guard table, and the guarded trigger v3 shipped.
        try replica.database.write { db in
            try db.execute(
                sql: """
                    DELETE FROM grdb_migrations WHERE identifier = 'v4-unguarded-capture';
                    CREATE TABLE _sync_guard (applying INTEGER NOT NULL);
                    INSERT INTO _sync_guard(applying) VALUES (0);
                    DROP TRIGGER _sync_plan_line_insert;
                    CREATE TRIGGER _sync_plan_line_insert AFTER INSERT ON plan_line WHEN (SELECT applying FROM _sync_guard) = 0
                    BEGIN INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (1, NEW.id, 1, -1); END;
                    """)
        }
        try replica.database.close()

        let upgraded = try Replica.open(at: path)
        let (guardTables, guardedTriggers) = try upgraded.database.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_schema WHERE name = '_sync_guard'") ?? -1,
                try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND sql LIKE '%_sync_guard%'") ?? -1
            )
        }
        #expect(guardTables == 0 && guardedTriggers == 0)
        #expect(try upgraded.pendingSummary().changes == 1)
        try upgraded.data.addPlanLine(year: 2026, fundSource: .local, amount: 6, note: nil)
        let cs = try #require(try upgraded.nextChangeset())
        #expect(cs.changes.count == 2 && cs.changes.allSatisfy { $0.table == .planLine })
    }

    @Test func insertThenDeleteBecomesADelete() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let id = try replica.data.addProject(sampleProject())
        try replica.database.write { try $0.execute(sql: "DELETE FROM project WHERE id = ?", arguments: [id.rawValue]) }
        let cs = try #require(try replica.nextChangeset())
        #expect(cs.changes.filter { $0.table == .project }.map(\.op) == [.delete])
    }

    @Test func changesetSizeIsBounded() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        for i in 0..<5 { try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: Int64(i + 1), note: nil) }
        let cs = try #require(try replica.nextChangeset(maxChanges: 2))
        #expect(cs.changes.count == 2)
        try replica.acknowledge(cs.sequence)
        #expect(try replica.pendingSummary().changes == 3)
    }

    @Test func aChangesetMadeAheadIsSentAfterTheOneInFlightAndNeverMoreThanOneAhead() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        #expect(try replica.makeChangesetAhead(maxChanges: 2) == nil)  // nothing pending
        for i in 0..<5 { try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: Int64(i + 1), note: nil) }
        let first = try #require(try replica.nextChangeset(maxChanges: 2))
        // While the first travels, the second is made from the entries after it.
        let second = try #require(try replica.makeChangesetAhead(maxChanges: 2))
        #expect(second.sequence == first.sequence.next)
        #expect(second.previousHash == first.hash)
        #expect(Set(second.changes.map(\.id)).isDisjoint(with: first.changes.map(\.id)))
        // Two wait for acknowledgement: no third is made, and the first is still the one to send.
        #expect(try replica.makeChangesetAhead(maxChanges: 2) == nil)
        #expect(try replica.nextChangeset(maxChanges: 2) == first)
        #expect(try replica.pendingSummary().changes == 5)  // entries stay until acknowledged

        try replica.acknowledge(first.sequence)
        #expect(try replica.nextChangeset(maxChanges: 2) == second)  // stored as made, re-sent as is
        let third = try #require(try replica.makeChangesetAhead(maxChanges: 2))
        #expect(third.previousHash == second.hash)
        try replica.acknowledge(second.sequence)
        try replica.acknowledge(third.sequence)
        #expect(try replica.pendingSummary().changes == 0)
        #expect(try replica.makeChangesetAhead(maxChanges: 2) == nil)
    }
}
