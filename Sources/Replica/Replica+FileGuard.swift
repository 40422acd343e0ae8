import Foundation
import GRDB
import SyncCore

/// What names a file on disk whatever its path: a file deleted, or replaced by another at the same
/// path (a copy put back, a new `init`), has another identity than the one a daemon opened.
struct FileIdentity: Equatable, Sendable {
    var device: UInt64
    var inode: UInt64

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}

/// A copy of a replica that a daemon saved when its file was deleted or replaced under it
/// (``Replica/saveRescueCopy(now:)``): every row it held, the unpushed changes included, for
/// `promo-sync resync --rebuild` to take back.
public struct RescueCopy: Sendable, Equatable {
    /// The copy's path, beside the replica: the replica's path, `.rescued-` and a time stamp.
    public var path: String
    /// Local changes in it that the centre had not acknowledged.
    public var unpushedChanges: Int
}

extension Replica {
    /// Why the file at ``path`` is no longer the one this replica opened, or nil when it is.
    /// Writes made through this replica would go to a file no one else sees again.
    public func fileProblem() -> String? {
        guard let openedFile else { return nil }
        guard let now = FileIdentity(path: path) else {
            return "the replica file \(path) was deleted while the daemon had it open"
        }
        return now == openedFile ? nil : "the replica file \(path) was replaced by another file while the daemon had it open"
    }

    /// The name of rescue copies of the replica at `path`, before their time stamp.
    static func rescuePrefix(_ path: String) -> String { path + ".rescued-" }

    /// Writes everything this replica holds (read through its open connection, so a deleted file
    /// can still be read) to a new file beside ``path``, `replica.sqlite.rescued-<time>`, owner-only,
    /// synced to disk. The folder is made again if it was deleted with the file.
    public func saveRescueCopy(now: Date = Date()) throws(ReplicaError) -> RescueCopy {
        let folder = (path as NSString).deletingLastPathComponent
        let stamp = Timestamps.format(now).replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
        let target = Self.rescuePrefix(path) + stamp
        let fm = FileManager.default
        do {
            if !folder.isEmpty, !fm.fileExists(atPath: folder) {
                try fm.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            // VACUUM INTO needs a missing or empty file; made first so that it has the owner-only mode.
            guard fm.createFile(atPath: target, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw ReplicaError(
                    .storage, "cannot create the rescue copy \(target)",
                    hint: "Make the data folder writable by the service user, then start the daemon again: it saves the copy before anything else.")
            }
            let unpushed = try database.writeWithoutTransaction { db -> Int in
                let count = try Self.pendingSummary(db).changes
                try db.execute(sql: "VACUUM INTO ?", arguments: [target])
                return count
            }
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: target))
            try handle.synchronize()
            try handle.close()
            // The copy's name, too, must survive a power cut: sync the folder that holds it.
            let directory = Glibc.open(folder.isEmpty ? "." : folder, O_RDONLY | O_DIRECTORY)
            if directory >= 0 {
                _ = fsync(directory)
                close(directory)
            }
            return RescueCopy(path: target, unpushedChanges: unpushed)
        } catch {
            try? fm.removeItem(atPath: target)
            throw ReplicaError.wrap(error, during: "saving a rescue copy of the replica to \(target)")
        }
    }

    /// The rescue copies beside the replica at `path` that no rebuild has taken back yet, oldest first.
    public static func rescueCopies(beside path: String) -> [String] {
        let folder = (path as NSString).deletingLastPathComponent
        let prefix = (rescuePrefix(path) as NSString).lastPathComponent
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder)) ?? []
        return names.filter { $0.hasPrefix(prefix) && !$0.hasSuffix(takenSuffix) && !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }
            .sorted()
            .map { folder.isEmpty ? $0 : (folder as NSString).appendingPathComponent($0) }
    }

    /// What a rescue copy is renamed to once a rebuild took its changes back (kept for audit).
    static let takenSuffix = ".restored"

    /// Marks rescue copies as taken back, so that status stops asking for a rebuild.
    public static func markTaken(_ copies: [String]) {
        for copy in copies { try? FileManager.default.moveItem(atPath: copy, toPath: copy + takenSuffix) }
    }

    /// Why the replica at `path` cannot be written, in plain words, and the fix; nil when
    /// nothing in the file system stops it (then the failure was something else).
    public static func writeAccessProblem(at path: String) -> (problem: String, fix: String)? {
        let folder = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        var fs = statvfs()
        if statvfs(folder, &fs) == 0, fs.f_flag & UInt(ST_RDONLY) != 0 {
            return (
                "the file system holding the data folder \(folder) is mounted read-only: nothing can be synced or entered",
                "Remount it read-write once the disk is checked (dmesg, fsck); nothing stored is lost and the daemon syncs again by itself"
            )
        }
        let user = getpwuid(geteuid()).flatMap { $0.pointee.pw_name.map { String(cString: $0) } } ?? "uid \(geteuid())"
        if access(folder, W_OK) != 0 {
            return (
                "the data folder \(folder) is not writable by \(user): nothing can be synced or entered",
                "give the user the daemon runs as (promo-sync under systemd) the folder: chown -R promo-sync: \(folder) && chmod u+rwx \(folder); nothing stored is lost"
            )
        }
        for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) && access(file, W_OK) != 0 {
            return (
                "the file \(file) is not writable by \(user): nothing can be synced or entered",
                "give the user the daemon runs as (promo-sync under systemd) the file: chown promo-sync: \(file) && chmod u+rw \(file); nothing stored is lost"
            )
        }
        return nil
    }

    /// Opens a private copy of the replica at `path` (with its WAL) in a temporary folder, for
    /// reading what can be read when the file itself cannot be opened for writing; `close` removes it.
    public static func openCopy(of path: String) throws(ReplicaError) -> (replica: Replica, close: @Sendable () -> Void) {
        let fm = FileManager.default
        let folder = fm.temporaryDirectory.appendingPathComponent("promo-sync-status-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        let close: @Sendable () -> Void = { try? FileManager.default.removeItem(atPath: folder) }
        do {
            try fm.createDirectory(atPath: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            let copy = (folder as NSString).appendingPathComponent(fileName)
            for suffix in ["", "-wal"] where fm.fileExists(atPath: path + suffix) {
                try fm.copyItem(atPath: path + suffix, toPath: copy + suffix)
            }
            return (try open(at: copy), close)
        } catch {
            close()
            throw ReplicaError.wrap(error, during: "reading a copy of the replica")
        }
    }
}
