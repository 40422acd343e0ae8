import Foundation
import Synchronization

/// A token bucket per office: `ratePerSecond` requests (or units of work) on average, bursts of `burst`.
public final class RateLimiter: Sendable {
    /// Requests per second a key may make on average: the rate its bucket refills.
    public let ratePerSecond: Double
    /// The most requests a key may make at once: the size of its bucket, which starts full.
    public let burst: Double
    private let buckets = Mutex<[String: (tokens: Double, at: ContinuousClock.Instant)]>([:])

    /// Creates a limiter with no buckets yet; every key starts with a full bucket.
    public init(ratePerSecond: Double, burst: Double) {
        self.ratePerSecond = ratePerSecond
        self.burst = burst
    }

    /// Takes `cost` tokens for `key` (one request, or a measure of work); returns nil when
    /// allowed, or the seconds to wait. A cost above `burst` is never allowed: the caller refuses
    /// it for good instead.
    public func admit(_ key: String, cost: Double = 1, now: ContinuousClock.Instant = .now) -> Int? {
        buckets.withLock { buckets in
            // Keys are addresses too (requests without a valid token, logins): a bucket that has
            // filled up again is forgotten once there are many, so rotating addresses cannot grow
            // the table without end.
            if buckets.count > 10_000 {
                let (rate, burst) = (ratePerSecond, self.burst)
                buckets = buckets.filter { _, bucket in
                    let idle = now - bucket.at
                    return bucket.tokens + (Double(idle.components.seconds) * rate) < burst
                }
            }
            var bucket = (tokens: tokens(in: buckets[key], at: now), at: now)
            defer { buckets[key] = bucket }
            if bucket.tokens >= cost {
                bucket.tokens -= cost
                return nil
            }
            return max(1, Int(((cost - bucket.tokens) / ratePerSecond).rounded(.up)))
        }
    }

    /// The tokens `key` has now, taking none.
    public func available(_ key: String, now: ContinuousClock.Instant = .now) -> Double {
        buckets.withLock { buckets in tokens(in: buckets[key], at: now) }
    }

    /// The tokens of `bucket` refilled up to `now`; a key without a bucket has a full one.
    private func tokens(in bucket: (tokens: Double, at: ContinuousClock.Instant)?, at now: ContinuousClock.Instant) -> Double {
        guard let bucket else { return burst }
        let elapsed = now - bucket.at
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return min(burst, bucket.tokens + seconds * ratePerSecond)
    }
}
