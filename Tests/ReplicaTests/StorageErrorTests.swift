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
/// `synchronous = FULL` (GRDB's WAL pools default to NORMAL), also after a pulled page, which
/// alone commits without waiting for the disk.
@Suite struct DurableCommitTests {
    @Test func theReplicaWaitsForTheDiskOnEveryCommitButAPulledPage() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        func level() throws -> Int { try replica.database.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") ?? -1 } }
        #expect(try level() == 2)
        let reopened = try Replica.open(at: replica.path)
        #expect(try reopened.database.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
        try replica.applyPulledPage(PullResponse(epoch: Epoch("e"), records: [], nextCursor: PullCursor(0), hasMore: false))
        #expect(try level() == 2)
    }
}
