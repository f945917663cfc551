// Learned noise: what this machine's history says about one benchmark's run-to-run noise
// (`NoisePrior`), and the pure estimator that learns it from per-run summaries of A/A-like runs
// (same machine, same binary content hash, no injected slowdown). No I/O: Report reads the
// summaries from Store (NoiseHistory.swift) and hands them here.
import BenchModel
import Foundation

/// What this machine's history says about one benchmark's run-to-run noise.
public struct NoisePrior: Sendable, Hashable, Codable {
    /// Where the prior comes from.
    public enum Source: String, Codable, Sendable {
        /// Learned from stored A/A pairs.
        case history
        /// Not enough history: nothing learned.
        case none
    }

    /// Where the prior comes from.
    public var source: Source
    /// Number of A/A run pairs (unchanged binary, same machine) it was learned from; 0 when none.
    public var pairs: Int
    /// Robust SD of ln(level(run2)/level(run1)) over A/A pairs of consecutive runs, where level =
    /// median of the run's per-process medians of net ns/iteration. NaN when unknown.
    public var sigmaAA: Double
    /// Robust SD of ln(process median) within one run, typical over history runs with ≥ 3
    /// processes; nil if unknown.
    public var sigmaProcess: Double?
    /// Median number of worker processes per run in the pairs used.
    public var typicalProcesses: Int

    /// Nothing known: source `.none`, 0 pairs, sigmaAA NaN, sigmaProcess nil, typicalProcesses 0.
    public static let unknown = NoisePrior(source: .none, pairs: 0, sigmaAA: .nan, sigmaProcess: nil, typicalProcesses: 0)

    /// Creates a prior.
    public init(source: Source, pairs: Int, sigmaAA: Double, sigmaProcess: Double?, typicalProcesses: Int) {
        self.source = source
        self.pairs = pairs
        self.sigmaAA = sigmaAA
        self.sigmaProcess = sigmaProcess
        self.typicalProcesses = typicalProcesses
    }
}
