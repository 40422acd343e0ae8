import Foundation

/// The databases each shipped release's own programs wrote (`Tests/Fixtures/release-X.Y.Z`, made
/// by `scripts/make-fixtures.sh` when the release was cut).
public enum ReleaseFixtures {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Tests/Fixtures")

    /// The path of file `name` of release folder `release` (`release-1.1.0`). Copy it before opening:
    /// a migration must never touch the committed file.
    public static func path(_ release: String, _ name: String) -> String {
        folder.appendingPathComponent(release).appendingPathComponent(name).path
    }
}
