// Learned noise (Noise.swift): A/A pairing and the robust estimators, on seeded synthetic histories.
import Foundation
import Testing
import BenchModel
@testable import Analysis

private let machine = "Synthetic CPU 9000|2|avx2,fma|false"
private let key = BenchmarkKey(suite: "smoke", op: "gemm_128", variant: "optimized")

/// A synthetic history: `count` runs one minute apart, each at level 1000 ns × exp(sigmaRun · z)
/// (z standard normal), with `processes` process medians spread by exp(sigmaProcess · z).
/// `customize` changes run i (hash, machine, injection, level factor).
private func history(count: Int, sigmaRun: Double, processes: Int = 1, sigmaProcess: Double = 0, seed: UInt64,
                     customize: (Int, inout NoiseRunSummary, inout Double) -> Void = { _, _, _ in }) -> [NoiseRunSummary] {
    var rng = Random(seed: seed)
    return (0..<count).map { i in
        var run = NoiseRunSummary(runID: Int64(i + 1), startedAt: 1_700_000_000 + 60 * Double(i), machineKey: machine,
                                  binaryHash: "aaaa", injectedSlowdown: false, benchmarks: [key])
        var factor = 1.0
        customize(i, &run, &factor)
        let level = 1000 * factor * exp(sigmaRun * rng.nextGaussian())
        run.processMedians[key] = (0..<processes).map { _ in level * exp(sigmaProcess * rng.nextGaussian()) }
        return run
    }
}

@Test func noiseRecoversAKnownSigmaAA() {
    // Independent run levels with σ = 2%: the log ratio of two runs has σ = 2% · √2.
    let runs = history(count: 401, sigmaRun: 0.02, seed: 7)
    let prior = NoiseEstimator.prior(runs: runs, key: key, machineKey: machine, minimumPairs: 5, window: 400)
    #expect(prior.source == .history)
    #expect(prior.pairs == 400)
    let truth = 0.02 * 2.0.squareRoot()
    // 400 overlapping pairs ≈ 267 independent: the RMS's own sampling error is ≈ 4.3%; 15% is 3.5 of it.
    #expect(abs(prior.sigmaAA / truth - 1) < 0.15, "sigmaAA \(prior.sigmaAA) vs \(truth)")
    #expect(prior.typicalProcesses == 1)
    #expect(prior.sigmaProcess == nil)   // one process per run: nothing to learn within a run
}

@Test func noiseUsesOnlyTheNewestWindowOfPairs() {
    // The first 50 runs are noisy (σ 10%), the last 51 quiet (σ 1%): the newest 50 pairs are the quiet ones.
    let runs = history(count: 101, sigmaRun: 0.01, seed: 11) { i, _, factor in
        if i < 50 { factor = exp(0.10 * Double((i * 7919) % 13 - 6) / 3) }
    }
    let prior = NoiseEstimator.prior(runs: runs, key: key, machineKey: machine, minimumPairs: 5, window: 50)
    #expect(prior.pairs == 50)
    let truth = 0.01 * 2.0.squareRoot()
    #expect(abs(prior.sigmaAA / truth - 1) < 0.35, "sigmaAA \(prior.sigmaAA) vs \(truth)")
    let all = NoiseEstimator.prior(runs: runs, key: key, machineKey: machine, minimumPairs: 5, window: 100)
    #expect(all.sigmaAA > 2 * prior.sigmaAA)   // the old noisy pairs would have counted
}

@Test func noiseRecoversSigmaProcessAndTypicalProcesses() throws {
    let runs = history(count: 41, sigmaRun: 0.01, processes: 8, sigmaProcess: 0.05, seed: 3)
    let prior = NoiseEstimator.prior(runs: runs, key: key, machineKey: machine, minimumPairs: 5, window: 50)
    #expect(prior.typicalProcesses == 8)
    let sigma = try #require(prior.sigmaProcess)
    #expect(abs(sigma / 0.05 - 1) < 0.15, "sigmaProcess \(sigma)")
    // The level (median of 8 process medians) carries part of the process noise: sigmaAA exceeds √2 · 1%.
    #expect(prior.sigmaAA > 0.01 * 2.0.squareRoot())
}

@Test func aDisturbedRunRaisesSigmaAA() {
    // Two runs out of 61 measured at twice the time (another job on the machine): four pairs of 60
    // get |log ratio| ≈ 0.69. The gate's false-failure promise is about exactly such tails, so
    // sigmaAA (a plain RMS) must show them — a robust scale would stay at the quiet 1.4%.
    let runs = history(count: 61, sigmaRun: 0.01, seed: 5) { i, _, factor in
        if i == 20 || i == 40 { factor = 2 }
    }
    let prior = NoiseEstimator.prior(runs: runs, key: key, machineKey: machine, minimumPairs: 5, window: 60)
    let quiet = 0.01 * 2.0.squareRoot()
    #expect(prior.sigmaAA > 5 * quiet, "sigmaAA \(prior.sigmaAA) vs quiet \(quiet)")
    #expect(abs(prior.sigmaAA - NoiseEstimator.rootMeanSquare([0.69, -0.69, 0.69, -0.69] + Array(repeating: quiet, count: 56))) < 0.05)
}

@Test func noiseExcludesOtherBinariesInjectedRunsOtherMachinesAndUnhashedRuns() {
    // Clean A/A runs (hash aaaa) interleaved with runs that must not count, each at a level far off.
    let mixed = history(count: 120, sigmaRun: 0.01, seed: 9) { i, run, factor in
        switch i % 4 {
        case 1: run.binaryHash = "bbbb"; factor = 1.5                 // another binary
        case 2: run.injectedSlowdown = true; factor = 1.3             // --inject-slowdown
        case 3:
            if i % 8 == 3 { run.machineKey = "Other CPU|4|avx2|true"; factor = 0.7 } else { run.binaryHash = nil; factor = 0.8 }
        default: break
        }
    }
    let clean = mixed.filter { $0.runID % 4 == 1 }   // runID = i + 1: the i % 4 == 0 runs
    let all = NoiseEstimator.prior(runs: mixed, key: key, machineKey: machine, minimumPairs: 5, window: 50)
    let only = NoiseEstimator.prior(runs: clean, key: key, machineKey: machine, minimumPairs: 5, window: 50)
    #expect(only.pairs == 29)
    // The other binary's 30 runs pair among themselves (a second A/A chain); their level is off by
    // 1.5 but a ratio within that chain is unchanged code, so only the pair count differs.
    #expect(all.pairs == 50)
    let aOnly = mixed.filter { $0.binaryHash != "bbbb" }
    #expect(NoiseEstimator.prior(runs: aOnly, key: key, machineKey: machine, minimumPairs: 5, window: 50) == only)
    // Pairs never join two binaries, an injected run, another machine or an unhashed run.
    let pairs = NoiseEstimator.pairs(mixed, key: key, machineKey: machine, window: 100, requireMedians: true)
    let byID = Dictionary(uniqueKeysWithValues: mixed.map { ($0.runID, $0) })
    for pair in pairs {
        let a = byID[pair.earlier], b = byID[pair.later]
        #expect(a?.binaryHash == b?.binaryHash && a?.binaryHash != nil)
        #expect(a?.injectedSlowdown == false && b?.injectedSlowdown == false)
        #expect(a?.machineKey == machine && b?.machineKey == machine)
    }
}

@Test func noiseWithFewerThanMinimumPairsIsUnknownWithPairsCounted() {
    // a b a b a b: 3 runs of each binary, 2 pairs each: 4 pairs < 5.
    let runs = history(count: 6, sigmaRun: 0.01, seed: 1) { i, run, _ in run.binaryHash = i % 2 == 0 ? "a" : "b" }
    let prior = NoiseEstimator.prior(runs: runs, key: key, machineKey: machine, minimumPairs: 5, window: 50)
    #expect(prior.source == .none)
    #expect(prior.pairs == 4)
    #expect(prior.sigmaAA.isNaN)
    #expect(prior.sigmaProcess == nil)
    #expect(prior.typicalProcesses == 0)
    // A run without usable batches of the benchmark is not a side of a pair.
    var gap = runs
    gap[2].processMedians = [:]
    #expect(NoiseEstimator.prior(runs: gap, key: key, machineKey: machine, minimumPairs: 5, window: 50).pairs == 3)
    // Another benchmark: no pairs at all.
    let other = BenchmarkKey(suite: "smoke", op: "gemm_128", variant: "reference")
    let none = NoiseEstimator.prior(runs: runs, key: other, machineKey: machine, minimumPairs: 5, window: 50)
    #expect(none.source == .none && none.pairs == 0 && none.sigmaAA.isNaN)
}

@Test func pairsByListedBenchmarksMatchPairsByMedians() {
    // What NoiseHistory selects before reading medians is what the estimate then uses.
    let runs = history(count: 30, sigmaRun: 0.01, seed: 2) { i, run, _ in run.binaryHash = i % 3 == 0 ? "a" : "b" }
    let listed = NoiseEstimator.pairs(runs, key: key, machineKey: machine, window: 10, requireMedians: false)
    let measured = NoiseEstimator.pairs(runs, key: key, machineKey: machine, window: 10, requireMedians: true)
    #expect(listed == measured)
    #expect(listed.count == 10)
    // Newest first selection: the newest pair's later run is the newest run of its binary.
    #expect(listed.last?.later == 30)
}

@Test func runsMeasuredWithDifferentProcessCountsAreNeverPaired() {
    // One binary, alternating in-process runs (level 1000) and 10-worker runs (level 1100: another
    // placement). Pairing across the two ways would see ±10% steps; within each way the runs agree.
    let runs = history(count: 40, sigmaRun: 0.005, seed: 5) { i, run, factor in
        run.processes = i % 2 == 0 ? 1 : 10
        factor = i % 2 == 0 ? 1.0 : 1.1
    }
    let pairs = NoiseEstimator.pairs(runs, key: key, machineKey: machine, window: 100, requireMedians: true)
    let byID = Dictionary(uniqueKeysWithValues: runs.map { ($0.runID, $0) })
    #expect(pairs.count == 38)   // 19 pairs in each group of 20 runs
    #expect(pairs.allSatisfy { byID[$0.earlier]?.processes == byID[$0.later]?.processes })
    let prior = NoiseEstimator.prior(runs: runs, key: key, machineKey: machine, minimumPairs: 5, window: 100)
    // σ_run 0.5% → σ_AA ≈ 0.7%; a single cross-way pair would put it near 10%.
    #expect(prior.sigmaAA < 0.012, "sigmaAA \(prior.sigmaAA)")
    // An unrecorded process count is its own group: it pairs only with other unrecorded runs.
    var mixed = runs
    mixed[1].processes = nil
    mixed[3].processes = nil
    let withUnknown = NoiseEstimator.pairs(mixed, key: key, machineKey: machine, window: 100, requireMedians: true)
    let mixedByID = Dictionary(uniqueKeysWithValues: mixed.map { ($0.runID, $0) })
    #expect(withUnknown.contains(NoiseEstimator.Pair(earlier: 2, later: 4)))
    #expect(withUnknown.allSatisfy { mixedByID[$0.earlier]?.processes == mixedByID[$0.later]?.processes })
}

@Test func robustScaleAroundZeroIsConsistentForNormalData() {
    var rng = Random(seed: 42)
    let values = (0..<20_000).map { _ in 0.03 * rng.nextGaussian() }
    #expect(abs(NoiseEstimator.robustScaleAroundZero(values) / 0.03 - 1) < 0.03)
    #expect(NoiseEstimator.robustScaleAroundZero([]).isNaN)
    #expect(NoiseEstimator.robustScaleAroundZero([0, 0, 0, 1]) == 0)
    // Without winsorising the bound is the plain second moment: E[Z²] = 1.
    #expect(abs(NoiseEstimator.winsorizedSecondMoment(40) - 1) < 1e-12)
    #expect(abs(NoiseEstimator.winsorizedSecondMoment(2.5) - 0.97756) < 1e-4)
}

@Test func noisePriorUnknownMatchesTheContract() {
    let u = NoisePrior.unknown
    #expect(u.source == .none && u.pairs == 0 && u.sigmaAA.isNaN && u.sigmaProcess == nil && u.typicalProcesses == 0)
}
