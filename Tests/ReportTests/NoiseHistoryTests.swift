// NoiseHistory.priors and NoiseReport (`fusebench noise`) over synthetic runs written through the store.
import Foundation
import Testing
import Analysis
import BenchModel
import Store
import TestSupport
@testable import Report

private let reference = BenchmarkKey(suite: "tiny", op: "gemm", variant: "reference")
private let optimized = BenchmarkKey(suite: "tiny", op: "gemm", variant: "optimized")

/// `count` runs of `tiny/gemm` with binary hash `hash`, one a minute from `minute`; run i's level is
/// 1000 ns × `levels(i)` (3 processes × 4 batches, 0.5% batch noise). Returns the run ids.
@discardableResult
private func runs(_ store: ResultStore, count: Int, hash: String, from minute: Int = 0, seed: UInt64 = 1,
                  levels: (Int) -> Double = { _ in 1 }) throws -> [Int64] {
    try (0..<count).map { i in
        let op = Synthetic.op("gemm", median: 1000 * levels(i), processes: 3, samples: 4, seed: seed &+ UInt64(i))
        let id = try Synthetic.run(store, ops: [op], info: { $0.startedAt = Date(timeIntervalSince1970: 1_700_000_000 + 60 * Double(minute + i)) })
        try store.setRunMeta(runID: id, key: RunMetaKey.binaryHash, value: hash)
        return id
    }
}

/// Levels alternating ±`step` (a noisy op): every A/A log ratio is about ±2·step.
private func alternating(_ step: Double) -> (Int) -> Double { { i in i % 2 == 0 ? 1 + step : 1 - step } }

@Test func priorsLearnFromStoredPairsAndLeaveOutTheComparedRuns() throws {
    let store = try ResultStore.inMemory()
    let ids = try runs(store, count: 8, hash: "aa", levels: alternating(0.02))
    let priors = try NoiseHistory.priors(store: store, machineKey: Synthetic.machine.key, keys: [reference, optimized], excluding: [])
    let prior = try #require(priors[reference])
    #expect(prior.source == .history)
    #expect(prior.pairs == 7)
    #expect(prior.typicalProcesses == 3)
    // |ln(0.98/1.02)| = 0.040 for every pair (batch noise aside).
    #expect(abs(prior.sigmaAA - 0.040) < 0.006, "sigmaAA \(prior.sigmaAA)")
    #expect(prior.sigmaProcess != nil)
    #expect(priors[optimized]?.pairs == 7)
    // The runs being compared are not their own history: 3 left out → 4 pairs < 5 → unknown.
    let without = try NoiseHistory.priors(store: store, machineKey: Synthetic.machine.key, keys: [reference],
                                          excluding: Set(ids.suffix(3)))
    #expect(without[reference]?.source == NoisePrior.Source.none)
    #expect(without[reference]?.pairs == 4)
    #expect(without[reference]?.sigmaAA.isNaN == true)
    // Another machine has no history.
    #expect(try NoiseHistory.priors(store: store, machineKey: "other", keys: [reference], excluding: [])[reference]?.pairs == 0)
}

@Test func priorsUseTheNewestWindowOfPairs() throws {
    let store = try ResultStore.inMemory()
    // 20 old noisy runs (±10%), then window + 1 quiet ones: only the quiet pairs are used.
    try runs(store, count: 20, hash: "aa", levels: alternating(0.10))
    try runs(store, count: NoiseHistory.window + 1, hash: "aa", from: 100, seed: 99)
    let prior = try #require(try NoiseHistory.priors(store: store, machineKey: Synthetic.machine.key, keys: [reference], excluding: [])[reference])
    #expect(prior.pairs == NoiseHistory.window)
    #expect(prior.sigmaAA < 0.02, "sigmaAA \(prior.sigmaAA)")
}

@Test func noiseReportMarksTooNoisyOpsAndCountsMissingRuns() throws {
    let store = try ResultStore.inMemory()
    try runs(store, count: 8, hash: "aa", levels: alternating(0.10))   // ±10%: sigmaAA ≈ 0.2
    let solo = BenchmarkKey(suite: "tiny", op: "solo", variant: "reference")
    let report = try NoiseReport(store: store, machineKey: Synthetic.machine.key,
                                 benchmarks: [(reference, 0.05), (optimized, 0.50), (solo, 0.05)], currentBinaryHash: "zz")
    #expect(report.familySize == 3)
    #expect(report.rows.map(\.benchmark) == ["tiny/gemm/reference", "tiny/gemm/optimized", "tiny/solo/reference"])
    let noisy = report.rows[0]
    #expect(noisy.pairs == 7)
    let smallest = try #require(noisy.smallestResolvableThreshold)
    let sigma = try #require(noisy.sigmaAA)
    #expect(smallest == DecisionContract.smallestResolvableThreshold(standardErrorFloor: sigma / 2.0.squareRoot(), benchmarks: 3))
    #expect(smallest > 0.05)
    #expect(noisy.tooNoisy)
    #expect(noisy.moreRunsNeeded == 0)
    #expect(report.rows[1].tooNoisy == (smallest > 0.50))
    // No history: 5 pairs missing, plus the current build's first run (it has no stored run).
    #expect(report.rows[2].pairs == 0 && report.rows[2].sigmaAA == nil && report.rows[2].moreRunsNeeded == 6)
    #expect(!report.rows[2].tooNoisy)
    let text = report.render(.text)
    #expect(text.contains("too noisy for the threshold"))
    #expect(text.contains("needs 6 more A/A runs"))
    // JSON: the fields `fusebench noise --format json` documents; unknown figures are null.
    let json = try #require(try JSONSerialization.jsonObject(with: Data(report.render(.json).utf8)) as? [String: Any])
    #expect(json["machineKey"] as? String == Synthetic.machine.key)
    let rows = try #require(json["rows"] as? [[String: Any]])
    #expect(Set(rows[0].keys) == ["benchmark", "threshold", "pairs", "sigmaAA", "sigmaProcess", "typicalProcesses",
                                  "smallestResolvableThreshold", "tooNoisy", "moreRunsNeeded"])
    #expect(rows[2]["sigmaAA"] is NSNull)
    #expect(Set(rows[2].keys) == Set(rows[0].keys))
    #expect(try JSONDecoder().decode(NoiseReport.self, from: Data(report.render(.json).utf8)) == report)
}

@Test func noiseReportCountsTheCurrentBuildsStoredRun() throws {
    let store = try ResultStore.inMemory()
    try runs(store, count: 3, hash: "aa")
    let report = try NoiseReport(store: store, machineKey: Synthetic.machine.key, benchmarks: [(reference, 0.05)], currentBinaryHash: "aa")
    #expect(report.rows[0].pairs == 2)
    #expect(report.rows[0].moreRunsNeeded == 3)   // each further run of build aa adds a pair
    let other = try NoiseReport(store: store, machineKey: Synthetic.machine.key, benchmarks: [(reference, 0.05)], currentBinaryHash: nil)
    #expect(other.rows[0].moreRunsNeeded == 4)
}

@Test func priorsIgnoreInjectedRunsOtherBinariesAndUnhashedRunsInTheStore() throws {
    let clean = try ResultStore.inMemory(), mixed = try ResultStore.inMemory()
    try runs(clean, count: 8, hash: "aa", levels: alternating(0.02))
    try runs(mixed, count: 8, hash: "aa", levels: alternating(0.02))
    // Between the A/A runs: an injected run of the same binary, another binary, a run without a hash.
    let injected = try runs(mixed, count: 1, hash: "aa", from: 2, seed: 50, levels: { _ in 1.3 })
    try mixed.setRunMeta(runID: injected[0], key: RunMetaKey.injectSlowdown, value: "tiny/gemm=30.0%")
    try runs(mixed, count: 1, hash: "bb", from: 4, seed: 60, levels: { _ in 1.5 })
    let unhashed = try Synthetic.run(mixed, ops: [Synthetic.op("gemm", median: 800, processes: 3, samples: 4, seed: 70)],
                                     info: { $0.startedAt = Date(timeIntervalSince1970: 1_700_000_000 + 60 * 6) })
    #expect(try mixed.runMeta(runID: unhashed)[RunMetaKey.binaryHash] == nil)
    let a = try NoiseHistory.priors(store: clean, machineKey: Synthetic.machine.key, keys: [reference], excluding: [])
    let b = try NoiseHistory.priors(store: mixed, machineKey: Synthetic.machine.key, keys: [reference], excluding: [])
    #expect(b[reference]?.pairs == 7)
    #expect(a == b)
}
