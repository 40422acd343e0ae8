/// The one error type of SyncCore: a small closed set of codes, a message for people and an optional hint.
public struct SyncCoreError: Error, Sendable, CustomStringConvertible {
    /// What kind of problem this is.
    public enum Code: String, Sendable {
        /// A value that does not fit its domain (an unknown province, a malformed id).
        case invalidValue = "invalid_value"
        /// A changeset that does not hash to what it claims, or does not chain onto its predecessor.
        case brokenChain = "broken_chain"
        /// A change that is not allowed for the one who sent it.
        case forbidden = "forbidden"
    }

    /// The kind of problem, from the closed set of ``Code``.
    public let code: Code
    /// What is wrong, for people, naming the value or row at fault.
    public let message: String
    /// What to do about it, when there is advice to give; nil otherwise.
    public let hint: String?

    /// An error of `code` with its message and, when there is advice, a hint.
    public init(_ code: Code, _ message: String, hint: String? = nil) {
        self.code = code
        self.message = message
        self.hint = hint
    }

    /// Domain errors are never cured by retrying.
    public var isTransient: Bool { false }

    /// The message, then the hint when there is one.
    public var description: String {
        hint.map { "\(message). \($0)" } ?? message
    }
}
