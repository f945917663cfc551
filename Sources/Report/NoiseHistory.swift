// Learned noise per benchmark from the stored history of this machine (issue 15, "Learned noise"):
// the provider the gate and `fusebench noise` call. Reads per-run summaries through Store and
// estimates with Analysis (Noise.swift).
import Analysis
import BenchModel
import Foundation
import Store

/// Learned run-to-run noise of benchmarks on one machine, from stored A/A-like runs.
public enum NoiseHistory {
    /// Fewest A/A pairs a prior is learned from; with fewer, `priors` returns `.unknown` (with `pairs` set).
    public static let minimumPairs = 5
    /// Most A/A pairs used per benchmark: the newest ones.
    public static let window = 50

    /// Learned noise per benchmark measured on the machine `machineKey` (RunInfo.machine.key), from A/A-like pairs:
    /// consecutive completed runs (by start time) containing the benchmark, same machine key, same `binary.hash`,
    /// no injected slowdown, none of `excluding` (the runs being compared). Keys without enough pairs
    /// (fewer than `NoiseHistory.minimumPairs`) map to `.unknown` with `pairs` set to what was found.
    /// Uses at most the newest `NoiseHistory.window` pairs per benchmark.
    public static func priors(store: ResultStore, machineKey: String, keys: [BenchmarkKey],
                              excluding: Set<Int64>) throws -> [BenchmarkKey: NoisePrior] {
        // API first version: nothing learned yet.
        var out: [BenchmarkKey: NoisePrior] = [:]
        for key in keys { out[key] = .unknown }
        return out
    }
}
