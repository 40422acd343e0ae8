import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One process syncs a replica at a time: the daemon's cycle, and a person's `promo-sync sync`,
/// `outbox retry` or `withdraw`, or `resync --force`. Two at once would push the same changeset
/// twice (harmless: `duplicate`), but one could make the waiting changesets again (a withdrawal, a
/// recall applied after a refusal) while the other has the old one in flight, and the centre
/// would then hold a changeset the office no longer has.
///
/// An advisory lock (`flock`) on a file beside the replica, `replica.sqlite.sync-lock`: released by
/// the kernel when its holder exits, however it exits, so a crash never leaves it taken. Not the
/// replica file itself: closing a descriptor of a file drops the POSIX locks SQLite holds on it.
/// Opened read-only and created readable by all, so that a lock file a command run as root made
/// does not shut the daemon's user out (an empty file discloses nothing). Never through a
/// symbolic link, and its mode is set only on a regular file of this user: whoever can write the
/// data folder must not turn a command run as root into a `chmod` of another file.
public final class SyncLock: Sendable {
    private let descriptor: Mutex<Int32?>

    private init(descriptor: Int32) { self.descriptor = Mutex(descriptor) }

    deinit { release() }

    /// Lets another process sync (also done when this one exits or the value goes).
    public func release() {
        descriptor.withLock {
            if let open = $0 { close(open) }
            $0 = nil
        }
    }

    /// The lock file of the replica at `replicaPath`.
    public static func path(replicaPath: String) -> String { replicaPath + ".sync-lock" }

    /// Takes the lock of the replica at `replicaPath` if no other process holds it; nil if one does.
    public static func take(replicaPath: String) throws(ReplicaError) -> SyncLock? {
        let path = Self.path(replicaPath: replicaPath)
        let descriptor = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else {
            let reason = errno == ELOOP ? "it is a symbolic link" : String(cString: strerror(errno))
            throw ReplicaError(
                .storage, "cannot open \(path), which keeps two processes from syncing the replica at once: \(reason)",
                hint: "Run the command as the user the daemon runs as, or as root (docs/OPERATIONS.md); remove the file if it is not a plain file.")
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw ReplicaError(.storage, "\(path) is not a plain file", hint: "Remove it; the next command makes it again.")
        }
        // Readable by all whatever the umask; only by its owner (others need not).
        if info.st_uid == geteuid() { _ = fchmod(descriptor, 0o644) }
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            let busy = errno == EWOULDBLOCK
            let reason = String(cString: strerror(errno))
            close(descriptor)
            if busy { return nil }
            throw ReplicaError(.storage, "cannot lock \(path): \(reason)", hint: "Check the file system of the replica's folder.")
        }
        return SyncLock(descriptor: descriptor)
    }
}
