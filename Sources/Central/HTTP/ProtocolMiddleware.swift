import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SyncCore
import Synchronization
import WireFormat

/// Around every request: takes the office's request id (or makes one) into the request's logger
/// and the answer, puts the epoch header on every answer, turns every error into the protocol's
/// JSON error body, and logs each failure once, through the request's logger, with what the
/// route learnt (`promo.office`, `promo.changeset`) and what failed underneath.
struct ProtocolMiddleware: RouterMiddleware {
    typealias Context = CentralRequestContext
    let epoch: Epoch
    let metrics: CentralMetrics
    /// Counts the bytes of an office's request and answer (``CentralStore/countBytes(_:_:now:)``).
    var countBytes: (@Sendable (_ office: String, _ received: Int64, _ sent: Int64) -> Void)? = nil
    /// Failed authentications and rate limits, logged once a minute per address.
    let refusals = RefusalLog(interval: .seconds(60))

    static let requestID = HTTPField.Name(WireProtocol.requestIDHeader)!
    static let epochHeader = HTTPField.Name(WireProtocol.epochHeader)!
    static let softwareHeader = HTTPField.Name(WireProtocol.softwareVersionHeader)!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let id = request.headers[Self.requestID].flatMap(Self.acceptableID) ?? String(UInt64.random(in: 0...UInt64.max), radix: 16)
        context.logger[metadataKey: "promo.request_id"] = "\(id)"
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let failure = Self.centralError(error)
            var metadata = context.notes.metadata
            metadata["http.method"] = "\(request.method)"
            metadata["http.path"] = "\(Self.loggable(request.uri.path))"
            metadata["http.status"] = "\(failure.status.code)"
            metadata["error.code"] = "\(failure.code.rawValue)"
            if let underlying = failure.underlying ?? (error is CentralError || error is any HTTPResponseError ? nil : error) {
                metadata["error.underlying"] = "\(Self.loggable("\(underlying)"))"
            }
            if failure.status.code >= 500 {
                context.logger.error("request failed: \(Self.loggable(failure.message))", metadata: metadata)
            } else if failure.code == .unauthorized || failure.code == .rateLimited {
                // Who knocked, never with what it presented; once a minute per address, with how
                // many were not logged since (a line each, a flood of 24-byte requests grew the
                // log 13 times faster than it came in; round 20, A4).
                if let unlogged = refusals.admit("\(context.remoteAddress)") {
                    metadata["http.remote"] = "\(context.remoteAddress)"
                    metadata["auth.presented"] = "\(request.headers[.authorization] == nil ? "nothing" : "a token")"
                    if unlogged > 0 { metadata["log.refusals_unlogged"] = "\(unlogged)" }
                    context.logger.warning("request refused: \(Self.loggable(failure.message))", metadata: metadata)
                }
            } else {
                context.logger.info("request refused: \(Self.loggable(failure.message))", metadata: metadata)
            }
            response = try failure.response(from: request, context: context)
        }
        // The bytes an office moved, as they travelled (compressed bodies at their sent size): a
        // body refused unread (413, 429, …) counts as nothing, whatever length it declared.
        if let office = context.notes.office {
            let sent = response.status.code < 400 ? request.headers[.contentLength].flatMap { Int64($0) } ?? 0 : 0
            countBytes?(office, sent, Int64(response.body.contentLength ?? 0))
        }
        response.headers[Self.epochHeader] = epoch.rawValue
        response.headers[Self.requestID] = id
        // Since 1.2.0: an office that needs a later centre can tell (SyncCycle, "upgrade the centre first").
        response.headers[Self.softwareHeader] = SoftwareVersion.current
        metrics.recordStatus(Int(response.status.code))
        // An oversized body is not read to its end: the connection closes after the answer.
        if response.status == .contentTooLarge { response.headers[.connection] = "close" }
        return response
    }

    /// Text an office had a hand in (a parameter, a member name, a path), made safe for a log line:
    /// control characters escaped, so that a request cannot forge lines, and 300 characters at most.
    static func loggable(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(300) {
            if scalar.properties.generalCategory == .control || scalar == "\u{2028}" || scalar == "\u{2029}" {
                out += scalar.escaped(asASCII: true)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return text.unicodeScalars.count > 300 ? out + "…" : out
    }

    /// An id an office may choose: up to 64 letters, digits and dashes (it goes into the logs).
    static func acceptableID(_ text: String) -> String? {
        text.count <= 64 && !text.isEmpty && text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) ? text : nil
    }

    /// Any error as the protocol's: Hummingbird's own refusals (no route, a body over a limit)
    /// keep their 4xx status; anything else is an internal failure, logged with its detail.
    static func centralError(_ error: any Error) -> CentralError {
        switch error {
        case let error as CentralError:
            return error
        case let error as HTTPError:
            let code: CentralError.Code = error.status == .notFound ? .notFound : (error.status == .contentTooLarge ? .bodyTooLarge : .badRequest)
            return CentralError(error.status, code, error.body ?? error.status.reasonPhrase)
        case let error as any HTTPResponseError where error.status.code < 500:
            return CentralError(error.status, error.status == .contentTooLarge ? .bodyTooLarge : .badRequest, error.status.reasonPhrase)
        default:
            return CentralError(.internalServerError, .internal, "the centre failed to answer", hint: "Retry later.", underlying: error)
        }
    }
}

/// Refusals logged at most once an interval per address: the first is logged, the others
/// counted, and the next one logged after the interval says how many were not.
final class RefusalLog: Sendable {
    let interval: Duration
    private let addresses = Mutex<[String: (logged: ContinuousClock.Instant, unlogged: Int)]>([:])

    init(interval: Duration) { self.interval = interval }

    /// How many refusals of `address` were not logged since its last logged one, when this one
    /// is to be logged; nil when it is not.
    func admit(_ address: String, now: ContinuousClock.Instant = .now) -> Int? {
        addresses.withLock { addresses in
            if let last = addresses[address], now - last.logged < interval {
                addresses[address]?.unlogged += 1
                return nil
            }
            // Past 10,000 addresses, those not logged for an interval are forgotten (with a count
            // not logged yet): a flood from many addresses does not grow this without bound.
            if addresses.count >= 10_000 { addresses = addresses.filter { now - $0.value.logged < interval } }
            let unlogged = addresses[address]?.unlogged ?? 0
            addresses[address] = (now, 0)
            return unlogged
        }
    }
}
