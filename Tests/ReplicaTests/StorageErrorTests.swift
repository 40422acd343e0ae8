import GRDB
import SyncCore
import SyncTesting
import Testing
import WireFormat

@testable import Replica

/// Regression (reliability campaign, full disk): a full or read-only disk was a permanent error,
/// so the daemon waited five minutes after space came back before it tried again.
@Suite struct StorageErrorTests {
    @Test(arguments: [ResultCode.SQLITE_FULL, .SQLITE_READONLY, .SQLITE_IOERR, .SQLITE_BUSY])
    func storageTroubleIsRetried(code: ResultCode) {
        let error = ReplicaError.wrap(DatabaseError(resultCode: code), during: "applying a pulled page")
        #expect(error.isTransient)
    }

    @Test func damageAndBadInputAreNot() {
        #expect(!ReplicaError.wrap(DatabaseError(resultCode: .SQLITE_CORRUPT), during: "x").isTransient)
        #expect(!ReplicaError.wrap(DatabaseError(resultCode: .SQLITE_CONSTRAINT), during: "x").isTransient)
        #expect(ReplicaError.wrap(DatabaseError(resultCode: .SQLITE_FULL), during: "x").message.contains("the disk is full"))
    }
}

/// A write promo-sync reports done survives a power cut: the writer connection commits with
/// `synchronous = FULL` (GRDB's WAL pools default to NORMAL), also after what commits without
/// waiting for the disk because the office gets it again (a pulled page, an acknowledgement,
/// the daemon's state and its last cycle's outcome).
@Suite struct DurableCommitTests {
    @Test func theReplicaWaitsForTheDiskOnEveryCommitButWhatItGetsAgain() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        func level() throws -> Int { try replica.database.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") ?? -1 } }
        #expect(try level() == 2)
        let reopened = try Replica.open(at: replica.path)
        #expect(try reopened.database.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
        try replica.applyPulledPage(PullResponse(epoch: Epoch("e"), records: [], nextCursor: PullCursor(0), hasMore: false))
        #expect(try level() == 2)
        try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 1_000, note: nil)
        let changeset = try #require(try replica.nextChangeset())
        try replica.acknowledge(changeset.sequence)
        try replica.recordAttempt(.success, counting: ["cycles_ok": 1])
        try replica.recordAgentState("idle", pid: 1)
        #expect(try level() == 2)
        #expect(try replica.pendingSummary().changes == 0 && replica.counters()["cycles_ok"] == 1)
    }
}
