import Foundation
import Synchronization

/// A count several tasks add to (cycles a daemon ran, failures it saw).
public final class Counter: Sendable {
    private let storage = Mutex(0)
    /// Creates a count at zero.
    public init() {}
    /// Adds one.
    public func increment() { storage.withLock { $0 += 1 } }
    /// The count now.
    public var value: Int { storage.withLock { $0 } }
}

/// A condition a test waited for did not come.
public struct WaitTimedOut: Error, CustomStringConvertible {
    /// Says how long was waited.
    public var description: String { "condition not met within 60 s" }
}

/// Polls `condition` until it holds, or throws after 60 seconds (a loaded machine running the
/// whole suite takes well over 10 s for a daemon to start and sync; the wait ends as soon as it holds).
public func waitUntil(_ condition: @Sendable () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < deadline {
        if try condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw WaitTimedOut()
}
