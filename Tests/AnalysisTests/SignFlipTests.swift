// The paired gate's sign-flip randomization tests (SignFlipTest) on seeded synthetic pairs: their
// size under a symmetric null, whatever its shape; their power; the bound; reproducibility.
import Foundation
import Testing
@testable import Analysis

@Suite struct SignFlipTests {
    /// Pair log ratios symmetric about `shift`: normal, or the Zen 4 mixture (a quarter of the
    /// processes in a slow mode on either side of a pair), or Cauchy.
    enum Shape { case normal, slowModes, cauchy }
    static func pairs(_ n: Int, shift: Double, shape: Shape, rng: inout Random) -> [Double] {
        (0..<n).map { _ in
            switch shape {
            case .normal:
                return shift + 0.03 * rng.nextGaussian()
            case .slowModes:
                func process() -> Double {
                    0.03 * rng.nextGaussian() + (rng.nextDouble() < 0.26 ? log(1.25) + (log(1.7) - log(1.25)) * rng.nextDouble() : 0)
                }
                return shift + process() - process()
            case .cauchy:
                return shift + 0.02 * tan(Double.pi * (rng.nextDouble() - 0.5))
            }
        }
    }

    /// Exact size: under "no change" the test rejects at level α in at most about α of samples
    /// (normal, mixture and Cauchy pairs alike), where a t reference is off for each in its own way.
    @Test(arguments: [Shape.normal, .slowModes, .cauchy])
    func rejectsUnchangedPairsAtMostAtItsLevel(shape: Shape) {
        var rng = Random(seed: 7)
        let samples = 1500
        for n in [12, 40] {
            var at5 = 0, at1 = 0
            for _ in 0..<samples {
                let test = SignFlipTest(values: Self.pairs(n, shift: 0, shape: shape, rng: &rng), trim: LogRatioEstimator.trim)
                let p = test.pValue(shift: 0, alternative: .greater, level: 0.01)
                if p <= 0.05 { at5 += 1 }
                if p <= 0.01 { at1 += 1 }
            }
            // Binomial slack: 3 standard errors above the level.
            #expect(Double(at5) / Double(samples) <= 0.05 + 3 * (0.05 * 0.95 / Double(samples)).squareRoot(), "\(shape) n \(n): \(at5)")
            #expect(Double(at1) / Double(samples) <= 0.01 + 3 * (0.01 * 0.99 / Double(samples)).squareRoot(), "\(shape) n \(n): \(at1)")
            // And it is not a test that never rejects.
            #expect(at5 > samples / 100, "\(shape) n \(n): \(at5)")
        }
    }

    /// A shift the size of the contract's threshold (5%) among Zen 4-like pairs: rejected at the
    /// regression test's strictest level for 4 ops by the pairs of four growing looks.
    @Test func findsAThresholdShiftAmongSlowModes() {
        var rng = Random(seed: 8)
        var found = 0
        for _ in 0..<200 {
            let test = SignFlipTest(values: Self.pairs(100, shift: log(1.05), shape: .slowModes, rng: &rng), trim: LogRatioEstimator.trim)
            if test.pValue(shift: 0, alternative: .greater, level: 0.01 / 24) <= 0.01 / 24 { found += 1 }
        }
        #expect(found >= 150, "\(found) of 200")
    }

    /// A tight one-sided sample (a clean, large change): the studentized trimmed mean's test alone
    /// plateaus (flips of a few values get trimmed and match the observation: 20 pairs gave p 0.035),
    /// the combined test reaches twice the mean's 2⁻ⁿ — 10 pairs about 2⁻⁹ (a regression of one op
    /// at 1% / 6 looks needs 0.0017), 14 pairs well below, and the plateau stays in its own test.
    @Test func aCleanLargeChangeIsSignificantWithFewPairs() {
        func tight(_ n: Int) -> SignFlipTest {
            SignFlipTest(values: (0..<n).map { 0.0953 * (1 + 0.003 * sin(Double($0) * 1.7)) }, trim: 0.3)
        }
        #expect(tight(10).pValue(shift: 0, alternative: .greater, level: 1e-4) > 0.001)
        #expect(tight(14).pValue(shift: 0, alternative: .greater, level: 1e-4) < 0.01 / 6)
        #expect(tight(20).onePValue(shift: 0, alternative: .greater, level: 1e-4, mean: false) > 0.01)
        #expect(tight(20).pValue(shift: 0, alternative: .greater, level: 1e-4) < 1e-4)
        // The same for the pass side: unchanged, tight pairs exclude a 5% slowdown at look 1.
        let clean = SignFlipTest(values: (0..<10).map { 0.002 * sin(Double($0) * 1.7) }, trim: 0.3)
        #expect(clean.excludes(shiftOf: log(1.05), level: 0.05 / 6))
    }

    @Test func sameValuesGiveTheSameAnswer() {
        var rng = Random(seed: 9)
        let v = Self.pairs(25, shift: 0.01, shape: .slowModes, rng: &rng)
        let a = SignFlipTest(values: v, trim: 0.3), b = SignFlipTest(values: v, trim: 0.3)
        #expect(a.pValue(shift: 0, alternative: .greater, level: 0.001) == b.pValue(shift: 0, alternative: .greater, level: 0.001))
        #expect(a.upperBound(level: 0.01) == b.upperBound(level: 0.01))
    }

    /// The pass decision's test: a true shift is excluded in at most about `level` of samples
    /// (1 − 5%/6 confidence), for every shape.
    @Test(arguments: [Shape.normal, .slowModes, .cauchy])
    func excludesTheTrueShiftAtMostAtItsLevel(shape: Shape) {
        var rng = Random(seed: 10)
        let level = 0.05 / 6
        let samples = 1500
        for n in [10, 40] {
            var excluded = 0
            for _ in 0..<samples {
                let test = SignFlipTest(values: Self.pairs(n, shift: 0.03, shape: shape, rng: &rng), trim: LogRatioEstimator.trim)
                if test.excludes(shiftOf: 0.03, level: level) { excluded += 1 }
            }
            #expect(Double(excluded) / Double(samples) <= level + 3 * (level * (1 - level) / Double(samples)).squareRoot(),
                    "\(shape) n \(n): excluded \(excluded)")
        }
    }

    /// The bound shown is the inversion of the same tests: above the estimate, and on the side of
    /// δ that the test at δ says in nearly every sample (bisection against a Monte Carlo test).
    @Test func upperBoundInvertsTheTest() {
        var rng = Random(seed: 11)
        let level = 0.05 / 6, delta = log(1.05)
        var agree = 0, excludedAtDelta = 0
        let samples = 150
        for _ in 0..<samples {
            let test = SignFlipTest(values: Self.pairs(40, shift: 0.01, shape: .slowModes, rng: &rng), trim: LogRatioEstimator.trim)
            let u = test.upperBound(level: level)
            #expect(u >= LogRatioEstimator.trimmedMean(test.values, trim: LogRatioEstimator.trim).mean)
            let excluded = test.excludes(shiftOf: delta, level: level)
            if excluded { excludedAtDelta += 1 }
            if excluded == (u < delta) { agree += 1 }
        }
        #expect(agree >= samples * 98 / 100, "\(agree) of \(samples)")
        #expect(excludedAtDelta > 0 && excludedAtDelta < samples, "\(excludedAtDelta): both sides of δ occur")
    }

    /// Six pairs (the fewest the gate decides on) cannot exclude anything at 5%/6 (2·2⁻⁶ > 0.0083):
    /// the bound is infinite and the undecided reason says how many pairs it needs.
    @Test func tooFewPairsSayHowManyTheyNeed() throws {
        let base = (0..<6).map { ProcessGroup(run: 0, process: $0, values: [100]) }
        let head = (0..<6).map { ProcessGroup(run: 0, process: $0, values: [100 + Double($0) * 0.1 - 0.2]) }
        let e = try #require(LogRatioEstimator.paired(base: base, head: head).estimate)
        #expect(e.signFlip?.upperBound(level: 0.05 / 6) == .infinity)
        let d = DecisionRule.decide([e], thresholds: [0.05], look: 1)[0]
        #expect(d.verdict == .inconclusive)
        #expect(d.reason?.contains("6 pairs are too few for the sign-flip test to exclude any slowdown") == true, "\(d.reason ?? "")")
        #expect(d.reason?.contains("(it needs 8)") == true, "\(d.reason ?? "")")
    }

    @Test func degenerateSamples() {
        #expect(SignFlipTest(values: [0.1], trim: 0.3).pValue(shift: 0, alternative: .greater, level: 0.01) == 1)
        let flat = SignFlipTest(values: [0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02], trim: 0.3)
        #expect(flat.upperBound(level: 0.01) == 0.02)
        #expect(flat.excludes(shiftOf: 0.05, level: 0.01))
        #expect(flat.pValue(shift: 0, alternative: .greater, level: 0.01) <= 1.0 / 256 * 1.5)
    }
}
