import Hummingbird
import Logging
import SyncCore
import Synchronization

/// The context of one request: Hummingbird's, plus the peer's address (rate limits and logs of
/// requests that carry no valid token are per address), the request's id, and what a route
/// learnt that the failure log should name.
public struct CentralRequestContext: RequestContext {
    /// Hummingbird's own per-request state.
    public var coreContext: CoreRequestContextStorage
    /// The peer's IP address, without the port.
    public let remoteAddress: String
    /// Shared by every copy of this context, so that the middleware sees what a route recorded.
    let notes = RequestNotes()

    /// Creates the context of a request from its channel; the address is "unknown" when the channel has none.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }
}

/// What a route learnt about its request (the office its token names, the changeset it carried),
/// for the one log line of a failure.
final class RequestNotes: Sendable {
    private let state = Mutex<(office: String?, changeset: Int64?)>((nil, nil))

    var office: String? {
        get { state.withLock { $0.office } }
        set { state.withLock { $0.office = newValue } }
    }

    var changeset: Int64? {
        get { state.withLock { $0.changeset } }
        set { state.withLock { $0.changeset = newValue } }
    }

    /// As logging metadata (`promo.office`, `promo.changeset`).
    var metadata: Logger.Metadata {
        let (office, changeset) = state.withLock { ($0.office, $0.changeset) }
        var metadata: Logger.Metadata = [:]
        if let office { metadata["promo.office"] = "\(office)" }
        if let changeset { metadata["promo.changeset"] = "\(changeset)" }
        return metadata
    }
}
