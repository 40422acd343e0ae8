import Foundation
import SyncCore
import SyncTesting
import Testing

@testable import Replica

/// `Replica.checkPermissions(at:)`, which every promo-sync command runs before opening the
/// replica: real files and folders with the modes set on them.
@Suite struct PermissionTests {
    func setMode(_ mode: Int, _ path: String) throws {
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    @Test func aNewReplicaAndItsFolderPass() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        #expect(FilePermissions.mode(at: replica.path) == 0o600)
        #expect(FilePermissions.mode(at: dir.path) == 0o700)
        try Replica.checkPermissions(at: replica.path)
        // Its group may read it (a backup user), and its folder may be read by others.
        try setMode(0o640, replica.path)
        try setMode(0o755, dir.path)
        try replica.checkPermissions()
    }

    @Test(
        arguments: [
            ("replica.sqlite", 0o644, "the replica", "can be read by other users (mode 644)", "chmod 600"),
            ("replica.sqlite", 0o660, "the replica", "can be written by other users (mode 660)", "chmod 600"),
            ("replica.sqlite", 0o606, "the replica", "can be read or written by other users (mode 606)", "chmod 600"),
            ("replica.sqlite-wal", 0o666, "the replica's write-ahead log", "can be read or written by other users (mode 666)", "chmod 600"),
            ("replica.sqlite-shm", 0o644, "the replica's shared-memory file", "can be read by other users (mode 644)", "chmod 600"),
            ("", 0o777, "the data folder", "can be written by other users (mode 777)", "chmod go-w"),
            ("", 0o775, "the data folder", "can be written by other users (mode 775)", "chmod go-w"),
            ("", 0o1777, "the data folder", "can be written by other users (mode 1777)", "chmod go-w"),
        ] as [(String, Int, String, String, String)])
    func anUnsafeModeIsRefusedWithTheFileAndTheChmod(file: String, mode: Int, name: String, says: String, chmod: String) throws {
        let dir = try TemporaryDirectory()
        let path = dir.file(Replica.fileName)
        do { _ = try makeReplica(dir) }
        let target = file.isEmpty ? dir.path : dir.file(file)
        if !FileManager.default.fileExists(atPath: target) { _ = FileManager.default.createFile(atPath: target, contents: Data()) }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        try setMode(mode, target)
        defer { try? setMode(0o700, dir.path) }
        let error = #expect(throws: ReplicaError.self) { try Replica.checkPermissions(at: path) }
        #expect(error?.code == .unsafePermissions && error?.isTransient == false)
        #expect(error?.message == "\(name) \(target) \(says)")
        #expect(error?.hint == "Try: \(chmod) \(target)")
        // Checked, not opened: the file is as it was.
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }
}
