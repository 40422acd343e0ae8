import Foundation
import SyncTesting
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP proxy on loopback between an office and the centre that breaks connections on purpose:
/// each connection gets one fault, drawn at random from the kinds switched on (none: all pass).
public final class FaultProxy: @unchecked Sendable {
    public enum Fault: String, CaseIterable, Sendable {
        case pass, delay, drop
        case resetMidBody = "reset_mid_body"
        case truncate
        case error500 = "http_500"
        case error503 = "http_503"
        case trickle
        case malformedJSON = "malformed_json"
    }

    public let port: Int
    private let upstreamPort: Int
    private let listener: Int32
    private let state: Mutex<(faults: [Fault], counts: [String: Int], random: SeededRandom)>
    /// The seed of the faults drawn, printed by the campaigns so a run's schedule can be replayed.
    public let seed: UInt64

    public init(upstreamPort: Int, seed: UInt64 = .random(in: 1...UInt64.max)) throws {
        self.upstreamPort = upstreamPort
        self.seed = seed
        state = Mutex((Fault.allCases, [:], SeededRandom(seed: seed)))
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else { throw BenchErrorText("the fault proxy cannot listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        getsockname(fd, withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { $0 } }, &length)
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    public var counts: [String: Int] { state.withLock { $0.counts } }
    /// Every kind of fault, or none.
    public func setFaults(_ on: Bool) { setFaults(on ? Fault.allCases : []) }
    /// Draws each new connection's fault from these kinds only (a fault schedule).
    public func setFaults(_ kinds: [Fault]) { state.withLock { $0.faults = kinds } }

    public static func loopback(port: Int) -> sockaddr_in {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(UInt16(port).bigEndian)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        return a
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            let fault: Fault = state.withLock { s in
                let f = s.faults.randomElement(using: &s.random) ?? .pass
                s.counts[f.rawValue, default: 0] += 1
                return f
            }
            Thread { [self] in handle(client, fault) }.start()
        }
    }

    private func connectUpstream() -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(port: upstreamPort)
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if ok != 0 {
            close(fd)
            return nil
        }
        return fd
    }

    /// Reads one HTTP request (headers and a Content-Length body) from the client.
    private func readRequest(_ fd: Int32) -> [UInt8]? {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            guard n > 0 else { return data.isEmpty ? nil : data }
            data.append(contentsOf: buffer[0..<n])
            if let end = Self.headerEnd(data) {
                let headers = String(decoding: data[0..<end], as: UTF8.self).lowercased()
                let length =
                    headers.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                if data.count >= end + 4 + length { return data }
            }
        }
    }

    public static func headerEnd(_ data: [UInt8]) -> Int? {
        guard data.count >= 4 else { return nil }
        for i in 0...(data.count - 4) where data[i] == 13 && data[i + 1] == 10 && data[i + 2] == 13 && data[i + 3] == 10 { return i }
        return nil
    }

    private func writeAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Bool {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }

    private func reset(_ fd: Int32) {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)
    }

    private func canned(_ fd: Int32, status: String, body: String) {
        let text = "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        _ = writeAll(fd, Array(text.utf8)[...])
        close(fd)
    }

    private func handle(_ client: Int32, _ fault: Fault) {
        switch fault {
        case .drop:
            close(client)
            return
        case .error500, .error503, .malformedJSON:
            guard readRequest(client) != nil else {
                close(client)
                return
            }
            switch fault {
            case .error500: canned(client, status: "500 Internal Server Error", body: #"{"error":{"code":"internal","message":"injected"}}"#)
            case .error503: canned(client, status: "503 Service Unavailable", body: #"{"error":{"code":"storage","message":"injected"}}"#)
            default: canned(client, status: "200 OK", body: #"{"epoch": "x", "records": [{"cursor": "#)
            }
            return
        default:
            break
        }
        if fault == .delay { usleep(state.withLock { UInt32.random(in: 200_000...1_500_000, using: &$0.random) }) }
        guard let request = readRequest(client), let upstream = connectUpstream() else {
            close(client)
            return
        }
        guard writeAll(upstream, request[...]) else {
            close(upstream)
            close(client)
            return
        }
        // Relay the answer, breaking it as the fault says.
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = read(upstream, &buffer, buffer.count)
            if n <= 0 { break }
            answer.append(contentsOf: buffer[0..<n])
            if let end = Self.headerEnd(answer) {
                let headers = String(decoding: answer[0..<end], as: UTF8.self).lowercased()
                let length =
                    headers.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                if answer.count >= end + 4 + length { break }
            }
        }
        close(upstream)
        switch fault {
        case .resetMidBody:
            _ = writeAll(client, answer.prefix(max(1, answer.count / 2)))
            reset(client)
        case .truncate:
            _ = writeAll(client, answer.prefix(max(1, answer.count - max(1, answer.count / 3))))
            close(client)
        case .trickle:
            // The first 8 KB at about 25 KB/s (a poor rural link), then the rest.
            var start = 0
            while start < min(answer.count, 8_192) {
                guard writeAll(client, answer[start..<min(answer.count, start + 256)]) else { break }
                start += 256
                usleep(10_000)
            }
            if start < answer.count { _ = writeAll(client, answer[start...]) }
            close(client)
        default:
            _ = writeAll(client, answer[...])
            close(client)
        }
    }
}

public struct BenchErrorText: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
