import Foundation

/// Two-sided Mann–Whitney U (Wilcoxon rank-sum) test, computed the way
/// `scipy.stats.mannwhitneyu(a, b, alternative='two-sided')` (method `auto`, continuity
/// correction on) computes it, so values can be checked against scipy.
public enum MannWhitney {
    /// How the p-value was obtained.
    public enum Method: String, Codable, Sendable {
        /// Exact null distribution of U (no ties, at least one sample of size ≤ 8).
        case exact
        /// Normal approximation with tie and continuity correction.
        case asymptotic
    }

    /// Two-sided test of `a` against `b`.
    ///
    /// - Returns: `u`, the U statistic of `a` (U1 = R1 − n1(n1+1)/2, R1 the sum of `a`'s
    ///   mid-ranks in the pooled data), and the two-sided p-value, capped at 1.
    ///
    /// The method follows scipy's `method='auto'` rule: the exact distribution when there are no
    /// ties and not both samples are larger than 8 (scipy: asymptotic "if n1 > 8 and n2 > 8", or
    /// if there are ties; exact otherwise); else the normal approximation
    /// `z = (max(U1, U2) − n1·n2/2 − 0.5) / σ` with the tie-corrected
    /// `σ² = n1·n2/12 · ((n+1) − Σ(t³−t)/(n(n−1)))`, and p = 2·Φ(−z).
    /// Both samples must be non-empty and free of NaN.
    public static func test(_ a: [Double], _ b: [Double]) -> (u: Double, p: Double) {
        let r = detailed(a, b)
        return (r.u, r.p)
    }

    /// Like ``test(_:_:)``, and also reports which method produced the p-value.
    public static func detailed(_ a: [Double], _ b: [Double]) -> (u: Double, p: Double, method: Method) {
        precondition(!a.isEmpty && !b.isEmpty, "Mann-Whitney U needs two non-empty samples")
        precondition(!a.contains(where: \.isNaN) && !b.contains(where: \.isNaN), "Mann-Whitney U: NaN in input")
        let n1 = a.count, n2 = b.count
        let (ranks, tieSizes) = midRanks(a + b)
        let r1 = ranks[0..<n1].reduce(0, +)
        let u1 = r1 - Double(n1 * (n1 + 1)) / 2
        let u2 = Double(n1) * Double(n2) - u1
        let u = Swift.max(u1, u2)
        let hasTies = tieSizes.contains { $0 > 1 }

        if !(n1 > 8 && n2 > 8) && !hasTies {
            // No ties: U is an integer. sf(U) = P(U' >= U) = P(U' <= n1·n2 − U) by symmetry.
            let k = n1 * n2 - Int(u.rounded())
            let p = 2 * exactCDF(k, n1, n2)
            return (u1, Swift.min(1, p), .exact)
        }

        let n = Double(n1 + n2)
        let mu = Double(n1) * Double(n2) / 2
        let tieTerm = tieSizes.reduce(0.0) { acc, t in
            let td = Double(t)
            return acc + (td * td * td - td)
        }
        let variance = Double(n1) * Double(n2) / 12 * ((n + 1) - tieTerm / (n * (n - 1)))
        let sigma = Swift.max(0, variance).squareRoot()
        // Division by a zero sigma (all values equal) gives z = -inf and p = 1, as in scipy.
        let z = (u - mu - 0.5) / sigma
        let p = 2 * Normal.sf(z)
        return (u1, Swift.min(1, Swift.max(0, p)), .asymptotic)
    }

    /// Mid-ranks (1-based, ties get the average rank) in input order, and the sizes of all
    /// groups of equal values (1 for untied values).
    static func midRanks(_ x: [Double]) -> (ranks: [Double], tieSizes: [Int]) {
        let order = x.indices.sorted { x[$0] < x[$1] }
        var ranks = [Double](repeating: 0, count: x.count)
        var tieSizes: [Int] = []
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && x[order[j + 1]] == x[order[i]] { j += 1 }
            // Positions i...j (0-based) share the ranks i+1...j+1.
            let avg = Double(i + j + 2) / 2
            for k in i...j { ranks[order[k]] = avg }
            tieSizes.append(j - i + 1)
            i = j + 1
        }
        return (ranks, tieSizes)
    }

    /// P(U ≤ k) under the null hypothesis, no ties, sample sizes `n1` and `n2`.
    ///
    /// The number of arrangements with U = u is the coefficient of q^u in the Gaussian binomial
    /// coefficient [n1+n2 choose m]_q = Π_{i=1..m} (1 − q^(n+i)) / (1 − q^i), m = min(n1, n2),
    /// n = max(n1, n2). Only coefficients up to k are needed, and each factor changes a
    /// coefficient only from lower ones, so the polynomial is truncated to degree k: O(m·k).
    static func exactCDF(_ k: Int, _ n1: Int, _ n2: Int) -> Double {
        if k < 0 { return 0 }
        let m = Swift.min(n1, n2), n = Swift.max(n1, n2)
        if k >= m * n { return 1 }
        var c = [Double](repeating: 0, count: k + 1)
        c[0] = 1
        var total = 1.0  // binomial(n + m, m), built alongside
        for i in 1...m {
            let d = n + i
            if d <= k {
                for u in stride(from: k, through: d, by: -1) { c[u] -= c[u - d] }
            }
            if i <= k {
                for u in i...k { c[u] += c[u - i] }
            }
            total = total * Double(n + i) / Double(i)
        }
        let count = c.reduce(0, +)
        return Swift.min(1, count / total)
    }
}
