import BenchModel

/// Everything the run table shows for one op variant, computed from its samples.
public struct VariantStatistics: Codable, Sendable, Hashable {
    /// The benchmark (`SUITE/OP/VARIANT`) the statistics describe.
    public var key: BenchmarkKey
    /// Op name within its suite (`key.op`).
    public var op: String { key.op }
    /// Variant name (`key.variant`).
    public var variant: String { key.variant }
    /// Per-iteration wall time (ns) after overhead subtraction.
    public var time: Summary
    /// Per-iteration thread CPU time (ns).
    public var cpuTime: Summary?
    /// Mean per-iteration value of each counter, keyed by event name (one backend per run).
    public var counterMeans: [String: Double]
    /// Backend of the counters (nil when the run had none).
    public var counterBackend: CounterBackend?
    /// Number of samples with a multiplexed (scaled) counter.
    public var multiplexedSamples: Int
    /// Number of samples marked as outliers (Tukey fences, k = 3).
    public var outliers: Int
    /// Number of samples flagged as taken while throttled.
    public var throttledSamples: Int
    public var flopsPerIteration: Double
    public var bytesPerIteration: Double

    /// Instructions per cycle, when both counters were measured.
    public var ipc: Double? {
        guard let i = counterMeans["instructions"], let c = counterMeans["cycles"], c > 0 else { return nil }
        return i / c
    }
    /// GFLOP/s at the median time.
    public var gflops: Double? {
        guard flopsPerIteration > 0, time.p50 > 0 else { return nil }
        return flopsPerIteration / time.p50
    }
    /// GB/s of compulsory traffic at the median time.
    public var gbytesPerSecond: Double? {
        guard bytesPerIteration > 0, time.p50 > 0 else { return nil }
        return bytesPerIteration / time.p50
    }
    /// Cache misses per iteration, when measured.
    public var cacheMisses: Double? { counterMeans["cache-misses"] }
    /// Cache misses per 1000 instructions, when both were measured.
    public var cacheMissesPerKiloInstruction: Double? {
        guard let m = counterMeans["cache-misses"], let i = counterMeans["instructions"], i > 0 else { return nil }
        return m / i * 1000
    }

    /// Computes the statistics of `variant` of `op` from the samples of that benchmark among
    /// `samples` (matched by `SUITE/OP/VARIANT`); nil when there are none.
    public init?(op: OpRecord, variant: String, samples: [Sample]) {
        let key = op.benchmarkKey(variant: variant)
        let all = samples.filter { $0.key == key }
        // Simulated-counter samples carry counts only; their time under valgrind means nothing.
        let own = all.filter { !$0.flags.contains(.simulated) }
        let times = own.map(\.netWallNsPerIteration)
        guard let t = Summary(times) else { return nil }
        self.key = key
        time = t
        cpuTime = Summary(own.map(\.cpuNsPerIteration))
        var sums: [String: (Double, Int)] = [:]
        var backend: CounterBackend?
        for s in all {
            for c in s.counters {
                let per = c.value / Double(max(1, s.iterations))
                let prev = sums[c.event] ?? (0, 0)
                sums[c.event] = (prev.0 + per, prev.1 + 1)
                backend = c.backend
            }
        }
        counterMeans = sums.mapValues { $0.0 / Double($0.1) }
        counterBackend = backend
        multiplexedSamples = own.filter { $0.flags.contains(.multiplexed) }.count
        throttledSamples = own.filter { $0.flags.contains(.throttled) }.count
        outliers = Stats.outlierIndices(times).count
        flopsPerIteration = op.flops
        bytesPerIteration = op.bytes
    }
}
