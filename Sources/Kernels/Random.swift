// Deterministic input data. Every kernel instance fills its inputs from the op's seed with
// SplitMix64, using only integer arithmetic and an exact integer → Float conversion, so the same
// seed gives bit-identical inputs on every machine, compiler and target CPU.

import BenchModel

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, fast, statistically solid 64-bit generator.
///
/// Not cryptographic. Conforms to `RandomNumberGenerator`, so it also drives the standard
/// library's `random(in:using:)` — but those algorithms may change between Swift versions; use
/// `nextUnitFloat()` / `fill(_:)` when bit-for-bit reproducibility across toolchains matters.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    /// Current state; advanced by a fixed odd constant per draw.
    public private(set) var state: UInt64

    /// Starts the sequence for `seed`.
    public init(seed: UInt64) { state = seed }

    /// Next 64 random bits.
    public mutating func next() -> UInt64 {
        SplitMix64.step(&state)
    }

    /// A Float uniformly distributed in [-1, 1), on a grid of 2⁻²³ (exactly representable).
    public mutating func nextUnitFloat() -> Float {
        // Top 24 bits → integer u in [0, 2^24); u·2⁻²³ − 1 is exact in Float for every u.
        let u = Float(next() >> 40)
        return u * 0x1p-23 - 1
    }

    /// Fills `buffer` with values uniform in [-1, 1), continuing this generator's sequence.
    public mutating func fill(_ buffer: UnsafeMutableBufferPointer<Float>) {
        for i in buffer.indices { buffer[i] = nextUnitFloat() }
    }
}
