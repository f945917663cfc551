// Distribution-free confidence interval of a median from order statistics (binomial): exact
// coverage for any continuous distribution, and O(n log n) — cheap enough to give every run of a
// long series its interval (`fusebench history`), where a bootstrap per run would dominate.

import Foundation

/// Confidence intervals of a median from order statistics.
public enum MedianInterval {
    /// Median of `values` with the distribution-free interval [x₍ⱼ₎, x₍ₙ₋ⱼ₊₁₎]: j is the largest
    /// rank with P(Binomial(n, ½) < j) ≤ (1 − confidence)/2, so the interval covers the population
    /// median with probability ≥ `confidence` for independent draws of a continuous distribution.
    /// With fewer than 6 values no rank reaches 95% and the interval is [min, max].
    /// Empty input gives NaNs.
    public static func orderStatistics(_ values: [Double], confidence: Double = 0.95) -> (median: Double, lower: Double, upper: Double) {
        guard !values.isEmpty else { return (.nan, .nan, .nan) }
        let s = values.sorted()
        let n = s.count
        let alpha = (1 - min(max(confidence, 0), 1)) / 2
        // Cumulative binomial(n, 1/2) probabilities in log space (no underflow for large n).
        let logHalfN = Double(n) * log(0.5)
        var logFactorial = [0.0]  // log k! for k = 0...n
        logFactorial.reserveCapacity(n + 1)
        for k in 1...n { logFactorial.append(logFactorial[k - 1] + log(Double(k))) }
        var cumulative = 0.0
        var j = 1  // 1-based rank of the lower bound
        for k in 0..<n {
            let p = exp(logFactorial[n] - logFactorial[k] - logFactorial[n - k] + logHalfN)
            // P(B < k + 1) = P(B ≤ k)
            if cumulative + p > alpha { break }
            cumulative += p
            j = k + 1
        }
        j = max(1, min(j, (n + 1) / 2))
        return (Stats.quantile(sorted: s, 0.5), s[j - 1], s[n - j])
    }
}
