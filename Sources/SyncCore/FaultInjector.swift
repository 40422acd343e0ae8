import Synchronization

/// A named step in a sync procedure where a test may break the procedure on purpose.
public struct FaultPoint: Hashable, Sendable, CustomStringConvertible {
    /// The point's name, e.g. `after-push-before-ack`.
    public let name: String
    /// Names a fault point; two points with the same name are the same point.
    public init(_ name: String) { self.name = name }
    /// The point's name.
    public var description: String { name }

    /// The centre applied a changeset, but its acknowledgement is lost before the office records it.
    public static let afterPushBeforeAck = FaultPoint("after-push-before-ack")
    /// A pulled page was written, but the process dies before the cursor is saved (same transaction).
    public static let afterApplyBeforeCursorSave = FaultPoint("after-apply-before-cursor-save")
    /// The centre applied a changeset but dies before answering.
    public static let centralAfterApplyBeforeResponse = FaultPoint("central-after-apply-before-response")
}

/// The error a fault seam throws.
public struct InjectedFault: Error, Sendable, CustomStringConvertible {
    /// The armed point the procedure reached.
    public let point: FaultPoint
    /// `injected fault at` and the point's name.
    public var description: String { "injected fault at \(point)" }
}

/// Fault seams for tests. Production code calls ``check(_:)`` at each named step; it does nothing
/// unless a test armed that point.
public final class FaultInjector: Sendable {
    private let armed = Mutex<[FaultPoint: Int]>([:])

    /// An injector with no point armed, so every ``check(_:)`` passes.
    public init() {}

    /// Makes the next `times` passes through `point` throw.
    public func arm(_ point: FaultPoint, times: Int = 1) {
        armed.withLock { $0[point] = times }
    }

    /// Throws if `point` is armed, consuming one arming.
    public func check(_ point: FaultPoint) throws(InjectedFault) {
        let fire = armed.withLock { state -> Bool in
            guard let left = state[point], left > 0 else { return false }
            state[point] = left - 1
            return true
        }
        if fire { throw InjectedFault(point: point) }
    }
}
