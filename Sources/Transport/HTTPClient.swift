import CCurl
import Dispatch
import Foundation

/// How the office talks to the centre over the network.
public struct HTTPClientConfiguration: Sendable, Equatable {
    /// Longest wait for a TCP (and TLS) connection.
    public var connectTimeout: Duration = .seconds(10)
    /// Longest a whole request may take.
    public var totalTimeout: Duration = .seconds(120)
    /// Abort when the transfer stays below this many bytes per second …
    public var lowSpeedLimitBytesPerSecond: Int = 100
    /// … for this long (slow links stall rather than fail; this catches the stall).
    public var lowSpeedTime: Duration = .seconds(30)
    /// A PEM bundle of the CAs to trust instead of the system's.
    public var caBundlePath: String?
    /// A PEM client certificate and key for mutual TLS.
    public var clientCertificatePath: String?
    /// The PEM private key of the client certificate.
    public var clientKeyPath: String?
    /// An HTTP(S) proxy URL.
    public var proxy: String?
    /// The `User-Agent` header sent with every request.
    public var userAgent: String = "promo-sync/0.1"

    /// The defaults: 10 s to connect, 120 s for a request, abort below 100 bytes a second for 30 s, the system's CAs, no proxy.
    public init() {}
}

/// An HTTP request.
public struct HTTPRequest: Sendable {
    /// The HTTP method, e.g. `GET` or `POST`.
    public var method: String
    /// The whole URL, query included.
    public var url: String
    /// Header names and values, sent in this order.
    public var headers: [(String, String)]
    /// The body as sent (the caller compresses it and says so in the headers); nil for none.
    public var body: Data?

    /// A request from its parts; no headers and no body by default.
    public init(method: String, url: String, headers: [(String, String)] = [], body: Data? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// An HTTP response with its body already decompressed.
public struct HTTPResponse: Sendable {
    /// The HTTP status; an error status is a response too, not a thrown error.
    public var status: Int
    /// Header names in lower case.
    public var headers: [String: String]
    /// The body, decompressed.
    public var body: Data
    /// Bytes sent and received on the wire (after compression), for metrics and benchmarks.
    public var bytesSent: Int64
    /// With ``bytesSent``: the bytes received.
    public var bytesReceived: Int64
    /// New connections the request opened: 0 when it went over one kept from an earlier request.
    public var connectionsOpened: Int = 0
}

/// libcurl handles kept between requests, so that their connections are reused: one request at a
/// time per handle, a few kept idle.
private final class HandlePool: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [CurlEasy] = []
    private let keep = 4

    func take() throws(TransportError) -> CurlEasy {
        if let easy = lock.withLock({ idle.popLast() }) {
            try easy.reset()
            return easy
        }
        return try CurlEasy()
    }

    func give(_ easy: CurlEasy) {
        lock.withLock { if idle.count < keep { idle.append(easy) } }
    }
}

/// An async HTTP client over libcurl. Each request runs a blocking libcurl transfer on a thread
/// of its own, so the caller's executor is never blocked. Handles, and with them their
/// connections, are kept between requests: over a slow link a TLS handshake costs several round
/// trips, paid once per connection instead of once per request.
public final class HTTPClient: Sendable {
    /// The timeouts, TLS files and proxy every request uses.
    public let configuration: HTTPClientConfiguration
    private let handles = HandlePool()

    /// A client with `configuration`; it opens no connection before the first request.
    public init(configuration: HTTPClientConfiguration = HTTPClientConfiguration()) {
        self.configuration = configuration
    }

    /// Sends a request. Throws only for transfer failures; any HTTP status is a response.
    public func send(_ request: HTTPRequest) async throws(TransportError) -> HTTPResponse {
        let configuration = self.configuration
        let handles = self.handles
        let result: Result<HTTPResponse, TransportError> = await withCheckedContinuation { continuation in
            // A thread of its own: a blocking transfer must not hold a thread of a shared,
            // width-limited pool (libdispatch's default queues allow about one per core).
            let thread = Thread {
                continuation.resume(
                    returning: Result { () throws(TransportError) -> HTTPResponse in
                        try Self.perform(request, configuration, handles)
                    })
            }
            thread.name = "promo-sync.curl"
            thread.start()
        }
        return try result.get()
    }

    /// One transfer on a kept handle (libcurl itself sends a request again on a new connection
    /// when a kept one turns out to be closed as it goes out: `HTTPClientTests`).
    private static func perform(_ request: HTTPRequest, _ config: HTTPClientConfiguration, _ handles: HandlePool) throws(TransportError)
        -> HTTPResponse
    {
        let easy = try handles.take()
        let sink = ResponseSink()
        let sinkPointer = Unmanaged.passUnretained(sink).toOpaque()
        try withExtendedLifetime(sink) { () throws(TransportError) in
            try easy.set(CURLOPT_URL, request.url, "URL")
            try easy.set(CURLOPT_NOSIGNAL, 1, "no signals")
            try easy.set(CURLOPT_FOLLOWLOCATION, 0, "no redirects")
            try easy.set(CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(config.connectTimeout), "connect timeout")
            try easy.set(CURLOPT_TIMEOUT_MS, Self.milliseconds(config.totalTimeout), "total timeout")
            try easy.set(CURLOPT_LOW_SPEED_LIMIT, config.lowSpeedLimitBytesPerSecond, "low-speed limit")
            try easy.set(CURLOPT_LOW_SPEED_TIME, max(1, Self.milliseconds(config.lowSpeedTime) / 1000), "low-speed time")
            // An empty string asks for every encoding this libcurl can decode (gzip, deflate, …).
            try easy.set(CURLOPT_ACCEPT_ENCODING, "", "accepted encodings")
            try easy.set(CURLOPT_USERAGENT, config.userAgent, "user agent")
            // Verification stays on: there is deliberately no setting to turn it off.
            try easy.set(CURLOPT_SSL_VERIFYPEER, 1, "peer verification")
            try easy.set(CURLOPT_SSL_VERIFYHOST, 2, "host verification")
            if let ca = config.caBundlePath { try easy.set(CURLOPT_CAINFO, ca, "CA bundle") }
            if let cert = config.clientCertificatePath { try easy.set(CURLOPT_SSLCERT, cert, "client certificate") }
            if let key = config.clientKeyPath { try easy.set(CURLOPT_SSLKEY, key, "client key") }
            if let proxy = config.proxy { try easy.set(CURLOPT_PROXY, proxy, "proxy") }

            try easy.set(CURLOPT_CUSTOMREQUEST, request.method, "method")
            if let body = request.body {
                try easy.set(CURLOPT_POST, 1, "POST")
                try easy.setBody(body)
            } else if request.method == "GET" {
                try easy.set(CURLOPT_HTTPGET, 1, "GET")
            }
            // "Expect:" stops libcurl waiting for 100-continue on larger bodies.
            try easy.setHeaders(request.headers.map { "\($0.0): \($0.1)" } + ["Expect:"])

            try easy.set(
                CURLOPT_WRITEFUNCTION,
                callback: { data, size, count, user in
                    let sink = Unmanaged<ResponseSink>.fromOpaque(user!).takeUnretainedValue()
                    let n = size * count
                    if let data { sink.body.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: n) }
                    return n
                }, "body callback")
            try easy.set(CURLOPT_WRITEDATA, pointer: sinkPointer, "body sink")
            try easy.set(
                CURLOPT_HEADERFUNCTION,
                callback: { data, size, count, user in
                    let sink = Unmanaged<ResponseSink>.fromOpaque(user!).takeUnretainedValue()
                    let n = size * count
                    if let data {
                        let line = String(decoding: UnsafeRawBufferPointer(start: data, count: n), as: UTF8.self)
                        sink.header(line)
                    }
                    return n
                }, "header callback")
            try easy.set(CURLOPT_HEADERDATA, pointer: sinkPointer, "header sink")
            try easy.perform()
        }
        let response = HTTPResponse(
            status: easy.responseCode(), headers: sink.headers, body: sink.body,
            bytesSent: easy.uploadedBytes(), bytesReceived: easy.downloadedBytes(), connectionsOpened: easy.connectionsOpened())
        // Only a handle whose transfer completed goes back: a failed one's connection state is unknown.
        handles.give(easy)
        return response
    }

    private static func milliseconds(_ d: Duration) -> Int {
        let (seconds, attoseconds) = d.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}

/// Collects the response as libcurl hands it over.
private final class ResponseSink {
    var body = Data()
    var headers: [String: String] = [:]

    func header(_ line: String) {
        // A new status line (after a 100 Continue, say) starts a new header block.
        if line.hasPrefix("HTTP/") {
            headers = [:]
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        headers[name] = value
    }
}
