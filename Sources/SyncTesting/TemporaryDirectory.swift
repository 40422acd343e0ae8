import Foundation

/// A fresh folder under the system's temporary directory, removed when the test is done. Made
/// with mode 700 whatever the umask, as `promo-sync init` makes a data folder, so that the
/// permission checks of the two programs pass (docs/SECURITY.md).
public final class TemporaryDirectory: Sendable {
    /// The folder's path, under the `base` it was made in.
    public let path: String

    /// `base` defaults to the system's temporary directory; the convergence model passes
    /// ``memoryBacked`` so that thousands of small SQLite files do not wait for fsync.
    public init(prefix: String = "promo-sync-test", base: String = NSTemporaryDirectory()) throws {
        let path = (base as NSString).appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        self.path = path
    }

    /// A memory-backed folder (`/dev/shm`) where there is one, else the temporary directory.
    public static var memoryBacked: String {
        FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    }

    /// A path inside the folder.
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
