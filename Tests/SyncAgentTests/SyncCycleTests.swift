import Foundation
import Replica
import SyncCore
import Testing
import Transport
import WireFormat

@testable import SyncAgent

/// The decisions of a sync cycle, driven with plain values: no socket, file or clock.
@Suite struct SyncCycleTests {
    let epoch = Epoch("e1")
    let office = OfficeCode(unchecked: "79")

    func changeset(_ sequence: Int64, changes: Int = 2) -> Changeset {
        let list = (0..<changes).map { n in
            Change(
                table: .planLine, id: RowID(unchecked: "row-\(sequence)-\(n)"), op: .upsert,
                hlc: HLCTimestamp(milliseconds: UInt64(sequence * 10) + UInt64(n), counter: 0, node: "79"),
                fields: ["amount": .integer(1_000)])
        }
        return Changeset(office: office, sequence: ChangesetSequence(sequence), previousHash: Changeset.genesisHash, changes: list)
    }

    func acknowledged(_ changeset: Changeset, epoch: Epoch? = nil, outcome: PushResponse.Outcome = .applied) -> Result<
        CentralClient.Exchange<PushResponse>, TransportError
    > {
        .success(
            .init(
                value: PushResponse(epoch: epoch ?? self.epoch, sequence: changeset.sequence, outcome: outcome, appliedChanges: changeset.changes.count),
                epoch: epoch ?? self.epoch, bytesSent: 100, bytesReceived: 10))
    }

    func page(records: Int, next: Int64, hasMore: Bool, epoch: Epoch? = nil, officeSequence: Int64? = nil, centreClock: HLCTimestamp? = nil) -> Result<
        CentralClient.Exchange<PullResponse>, TransportError
    > {
        let list = (0..<records).map { n in
            PulledRecord(
                cursor: PullCursor(next - Int64(records) + Int64(n) + 1), table: "province", id: "p\(n)", office: OfficeCode(unchecked: "central"),
                deleted: false, fields: [:])
        }
        return .success(
            .init(
                value: PullResponse(epoch: epoch ?? self.epoch, records: list, nextCursor: PullCursor(next), hasMore: hasMore), epoch: epoch ?? self.epoch,
                bytesSent: 5, bytesReceived: 500, officeSequence: officeSequence.map(ChangesetSequence.init), centreClock: centreClock))
    }

    func refused(_ code: String, status: Int, epoch: Epoch? = nil) -> TransportError {
        TransportError(
            .httpStatus, "the centre said no", transient: false, status: status, remoteCode: code, epoch: epoch ?? self.epoch,
            remoteRow: SyncedRowKey(.planLine, "row-1-0"))
    }

    @Test func aPushOnlyCycleEndsOnceEverythingIsAcknowledgedButARefusalStillPulls() {
        var cycle = SyncCycle(knownEpoch: epoch, pushOnly: true)
        #expect(cycle.start() == .makeChangeset)
        let first = changeset(1)
        #expect(cycle.changesetMade(first) == .push(first))
        #expect(cycle.pushed(acknowledged(first), madeAhead: nil) == .acknowledge(first.sequence))
        #expect(cycle.acknowledged() == .makeChangeset)
        var report = CycleReport()
        report.changesetsPushed = 1
        report.changesPushed = 2
        report.bytesSent = 100
        report.bytesReceived = 10
        #expect(cycle.changesetMade(nil) == .finish(report))

        var refused = SyncCycle(knownEpoch: epoch, pushOnly: true)
        _ = refused.start()
        let second = changeset(2)
        _ = refused.changesetMade(second)
        guard case .recordRefusal = refused.pushed(.failure(self.refused("forbidden_owner", status: 403)), madeAhead: nil) else {
            Issue.record("the refusal is recorded")
            return
        }
        #expect(refused.refusalRecorded() == .readPosition, "a refusal still pulls")
    }

    @Test func withNothingToPushTheCyclePullsEveryPageAndReportsIt() {
        var cycle = SyncCycle(knownEpoch: epoch)
        #expect(cycle.start() == .makeChangeset)
        #expect(cycle.changesetMade(nil) == .readPosition)
        #expect(cycle.positionRead(SyncPosition(cursor: PullCursor(7), epoch: epoch)) == .fetch(after: PullCursor(7), own: nil))
        guard case .apply(let first, _, let prefetch) = cycle.fetched(page(records: 3, next: 10, hasMore: true)) else {
            Issue.record("a page is applied")
            return
        }
        #expect(first.records.count == 3)
        #expect(prefetch == PullCursor(10))
        #expect(cycle.applied() == .awaitPage)
        guard case .apply(_, _, nil) = cycle.fetched(page(records: 2, next: 12, hasMore: false)) else {
            Issue.record("the last page is applied without fetching another")
            return
        }
        var expected = CycleReport()
        expected.pagesPulled = 2
        expected.recordsPulled = 5
        expected.bytesSent = 10
        expected.bytesReceived = 1_000
        #expect(cycle.applied() == .finish(expected))
    }

    @Test func aChangesetMadeAheadIsSentNextOnlyWhenItFollowsTheAcknowledgedOne() {
        var cycle = SyncCycle(knownEpoch: epoch)
        _ = cycle.start()
        let one = changeset(1)
        #expect(cycle.changesetMade(one) == .push(one))
        #expect(cycle.pushed(acknowledged(one), madeAhead: changeset(2)) == .acknowledge(ChangesetSequence(1)))
        #expect(cycle.acknowledged() == .push(changeset(2)))
        // Made ahead from a stale view (it does not follow 2): the replica decides what is next.
        #expect(cycle.pushed(acknowledged(changeset(2), outcome: .duplicate), madeAhead: changeset(4)) == .acknowledge(ChangesetSequence(2)))
        #expect(cycle.acknowledged() == .makeChangeset)
        #expect(cycle.changesetMade(nil) == .readPosition)
        #expect(cycle.report.changesetsPushed == 2)
        #expect(cycle.report.changesPushed == 4)
        #expect(cycle.report.duplicatesAcknowledged == 1)
    }

    @Test func aRefusedRowIsRecordedThePullStillRunsAndTheCycleEndsRefused() {
        var cycle = SyncCycle(knownEpoch: epoch)
        _ = cycle.start()
        let one = changeset(1)
        _ = cycle.changesetMade(one)
        let refusal = ChangesetRefusal(sequence: one.sequence, code: "forbidden_owner", message: "the centre said no", table: "plan_line", id: "row-1-0")
        #expect(cycle.pushed(.failure(refused("forbidden_owner", status: 403)), madeAhead: changeset(2)) == .recordRefusal(refusal))
        #expect(cycle.refusalRecorded() == .readPosition)
        _ = cycle.positionRead(SyncPosition(cursor: .start, epoch: epoch))
        _ = cycle.fetched(page(records: 1, next: 1, hasMore: false))
        guard case .fail(let error) = cycle.applied() else {
            Issue.record("the cycle ends with the refusal")
            return
        }
        #expect(error.code == .refused)
        #expect(!error.isTransient)
        #expect(cycle.report.recordsPulled == 1)
    }

    /// A page that recalled rows the refused changesets carried makes them again without them and
    /// clears the refusal: they are pushed again in the same cycle, so a refusal of another row
    /// they carry is met (and reported) now, not one cycle later; and once they are acknowledged
    /// the cycle ends without pulling a second time.
    @Test func changesetsMadeAgainByARecallArePushedAgainInTheSameCycle() {
        var cycle = SyncCycle(knownEpoch: epoch)
        _ = cycle.start()
        let one = changeset(1)
        _ = cycle.changesetMade(one)
        guard case .recordRefusal = cycle.pushed(.failure(refused("forbidden_owner", status: 403)), madeAhead: nil) else {
            Issue.record("the refusal is recorded")
            return
        }
        #expect(cycle.refusalRecorded() == .readPosition)
        _ = cycle.positionRead(SyncPosition(cursor: .start, epoch: epoch))
        _ = cycle.fetched(page(records: 1, next: 1, hasMore: true))
        #expect(cycle.applied(clearedRefusal: true) == .awaitPage, "the pull ends first")
        _ = cycle.fetched(page(records: 1, next: 2, hasMore: false))
        #expect(cycle.applied() == .makeChangeset)

        // Refused again, for another row: the cycle pulls and ends refused.
        var again = cycle
        let remade = changeset(1, changes: 1)
        #expect(again.changesetMade(remade) == .push(remade))
        guard case .recordRefusal = again.pushed(.failure(refused("bad_request", status: 400)), madeAhead: nil) else {
            Issue.record("the second refusal is recorded")
            return
        }
        #expect(again.refusalRecorded() == .readPosition)
        _ = again.positionRead(SyncPosition(cursor: PullCursor(2), epoch: epoch))
        _ = again.fetched(page(records: 0, next: 2, hasMore: false))
        guard case .fail(let error) = again.applied() else {
            Issue.record("the cycle ends with the second refusal")
            return
        }
        #expect(error.code == .refused)

        // Acknowledged: nothing else waits, and the pull has run.
        #expect(cycle.changesetMade(remade) == .push(remade))
        #expect(cycle.pushed(acknowledged(remade), madeAhead: nil) == .acknowledge(remade.sequence))
        #expect(cycle.acknowledged() == .makeChangeset)
        guard case .finish(let report) = cycle.changesetMade(nil) else {
            Issue.record("the cycle ends once the changesets made again are acknowledged")
            return
        }
        #expect(report.changesetsPushed == 1 && report.pagesPulled == 2)
    }

    /// A changeset the centre found too heavy to refold at once is split and pushed again, within
    /// the cycle, without the changeset made ahead of it (renumbered by the split); one that cannot
    /// be split (a single change) ends the cycle with the centre's answer.
    @Test func aChangesetTooHeavyForTheCentreIsSplitAndPushedAgain() {
        let heavy = refused("changeset_too_heavy", status: 422)
        var cycle = SyncCycle(knownEpoch: epoch)
        _ = cycle.start()
        let first = changeset(1)
        #expect(cycle.changesetMade(first) == .push(first))
        #expect(cycle.pushed(.failure(heavy), madeAhead: changeset(2)) == .split, "not recorded as a refusal of the row")
        var unsplittable = cycle
        #expect(cycle.split(true) == .makeChangeset)
        #expect(cycle.report.changesetsSplit == 1)
        let half = changeset(1)
        #expect(cycle.changesetMade(half) == .push(half))
        #expect(cycle.pushed(acknowledged(half), madeAhead: nil) == .acknowledge(half.sequence))
        #expect(cycle.acknowledged() == .makeChangeset, "the changeset made ahead before the split is not sent")
        guard case .fail(let error) = unsplittable.split(false) else {
            Issue.record("a single change still too heavy ends the cycle")
            return
        }
        #expect(error.message.contains("the centre said no"))
    }

    /// A changeset refused as stamped ahead of the centre's time: the office still pulls, then
    /// asks to stamp again from the centre's clock on the last page. Stamped again, what waits is
    /// pushed in the same cycle; not (the office's clock is still ahead), the cycle ends
    /// `clock_ahead`; refused so a second time, it ends without asking again.
    @Test func aChangesetStampedAheadOfTheCentreIsStampedAgainOnceAfterThePull() {
        let clock = HLCTimestamp(milliseconds: 5_000, counter: 3, node: "central")
        func refusedAhead(_ cycle: inout SyncCycle, _ one: Changeset) -> SyncCycle.Action {
            #expect(cycle.changesetMade(one) == .push(one))
            let ahead = TransportError(
                .httpStatus, "project p is stamped ahead", hint: "set the clock right", transient: false, status: 422, remoteCode: "clock_ahead",
                epoch: epoch, remoteRow: SyncedRowKey(.project, "p"))
            #expect(cycle.pushed(.failure(ahead), madeAhead: changeset(2)) == .readPosition, "not recorded as a refusal of the row")
            _ = cycle.positionRead(SyncPosition(cursor: .start, epoch: epoch))
            _ = cycle.fetched(page(records: 1, next: 1, hasMore: true, centreClock: HLCTimestamp(milliseconds: 4_000, counter: 0, node: "central")))
            #expect(cycle.applied() == .awaitPage)
            _ = cycle.fetched(page(records: 1, next: 2, hasMore: false, centreClock: clock))
            return cycle.applied()
        }

        var cycle = SyncCycle(knownEpoch: epoch)
        _ = cycle.start()
        #expect(refusedAhead(&cycle, changeset(1)) == .restamp(centreClock: clock), "from the latest clock seen")
        var stillAhead = cycle
        guard case .fail(let error) = stillAhead.restamped(nil) else {
            Issue.record("a clock still ahead ends the cycle")
            return
        }
        #expect(error.code == .clockAhead && error.isTransient && error.hint == "set the clock right")

        #expect(cycle.restamped(Restamp(from: clock, to: clock, changes: 2)) == .makeChangeset)
        #expect(cycle.report.changesRestamped == 2)
        var again = cycle
        guard case .fail(let second) = refusedAhead(&again, changeset(1)) else {
            Issue.record("a second clock_ahead ends the cycle without stamping again")
            return
        }
        #expect(second.code == .clockAhead)

        let remade = changeset(1)
        #expect(cycle.changesetMade(remade) == .push(remade))
        #expect(cycle.pushed(acknowledged(remade), madeAhead: nil) == .acknowledge(remade.sequence))
        #expect(cycle.acknowledged() == .makeChangeset)
        guard case .finish(let report) = cycle.changesetMade(nil) else {
            Issue.record("the cycle ends once what waited is acknowledged, without pulling again")
            return
        }
        #expect(report.changesetsPushed == 1 && report.pagesPulled == 2 && report.changesRestamped == 2)
    }

    @Test(arguments: [("unauthorized", 401), ("sequence_gap", 409), ("forbidden_owner", 500)])
    func onlyARefusalOfARowIsRecordedAsOne(code: String, status: Int) {
        var cycle = SyncCycle(knownEpoch: epoch)
        _ = cycle.start()
        _ = cycle.changesetMade(changeset(3))
        guard case .fail(let error) = cycle.pushed(.failure(refused(code, status: status)), madeAhead: nil) else {
            Issue.record("\(code) ends the cycle")
            return
        }
        #expect(error.code == (code == "sequence_gap" ? .centreLostChangesets : .transport))
        #expect(cycle.refusal == nil)
    }

    @Test func anotherEpochStopsTheCycleWhereverTheCentreSaysIt() {
        let other = Epoch("e2")
        var push = SyncCycle(knownEpoch: epoch)
        _ = push.start()
        _ = push.changesetMade(changeset(1))
        #expect(push.pushed(acknowledged(changeset(1), epoch: other), madeAhead: nil) == .fail(push.epochProblem(other)!))
        // Even a refusal from a restored centre is not recorded as a refusal.
        var refusal = SyncCycle(knownEpoch: epoch)
        _ = refusal.start()
        _ = refusal.changesetMade(changeset(1))
        guard case .fail(let error) = refusal.pushed(.failure(refused("forbidden_owner", status: 403, epoch: other)), madeAhead: nil) else {
            Issue.record("another epoch ends the cycle")
            return
        }
        #expect(error.code == .epochMismatch)
        var pull = SyncCycle(knownEpoch: epoch)
        _ = pull.start()
        _ = pull.changesetMade(nil)
        _ = pull.positionRead(SyncPosition(cursor: .start, epoch: epoch))
        guard case .fail(let pulled) = pull.fetched(page(records: 1, next: 1, hasMore: false, epoch: other)) else {
            Issue.record("another epoch on a page ends the cycle")
            return
        }
        #expect(pulled.code == .epochMismatch)
        // An office that never synced takes the centre's epoch.
        var first = SyncCycle(knownEpoch: nil)
        _ = first.start()
        _ = first.changesetMade(changeset(1))
        #expect(first.pushed(acknowledged(changeset(1), epoch: other), madeAhead: nil) == .acknowledge(ChangesetSequence(1)))
    }

    @Test func aPageFromACentreThatLostAcknowledgedChangesetsStopsTheCycleToHeal() {
        var cycle = SyncCycle(knownEpoch: epoch)
        _ = cycle.start()
        _ = cycle.changesetMade(nil)
        var position = SyncPosition(cursor: PullCursor(40), epoch: epoch)
        position.lastAcked = 12
        position.ownSince = 4
        #expect(cycle.positionRead(position) == .fetch(after: PullCursor(40), own: 5...12))
        guard case .fail(let error) = cycle.fetched(page(records: 1, next: 41, hasMore: false, officeSequence: 9)) else {
            Issue.record("a centre holding changeset 9 of 12 acknowledged ends the cycle")
            return
        }
        #expect(error.code == .centreLostChangesets)
        #expect(error.isTransient)
        var fine = SyncCycle(knownEpoch: epoch)
        _ = fine.start()
        _ = fine.changesetMade(nil)
        _ = fine.positionRead(position)
        guard case .apply = fine.fetched(page(records: 1, next: 41, hasMore: false, officeSequence: 12)) else {
            Issue.record("a centre holding all 12 serves the page")
            return
        }
    }

    @Test func anUnreachableCentreEndsTheCycleAsTransient() {
        var cycle = SyncCycle(knownEpoch: epoch)
        _ = cycle.start()
        _ = cycle.changesetMade(nil)
        _ = cycle.positionRead(SyncPosition(cursor: .start, epoch: epoch))
        let offline = TransportError(.couldNotConnect, "connection refused", transient: true)
        #expect(cycle.fetched(.failure(offline)) == .fail(SyncAgentError(offline)))
    }
}
