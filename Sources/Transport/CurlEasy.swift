import CCurl
import Foundation

/// Owns one libcurl easy handle and frees it on deinit. Not `Sendable`: one thread uses it at a time.
final class CurlEasy {
    let handle: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)

    /// libcurl's process-wide initialisation, run once before the first handle.
    private static let globalInit: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

    init() throws(TransportError) {
        _ = Self.globalInit
        guard let handle = curl_easy_init() else {
            throw TransportError(.invalidRequest, "libcurl could not make a handle (out of memory?)", transient: true)
        }
        self.handle = handle
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        try set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(errorBuffer), "error buffer")
    }

    /// Clears every option for the next request, keeping what libcurl keeps across `reset`: the
    /// handle's open connections (reused by the next request to the same centre: no new TCP and
    /// TLS handshake), its DNS and TLS session caches.
    func reset() throws(TransportError) {
        curl_easy_reset(handle)
        if let headerList { curl_slist_free_all(headerList) }
        headerList = nil
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        try set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(errorBuffer), "error buffer")
    }

    /// How many new connections the last transfer opened (0 when it reused one).
    func connectionsOpened() -> Int {
        var n = 0
        _ = ps_curl_getinfo_long(handle, CURLINFO_NUM_CONNECTS, &n)
        return n
    }

    deinit {
        curl_easy_cleanup(handle)
        if let headerList { curl_slist_free_all(headerList) }
        errorBuffer.deallocate()
    }

    func set(_ option: CURLoption, _ value: Int, _ name: String) throws(TransportError) {
        try check(ps_curl_setopt_long(handle, option, value), "setting \(name)")
    }

    func set(_ option: CURLoption, _ value: String, _ name: String) throws(TransportError) {
        // libcurl copies string options (since 7.17), so the Swift string need not outlive the call.
        try check(value.withCString { ps_curl_setopt_string(handle, option, $0) }, "setting \(name)")
    }

    func set(_ option: CURLoption, offset value: Int64, _ name: String) throws(TransportError) {
        try check(ps_curl_setopt_off_t(handle, option, curl_off_t(value)), "setting \(name)")
    }

    func set(_ option: CURLoption, pointer value: UnsafeMutableRawPointer?, _ name: String) throws(TransportError) {
        try check(ps_curl_setopt_pointer(handle, option, value), "setting \(name)")
    }

    func set(_ option: CURLoption, callback: ps_curl_data_callback, _ name: String) throws(TransportError) {
        try check(ps_curl_setopt_data_callback(handle, option, callback), "setting \(name)")
    }

    /// Sets the request body. COPYPOSTFIELDS copies the bytes, so the Data need not outlive the call.
    func setBody(_ body: Data) throws(TransportError) {
        try set(CURLOPT_POSTFIELDSIZE_LARGE, offset: Int64(body.count), "body size")
        let code: CURLcode
        if body.isEmpty {
            code = "".withCString { ps_curl_setopt_string(handle, CURLOPT_COPYPOSTFIELDS, $0) }
        } else {
            code = body.withUnsafeBytes { raw in
                ps_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress))
            }
        }
        try check(code, "setting the body")
    }

    /// Replaces the request headers; the list lives as long as the handle.
    func setHeaders(_ headers: [String]) throws(TransportError) {
        if let headerList { curl_slist_free_all(headerList) }
        headerList = nil
        for header in headers { headerList = curl_slist_append(headerList, header) }
        try check(ps_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList), "setting headers")
    }

    /// Runs the transfer; throws a classified error when libcurl fails.
    func perform() throws(TransportError) {
        let code = curl_easy_perform(handle)
        guard code == CURLE_OK else { throw classify(code) }
    }

    func responseCode() -> Int {
        var code = 0
        _ = ps_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        return code
    }

    func uploadedBytes() -> Int64 {
        var n: curl_off_t = 0
        _ = ps_curl_getinfo_off_t(handle, CURLINFO_SIZE_UPLOAD_T, &n)
        return Int64(n)
    }

    func downloadedBytes() -> Int64 {
        var n: curl_off_t = 0
        _ = ps_curl_getinfo_off_t(handle, CURLINFO_SIZE_DOWNLOAD_T, &n)
        return Int64(n)
    }

    private func check(_ code: CURLcode, _ operation: String) throws(TransportError) {
        guard code == CURLE_OK else {
            throw TransportError(
                .invalidRequest, "libcurl refused \(operation): \(String(cString: curl_easy_strerror(code)))",
                hint: "This libcurl may lack the feature; check the transport settings.", transient: false)
        }
    }

    /// Maps a libcurl failure to a transient or permanent error with libcurl's own words.
    private func classify(_ code: CURLcode) -> TransportError {
        let detail = String(cString: errorBuffer)
        let text = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return TransportError(
                .couldNotConnect, "cannot reach the centre: \(text)",
                hint: "Check the link and the central URL; promo-sync retries by itself.", transient: true)
        case CURLE_OPERATION_TIMEDOUT:
            return TransportError(
                .timeout, "the centre did not answer in time: \(text)",
                hint: "The link may be slow; promo-sync retries by itself.", transient: true)
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CIPHER:
            return TransportError(
                .tls, "the centre's certificate was not accepted: \(text)",
                hint: "Check the CA bundle and client certificate settings; the connection is refused until they are right.",
                transient: false)
        case CURLE_SSL_CONNECT_ERROR:
            return TransportError(.tls, "the TLS handshake failed: \(text)", hint: "Retrying; if it persists check the TLS settings.", transient: true)
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
            return TransportError(
                .invalidRequest, "the central URL is not usable: \(text)",
                hint: "Give a URL such as https://central.example.vn:8443", transient: false)
        case CURLE_READ_ERROR, CURLE_FILE_COULDNT_READ_FILE:
            return TransportError(.invalidRequest, "a file the request needs cannot be read: \(text)", transient: false)
        case CURLE_BAD_CONTENT_ENCODING:
            return TransportError(.invalidResponse, "the answer's compression is damaged: \(text)", transient: true)
        default:
            return TransportError(
                .network, "the connection to the centre failed: \(text)",
                hint: "promo-sync retries by itself.", transient: true)
        }
    }
}
