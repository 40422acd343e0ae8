import GRDB

/// The one error type of the Replica module.
public struct ReplicaError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure it is; the commands and the daemon act on the kind, never on the message.
    public enum Code: String, Sendable {
        /// No replica at the path: `promo-sync init` has not run.
        case notInitialised = "not_initialised"
        /// `init` on a path that already holds a replica.
        case alreadyExists = "already_exists"
        /// The file is not a readable replica (overwritten bytes, another kind of file).
        case damaged
        /// A value given by a person or a file does not fit (unknown category, negative amount).
        case invalidInput = "invalid_input"
        /// The database is busy past the timeout; retrying later helps.
        case busy
        /// Any other storage failure (disk full, read-only file system).
        case storage
        /// The replica, its folder or a file beside it lets other users in (docs/SECURITY.md);
        /// nothing was opened. The hint is the `chmod` that fixes it.
        case unsafePermissions = "unsafe_permissions"
    }

    /// What kind of failure it is.
    public let code: Code
    /// What went wrong, in words for a person.
    public let message: String
    /// What to do about it, when there is something to say; nil otherwise.
    public let hint: String?
    /// The SQLite or file-system error behind it, if any.
    public let underlying: (any Error)?

    /// Creates an error from its parts.
    public init(_ code: Code, _ message: String, hint: String? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.hint = hint
        self.underlying = underlying
    }

    /// Whether retrying the same operation later may succeed.
    /// Busy files and storage trouble (a full disk, a read-only mount) clear up without anyone
    /// touching the replica, so the daemon retries with its backoff rather than waiting long.
    public var isTransient: Bool { code == .busy || code == .storage }

    /// The message, the underlying error in parentheses and the hint, on one line.
    public var description: String {
        var text = message
        if let underlying { text += " (\(underlying))" }
        if let hint { text += ". \(hint)" }
        return text
    }

    /// Wraps an error thrown by GRDB with the operation that failed.
    static func wrap(_ error: any Error, during operation: String) -> ReplicaError {
        if let error = error as? ReplicaError { return error }
        if let db = error as? DatabaseError {
            switch db.resultCode {
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                return ReplicaError(.busy, "the replica was busy during \(operation)", hint: "Retry in a moment.", underlying: db)
            case .SQLITE_CORRUPT, .SQLITE_NOTADB:
                return ReplicaError(
                    .damaged, "the replica file is damaged (\(operation))",
                    hint: "Try: promo-sync resync --rebuild (it keeps the damaged file aside and the changes it can still read)", underlying: db)
            case .SQLITE_FULL:
                return ReplicaError(.storage, "the disk is full (\(operation))", hint: "Free space under the data folder; nothing was changed.", underlying: db)
            case .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_PERM:
                return ReplicaError(
                    .storage, "the replica cannot be written (\(operation))",
                    hint: "Check that the data folder and replica file are writable by the service user.", underlying: db)
            case .SQLITE_CONSTRAINT:
                return ReplicaError(.invalidInput, "a value breaks a rule of the replica (\(operation)): \(db.message ?? "constraint")", underlying: db)
            default:
                break
            }
        }
        return ReplicaError(.storage, "storage failure during \(operation)", underlying: error)
    }
}
