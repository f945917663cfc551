// The gate's decision rule (the contract of docs/ci-gating.md): an indifference-zone test on the
// log ratio d = ln(head/base) with δ = ln(1 + t). Regression needs the estimate at or above a
// boundary c inside the zone AND a one-sided test of d ≤ 0 that rejects at the family-wise level
// (Holm across the gate's benchmarks, Bonferroni across at most `maximumLooks` sequential looks);
// pass needs the estimate below c AND the look-corrected one-sided upper bound below δ. With a
// standard error ≤ δ / (z_r + z_p) one of the two always holds (see `boundary`). An unpaired
// regression from one- or two-process head runs must also show in `confirmingRuns` head runs.
import Foundation

/// The gate's contract constants and the smallest threshold a given noise level can resolve.
public enum DecisionContract {
    /// Family-wise probability that unchanged code fails (1%).
    public static let falseFailure: Double = 0.01
    /// Probability that a true slowdown of the threshold passes or stays undecided (5%).
    public static let missRate: Double = 0.05
    /// Most sequential looks (measuring rounds) one gate may decide at; both error rates are split
    /// evenly over them (Bonferroni), so repeated looks cannot inflate either rate.
    public static let maximumLooks = 6
    /// Fewest base/head pairs before a paired estimate may decide anything.
    public static let minimumPairs = 6
    /// Head runs that must each show a regression (own estimate at or above the boundary) before an
    /// unpaired estimate whose head runs are one- or two-process measurements may call it: a single
    /// such run is now and then far off on a shared machine (+30% to +430% on one op, about 1 run in
    /// 50–100 on the Zen 1 VM, with identical instruction counts), which no learned noise scale
    /// anticipates. The gate measures another round to confirm; `compare` of one such run per side
    /// cannot call a regression and says so.
    public static let confirmingRuns = 2
    /// Worker processes per side of the first look (gate round) by default. 10 pairs can pass a clean
    /// op; a regression needs the second look (30 pairs): the paired sign-flip tests' smallest
    /// p-value with n pairs is about 2·2⁻ⁿ, above 1%/(ops · 6 looks) for n = 10.
    public static let processesPerLook = 10

    /// Worker processes per side that paired look `look` (1-based) measures when the first measured
    /// `first`: `look × first`, so the pairs grow 10, 30, 60, 100, 150, 210 by default.
    ///
    /// An op still undecided after a few looks is a noisy one — on the Zen 4 VM some ops run in a
    /// slow mode, +20% to +200%, in about a quarter of their worker processes, so 45% of pairs are
    /// far off and the trimmed mean's standard error shrinks only as 1/√pairs. With a fixed number
    /// per look such an op was still undecided after 6 looks (60 pairs) in 26% of A/A gates; growing
    /// looks reach 210 pairs in the same 6 looks for about twice the time of the fixed schedule's,
    /// and the clear cases, decided at look 1 or 2, cost what they did. The schedule depends on the
    /// look index only, never on the data, so the Bonferroni split over looks still holds.
    public static func processes(look: Int, first: Int) -> Int { max(1, look) * first }

    /// Pairs per side after `look` paired looks of ``processes(look:first:)``: first · look(look+1)/2.
    public static func pairs(throughLook look: Int, first: Int) -> Int { first * look * (look + 1) / 2 }

    /// One-sided normal quantile the regression test must reach for `benchmarks` ops in the Holm
    /// family at its strictest step: Φ⁻¹(1 − α / (benchmarks · maximumLooks)).
    public static func regressionZ(benchmarks: Int) -> Double {
        Normal.quantile(1 - falseFailure / Double(max(1, benchmarks) * maximumLooks))
    }

    /// One-sided normal quantile of the pass bound: Φ⁻¹(1 − β / maximumLooks).
    public static var passZ: Double { Normal.quantile(1 - missRate / Double(maximumLooks)) }

    /// Decision boundary c inside the indifference zone [0, δ]: c = δ · z_r / (z_r + z_p).
    ///
    /// With this c, once the standard error s ≤ δ / (z_r + z_p) every estimate decides: an estimate
    /// ≥ c has d̂ / s ≥ c / s ≥ z_r (regression), an estimate < c has d̂ + z_p·s < c + δ·z_p/(z_r + z_p) = δ
    /// (pass). At a true d = δ the estimate falls below c with probability Φ(−(δ − c)/s) ≤ Φ(−z_p).
    public static func boundary(delta: Double, benchmarks: Int) -> Double {
        let zr = regressionZ(benchmarks: benchmarks), zp = passZ
        return delta * zr / (zr + zp)
    }

    /// Smallest threshold (fraction) that can be decided when the log-ratio's standard error cannot go below
    /// `standardErrorFloor` (e.g. a stored baseline's own run-to-run noise), for `benchmarks` ops in the Holm family.
    ///
    /// It is exp(floor · (z_r + z_p)) − 1: below it the regression and pass regions no longer cover every
    /// estimate, so some outcomes stay undecided however long the gate measures. NaN for a NaN floor.
    public static func smallestResolvableThreshold(standardErrorFloor: Double, benchmarks: Int) -> Double {
        guard standardErrorFloor.isFinite, standardErrorFloor >= 0 else { return .nan }
        return exp(standardErrorFloor * (regressionZ(benchmarks: benchmarks) + passZ)) - 1
    }
}

/// The standard normal distribution.
public enum Normal {
    /// P(Z ≤ z).
    public static func cdf(_ z: Double) -> Double { 0.5 * erfc(-z / 2.0.squareRoot()) }

    /// P(Z > z), from erfc directly (accurate far in the upper tail, unlike 1 − cdf).
    public static func sf(_ z: Double) -> Double { 0.5 * erfc(z / 2.0.squareRoot()) }

    /// Φ⁻¹(p) for 0 < p < 1 (Acklam's rational approximation refined by one Halley step; |error| < 1e-12).
    /// ±infinity at 0 and 1, NaN outside [0, 1].
    public static func quantile(_ p: Double) -> Double {
        guard p >= 0, p <= 1 else { return .nan }
        if p == 0 { return -.infinity }
        if p == 1 { return .infinity }
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                 -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        let low = 0.02425
        var x: Double
        if p < low {
            let q = (-2 * log(p)).squareRoot()
            x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else if p <= 1 - low {
            let q = p - 0.5, r = q * q
            x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
                / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        } else {
            let q = (-2 * log(1 - p)).squareRoot()
            x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        // One Halley step on Φ(x) − p.
        let e = cdf(x) - p
        let u = e * (2 * Double.pi).squareRoot() * exp(x * x / 2)
        x -= u / (1 + x * u / 2)
        return x
    }
}
