import SyncCore

/// The one error type of the Transport module. Each error says whether retrying later may help.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    /// Where the request failed: connecting, on the link, in TLS, at the centre, or before it was sent.
    public enum Code: String, Sendable {
        /// No connection could be made (refused, unreachable, name not resolved).
        case couldNotConnect = "could_not_connect"
        /// The connect or total timeout passed, or the link stayed below the low-speed limit.
        case timeout
        /// The connection broke while sending or receiving.
        case network
        /// The TLS handshake failed or the peer's certificate could not be verified.
        case tls
        /// The centre answered with an error status.
        case httpStatus = "http_status"
        /// The answer could not be understood (not the protocol's JSON).
        case invalidResponse = "invalid_response"
        /// The request could not be made as configured (malformed URL, unreadable certificate file).
        case invalidRequest = "invalid_request"
    }

    /// Where the request failed.
    public let code: Code
    /// What went wrong, for people; with the centre's own message when it sent one.
    public let message: String
    /// What to do about it, when there is advice; nil otherwise.
    public let hint: String?
    /// The HTTP status, for `httpStatus`.
    public let status: Int?
    /// The centre's error code (`unauthorized`, `sequence_gap`, …) when it sent one.
    public let remoteCode: String?
    /// The centre's epoch header, when it answered at all.
    public let epoch: Epoch?
    /// The row the centre refused a changeset for, when it named one.
    public let remoteRow: SyncedRowKey?
    /// The release the centre said it runs (`Promo-Software-Version` on its answer; centres before
    /// 1.2.0 do not say).
    public internal(set) var centreRelease: String?
    /// The id the request carried (`Promo-Request-Id`), which the centre logged with its side.
    public private(set) var requestID: String?
    private let transient: Bool

    /// An error of `code`; `transient` says whether retrying later may help, the rest is what the centre's answer said.
    public init(
        _ code: Code, _ message: String, hint: String? = nil, transient: Bool, status: Int? = nil,
        remoteCode: String? = nil, epoch: Epoch? = nil, remoteRow: SyncedRowKey? = nil
    ) {
        self.remoteRow = remoteRow
        self.code = code
        self.message = message
        self.hint = hint
        self.transient = transient
        self.status = status
        self.remoteCode = remoteCode
        self.epoch = epoch
    }

    /// The same error, naming the request it happened to.
    func with(requestID: String) -> TransportError {
        var error = self
        error.requestID = requestID
        return error
    }

    /// Whether to retry with backoff (true) or stop and tell a person (false).
    public var isTransient: Bool { transient }

    /// Whether the centre answered (an HTTP status arrived), as opposed to being unreachable.
    public var centralAnswered: Bool { status != nil }

    /// The message, then the hint when there is one.
    public var description: String {
        hint.map { "\(message). \($0)" } ?? message
    }
}
