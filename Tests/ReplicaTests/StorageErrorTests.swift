import GRDB
import Testing
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
