import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Pokes a ``WakeSignal`` whenever the replica file or its write-ahead log changes (or goes), so the daemon
/// sees a local commit (by promo-sync, the `sqlite3` shell or any other program) at once instead
/// of at its next look. Linux inotify on the replica's folder, read by one thread that sleeps in
/// `read` between events: no polling. Where inotify is missing, ``start(path:wake:)`` returns nil
/// and the daemon's periodic look remains.
public final class FileWatcher: Sendable {
    private let descriptor: Int32

    private init(descriptor: Int32) { self.descriptor = descriptor }

    /// Starts watching the replica at `path` (through its folder): any event on a file whose name starts with the replica's
    /// pokes `wake`. nil where inotify is missing or cannot watch the folder.
    public static func start(path: String, wake: WakeSignal) -> FileWatcher? {
        #if os(Linux)
            let url = URL(fileURLWithPath: path)
            let folder = url.deletingLastPathComponent().path
            let name = url.lastPathComponent
            let fd = inotify_init1(Int32(IN_CLOEXEC))
            guard fd >= 0 else { return nil }
            // Deletes and moves too: a replica deleted or replaced under the daemon is noticed at once.
            let mask = UInt32(IN_MODIFY) | UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO) | UInt32(IN_CREATE) | UInt32(IN_DELETE) | UInt32(IN_MOVED_FROM)
            guard inotify_add_watch(fd, folder, mask) >= 0 else {
                close(fd)
                return nil
            }
            let watcher = FileWatcher(descriptor: fd)
            let thread = Thread {
                var buffer = [UInt8](repeating: 0, count: 64 * 1024)
                while true {
                    let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if count < 0 && errno == EINTR { continue }
                    guard count > 0 else { return }  // closed
                    // Events: struct inotify_event { int wd; uint32 mask, cookie, len; char name[len]; }
                    var offset = 0
                    var relevant = false
                    while offset + 16 <= count {
                        let length = Int(buffer[offset + 12]) | Int(buffer[offset + 13]) << 8 | Int(buffer[offset + 14]) << 16 | Int(buffer[offset + 15]) << 24
                        let nameBytes = buffer[(offset + 16)..<min(count, offset + 16 + length)].prefix { $0 != 0 }
                        if String(decoding: nameBytes, as: UTF8.self).hasPrefix(name) { relevant = true }
                        offset += 16 + length
                    }
                    if relevant { wake.poke() }
                }
            }
            thread.name = "replica-watcher"
            thread.start()
            return watcher
        #else
            return nil
        #endif
    }

    deinit { close(descriptor) }
}
