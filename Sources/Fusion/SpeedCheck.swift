// Validation of a fusion on speed: the planner times each candidate group fused and unfused (the
// unfused layers' own kernels on the same inputs), in alternating batches, takes the ratio of the
// median per-iteration times fused/unfused with a percentile-bootstrap 95% interval
// (`Bootstrap.ratioOfMedians`), and judges it: slower (the interval lies above 1 + margin),
// faster (the interval lies below 1) or within noise. A fusion measured slower is rejected and the
// plan runs that group unfused; one within noise is kept with a note (it still saves memory
// traffic); `fused_autotuned` also rejects one whose ratio is not below 1.
import Analysis
import BenchModel
import CPerfEvent

/// The measured speed of one candidate fusion, judged.
public struct SpeedJudgement: Sendable, Hashable {
    /// Where the interval lies.
    public enum Verdict: String, Sendable, Hashable {
        /// The whole interval is below 1: measured faster.
        case faster
        /// The interval includes 1, or lies above 1 by no more than the margin.
        case withinNoise = "within noise"
        /// The whole interval is above 1 + margin: measured slower.
        case slower
    }

    /// Median fused time / median unfused time (per iteration).
    public var ratio: Double
    /// 95% percentile-bootstrap interval of `ratio`.
    public var lower: Double
    public var upper: Double
    /// Median per-iteration times (ns).
    public var unfusedNs: Double
    public var fusedNs: Double
    /// The verdict.
    public var verdict: Verdict

    /// `1.012× [CI 1.004–1.020]`.
    public var ratioText: String {
        String(format: "%.3f× [CI %.3f–%.3f]", ratio, lower, upper)
    }
}

/// How the planner measures and judges a candidate's speed.
public enum SpeedCheck {
    /// A fusion is judged slower only when its interval's lower end exceeds 1 + `margin` (0.5%):
    /// below that a slowdown is too small to matter next to the traffic the fusion saves.
    public static let margin = 0.005
    /// Coverage of the interval.
    public static let confidence = 0.95
    /// Bootstrap resamples.
    public static let resamples = 2000
    /// Fixed bootstrap seed, so the same timings give the same interval.
    static let seed: UInt64 = 0x6675_7365_7370_6565

    /// Judges per-batch per-iteration times (ns) of the unfused and the fused group. Both lists
    /// must be non-empty and positive.
    public static func judge(unfusedNs: [Double], fusedNs: [Double]) -> SpeedJudgement {
        let r = Bootstrap.ratioOfMedians(base: [unfusedNs], head: [fusedNs], resamples: resamples,
                                         confidence: confidence, seed: seed)
        let verdict: SpeedJudgement.Verdict = r.lower > 1 + margin ? .slower : r.upper < 1 ? .faster : .withinNoise
        return SpeedJudgement(ratio: r.ratio, lower: r.lower, upper: r.upper, unfusedNs: Stats.median(unfusedNs),
                              fusedNs: Stats.median(fusedNs), verdict: verdict)
    }

    /// The predicted change, `−4%`.
    static func predictedChange(_ d: FusionDecision) -> String {
        guard let p = d.predictedRatio else { return "no prediction" }
        return String(format: "%@%.0f%%", p < 1 ? "−" : "+", abs(p - 1) * 100)
    }

    /// Records `j` in `d` (measured times and interval) and decides whether the fusion is adopted
    /// on speed: with `reject`, a slower verdict rejects it (`rejectedSlower`); with `autotune`,
    /// so does a ratio not below 1. Returns whether the fusion stays adopted and what its reason
    /// should say about speed (the whole reason when rejected).
    static func apply(_ j: SpeedJudgement, to d: inout FusionDecision, reject: Bool, autotune: Bool) -> (adopt: Bool, note: String) {
        d.measuredUnfusedNs = j.unfusedNs
        d.measuredFusedNs = j.fusedNs
        d.measuredRatioLower = j.lower
        d.measuredRatioUpper = j.upper
        let predicted = "predicted " + predictedChange(d)
        switch j.verdict {
        case .slower where reject || autotune:
            return (false, String(format: "measured %.3f× slower [CI %.3f–%.3f]; %@", j.ratio, j.lower, j.upper, predicted))
        case .slower:
            return (true, String(format: "measured %.3f× slower [CI %.3f–%.3f]; %@ (kept: the speed check does not reject)",
                                 j.ratio, j.lower, j.upper, predicted))
        case .withinNoise where autotune && j.ratio >= 1:
            return (false, "autotune: not measured faster, \(j.ratioText); \(predicted)")
        case .withinNoise:
            return (true, "within noise: measured \(j.ratioText); \(predicted); kept (it saves the intermediate traffic)")
        case .faster:
            return (true, "measured faster \(j.ratioText); \(predicted)")
        }
    }

    /// Times `unfused` and `fused` (each one run of the group) in alternating batches (ABBA
    /// order), after one warm-up run each. Batches hold ≥ 100 µs of work; the number of pairs
    /// fits `budgetNs` (at least 6, at most 40). Returns per-iteration ns of every batch.
    static func measure(unfused: () -> Void, fused: () -> Void, budgetNs: Double) -> (unfused: [Double], fused: [Double]) {
        unfused()
        fused()
        let onceU = time(unfused, iterations: 1), onceF = time(fused, iterations: 1)
        let iterations = max(1, min(1000, Int(100_000 / max(1, max(onceU, onceF)))))
        let perPair = (onceU + onceF) * Double(iterations)
        let pairs = max(6, min(40, Int(budgetNs / max(1, perPair))))
        var u: [Double] = [], f: [Double] = []
        for p in 0..<pairs {
            if p % 4 == 0 || p % 4 == 3 {
                u.append(time(unfused, iterations: iterations))
                f.append(time(fused, iterations: iterations))
            } else {
                f.append(time(fused, iterations: iterations))
                u.append(time(unfused, iterations: iterations))
            }
        }
        return (u, f)
    }

    /// Per-iteration ns of one batch of `iterations` runs of `body` (at least 1 ns).
    static func time(_ body: () -> Void, iterations: Int) -> Double {
        let t0 = fb_monotonic_raw_ns()
        for _ in 0..<iterations { body() }
        return max(1, Double(fb_monotonic_raw_ns() - t0)) / Double(iterations)
    }
}
