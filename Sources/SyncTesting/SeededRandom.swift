/// A small seeded generator (SplitMix64), so a failing property run can be replayed from its seed.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    /// The generator's whole state; the same state gives the same numbers after it.
    public var state: UInt64

    /// Creates a generator whose numbers follow from `seed` alone.
    public init(seed: UInt64) { state = seed }

    /// The next number of the sequence (SplitMix64).
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// True with probability `percent` / 100.
    public mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &self) < percent }
}
