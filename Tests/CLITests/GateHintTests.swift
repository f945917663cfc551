import Foundation
import Testing
@testable import FuseBench
@testable import FuseBenchCLI

/// The gate's closing hint when a stored baseline's own noise left ops undecided.
@Suite struct GateHintTests {
    /// An undecided op whose estimate carries a standard-error floor of `floor` (a stored base's noise).
    private func undecided(_ op: String, floor: Double, threshold: Double = 0.05) throws -> Comparison {
        let estimate = LogRatioEstimate(method: .unpaired, estimate: 0.001, standardError: floor * 1.2, degreesOfFreedom: 30,
                                        observations: 2, standardErrorFloor: floor, noiseSource: "test")
        let decided = try #require(DecisionRule.decide([estimate], thresholds: [threshold], look: 1).first)
        var c = Comparison(key: BenchmarkKey(suite: "s", op: op, variant: "optimized"), baseMedian: 100, headMedian: 100.1,
                           ratio: 1.001, ciLower: 0.9, ciUpper: 1.1, confidence: 0.95, pValue: 0.5, pValueAdjusted: 1,
                           threshold: threshold, verdict: decided.verdict, nBase: 20, nHead: 20, processesBase: 1,
                           processesHead: 1, instructionsThreshold: 0.01)
        c.decision = decided.details
        c.undecidedReason = decided.reason
        return c
    }

    @Test func aTooNoisyStoredBaselinePointsToPairedMeasuring() throws {
        let noisy = try undecided("a", floor: 0.04)      // resolves ≈ 24%: above 5%
        let noisier = try undecided("b", floor: 0.08)
        #expect(noisy.verdict == .inconclusive)
        let resolvable = try #require(noisier.decision?.smallestResolvableThreshold)
        let hint = try #require(GateLoop.pairedHint(undecided: [noisy, noisier], paired: false))
        #expect(hint.contains("2 op(s) need a threshold of up to \(String(format: "%.0f", resolvable * 100))%"), "\(hint)")
        #expect(hint.contains("--against BINARY") && hint.contains("--against-suite BASE_SUITE"))
    }

    @Test func noHintWhenPairedOrWhenMoreMeasuringCanDecide() throws {
        let noisy = try undecided("a", floor: 0.04)
        #expect(GateLoop.pairedHint(undecided: [noisy], paired: true) == nil)
        // A floor small enough for the threshold: undecided only for want of samples.
        let quiet = try undecided("q", floor: 0.001)
        #expect((quiet.decision?.smallestResolvableThreshold ?? 1) < 0.05)
        #expect(GateLoop.pairedHint(undecided: [quiet], paired: false) == nil)
        #expect(GateLoop.pairedHint(undecided: [], paired: false) == nil)
    }
}
