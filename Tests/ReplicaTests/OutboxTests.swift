import Foundation
import GRDB
import Testing
@testable import Replica
import SyncCore
import SyncTesting

@Suite struct OutboxTests {
    @Test func changesetsCoalescePerRowAndAreResentUntilAcknowledged() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let id = try replica.addProject(sampleProject())
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

    @Test func insertThenDeleteBecomesADelete() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let id = try replica.addProject(sampleProject())
        try replica.database.write { try $0.execute(sql: "DELETE FROM project WHERE id = ?", arguments: [id.rawValue]) }
        let cs = try #require(try replica.nextChangeset())
        #expect(cs.changes.filter { $0.table == .project }.map(\.op) == [.delete])
    }

    @Test func changesetSizeIsBounded() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        for i in 0..<5 { try replica.addPlanLine(year: 2025, fundSource: .local, amount: Int64(i + 1), note: nil) }
        let cs = try #require(try replica.nextChangeset(maxChanges: 2))
        #expect(cs.changes.count == 2)
        try replica.acknowledge(cs.sequence)
        #expect(try replica.pendingSummary().changes == 3)
    }
}
