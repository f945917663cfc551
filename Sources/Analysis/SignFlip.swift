// Sign-flip randomization tests of a paired shift (Fisher's one-sample randomization test): the
// studentized trimmed mean's and the mean's, combined by Bonferroni (see pValue).
//
// Why: the paired gate's pair log ratios are far from normal. On the Zen 4 VM some ops run in a slow
// mode (+25% to +70%) in about a quarter of their worker processes, so 45% of pairs are far off on
// one side or the other; a Student t reference for the trimmed mean is then too wide at the middle
// levels, and for near-normal pairs it is too narrow far out (1.5–2× the nominal rate at the
// regression test's level). Under "no change" base and head of a pair are exchangeable (both builds
// are measured back to back, ABBA), so each pair's log ratio is symmetric about 0, and under a shift
// μ symmetric about μ: flipping the signs of the centred ratios at random gives the statistic's
// exact null distribution whatever the mixture. A Monte Carlo p-value (hits + 1)/(flips + 1) is
// exactly valid for any number of flips; flipping stops once 10 flips reached the observed
// statistic (Besag & Clifford 1991, p = 10/flips), so a test far from rejecting costs a few dozen
// flips and only a small p-value pays for many. The flips are seeded from the data: the same pairs
// give the same verdict.
import BenchModel
import CSignFlip
import Foundation

/// The sign-flip tests of one op's paired log ratios d_i = ln(head_i / base_i).
public struct SignFlipTest: Codable, Sendable, Hashable {
    /// Which side of the shift the alternative lies on.
    public enum Alternative: Sendable { case greater, less }

    /// The pair log ratios.
    public var values: [Double]
    /// Trimming fraction of the trimmed mean (each end).
    public var trim: Double

    /// Flips reaching the observed statistic after which a p-value is final (Besag–Clifford).
    public static let hitsToStop = 10

    /// Creates the tests of `values` with a `trim`-trimmed mean.
    public init(values: [Double], trim: Double) {
        self.values = values
        self.trim = trim
    }

    /// P-value of "the shift is μ" against `alternative` (the shift is greater / less than μ):
    /// twice the smaller of two sign-flip tests of d − μ (Bonferroni), one with the studentized
    /// trimmed mean and one with the mean. The first is the powerful one when some pairs are far
    /// off; but flipping a few values of a tight one-sided sample (a clean, large change) puts them
    /// among the trimmed ones and can even shrink the winsorized spread, so up to a few percent of
    /// flips match the observation, however large the change. The mean's test has no such plateau:
    /// its smallest p-value is 2⁻ⁿ. `level` is the smallest p-value the caller needs to resolve.
    public func pValue(shift mu: Double, alternative: Alternative, level: Double) -> Double {
        guard values.count >= 2 else { return 1 }
        let robust = onePValue(shift: mu, alternative: alternative, level: level / 2, mean: false)
        let plain = onePValue(shift: mu, alternative: alternative, level: level / 2, mean: true)
        return min(1, 2 * min(robust, plain))
    }

    /// One sign-flip test: the share of flips of d − μ whose statistic is at least as extreme as
    /// the observed one. Flipping goes on until ``hitsToStop`` flips reached it (p = hits/flips) or
    /// max(2000, 20/level) flips are done (p = (hits + 1)/(flips + 1)).
    func onePValue(shift mu: Double, alternative: Alternative, level: Double, mean: Bool) -> Double {
        let n = values.count
        let maxFlips = max(2000, Int((20 / max(level, 1e-7)).rounded(.up)))
        let centred = values.map { $0 - mu }
        let observed = mean ? centred.reduce(0, +) : Self.studentized(centred.sorted(), trim: trim)
        let magnitudes = centred.map(abs).sorted()
        var scratch = [Double](repeating: 0, count: n)
        var done = 0
        let hits = magnitudes.withUnsafeBufferPointer { m in
            scratch.withUnsafeMutableBufferPointer { z in
                fb_signflip_count(m.baseAddress, Int32(n), Int32(LogRatioEstimator.trimCount(n, trim)), mean ? 1 : 0, dataSeed, maxFlips,
                                  observed, 1e-9 * max(1e-12, abs(observed)), alternative == .greater ? 1 : 0,
                                  Self.hitsToStop, &done, z.baseAddress)
            }
        }
        return hits >= Self.hitsToStop ? Double(hits) / Double(max(1, done)) : Double(hits + 1) / Double(done + 1)
    }

    /// Whether the test of "the shift is μ" against "less" rejects at `level`: a shift of μ or more
    /// is excluded at confidence 1 − `level`.
    public func excludes(shiftOf mu: Double, level: Double) -> Bool {
        pValue(shift: mu, alternative: .less, level: level) <= level
    }

    /// One-sided upper confidence bound of the shift at confidence 1 − `level`: the shift at which
    /// ``excludes(shiftOf:level:)`` starts to hold, by bisection (to 10⁻⁵ in the log ratio) from the
    /// trimmed mean upward. The flips are seeded from the data, so the bound is the inversion of
    /// exactly the tests the decisions make.
    public func upperBound(level: Double) -> Double {
        let tm = LogRatioEstimator.trimmedMean(values, trim: trim)
        guard values.count >= 2, tm.mean.isFinite else { return .nan }
        guard tm.standardError > 0 else { return tm.mean }
        var lo = tm.mean, step = 4 * tm.standardError
        var hi = lo + step
        var widened = 0
        while !excludes(shiftOf: hi, level: level) {
            // Beyond every value, all centred ratios are negative: the smallest p-value there is
            // reached; if it is still above the level, no shift is excluded.
            if hi > (values.max() ?? hi) + step { return .infinity }
            lo = hi
            step *= 2
            hi += step
            widened += 1
            if widened > 40 { return .infinity }
        }
        while hi - lo > 1e-5 {
            let mid = (lo + hi) / 2
            if excludes(shiftOf: mid, level: level) { hi = mid } else { lo = mid }
        }
        return hi
    }

    /// The studentized trimmed mean of an ascending sample.
    static func studentized(_ sorted: [Double], trim g: Double) -> Double {
        let n = sorted.count
        return sorted.withUnsafeBufferPointer { fb_studentized_trimmed_mean($0.baseAddress, Int32(n), Int32(LogRatioEstimator.trimCount(n, g))) }
    }

    /// FNV-1a over the values' bit patterns: the same pairs give the same flips.
    var dataSeed: UInt64 {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 8)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return FNV1a64.hash(bytes)
    }
}
