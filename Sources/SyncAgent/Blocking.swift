import Foundation

/// Runs blocking work (SQLite) on a thread of its own rather than on Swift's cooperative pool,
/// whose few threads must stay free for the daemon's other tasks (watchdog, signals, timers).
public func runBlocking<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
    let result: Result<T, E> = await withCheckedContinuation { continuation in
        let thread = Thread {
            continuation.resume(returning: Result { () throws(E) -> T in try work() })
        }
        thread.name = "promo-sync.blocking"
        thread.start()
    }
    return try result.get()
}
