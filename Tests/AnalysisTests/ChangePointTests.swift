// Change-point detection (Analysis/ChangePoints.swift) on seeded synthetic series: runs of
// log-normal batch times with a random per-run shift (the between-run noise real runs show).
import Foundation
import Testing
@testable import Analysis

/// A synthetic series: `levels[i]` is run i's true relative level (1 = base); each run gets a
/// between-run shift of sd `betweenSD` (log) and `samples` batches with within-run sd `withinSD`.
func syntheticSeries(levels: [Double], seed: UInt64, samples: Int = 20, betweenSD: Double = 0.01,
                     withinSD: Double = 0.03) -> [RunDistribution] {
    var rng = Random(seed: seed)
    return levels.compactMap { level in
        let shift = log(level * 1000) + betweenSD * rng.nextGaussian()
        let values = (0..<samples).map { _ in exp(shift + withinSD * rng.nextGaussian()) }
        return RunDistribution(samples: values)
    }
}

@Suite struct ChangePointTests {
    @Test func runDistributionIgnoresBadSamplesAndRejectsEmptyRuns() {
        #expect(RunDistribution(samples: []) == nil)
        #expect(RunDistribution(samples: [0, -1, .nan, .infinity]) == nil)
        let run = RunDistribution(samples: [100, .nan, 100, 0])
        #expect(run?.logQuantiles.allSatisfy { abs($0 - log(100)) < 1e-12 } == true)
        #expect(RunDistribution(logQuantiles: [1, 2]) == nil)
    }

    @Test func distanceOfAUniformStepIsTheLogRatio() throws {
        let a = try #require(RunDistribution(samples: [100, 110, 120, 130]))
        let b = try #require(RunDistribution(samples: [110, 121, 132, 143]))
        #expect(abs(a.distance(to: b) - log(1.1)) < 1e-12)
        #expect(a.distance(to: a) == 0)
    }

    @Test func noStepGivesNoChangePointInMostSeeds() {
        // 50 flat series of 40 runs: at the default significance (0.01) with the effect threshold,
        // at most a few may show a spurious point.
        var withPoints = 0
        for seed in 1...50 as ClosedRange<UInt64> {
            let series = syntheticSeries(levels: Array(repeating: 1, count: 40), seed: seed)
            if !ChangePoints.detect(series, options: ChangePointOptions(seed: seed)).isEmpty { withPoints += 1 }
        }
        #expect(withPoints <= 3, "\(withPoints) of 50 flat series had a change point")
    }

    @Test func clearTenPercentStepIsFoundAtTheRightIndex() throws {
        let levels = Array(repeating: 1.0, count: 25) + Array(repeating: 1.1, count: 15)
        let found = ChangePoints.detect(syntheticSeries(levels: levels, seed: 7))
        let point = try #require(found.first)
        #expect(found.count == 1)
        #expect(point.index == 25)
        #expect(abs(point.ratio - 1.1) < 0.02)
        #expect(point.lower <= point.ratio && point.ratio <= point.upper)
        #expect(point.lower > 1.05 && point.upper < 1.15)
        #expect(point.p <= 0.01)
    }

    @Test func twoStepsAreBothFound() {
        let levels = Array(repeating: 1.0, count: 20) + Array(repeating: 1.1, count: 20) + Array(repeating: 1.0, count: 20)
        let found = ChangePoints.detect(syntheticSeries(levels: levels, seed: 11))
        #expect(found.map(\.index) == [20, 40])
        #expect(found.first.map { $0.ratio > 1.05 } == true)
        #expect(found.last.map { $0.ratio < 0.95 } == true)
    }

    @Test func aShapeChangeWithTheSameMedianIsSeen() {
        // Second half: a quarter of the batches are 30 % slower (a new slow mode); the median barely
        // moves, the upper deciles do.
        var rng = Random(seed: 5)
        var runs: [RunDistribution] = []
        for i in 0..<40 {
            let values = (0..<40).map { j -> Double in
                let slow = i >= 20 && j % 4 == 0 ? 1.3 : 1.0
                return 1000 * slow * exp(0.01 * rng.nextGaussian())
            }
            if let run = RunDistribution(samples: values) { runs.append(run) }
        }
        let found = ChangePoints.detect(runs, options: ChangePointOptions(minEffectNoise: 0, levels: RunDistribution.levels))
        #expect(found.map(\.index) == [20])
    }

    @Test func knownBoundarySplitsTheSearchAndIsNotReportedAgain() {
        // A large 50 % step at 20 (already accepted) and a small 5 % step at 45.
        let levels = Array(repeating: 1.0, count: 20) + Array(repeating: 1.5, count: 25) + Array(repeating: 1.575, count: 20)
        let series = syntheticSeries(levels: levels, seed: 4, betweenSD: 0.005)
        let withBoundary = ChangePoints.detect(series, knownBoundaries: [20]).map(\.index)
        #expect(withBoundary.contains(45))
        #expect(!withBoundary.contains(20))
        // Without it both are found; with it the large one is not reported again.
        let without = ChangePoints.detect(series).map(\.index)
        #expect(without.contains(20) && without.contains(45))
    }

    @Test func outlierRunsDoNotMaskAStep() {
        // A 5 % step at 20 in 40 runs; five runs (a loaded machine) are 3× slower. Capped distances
        // keep those runs from dominating the statistic.
        var levels = Array(repeating: 1.0, count: 20) + Array(repeating: 1.05, count: 20)
        for i in [3, 11, 24, 31, 37] { levels[i] *= 3 }
        let found = ChangePoints.detect(syntheticSeries(levels: levels, seed: 21, betweenSD: 0.005)).map(\.index)
        #expect(found == [20])
    }

    @Test func shortSeriesGiveNothing() {
        for count in 0...5 {
            let series = syntheticSeries(levels: Array(repeating: 1, count: count / 2) + Array(repeating: 2, count: count - count / 2), seed: 1)
            #expect(ChangePoints.detect(series).isEmpty, "\(count) runs")
        }
        // Out-of-range boundaries are ignored, not a crash.
        #expect(ChangePoints.detect(syntheticSeries(levels: [1, 1, 2], seed: 2), knownBoundaries: [-1, 0, 3, 99]).isEmpty)
    }

    @Test func sameSeedSameResult() {
        let levels = Array(repeating: 1.0, count: 15) + Array(repeating: 1.05, count: 15)
        let series = syntheticSeries(levels: levels, seed: 9)
        #expect(ChangePoints.detect(series) == ChangePoints.detect(series))
    }

    @Test func betweenRunNoiseIsRobustToAStep() {
        let flat = (0..<100).map { Double($0 % 2) * 0.02 }
        let stepped = flat.enumerated().map { $0.offset >= 50 ? $0.element + 1 : $0.element }
        #expect(abs(ChangePoints.betweenRunNoise(flat) - ChangePoints.betweenRunNoise(stepped)) < 1e-12)
        #expect(ChangePoints.betweenRunNoise([1]) == 0)
    }
}
