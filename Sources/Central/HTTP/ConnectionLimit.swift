import Logging
import NIOCore
import Prometheus
import Synchronization

/// The connections open from each source address, at most `limit` at once
/// (`limits.connections_per_address`): a connection past it is closed as soon as it is accepted,
/// before a byte of it is read. Idle connections from one address, re-opened as the idle timeout
/// closed them and asking nothing, held every file descriptor of the centre, and no office could
/// connect (round 19). Each one closed is counted (`promo_central_connections_refused_total`) and
/// logged once a minute per address: offices behind one proxy or NAT address share the limit,
/// and their operator must be able to see them refused.
final class ConnectionsPerAddress: Sendable {
    let limit: Int
    private let open = Mutex<[String: Int]>([:])
    private let refused: Counter?
    private let logger: Logger?
    private let refusals = RefusalLog(interval: .seconds(60))

    init(limit: Int, refused: Counter? = nil, logger: Logger? = nil) {
        self.limit = limit
        self.refused = refused
        self.logger = logger
    }

    /// Counts a connection from `address`; false (and not counted) when the address has `limit` open.
    func admit(_ address: String) -> Bool {
        let admitted = open.withLock { open in
            let count = open[address, default: 0]
            guard count < limit else { return false }
            open[address] = count + 1
            return true
        }
        if !admitted {
            refused?.increment()
            if let unlogged = refusals.admit(address) {
                var metadata: Logger.Metadata = ["http.remote": "\(address)", "limits.connections_per_address": "\(limit)"]
                if unlogged > 0 { metadata["log.refusals_unlogged"] = "\(unlogged)" }
                logger?.warning(
                    "connection closed: its address has \(limit) open already; offices behind one proxy or NAT address share that limit: raise limits.connections_per_address for them",
                    metadata: metadata)
            }
        }
        return admitted
    }

    /// A connection from `address` closed.
    func release(_ address: String) {
        open.withLock { open in
            let count = open[address, default: 0] - 1
            open[address] = count > 0 ? count : nil
        }
    }

    /// The handler that admits one connection (one per connection, in its pipeline).
    func handler() -> ConnectionLimitHandler { ConnectionLimitHandler(self) }
}

/// Admits its connection when added to the pipeline, or closes it; releases it when the connection goes.
final class ConnectionLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    /// The request parts pass on untouched.
    typealias InboundIn = NIOAny

    private let connections: ConnectionsPerAddress
    private var admitted: String?

    init(_ connections: ConnectionsPerAddress) { self.connections = connections }

    func handlerAdded(context: ChannelHandlerContext) {
        let address = context.channel.remoteAddress?.ipAddress ?? "unknown"
        if connections.admit(address) {
            admitted = address
        } else {
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if let admitted { connections.release(admitted) }
        admitted = nil
    }
}
