/// Where the office's bearer token comes from: a fixed value, or a file that is read again when
/// it changes (a rotated token takes effect without restarting the daemon).
public protocol TokenSource: Sendable {
    /// The token to send now.
    func token() throws(TransportError) -> String
    /// Whether the token changed since it was last read, so that a daemon waiting after a refused
    /// token can try again at once.
    func changed() -> Bool
}

/// A token given once.
public struct FixedToken: TokenSource {
    /// The bearer token as `promo-central office add` printed it.
    public let value: String
    /// A source that always gives `value`.
    public init(_ value: String) { self.value = value }
    /// The fixed token; never throws.
    public func token() -> String { value }
    /// Always false: a fixed token never changes.
    public func changed() -> Bool { false }
}
