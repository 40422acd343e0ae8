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
    public let value: String
    public init(_ value: String) { self.value = value }
    public func token() -> String { value }
    public func changed() -> Bool { false }
}
