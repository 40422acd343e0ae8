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
    /// How long was waited.
    public var limit: Duration = .seconds(60)
    /// Says how long was waited.
    public var description: String { "condition not met within \(limit)" }
}

/// Polls `condition` until it holds, or throws after `limit` (60 s by default: a loaded machine
/// running the whole suite takes well over 10 s for a daemon to start and sync; the wait ends as
/// soon as it holds).
public func waitUntil(upTo limit: Duration = .seconds(60), _ condition: @Sendable () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw WaitTimedOut(limit: limit)
}

/// Runs `work`, which blocks its thread (waiting for a child process, reading a socket), on a
/// thread of its own rather than one of Swift's task pool. The centres under test answer in this
/// process on that pool, which has one thread per core: two tests blocking at once on a 2-core
/// machine stalled every centre in the process until libcurl gave up (30 s).
/// `stackSize`: more than the system's default (8 MiB), when `work` needs it; less, and
/// Foundation's `Process.run()` overflowed it.
public func onOwnThread<T: Sendable>(stackSize: Int? = nil, _ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { done in
        let thread = Thread { done.resume(with: Result { try work() }) }
        if let stackSize { thread.stackSize = stackSize }
        thread.start()
    }
}
