import Foundation

/// A fresh folder under the system's temporary directory, removed when the test is done. Made
/// with mode 700 whatever the umask, as `promo-sync init` makes a data folder, so that the
/// permission checks of the two programs pass (docs/SECURITY.md).
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init(prefix: String = "promo-sync-test") throws {
        let base = NSTemporaryDirectory()
        let path = (base as NSString).appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        self.path = path
    }

    /// A path inside the folder.
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
