import Foundation
import GRDB
import SyncCore
import SyncTesting
import Testing
import WireFormat

@testable import Replica

/// A recall (docs/PROTOCOL.md) gives a row this office held back to its owner: what this office
/// had not pushed of it is kept aside. It waits only while a changeset in flight carries such a
/// change, not for a refusal of another row, which a person may take days to deal with; refused
/// changesets are made again without the recalled rows, each as it was made.
@Suite struct RecallTests {
    /// The changesets made and not yet acknowledged, oldest first.
    static func made(_ replica: Replica) throws -> [Changeset] {
        try replica.database.read { db in try Data.fetchAll(db, sql: "SELECT body FROM _sync_changeset ORDER BY seq").map(Changeset.init(jsonData:)) }
    }

    /// Records that the centre refused `changeset` (`bad_request`) for row `id` of `table`.
    static func refuse(_ changeset: Changeset, in replica: Replica, for table: SyncedTable, _ id: RowID) throws {
        try replica.recordRefusal(
            ChangesetRefusal(sequence: changeset.sequence, code: "bad_request", message: "refused", table: table.rawValue, id: id.rawValue))
    }

    /// A plan line of 79's own and two it holds for 77, all in one changeset the centre refused for 79's.
    static func ownAndTwoHeldRefused(_ replica: Replica) throws -> (own: RowID, first: RowID, second: RowID) {
        let own = try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 1_000, note: "79's own")
        let first = try replica.data.addPlanLine(year: 2026, fundSource: .national, amount: 2_000, note: "held for 77")
        let second = try replica.data.addPlanLine(year: 2027, fundSource: .local, amount: 3_000, note: "held for 77")
        try refuse(try #require(try replica.nextChangeset()), in: replica, for: .planLine, own)
        return (own, first, second)
    }

    /// The statuses a project's changes carry, changeset by changeset.
    static func statuses(_ changesets: [Changeset], of project: RowID) -> [String] {
        changesets.flatMap { $0.changes.filter { $0.id == project }.compactMap { $0.fields["status"]?.text } }
    }

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

    @Test func aChangesetRefusedForAnotherRowIsMadeAgainAndTheRecallIsNotHeldBack() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let own = try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 1_000, note: "79's own")
        let received = try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 2_000, note: "held for 77")
        let sent = try #require(try replica.nextChangeset())
        #expect(sent.changes.count == 2)
        try Self.refuse(sent, in: replica, for: .planLine, own)

        let applied = try replica.applyPulledPage(Self.recall(received, cursor: 1))
        #expect(applied.clearedRefusal)
        #expect(try replica.data.planLines().map(\.id) == [own.rawValue])
        #expect(try replica.withdrawnChanges().map(\.id) == [received.rawValue])
        #expect(try replica.refusal() == nil)
        // 79's own change is made again, alone, under the refused changeset's number.
        let again = try #require(try replica.nextChangeset())
        #expect(again.sequence == sent.sequence && again.changes.map(\.id) == [own])
        // A write made now (its outbox entry may take the number the recalled row's had) is not
        // taken as part of the changeset made again: it is still pending once that is acknowledged.
        let later = try replica.data.addPlanLine(year: 2027, fundSource: .local, amount: 3_000, note: "after the recall")
        try replica.acknowledge(again.sequence)
        #expect(try replica.pendingSummary().changes == 1)
        #expect(try replica.nextChangeset()?.changes.map(\.id) == [later])
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

    /// Status moves sealed into changesets of their own (one step each, as the centre's status
    /// machine requires) stay apart when the refused changesets are made again without a recalled
    /// row, with the values and clocks they were made with, chained anew from the last acknowledged.
    @Test func changesetsMadeAgainKeepEachStatusStepApart() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let received = try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 2_000, note: "held for 77")
        let project = try replica.data.addProject(sampleProject())
        for step: ProjectStatus in [.submitted, .appraisedLocally, .approved] { try replica.data.setProjectStatus("KC-01", to: step) }
        let oldest = try #require(try replica.nextChangeset())
        let before = try Self.made(replica)
        #expect(before.count == 3 && before[0].changes.contains { $0.id == received })
        try Self.refuse(oldest, in: replica, for: .project, project)

        let applied = try replica.applyPulledPage(Self.recall(received, cursor: 1))
        #expect(applied.clearedRefusal && applied.keptAside == 1)
        let after = try Self.made(replica)
        #expect(after.map(\.sequence) == before.map(\.sequence))
        #expect(Self.statuses(after, of: project) == Self.statuses(before, of: project))
        #expect(Self.statuses(after, of: project) == ["draft", "submitted", "appraised_locally"])
        #expect(after.flatMap(\.changes) == before.flatMap(\.changes).filter { $0.id != received })
        #expect(after[0].previousHash == oldest.previousHash)
        for (earlier, later) in zip(after, after.dropFirst()) { #expect(later.previousHash == earlier.hash) }
        #expect(after.allSatisfy { (try? $0.verifyHash()) != nil })
        #expect(try replica.nextChangeset() == after[0])
        // The last move, not yet in a changeset, follows the last one made again.
        try replica.database.write { db in try Replica.sealPending(db, now: Date()) }
        let sealed = try Self.made(replica)
        #expect(sealed.count == 4 && sealed.last?.previousHash == after.last?.hash)
        #expect(Self.statuses(sealed, of: project).last == "approved")
    }

    /// Two recalls in one page, both of rows the refused changeset carries: the second finds the
    /// changesets made again by the first (its refusal cleared, nothing sent since) and takes its
    /// row out too, instead of waiting for another round trip.
    @Test func recallsOfOnePageAreAllAppliedAgainstTheRefusedChangesets() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let (own, first, second) = try Self.ownAndTwoHeldRefused(replica)

        var page = Self.recall(first, cursor: 1)
        page.records += Self.recall(second, cursor: 2).records
        page.nextCursor = PullCursor(2)
        let applied = try replica.applyPulledPage(page)
        #expect(applied.clearedRefusal && applied.keptAside == 2 && applied.deferred == 0)
        #expect(try Self.made(replica).map { $0.changes.map(\.id) } == [[own]])
        #expect(try replica.withdrawnChanges().map(\.id).sorted() == [first.rawValue, second.rawValue].sorted())
    }

    /// The same across the pages of one pull: a later page is told that an earlier one made the
    /// changesets again (the sync cycle sends nothing before the pull ends), so its recall does not
    /// wait for the refusal the push would bring back.
    @Test func aLaterPageOfThePullAppliesItsRecallToTheChangesetsMadeAgain() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let (own, first, second) = try Self.ownAndTwoHeldRefused(replica)

        #expect(try replica.applyPulledPage(Self.recall(first, cursor: 1)).clearedRefusal)
        let later = try replica.applyPulledPage(Self.recall(second, cursor: 2), changesetsMadeAgain: true)
        #expect(later.clearedRefusal && later.keptAside == 1 && later.deferred == 0)
        #expect(try Self.made(replica).map { $0.changes.map(\.id) } == [[own]])
    }

    /// Opening the replica (any command, maybe while the daemon pushes the refused changeset
    /// again) applies a waiting recall only if no changeset carries its rows; the next page of a
    /// sync cycle makes them again.
    @Test func openingTheReplicaLeavesTheChangesetsAlone() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let own = try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 1_000, note: "79's own")
        let received = try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 2_000, note: "held for 77")
        let refused = try #require(try replica.nextChangeset())
        try Self.refuse(refused, in: replica, for: .planLine, own)
        let waiting = try #require(Self.recall(received, cursor: 1).records.first)
        try replica.database.write { db in
            try db.execute(
                sql: "INSERT INTO _sync_deferred(tbl, row_id, office, deleted, fields, cursor, whole) VALUES (?, ?, '79', 0, ?, 1, 1)",
                arguments: [waiting.table, waiting.id, FieldCoding.encode(waiting.fields)])
        }

        let opened = try Replica.open(at: replica.path)
        #expect(try Self.made(opened) == [refused] && opened.refusal()?.id == own.rawValue)
        #expect(try opened.data.planLines().count == 2)
        let applied = try opened.applyPulledPage(PullResponse(epoch: Epoch("e"), records: [], nextCursor: PullCursor(1), hasMore: false))
        #expect(applied.clearedRefusal && applied.keptAside == 1)
        #expect(try Self.made(opened).map { $0.changes.map(\.id) } == [[own]])
    }

    /// A changeset made ahead (while the refused one travelled) that carries the recalled row is
    /// made again too; one left with no change goes, and the chain ends at the last one kept.
    @Test func aChangesetMadeAheadThatCarriesTheRowIsMadeAgainToo() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let own = try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 1_000, note: "79's own")
        let first = try #require(try replica.nextChangeset())
        let received = try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 2_000, note: "held for 77")
        #expect(try replica.makeChangesetAhead()?.changes.map(\.id) == [received])
        try Self.refuse(first, in: replica, for: .planLine, own)

        let applied = try replica.applyPulledPage(Self.recall(received, cursor: 1))
        #expect(applied.clearedRefusal && applied.keptAside == 1)
        #expect(try Self.made(replica) == [first], "unchanged: the same changes, number and chain")
        try replica.acknowledge(first.sequence)
        #expect(try replica.pendingSummary().changes == 0 && replica.nextChangeset() == nil)
        _ = try replica.data.addPlanLine(year: 2027, fundSource: .local, amount: 3_000, note: nil)
        let next = try #require(try replica.nextChangeset())
        #expect(next.sequence == first.sequence.next && next.previousHash == first.hash)
    }

    /// Several changesets made again, the last keeping a change of its own: the outbox numbers
    /// the recalled row's entries had are not counted as the last one's, so a write made next is
    /// pushed after both are acknowledged, not deleted with them.
    @Test func aWriteAfterChangesetsMadeAgainIsNotTakenForPartOfThem() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let own = try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 1_000, note: "79's own")
        let first = try #require(try replica.nextChangeset())
        let other = try replica.data.addPlanLine(year: 2027, fundSource: .local, amount: 4_000, note: "79's own too")
        let received = try replica.data.addPlanLine(year: 2026, fundSource: .national, amount: 2_000, note: "held for 77")
        #expect(try replica.makeChangesetAhead()?.changes.map(\.id) == [other, received])
        try Self.refuse(first, in: replica, for: .planLine, own)

        #expect(try replica.applyPulledPage(Self.recall(received, cursor: 1)).clearedRefusal)
        let again = try Self.made(replica)
        #expect(again.map { $0.changes.map(\.id) } == [[own], [other]])
        let later = try replica.data.addPlanLine(year: 2028, fundSource: .local, amount: 5_000, note: "after the recall")
        for changeset in again { try replica.acknowledge(changeset.sequence) }
        #expect(try replica.nextChangeset()?.changes.map(\.id) == [later])
    }

    /// A recalled row's change made after the refused changesets is kept aside without touching
    /// them: the refusal, of another row, still waits for a person.
    @Test func aRefusalThatCarriesNoRecalledRowIsLeftAlone() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let own = try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 1_000, note: "79's own")
        let refused = try #require(try replica.nextChangeset())
        let received = try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 2_000, note: "held for 77")
        try Self.refuse(refused, in: replica, for: .planLine, own)

        let applied = try replica.applyPulledPage(Self.recall(received, cursor: 1))
        #expect(!applied.clearedRefusal && applied.keptAside == 1)
        #expect(try replica.refusal()?.id == own.rawValue)
        #expect(try Self.made(replica) == [refused])
        #expect(try replica.data.planLines().map(\.id) == [own.rawValue])
    }

    /// A project of this office, not yet pushed and carried by a refused changeset, that names a
    /// recalled programme leaves it in the changeset made again, as it does locally.
    @Test func aLeavingProjectIsMadeAgainWithoutTheRecalledProgramme() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let programme = try replica.data.addProgram(NewProgram(code: "CT-77", name: "Chương trình của 77", startYear: 2026, endYear: 2030))
        var new = sampleProject()
        new.program = "CT-77"
        let project = try replica.data.addProject(new)
        let refused = try #require(try replica.nextChangeset())
        #expect(refused.changes.first { $0.id == project }?.fields["program_id"] == .text(programme.rawValue))
        try replica.recordRefusal(
            ChangesetRefusal(
                sequence: refused.sequence, code: "forbidden_owner", message: "refused", table: SyncedTable.program.rawValue, id: programme.rawValue))

        var page = Self.recall(programme, cursor: 1)
        page.records[0].fields["table"] = .text(SyncedTable.program.rawValue)
        let applied = try replica.applyPulledPage(page)
        #expect(applied.clearedRefusal)
        let again = try #require(try Self.made(replica).first)
        #expect(!again.changes.contains { $0.id == programme })
        #expect(again.changes.first { $0.id == project }?.fields["program_id"] == .null)
        #expect(try replica.data.projects().first?.programID == nil)
    }
}
