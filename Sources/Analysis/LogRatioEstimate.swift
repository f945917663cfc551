// Estimates of the log ratio d = ln(head/base) of one benchmark, with a standard error and degrees
// of freedom, for the decision rule (Decision.swift):
// - paired (`gate --against`: both builds measured now, workers alternating ABBA): base process p
//   and head process p of the same round ran back to back, so the machine's drift (steps of ±40%
//   over seconds on a shared VM) cancels in their log ratio; d̂ is the 30%-trimmed mean of the pair
//   log ratios with the Tukey–McLaughlin (winsorized) standard error — robust to the pair that a
//   drift step splits. Its decisions use exact sign-flip randomization tests of the pairs
//   (SignFlip.swift) instead of a Student t reference: the pairs of an op with slow process modes
//   are a mixture no t distribution fits;
// - unpaired (`--baseline`, `compare`): a side's level is the median of its process medians; its
//   standard error comes from the spread of the process medians and, as a floor, from the
//   run-to-run noise learned on this machine (NoisePrior): a stored run's own drift never shrinks
//   by measuring the other side more.
import Foundation

/// The samples of one worker process of one run (a round of the gate), keyed (run, process).
public struct ProcessGroup: Sendable, Hashable {
    /// Index of the run within its side (0 for the first run/round).
    public var run: Int
    /// Worker process index within that run.
    public var process: Int
    /// Net per-iteration times of the process's batches, ns.
    public var values: [Double]
    /// Creates a group.
    public init(run: Int, process: Int, values: [Double]) {
        self.run = run
        self.process = process
        self.values = values
    }
    /// Median of `values`.
    public var median: Double { Stats.median(values) }
}

/// An estimate of d = ln(head/base) with its uncertainty.
public struct LogRatioEstimate: Codable, Sendable, Hashable {
    /// How the estimate was made.
    public enum Method: String, Codable, Sendable { case paired, unpaired }
    /// Paired or unpaired.
    public var method: Method
    /// d̂.
    public var estimate: Double
    /// Standard error of d̂.
    public var standardError: Double
    /// Degrees of freedom of the Student t reference distribution (infinity: normal).
    public var degreesOfFreedom: Double
    /// Pairs (paired) or base + head processes (unpaired) it came from.
    public var observations: Int
    /// Standard error that more measuring of the head cannot reduce (unpaired: the base side's), if any.
    public var standardErrorFloor: Double?
    /// Which noise went into the standard error, in words (shown under the table).
    public var noiseSource: String
    /// Unpaired, when every head run was measured in fewer than 3 processes (a one-process `run`, a
    /// gate round against a one-process baseline): each head run's own d̂ (its level against the
    /// base level), in run order. A regression must show in ``DecisionContract/confirmingRuns`` of
    /// them (``DecisionRule``). Nil otherwise (paired, or head runs whose level is a median of ≥ 3 processes).
    public var headRunEstimates: [Double]?
    /// Paired: the exact sign-flip tests of the pair log ratios, which the decision rule uses for
    /// the regression p-value and the pass bound instead of the t reference. Nil when unpaired.
    public var signFlip: SignFlipTest?
    /// Creates an estimate.
    public init(method: Method, estimate: Double, standardError: Double, degreesOfFreedom: Double,
                observations: Int, standardErrorFloor: Double? = nil, noiseSource: String,
                headRunEstimates: [Double]? = nil, signFlip: SignFlipTest? = nil) {
        self.method = method
        self.estimate = estimate
        self.standardError = standardError
        self.degreesOfFreedom = degreesOfFreedom
        self.observations = observations
        self.standardErrorFloor = standardErrorFloor
        self.noiseSource = noiseSource
        self.headRunEstimates = headRunEstimates
        self.signFlip = signFlip
    }
}

/// Makes ``LogRatioEstimate``s from process groups.
public enum LogRatioEstimator {
    /// Trimming fraction of the paired estimator (each end). 30%, not the usual 20%: when about 45%
    /// of the pairs are far off (slow process modes, half on each side), 20% trimming keeps some of
    /// them in; the sign-flip tests stay exact for any trim.
    public static let trim = 0.3

    /// Paired estimate: base group (run r, process p) with head group (run r, process p).
    /// Returns the estimate, or nil and the reason (fewer than ``DecisionContract/minimumPairs`` pairs).
    public static func paired(base: [ProcessGroup], head: [ProcessGroup])
        -> (estimate: LogRatioEstimate?, pairs: Int, reason: String?) {
        var byKey: [Int: [Int: Double]] = [:]
        for g in base where !g.values.isEmpty { byKey[g.run, default: [:]][g.process] = g.median }
        var ratios: [Double] = []
        for g in head.sorted(by: { ($0.run, $0.process) < ($1.run, $1.process) }) where !g.values.isEmpty {
            if let b = byKey[g.run]?[g.process], b > 0, g.median > 0 { ratios.append(log(g.median / b)) }
        }
        guard ratios.count >= DecisionContract.minimumPairs else {
            return (nil, ratios.count, "\(ratios.count) base/head pair(s); a decision needs ≥ \(DecisionContract.minimumPairs)")
        }
        let t = trimmedMean(ratios, trim: trim)
        return (LogRatioEstimate(method: .paired, estimate: t.mean, standardError: t.standardError,
                                 degreesOfFreedom: t.degreesOfFreedom, observations: ratios.count,
                                 noiseSource: "paired: \(ratios.count) back-to-back base/head process pairs, sign-flip tests",
                                 signFlip: SignFlipTest(values: ratios, trim: trim)), ratios.count, nil)
    }

    /// Values trimmed from each end of n: ⌊g·n⌋, at most (n − 1)/2 (one value always remains).
    static func trimCount(_ n: Int, _ g: Double) -> Int { min(Int((g * Double(n)).rounded(.down)), (n - 1) / 2) }

    /// Trimmed mean with the Tukey–McLaughlin standard error: s_w / ((1 − 2g)·√n), where s_w is the
    /// standard deviation of the g-winsorized sample, and h − 1 degrees of freedom (h = values kept).
    public static func trimmedMean(_ values: [Double], trim g: Double) -> (mean: Double, standardError: Double, degreesOfFreedom: Double) {
        let s = values.sorted()
        let n = s.count
        guard n > 1 else { return (s.first ?? .nan, .nan, 0) }
        let k = trimCount(n, g)
        let kept = s[k..<(n - k)]
        let mean = kept.reduce(0, +) / Double(kept.count)
        var w = s
        for i in 0..<k {
            w[i] = s[k]
            w[n - 1 - i] = s[n - 1 - k]
        }
        let wm = w.reduce(0, +) / Double(n)
        let sw = (w.reduce(0) { $0 + ($1 - wm) * ($1 - wm) } / Double(n - 1)).squareRoot()
        let frac = Double(kept.count) / Double(n)
        return (mean, sw / (frac * Double(n).squareRoot()), Double(kept.count - 1))
    }

    /// Unpaired estimate from the process groups of each side and this machine's learned noise.
    ///
    /// A side's level is the median of its process medians (log). Its variance is the larger of
    /// - within: (π/2)·s²/n from the spread s of its log process medians when it has ≥ 3 processes
    ///   (π/2: a median's efficiency);
    /// - run-to-run: σ_AA²/2 per run, divided by the number of runs of the side (σ_AA is the SD of the
    ///   log ratio of the levels of two unchanged runs, so each run's level carries half its
    ///   variance — process noise included, for runs like those of the history).
    /// The base side's variance is the floor the head side cannot remove. With no learned noise
    /// (`prior.source == .none`) and a side of fewer than 3 processes there is no honest estimate:
    /// nil and the reason (`historyPairsNeeded`: NoiseHistory.minimumPairs, for the message).
    public static func unpaired(base: [ProcessGroup], head: [ProcessGroup], prior: NoisePrior, historyPairsNeeded: Int = 5)
        -> (estimate: LogRatioEstimate?, reason: String?) {
        let b = logMedians(base).map(\.value)
        let headLevels = logMedians(head)
        let h = headLevels.map(\.value)
        guard !b.isEmpty, !h.isEmpty else { return (nil, "no usable samples on one side") }
        let known = prior.source == .history && prior.sigmaAA.isFinite
        /// Sample variance of log process medians (nil below 3 processes). Not a robust scale on
        /// purpose: an op whose processes land in a slow mode now and then (memory placement) must
        /// show that mode in its variance, or a one-process side drawn from it looks like a change.
        func spread(_ x: [Double]) -> (s2: Double, df: Double)? {
            guard x.count >= 3 else { return nil }
            let n = Double(x.count)
            let m = x.reduce(0, +) / n
            return (x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (n - 1), n - 1)
        }
        let spreadB = spread(b), spreadH = spread(h)
        // Consecutive A/A pairs overlap (a run is the later side of one pair and the earlier of the
        // next): P pairs carry about 2P/3 independent ones' worth of information.
        let priorDF = max(1, 2 * Double(prior.pairs) / 3 - 1)
        func side(_ x: [Double], own: (s2: Double, df: Double)?, other: (s2: Double, df: Double)?, runs: Int) -> (variance: Double, df: Double)? {
            var parts: [(Double, Double)] = []
            let n = Double(x.count)
            if let own {
                parts.append((Double.pi / 2 * own.s2 / n, own.df))
            }
            if known {
                parts.append((prior.sigmaAA * prior.sigmaAA / 2 / Double(max(1, runs)), priorDF))
                // A side of 1–2 processes (a stored `run` measured in-process) is one or two draws from
                // the between-process distribution the other side shows (the same distribution when
                // nothing changed, which is what a false alarm is about): its level carries that
                // variance too — σ² for one draw, (π/2)·σ²/n for a median of n.
                if own == nil, let other {
                    parts.append(((x.count == 1 ? 1 : Double.pi / 2) * other.s2 / n, other.df))
                }
            }
            return parts.max { $0.0 < $1.0 }
        }
        let baseRuns = Set(base.map(\.run)).count, headRuns = Set(head.map(\.run)).count
        guard let vb = side(b, own: spreadB, other: spreadH, runs: baseRuns), let vh = side(h, own: spreadH, other: spreadB, runs: headRuns) else {
            let one = b.count < 3 && h.count < 3 ? "one process per side" : (b.count < 3 ? "\(b.count) base process(es)" : "\(h.count) head process(es)")
            return (nil, "\(one) and no noise history on this machine: \(prior.pairs) of \(historyPairsNeeded) A/A pairs")
        }
        let baseLevel = Stats.median(b)
        let d = Stats.median(h) - baseLevel
        let v = vb.variance + vh.variance
        // Welch–Satterthwaite degrees of freedom.
        let denom = vb.variance * vb.variance / max(vb.df, 1) + vh.variance * vh.variance / max(vh.df, 1)
        var df = denom > 0 ? v * v / denom : .infinity
        // Both sides' learned parts are one estimate (σ_AA), not two independent ones: Welch would
        // add their degrees of freedom.
        if known { df = min(df, priorDF) }
        let source: String
        if known {
            source = "unpaired: process spread and run-to-run noise learned from \(prior.pairs) A/A pairs on this machine"
        } else {
            source = "unpaired: spread of \(b.count)+\(h.count) process medians (no noise history on this machine)"
        }
        return (LogRatioEstimate(method: .unpaired, estimate: d, standardError: v.squareRoot(), degreesOfFreedom: df,
                                 observations: b.count + h.count, standardErrorFloor: vb.variance.squareRoot(),
                                 noiseSource: source, headRunEstimates: runEstimates(headLevels, against: baseLevel)), nil)
    }

    /// The log median of each process group with usable samples (positive median), with its run.
    static func logMedians(_ groups: [ProcessGroup]) -> [(run: Int, value: Double)] {
        groups.compactMap { g in
            guard !g.values.isEmpty else { return nil }
            let m = g.median
            return m > 0 ? (g.run, log(m)) : nil
        }
    }

    /// Each head run's own d̂ (the median of its log process medians minus `baseLevel`), in run
    /// order, when every head run has fewer than 3 usable processes; nil otherwise. Such a run's
    /// level is one or two draws, and on a shared machine one draw in 50–100 is far off (+30% to
    /// +430% seen on the Zen 1 VM, identical instruction counts): the decision rule asks two of them
    /// to show a regression.
    static func runEstimates(_ headLevels: [(run: Int, value: Double)], against baseLevel: Double) -> [Double]? {
        let byRun = Dictionary(grouping: headLevels, by: \.run)
        guard !byRun.isEmpty, byRun.values.allSatisfy({ $0.count < 3 }) else { return nil }
        return byRun.sorted { $0.key < $1.key }.map { Stats.median($0.value.map(\.value)) - baseLevel }
    }
}

/// Student's t distribution.
public enum StudentT {
    /// P(T ≤ t) with `df` degrees of freedom (normal for infinite df).
    public static func cdf(_ t: Double, df: Double) -> Double {
        guard !t.isNaN, df > 0 else { return .nan }
        if df.isInfinite || df > 1e7 { return Normal.cdf(t) }
        let x = df / (df + t * t)
        let tail = 0.5 * regularizedBeta(x, a: df / 2, b: 0.5)
        return t > 0 ? 1 - tail : tail
    }

    /// The p-quantile: Newton's method on `cdf` from the Cornish–Fisher start, bisection if it
    /// strays; normal for infinite df.
    public static func quantile(_ p: Double, df: Double) -> Double {
        guard p > 0, p < 1, df > 0 else { return p == 1 ? .infinity : (p == 0 ? -.infinity : .nan) }
        if df.isInfinite || df > 1e7 { return Normal.quantile(p) }
        let z = Normal.quantile(p), z2 = z * z
        let first: Double = (z2 * z + z) / (4 * df)
        let second: Double = (5 * z2 * z2 * z + 16 * z2 * z + 3 * z) / (96 * df * df)
        var x = z + first + second
        let logNorm = lgamma((df + 1) / 2) - lgamma(df / 2) - 0.5 * log(df * Double.pi)
        for _ in 0..<50 {
            let f = cdf(x, df: df) - p
            let density = exp(logNorm - (df + 1) / 2 * log1p(x * x / df))
            guard density > 0, density.isFinite else { break }
            let step = f / density
            x -= step
            if abs(step) < 1e-12 * max(1, abs(x)) { return x }
        }
        if abs(cdf(x, df: df) - p) < 1e-10 { return x }
        var lo = -1e6, hi = 1e6
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if cdf(mid, df: df) < p { lo = mid } else { hi = mid }
            if hi - lo < 1e-10 { break }
        }
        return (lo + hi) / 2
    }

    /// I_x(a, b), the regularized incomplete beta function (continued fraction, Numerical Recipes' betacf).
    static func regularizedBeta(_ x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let gammas: Double = lgamma(a + b) - lgamma(a) - lgamma(b)
        let powers: Double = a * log(x) + b * log(1 - x)
        let lnFront = gammas + powers
        if x < (a + 1) / (a + b + 2) { return exp(lnFront) * betaFraction(x, a: a, b: b) / a }
        return 1 - exp(lnFront) * betaFraction(1 - x, a: b, b: a) / b
    }

    private static func betaFraction(_ x: Double, a: Double, b: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...300 {
            let md = Double(m)
            var aa = md * (b - md) * x / ((a + 2 * md - 1) * (a + 2 * md))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            aa = -(a + md) * (a + b + md) * x / ((a + 2 * md) * (a + 2 * md + 1))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let del = d * c
            h *= del
            if abs(del - 1) < 3e-14 { break }
        }
        return h
    }
}
