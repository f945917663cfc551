// One stored run as the learned-noise estimator sees it (docs/history.md, "Learned noise"): the run's
// identity for A/A pairing (machine key, binary content hash, process count, injected-slowdown marker, start time)
// and, per benchmark, the medians of its worker processes. Store fills it (NoiseRuns.swift),
// Analysis estimates from it (Noise.swift); a plain value so neither depends on the other.
import Foundation

/// One completed run: what decides whether two runs form an A/A pair, and per-process medians of
/// the benchmarks asked for.
public struct NoiseRunSummary: Sendable, Hashable {
    /// The run (`runs.id`).
    public var runID: Int64
    /// Start of the run, unix seconds (UTC); runs are paired in this order (ties by `runID`).
    public var startedAt: Double
    /// `MachineFingerprint.key` of the machine that measured it.
    public var machineKey: String
    /// Content hash of the executable that measured the run (run meta `binary.hash`); nil when not recorded.
    public var binaryHash: String?
    /// Whether the run measured deliberately slowed kernels (`--inject-slowdown`).
    public var injectedSlowdown: Bool
    /// Worker processes per op the run was configured with (`runs.config` key `processes`; 1 =
    /// measured in the harness's own process); nil when not recorded. Runs measured with different
    /// process counts are never paired: their levels differ by placement, not by noise.
    public var processes: Int?
    /// Benchmarks of the request the run has samples of (any kind: timed, simulated, below overhead).
    public var benchmarks: Set<BenchmarkKey>
    /// Per benchmark, the median net ns/iteration of each worker process (ascending process index)
    /// over its time batches (no simulated or below-overhead batch). Filled only where asked for;
    /// a benchmark without a usable batch has no entry.
    public var processMedians: [BenchmarkKey: [Double]]

    /// Creates a summary.
    public init(runID: Int64, startedAt: Double, machineKey: String, binaryHash: String?, injectedSlowdown: Bool,
                processes: Int? = nil, benchmarks: Set<BenchmarkKey>, processMedians: [BenchmarkKey: [Double]] = [:]) {
        self.runID = runID
        self.startedAt = startedAt
        self.machineKey = machineKey
        self.binaryHash = binaryHash
        self.injectedSlowdown = injectedSlowdown
        self.processes = processes
        self.benchmarks = benchmarks
        self.processMedians = processMedians
    }
}
