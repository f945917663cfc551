// Analysis owns the statistics: descriptive summaries of samples, derived metrics, and (for
// comparisons) confidence intervals, tests and verdicts. Pure functions over values: no I/O,
// no clocks, no randomness except explicitly seeded generators.
import BenchModel
import Foundation

/// Descriptive statistics of one distribution (e.g. per-iteration ns of one op variant).
public struct Summary: Codable, Sendable, Hashable {
    public var n: Int
    public var min: Double
    public var max: Double
    public var mean: Double
    public var stddev: Double
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var p999: Double
    /// Median absolute deviation (unscaled).
    public var mad: Double
    /// Coefficient of variation, stddev / mean (0 when mean is 0).
    public var cv: Double

    /// Summarises `values`; returns nil for an empty input.
    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let s = values.sorted()
        n = s.count
        min = s[0]
        max = s[s.count - 1]
        mean = s.reduce(0, +) / Double(n)
        let m = mean
        stddev = n > 1 ? (s.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n - 1)).squareRoot() : 0
        p50 = Stats.quantile(sorted: s, 0.5)
        p90 = Stats.quantile(sorted: s, 0.9)
        p99 = Stats.quantile(sorted: s, 0.99)
        p999 = Stats.quantile(sorted: s, 0.999)
        let med = p50
        mad = Stats.quantile(sorted: s.map { abs($0 - med) }.sorted(), 0.5)
        cv = mean != 0 ? stddev / mean : 0
    }
}

/// Elementary statistical functions.
public enum Stats {
    /// Quantile of sorted data by linear interpolation between closest ranks
    /// (Hyndman–Fan type 7, the default of numpy.percentile and R).
    public static func quantile(sorted s: [Double], _ q: Double) -> Double {
        precondition(!s.isEmpty, "quantile of empty data")
        if s.count == 1 { return s[0] }
        let h = Double(s.count - 1) * Swift.min(Swift.max(q, 0), 1)
        let lo = Int(h.rounded(.down))
        let hi = Swift.min(lo + 1, s.count - 1)
        return interpolated(s[lo], s[hi], h - Double(lo))
    }

    /// `low + fraction·(high − low)`: the one interpolation of `quantile(sorted:)` and
    /// `medianInPlace`, so both give the same bits.
    @inline(__always)
    static func interpolated(_ low: Double, _ high: Double, _ fraction: Double) -> Double {
        low + fraction * (high - low)
    }

    /// The median of `values` (reordered in place), equal to `quantile(sorted: values.sorted(), 0.5)`
    /// bit for bit, found by selection in O(n) instead of a sort: the bootstrap takes one of every
    /// resample (a 1M-sample variant: 2 000 resamples spent minutes in sorting). Values must not be NaN.
    public static func medianInPlace(_ values: inout [Double]) -> Double {
        precondition(!values.isEmpty, "median of empty data")
        let n = values.count
        if n == 1 { return values[0] }
        let h = Double(n - 1) * 0.5
        let lo = Int(h.rounded(.down))
        let hi = Swift.min(lo + 1, n - 1)
        let low = select(&values, rank: lo)
        // After selecting rank `lo`, every value right of it is ≥ it: rank lo + 1 is their minimum.
        let high = hi == lo ? low : values[(lo + 1)...].min() ?? low
        return interpolated(low, high, h - Double(lo))
    }

    /// Moves the value of rank `rank` (0-based, ascending) to `values[rank]`, smaller or equal values
    /// before it and greater or equal after (Hoare partitioning around a median-of-three pivot, which
    /// stays O(n) on sorted input and on many equal values). Returns that value.
    static func select(_ values: inout [Double], rank: Int) -> Double {
        var left = 0, right = values.count - 1
        values.withUnsafeMutableBufferPointer { v in
            while left < right {
                let mid = left + (right - left) / 2
                // Median of three as the pivot value.
                if v[mid] < v[left] { v.swapAt(mid, left) }
                if v[right] < v[left] { v.swapAt(right, left) }
                if v[right] < v[mid] { v.swapAt(right, mid) }
                let pivot = v[mid]
                var i = left, j = right
                while i <= j {
                    while v[i] < pivot { i += 1 }
                    while pivot < v[j] { j -= 1 }
                    if i <= j {
                        v.swapAt(i, j)
                        i += 1
                        j -= 1
                    }
                }
                // Now v[left...j] ≤ pivot ≤ v[i...right], and values between j and i equal the pivot.
                if rank <= j {
                    right = j
                } else if rank >= i {
                    left = i
                } else {
                    return
                }
            }
        }
        return values[rank]
    }

    /// Quantile of unsorted data.
    public static func quantile(_ values: [Double], _ q: Double) -> Double {
        quantile(sorted: values.sorted(), q)
    }

    /// Median of unsorted data (NaN when empty); the one median of `BenchModel`.
    public static func median(_ values: [Double]) -> Double { Median.of(values) }

    /// Indices of values outside Tukey's fences (Q1 − k·IQR, Q3 + k·IQR). Outliers are marked, never removed.
    public static func outlierIndices(_ values: [Double], k: Double = 3.0) -> [Int] {
        guard values.count >= 4 else { return [] }
        let s = values.sorted()
        let q1 = quantile(sorted: s, 0.25), q3 = quantile(sorted: s, 0.75)
        let iqr = q3 - q1
        let lo = q1 - k * iqr, hi = q3 + k * iqr
        return values.indices.filter { values[$0] < lo || values[$0] > hi }
    }
}
