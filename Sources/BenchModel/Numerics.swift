// Small numeric building blocks that several modules need and that must behave identically
// everywhere: the SplitMix64 step (seeded inputs, bootstrap seeds), the FNV-1a 64 hash (content
// hashes, per-op seeds) and the median. They live here, the lowest module, so that no module keeps
// its own copy.

/// SplitMix64 (Steele, Lea & Flood 2014): a 64-bit generator of one word of state.
///
/// Not cryptographic. Used directly for seeded kernel inputs (`SeededGenerator` in Kernels) and
/// to expand or mix seeds (`Random` in Analysis).
public struct SplitMix64: Sendable, Hashable {
    /// Current state; advanced by a fixed odd constant per draw.
    public var state: UInt64

    /// Starts the sequence at `seed`.
    public init(seed: UInt64) { state = seed }

    /// Advances the state and returns the next 64 bits.
    @inlinable
    public mutating func next() -> UInt64 { SplitMix64.step(&state) }

    /// One SplitMix64 step on a bare state word: advances `state` and returns the output.
    @inlinable
    public static func step(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// FNV-1a, 64-bit: a non-cryptographic hash that is stable across processes and machines
/// (unlike `Hasher`).
public enum FNV1a64 {
    /// Offset basis of FNV-1a 64.
    public static let offsetBasis: UInt64 = 0xCBF2_9CE4_8422_2325
    /// Prime of FNV-1a 64.
    public static let prime: UInt64 = 0x0000_0100_0000_01B3

    /// Hash of `bytes`, continuing from `seed` (the offset basis by default).
    public static func hash<S: Sequence>(_ bytes: S, seed: UInt64 = offsetBasis) -> UInt64 where S.Element == UInt8 {
        var h = seed
        for b in bytes {
            h ^= UInt64(b)
            h &*= prime
        }
        return h
    }
}

/// The median of a sample.
public enum Median {
    /// Median of `values` (the mean of the two middle values for an even count); NaN when empty.
    public static func of(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return .nan }
        let s = values.sorted()
        let m = s.count / 2
        return s.count % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2
    }
}
