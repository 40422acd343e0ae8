import Foundation
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Sends sd_notify(3) messages (`READY=1`, `STOPPING=1`, `WATCHDOG=1`, `STATUS=…`) to the socket
/// systemd names in `$NOTIFY_SOCKET`. Does nothing when the variable is absent (not under systemd).
public struct SystemdNotifier: Sendable {
    /// The socket from `$NOTIFY_SOCKET` (a leading `@` names an abstract one); nil when not under systemd, and nothing is sent.
    public let socketPath: String?

    /// Creates a notifier for the socket `environment` names, if any.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The watchdog interval systemd asked for (`WATCHDOG_USEC`), if any.
    public static func watchdogInterval(environment: [String: String] = ProcessInfo.processInfo.environment) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0 else { return nil }
        return .microseconds(usec)
    }

    /// Sends one message; returns whether it was delivered.
    @discardableResult
    public func notify(_ message: String) -> Bool {
        guard var path = socketPath else { return false }
        // A leading '@' names a socket in the abstract namespace.
        let abstract = path.hasPrefix("@")
        if abstract { path.removeFirst() }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count + (abstract ? 1 : 0) < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: (abstract ? [0] : []) + bytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 1 : 0))
        let sent = message.withCString { text in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, text, strlen(text), 0, $0, length)
                }
            }
        }
        return sent >= 0
    }
}

/// Pings the systemd watchdog at half the interval systemd asked for, until shutdown begins.
/// A hung process stops pinging and systemd restarts it (`WatchdogSec=` in the unit).
public struct WatchdogService: Service {
    /// Where the pings go.
    public let notifier: SystemdNotifier
    /// The interval systemd asked for (``SystemdNotifier/watchdogInterval(environment:)``); pings go at half of it.
    public let interval: Duration

    /// Creates the service; `interval` is systemd's watchdog interval, not the time between pings.
    public init(notifier: SystemdNotifier, interval: Duration) {
        self.notifier = notifier
        self.interval = interval
    }

    /// Sends `WATCHDOG=1` at once and then every half interval, until a graceful shutdown begins.
    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            notifier.notify("WATCHDOG=1")
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval / 2) }
            } catch {
                return
            }
        }
    }
}
