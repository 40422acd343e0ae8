import Foundation
import SyncTesting
import Testing

@testable import Replica

/// The lock that keeps two processes from syncing one replica at once (docs/OPERATIONS.md).
@Suite struct SyncLockTests {
    @Test func oneHolderAtATimeUntilItLetsGo() throws {
        let dir = try TemporaryDirectory()
        let replica = dir.file(Replica.fileName)
        let first = try #require(try SyncLock.take(replicaPath: replica))
        // Another open file description conflicts, as another process's would.
        #expect(try SyncLock.take(replicaPath: replica) == nil)
        first.release()
        first.release()  // once is enough; twice closes nothing else
        let second = try #require(try SyncLock.take(replicaPath: replica))
        withExtendedLifetime(second) {}
    }

    /// Whoever can write the data folder must not turn a command run as root into a `chmod` of
    /// another file: the lock file is never opened through a symbolic link.
    @Test func aSymbolicLinkInItsPlaceIsRefusedAndItsTargetUntouched() throws {
        let dir = try TemporaryDirectory()
        let replica = dir.file(Replica.fileName)
        let target = dir.file("secret")
        FileManager.default.createFile(atPath: target, contents: Data("x".utf8), attributes: [.posixPermissions: 0o600])
        try FileManager.default.createSymbolicLink(atPath: SyncLock.path(replicaPath: replica), withDestinationPath: target)
        let error = #expect(throws: ReplicaError.self) { _ = try SyncLock.take(replicaPath: replica) }
        #expect(error?.message.contains("symbolic link") == true)
        #expect(try FileManager.default.attributesOfItem(atPath: target)[.posixPermissions] as? Int == 0o600)
    }
}
