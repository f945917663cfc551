// The planner's speed validation: a fusion measured slower beyond noise is rejected (the plan runs
// the group unfused), one measured faster is kept, one within noise is kept with a note. Timings
// are seeded synthetic data, so nothing here depends on the machine.
import BenchModel
@testable import Fusion
import Testing

@Suite struct SpeedCheckTests {
    /// Per-batch times around `median` with ±`spread` relative jitter from a fixed LCG.
    static func batches(_ median: Double, spread: Double, n: Int = 24, seed: UInt64) -> [Double] {
        var state = seed
        return (0..<n).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let u = Double(state >> 11) / Double(1 << 53)   // [0, 1)
            return median * (1 + spread * (2 * u - 1))
        }
    }

    /// A planner decision as `plan()` makes it before the speed check: predicted 799 → 768 µs.
    static func decision() -> FusionDecision {
        FusionDecision(model: "linear_chain6", group: ["fc", "bias", "gelu", "scale", "residual"], rule: "gemm-epilogue",
                       outcome: .accepted, reason: "", predictedUnfusedNs: 799_000, predictedFusedNs: 768_000)
    }

    @Test func measuredSlowerIsRejectedWithTheReasonLogged() {
        let j = SpeedCheck.judge(unfusedNs: Self.batches(800_000, spread: 0.004, seed: 1),
                                 fusedNs: Self.batches(812_000, spread: 0.004, seed: 2))
        #expect(j.verdict == .slower)
        #expect(j.lower > 1 + SpeedCheck.margin)
        var d = Self.decision()
        let r = SpeedCheck.apply(j, to: &d, reject: true, autotune: false)
        #expect(!r.adopt)
        #expect(r.note.hasPrefix("measured 1.01"), "\(r.note)")
        #expect(r.note.contains("slower [CI 1.0"), "\(r.note)")
        #expect(r.note.contains("predicted −4%"), "\(r.note)")
        #expect(d.measuredUnfusedNs != nil && d.measuredFusedNs != nil)
        #expect(d.measuredRatioLower == j.lower && d.measuredRatioUpper == j.upper)
    }

    @Test func measuredFasterIsKept() {
        let j = SpeedCheck.judge(unfusedNs: Self.batches(800_000, spread: 0.01, seed: 3),
                                 fusedNs: Self.batches(700_000, spread: 0.01, seed: 4))
        #expect(j.verdict == .faster && j.upper < 1)
        var d = Self.decision()
        let r = SpeedCheck.apply(j, to: &d, reject: true, autotune: true)
        #expect(r.adopt)
        #expect(r.note.hasPrefix("measured faster 0.87"), "\(r.note)")
    }

    @Test func withinNoiseIsKeptWithANote() {
        let j = SpeedCheck.judge(unfusedNs: Self.batches(800_000, spread: 0.05, seed: 5),
                                 fusedNs: Self.batches(801_000, spread: 0.05, seed: 6))
        #expect(j.verdict == .withinNoise && j.lower <= 1 + SpeedCheck.margin && j.upper >= 1)
        var d = Self.decision()
        let r = SpeedCheck.apply(j, to: &d, reject: true, autotune: false)
        #expect(r.adopt)
        #expect(r.note.hasPrefix("within noise: measured"), "\(r.note)")
        // Autotune keeps only fusions measured faster: the same data is rejected there when the ratio is ≥ 1.
        var strict = Self.decision()
        let a = SpeedCheck.apply(j, to: &strict, reject: true, autotune: true)
        #expect(a.adopt == (j.ratio < 1))
    }

    /// A slowdown smaller than the margin is not a rejection, however tight the interval.
    @Test func slowdownBelowTheMarginIsWithinNoise() {
        let j = SpeedCheck.judge(unfusedNs: Self.batches(800_000, spread: 0.0005, seed: 7),
                                 fusedNs: Self.batches(802_000, spread: 0.0005, seed: 8))
        #expect(j.lower > 1 && j.lower < 1 + SpeedCheck.margin)
        #expect(j.verdict == .withinNoise)
    }

    /// The planner fills the measured column (times and interval) for every decision it makes,
    /// and the plan it returns leaves a rejected-slower group unfused.
    @Test func plannerMeasuresEveryCandidate() throws {
        let s = spec(input: ["rows": 3, "cols": 33], [
            L("a", "scale", ["value": .double(0.5)]),
            L("b", "add", ["value": .double(0.1)]),
            L("c", "relu"),
            L("d", "add", inputs: ["b", "c"]),
        ])
        let f = try ModelFactory(spec: s, options: PlannerOptions(rejectSlower: false, speedBudgetNs: 1_000_000))
        let x = try f.makeModel(variant: "fused", seed: 1)
        #expect(!x.fusionDecisions.isEmpty)
        for d in x.fusionDecisions {
            #expect(d.measuredUnfusedNs != nil, "\(d.group) \(d.outcome)")
            if d.outcome != .rejectedIllegal {
                #expect(d.measuredFusedNs != nil && d.measuredRatioLower != nil && d.measuredRatioUpper != nil)
                #expect(d.reason.contains("measured"), "\(d.reason)")
            }
        }
    }
}
