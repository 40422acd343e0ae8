/// The release of promo-sync and promo-central built from this code. `make deb` packages it:
/// a tagged release (`vX.Y.Z`) must carry the same number, and a build between releases is
/// packaged as `X.Y.Z~gitDATE.COMMIT`, which sorts before the release it leads to.
public enum SoftwareVersion {
    /// This release's number, `X.Y.Z`, sent as `Promo-Software-Version`.
    public static let current = "1.9.0"

    /// The release that offices which send no `Promo-Software-Version` run (every office before
    /// 1.1.0 sends none).
    public static let beforeVersionHeaders = "1.0.0"

    /// The first release whose replica schema is `schema` (a column added in it needs a centre of
    /// that release or later to accept it).
    public static func firstRelease(withSchema schema: Int) -> String {
        switch schema {
        case ...7: "1.0.0"
        default: "1.2.0"
        }
    }

    /// What `--version` prints: the release and the protocol it speaks.
    public static func line(_ program: String) -> String {
        "\(program) \(current) (protocol \(WireProtocol.version))"
    }
}

/// A release number `X.Y.Z`, optionally with a suffix after `~` (a build before that release,
/// which orders before it) or `+` (a build of it, which orders with it). Compared as numbers.
public struct ReleaseNumber: Comparable, Sendable, CustomStringConvertible {
    public let major: Int, minor: Int, patch: Int
    /// A build before the release (`1.1.0~git20261204.abc1234`).
    public let preRelease: Bool
    /// The number as given, suffix included, e.g. `1.1.0~git20261204.abc1234`.
    public let text: String

    /// Reads `X.Y.Z` with an optional `~` or `+` suffix, at most 64 characters in all; nil for anything else.
    public init?(_ text: String) {
        let head = text.split(separator: "+", maxSplits: 1).first.map(String.init) ?? text
        let parts = head.split(separator: "~", maxSplits: 1)
        let numbers = parts.first.map { $0.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) } } ?? []
        guard numbers.count == 3, let major = numbers[0], let minor = numbers[1], let patch = numbers[2],
            major >= 0, minor >= 0, patch >= 0, text.count <= 64
        else { return nil }
        self.major = major
        self.minor = minor
        self.patch = patch
        preRelease = parts.count == 2
        self.text = text
    }

    /// The number as given.
    public var description: String { text }

    /// Orders by major, minor and patch as numbers; a build before a release orders before it.
    public static func < (a: ReleaseNumber, b: ReleaseNumber) -> Bool {
        if (a.major, a.minor, a.patch) != (b.major, b.minor, b.patch) { return (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch) }
        return a.preRelease && !b.preRelease
    }

    /// Equal when the numbers match and both or neither are builds before the release; the rest of a suffix does not count.
    public static func == (a: ReleaseNumber, b: ReleaseNumber) -> Bool {
        (a.major, a.minor, a.patch, a.preRelease) == (b.major, b.minor, b.patch, b.preRelease)
    }
}
