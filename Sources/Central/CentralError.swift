import Hummingbird
import SyncCore

/// The one error type of the Central module; each maps to an HTTP status and a stable code that
/// the office's client decodes (docs/PROTOCOL.md lists them).
public struct CentralError: Error, Sendable, CustomStringConvertible {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    public let hint: String?
    /// The row of a changeset that caused its refusal, told to the office so that it can withdraw it.
    public let row: SyncedRowKey?

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, hint: String? = nil, row: SyncedRowKey? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint
        self.row = row
    }

    public var description: String { hint.map { "\(message). \($0)" } ?? message }

    static func badRequest(_ message: String, hint: String? = nil, row: SyncedRowKey? = nil) -> CentralError {
        CentralError(.badRequest, "bad_request", message, hint: hint, row: row)
    }

    static let unauthorized = CentralError(
        .unauthorized, "unauthorized", "missing, unknown or revoked office token",
        hint: "Send 'Authorization: Bearer TOKEN' with the token printed by promo-central office add.")

    /// Wraps a store failure; only transient storage trouble asks the office to retry.
    static func storage(_ error: any Error, during operation: String) -> CentralError {
        if let error = error as? CentralError { return error }
        return CentralError(.serviceUnavailable, "storage", "the central store failed during \(operation)", hint: "Retry later.")
    }
}
