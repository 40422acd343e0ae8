import Foundation

/// A hybrid logical clock timestamp (Kulkarni et al.): wall-clock milliseconds, a counter that
/// orders events within one millisecond or while the wall clock lags, and the node that made it.
///
/// Timestamps are totally ordered by (milliseconds, counter, node), so two offices never produce
/// equal timestamps and every replica orders concurrent changes the same way. The text form
/// `0000192f1a47b3c-0000-79` sorts in the same order, so stores can compare it as text.
public struct HLCTimestamp: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    /// Milliseconds since the Unix epoch: the node's wall clock, or a later time it had already seen.
    public let milliseconds: UInt64
    /// Orders events within one millisecond, or while the wall clock lags behind ``milliseconds``.
    public let counter: UInt16
    /// The node that made the timestamp: an office code such as `79`, or `central`; it breaks ties between nodes.
    public let node: String

    /// The smallest timestamp; every real one is after it.
    public static let zero = HLCTimestamp(milliseconds: 0, counter: 0, node: "")

    /// Creates a timestamp from its parts, without checking them.
    public init(milliseconds: UInt64, counter: UInt16, node: String) {
        self.milliseconds = milliseconds
        self.counter = counter
        self.node = node
    }

    /// Parses the text form written by ``description``.
    public init(parsing text: String) throws(SyncCoreError) {
        let parts = text.split(separator: "-", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 13, parts[1].count == 4,
            let ms = UInt64(parts[0], radix: 16), let counter = UInt16(parts[1], radix: 16)
        else {
            throw SyncCoreError(.invalidValue, "'\(text)' is not a hybrid logical clock timestamp")
        }
        self.init(milliseconds: ms, counter: counter, node: String(parts[2]))
    }

    /// `mmmmmmmmmmmmm-cccc-node`: milliseconds in at least 13 lower-case hex digits, the counter in
    /// 4, then the node. Written into one buffer: the centre writes one per field it stores.
    public var description: String {
        var msDigits = 13
        while msDigits < 16, milliseconds >> (4 * UInt64(msDigits)) != 0 { msDigits += 1 }
        var node = node
        return node.withUTF8 { nodeBytes in
            String(unsafeUninitializedCapacity: msDigits + 6 + nodeBytes.count) { out in
                func hex(_ d: UInt64) -> UInt8 { d < 10 ? 0x30 + UInt8(d) : 0x57 + UInt8(d) }
                var value = milliseconds
                for i in stride(from: msDigits - 1, through: 0, by: -1) {
                    out[i] = hex(value & 0xF)
                    value >>= 4
                }
                out[msDigits] = UInt8(ascii: "-")
                var c = counter
                for i in stride(from: msDigits + 4, through: msDigits + 1, by: -1) {
                    out[i] = hex(UInt64(c & 0xF))
                    c >>= 4
                }
                out[msDigits + 5] = UInt8(ascii: "-")
                for (offset, byte) in nodeBytes.enumerated() { out[msDigits + 6 + offset] = byte }
                return msDigits + 6 + nodeBytes.count
            }
        }
    }

    /// Reads the text form of ``description`` from a JSON string; any other text is a data-corrupted error.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    /// Writes the text form of ``description`` as a JSON string.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    /// Orders timestamps by milliseconds, then counter, then node.
    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.milliseconds, lhs.counter, lhs.node) < (rhs.milliseconds, rhs.counter, rhs.node)
    }
}

/// The clock of one node. A value type: the owner persists ``latest`` so the clock never runs
/// backwards across restarts, and injects the wall clock so tests drive time.
public struct HybridLogicalClock: Sendable {
    /// The node whose timestamps this clock makes: the office's code, or `central` at the centre.
    public let node: String
    /// The latest timestamp made or observed; every new one is after it.
    public private(set) var latest: HLCTimestamp

    /// A clock for `node` that resumes after `latest`, the timestamp its owner persisted (``HLCTimestamp/zero`` for a new node).
    public init(node: String, latest: HLCTimestamp = .zero) {
        self.node = node
        self.latest = latest
    }

    /// A timestamp for a local event at wall time `nowMilliseconds`, after every one seen so far.
    public mutating func tick(nowMilliseconds: UInt64) -> HLCTimestamp {
        if nowMilliseconds > latest.milliseconds {
            latest = HLCTimestamp(milliseconds: nowMilliseconds, counter: 0, node: node)
        } else {
            latest = Self.advance(latest.milliseconds, latest.counter, node: node)
        }
        return latest
    }

    /// Takes in a timestamp received from elsewhere, so later local events order after it.
    public mutating func observe(_ remote: HLCTimestamp, nowMilliseconds: UInt64) {
        let wall = max(nowMilliseconds, latest.milliseconds, remote.milliseconds)
        if wall == latest.milliseconds && wall == remote.milliseconds {
            latest = HLCTimestamp(milliseconds: wall, counter: max(latest.counter, remote.counter), node: node)
        } else if wall == latest.milliseconds {
            latest = HLCTimestamp(milliseconds: wall, counter: latest.counter, node: node)
        } else if wall == remote.milliseconds {
            latest = HLCTimestamp(milliseconds: wall, counter: remote.counter, node: node)
        } else {
            latest = HLCTimestamp(milliseconds: wall, counter: 0, node: node)
        }
    }

    /// The current wall time in milliseconds since the Unix epoch.
    public static func wallMilliseconds(_ date: Date = Date()) -> UInt64 {
        UInt64(max(0, date.timeIntervalSince1970 * 1000))
    }

    private static func advance(_ ms: UInt64, _ counter: UInt16, node: String) -> HLCTimestamp {
        // A counter overflow borrows the next millisecond rather than wrapping, so order holds.
        counter == .max
            ? HLCTimestamp(milliseconds: ms + 1, counter: 0, node: node)
            : HLCTimestamp(milliseconds: ms, counter: counter + 1, node: node)
    }
}
