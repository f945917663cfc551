import BenchModel
import Foundation

/// A small seeded pseudo-random number generator: xoshiro256** (Blackman & Vigna), with its
/// 256-bit state expanded from a 64-bit seed by SplitMix64.
///
/// It is a value type: copying it copies the stream position, so two copies produce the same
/// numbers. The same seed gives the same sequence on every machine and every Swift version,
/// because every operation is defined on fixed-width integers (unlike `Int.random(in:using:)`,
/// whose algorithm the standard library does not promise to keep). Analysis draws bounded
/// integers only through ``nextInt(below:)`` for that reason.
///
/// Not cryptographically secure; meant for bootstrap resampling and synthetic test data.
public struct Random: RandomNumberGenerator, Sendable, Hashable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    /// Creates a generator whose state is derived from `seed` by four SplitMix64 steps.
    public init(seed: UInt64) {
        var sm = seed
        s0 = Random.splitMix64(&sm)
        s1 = Random.splitMix64(&sm)
        s2 = Random.splitMix64(&sm)
        s3 = Random.splitMix64(&sm)
    }

    /// One step of SplitMix64: advances `state` and returns the next output. Exposed so seeds
    /// can be derived (e.g. one per op) in a well-mixed, reproducible way.
    public static func splitMix64(_ state: inout UInt64) -> UInt64 {
        SplitMix64.step(&state)
    }

    /// Next 64 uniformly distributed bits (xoshiro256**).
    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    /// Uniform integer in `0..<bound` without modulo bias (Lemire's multiply-and-reject method).
    /// `bound` must be positive.
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "nextInt(below:) needs a positive bound")
        let b = UInt64(bound)
        var m = next().multipliedFullWidth(by: b)
        if m.low < b {
            let threshold = (0 &- b) % b
            while m.low < threshold {
                m = next().multipliedFullWidth(by: b)
            }
        }
        return Int(m.high)
    }

    /// Uniform double in [0, 1) with 53 random bits.
    public mutating func nextDouble() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Standard normal deviate (Box–Muller, one of the pair), for synthetic data. Uses the C
    /// library's `log` and `cos`, which may differ in the last bit between platforms; the
    /// bootstrap does not use it.
    public mutating func nextGaussian() -> Double {
        // 1 - u lies in (0, 1], so the logarithm is finite.
        let u1 = 1 - nextDouble()
        let u2 = nextDouble()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}
