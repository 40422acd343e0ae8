/// The release of promo-sync and promo-central built from this code. `make deb` packages it:
/// a tagged release (`vX.Y.Z`) must carry the same number, and a build between releases is
/// packaged as `X.Y.Z~gitDATE.COMMIT`, which sorts before the release it leads to.
public enum SoftwareVersion {
    public static let current = "0.12.0"

    /// What `--version` prints: the release and the protocol it speaks.
    public static func line(_ program: String) -> String {
        "\(program) \(current) (protocol \(WireProtocol.version))"
    }
}
