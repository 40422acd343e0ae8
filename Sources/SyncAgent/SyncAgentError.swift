import Replica
import SyncCore
import Transport

/// The one error type of the SyncAgent module.
public struct SyncAgentError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure it is; callers act on the kind, never on the message.
    public enum Code: String, Sendable {
        /// A setting or the token file is missing or unsafe.
        case configuration
        /// The network or the centre failed (see ``transport``).
        case transport
        /// The replica failed.
        case replica
        /// The centre answered with another epoch than the one this office synced with.
        case epochMismatch = "epoch_mismatch"
        /// The centre refused a changeset for what one of its rows says (``ChangesetRefusal``).
        case refused
        /// The centre holds fewer of this office's changesets than it acknowledged (a rollback or
        /// a power cut without a new epoch); the cycle heals it by itself.
        case centreLostChangesets = "centre_lost_changesets"
        /// The centre holds one of this office's changesets with other content than this replica
        /// sends under its number: the replica is behind what it sent (a server restored from an
        /// old backup, or a copy syncing with the same token); the cycle rejoins by itself once a day.
        case replicaBehind = "replica_behind"
        /// The replica file was deleted or replaced under the running daemon; what it held is in a
        /// rescue copy and the daemon stops (docs/OPERATIONS.md, "A replica deleted under the daemon").
        case replicaLost = "replica_lost"
        /// The centre runs a release older than what this office's changes need (a field it does not
        /// know yet): the office keeps them and retries; the centre must be upgraded first.
        case centreTooOld = "centre_too_old"
        /// The centre refused a changeset stamped more than ten minutes after its time: this office
        /// server's clock is ahead. Once the clock is set right, the cycle stamps the waiting
        /// changes again by itself (``Replica/restampAfterClockSetBack(centreClock:now:)``).
        case clockAhead = "clock_ahead"
        /// A fault seam fired (tests only).
        case injectedFault = "injected_fault"
    }

    /// What kind of failure it is.
    public let code: Code
    /// What went wrong, in words for a person.
    public let message: String
    /// What to do about it, when there is something to say; nil otherwise.
    public let hint: String?
    /// Whether retrying may succeed by itself: the daemon then backs off and retries, instead of waiting `permanentFailureRetry`.
    public let transient: Bool
    /// Whether the centre answered at all.
    public let centralAnswered: Bool
    /// The request that failed (`Promo-Request-Id`), to find the centre's side in its journal.
    public private(set) var requestID: String?

    /// Creates an error from its parts; the request id is only set from a transport error.
    public init(_ code: Code, _ message: String, hint: String? = nil, transient: Bool, centralAnswered: Bool = false) {
        self.code = code
        self.message = message
        self.hint = hint
        self.transient = transient
        self.centralAnswered = centralAnswered
    }

    init(_ error: TransportError) {
        self.init(.transport, error.message, hint: error.hint, transient: error.isTransient, centralAnswered: error.centralAnswered)
        requestID = error.requestID
    }

    /// The replica's error, as a sync error of code `replica` (transient when the replica's is).
    public init(_ error: ReplicaError) {
        self.init(.replica, error.message, hint: error.hint, transient: error.isTransient)
    }

    /// Classifies any error met while syncing.
    static func wrap(_ error: any Error) -> SyncAgentError {
        switch error {
        case let e as SyncAgentError: e
        case let e as TransportError: SyncAgentError(e)
        case let e as ReplicaError: SyncAgentError(e)
        default: SyncAgentError(.replica, "\(error)", transient: false)
        }
    }

    /// Whether to retry with backoff.
    public var isTransient: Bool { transient }

    /// The message, followed by the hint when there is one.
    public var description: String { hint.map { "\(message). \($0)" } ?? message }
}
