import Foundation
import Hummingbird
import SyncCore
import WireFormat

/// The one error type of the Central module; each maps to an HTTP status and a stable code that
/// the office's client decodes (docs/PROTOCOL.md lists them). It is Hummingbird's
/// `HTTPResponseError`: thrown from a route, it becomes the protocol's JSON error body.
public struct CentralError: Error, Sendable, CustomStringConvertible {
    /// The stable codes of the protocol's error bodies and of the commands' failures.
    public enum Code: String, Sendable, CaseIterable {
        // The request: its form, its size, its sender.
        case badRequest = "bad_request"
        case bodyTooLarge = "body_too_large"
        case unsupportedEncoding = "unsupported_encoding"
        case tooManyChanges = "too_many_changes"
        case unknownTable = "unknown_table"
        case unauthorized
        case rateLimited = "rate_limited"
        case notFound = "not_found"
        case `internal`
        // A changeset's chain and its writer's rights.
        case brokenChain = "broken_chain"
        case sequenceGap = "sequence_gap"
        case sequenceConflict = "sequence_conflict"
        case forbiddenWriter = "forbidden_writer"
        case forbiddenOwner = "forbidden_owner"
        case unknownParent = "unknown_parent"
        case officeMerged = "office_merged"
        case clockAhead = "clock_ahead"
        case aggregateFull = "aggregate_full"
        case changesetTooHeavy = "changeset_too_heavy"
        // Versions (docs/OPERATIONS.md, "Rolling out a release").
        case upgradeOffice = "upgrade_office"
        case upgradeCentre = "upgrade_centre"
        case officeVersionFrozen = "office_version_frozen"
        // The centre's own commands.
        case statusTransition = "status_transition"
        case resolutionAuthority = "resolution_authority"
        case resolved
        case unknownDecision = "unknown_decision"
        case unknownChoice = "unknown_choice"
        case unknownFund = "unknown_fund"
        case officeExists = "office_exists"
        case notRevoked = "not_revoked"
        case notMerged = "not_merged"
        case mergeNotInMap = "merge_not_in_map"
        case exists, duplicate
        case badTime = "bad_time"
        // The store, its files and its logs.
        case storage, busy, unreadable, configuration, tls
        /// The store's durable record (PostgreSQL, `store.postgres_url`) could not take what was
        /// committed: the change is kept and acknowledged when the office sends it again.
        case recordUnavailable = "record_unavailable"
        case unsafePermissions = "unsafe_permissions"
        case notReplayable = "not_replayable"
        case unknownJournalKind = "unknown_journal_kind"
    }

    /// The HTTP status the error is answered with.
    public let status: HTTPResponse.Status
    /// The stable code the office's client decodes; docs/PROTOCOL.md, "Errors", lists what each means.
    public let code: Code
    /// What went wrong, in words for a person; sent in the error body and printed by the commands.
    public let message: String
    /// What to do about it, when there is something to say; nil otherwise.
    public let hint: String?
    /// The row of a changeset that caused its refusal, told to the office so that it can withdraw it.
    public let row: SyncedRowKey?
    /// What failed underneath (a SQLite error behind `storage`): logged at the centre, never sent.
    public let underlying: (any Error)?

    /// Creates an error from its parts; `underlying` stays at the centre and is never sent.
    public init(
        _ status: HTTPResponse.Status, _ code: Code, _ message: String, hint: String? = nil, row: SyncedRowKey? = nil,
        underlying: (any Error)? = nil
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint
        self.row = row
        self.underlying = underlying
    }

    /// The message, followed by the hint when there is one.
    public var description: String { hint.map { "\(message). \($0)" } ?? message }

    static func badRequest(_ message: String, hint: String? = nil, row: SyncedRowKey? = nil) -> CentralError {
        CentralError(.badRequest, .badRequest, message, hint: hint, row: row)
    }

    static let unauthorized = CentralError(
        .unauthorized, .unauthorized, "missing, unknown or revoked office token",
        hint: "Send 'Authorization: Bearer TOKEN' with the token printed by promo-central office add.")

    /// Wraps a store failure; only transient storage trouble asks the office to retry. The
    /// failure itself is kept for the centre's log.
    static func storage(_ error: any Error, during operation: String) -> CentralError {
        if let error = error as? CentralError { return error }
        return CentralError(.serviceUnavailable, .storage, "the central store failed during \(operation)", hint: "Retry later.", underlying: error)
    }

    /// The protocol's error body.
    var body: ErrorResponse { ErrorResponse(code: code.rawValue, message: message, hint: hint, row: row) }
}

extension CentralError: HTTPResponseError {
    /// The protocol's JSON error body (`code`, `message`, `hint` and the refused row) with the error's status.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = (try? JSONEncoder().encode(self.body)) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}
