import Foundation
import BenchModel

/// Measures how fast the store ingests raw samples, to check the ≥ 1M rows/s target.
public enum StoreBenchmark {
    /// Opens (or creates) the database at `path`, creates a throwaway run named
    /// `store-benchmark` with one op, and times one `insertSamples` call of `samples` samples
    /// carrying `countersPerSample` counter values each. The run is marked `complete` afterwards.
    ///
    /// With `latenciesPerSample` > 0 every sample also carries that many per-iteration latencies
    /// and labels (stored compactly: one `iteration_latencies` row per sample).
    ///
    /// - Returns: rows written (sample rows + counter rows + latency rows) and the wall-clock seconds taken.
    public static func measureInsertRate(path: String, samples: Int, countersPerSample: Int,
                                         latenciesPerSample: Int = 0) throws -> (rows: Int, seconds: Double) {
        let store = try ResultStore(path: path)
        let machine = MachineFingerprint(cpuModel: "store-benchmark", logicalCPUs: 1, isaHost: [], caches: [],
                                         kernel: "n/a", governor: "unavailable", perfEventParanoid: nil,
                                         virtualization: "none", pmuAvailable: false)
        let info = RunInfo(startedAt: Date(), status: .running, label: "store-benchmark", suites: [], suiteHash: "",
                           gitCommit: nil, gitBranch: nil, gitDirty: nil, harnessVersion: Harness.version,
                           machine: machine, isaBuilt: [], counterMode: .none, counterNote: "store benchmark",
                           calibration: nil, configJSON: "{}", pid: getpid())
        let runID = try store.beginRun(info)
        let opID = try store.recordOp(runID: runID, op: OpRecord(suite: "store-benchmark", name: "insert", kind: "none",
                                                                 shape: [:], dtype: "f32", flops: 0, bytes: 0, threshold: 0.05))
        let events = ["instructions", "cycles", "cache-references", "cache-misses", "branches", "branch-misses",
                      "L1-dcache-load-misses", "LLC-load-misses"]
        let counterCount = max(0, countersPerSample)
        var batch: [Sample] = []
        batch.reserveCapacity(max(0, samples))
        for i in 0..<max(0, samples) {
            var counters: [CounterValue] = []
            counters.reserveCapacity(counterCount)
            for c in 0..<counterCount {
                let event = c < events.count ? events[c] : "event\(c)"
                let count = UInt64(i * 31 + c)
                counters.append(CounterValue(event: event, value: Double(count), raw: count,
                                             timeEnabled: 1_000_000, timeRunning: 1_000_000, backend: .hw))
            }
            let wall = 1_000_000 + Double(i % 977)
            let cpu = 990_000 + Double(i % 313)
            let n = max(0, latenciesPerSample)
            let latencies = n == 0 ? nil : IterationLatencies(
                ns: (0..<n).map { UInt32(1_000 + ($0 * 7 + i) % 1_500) }, labels: (0..<n).map { Int32(1 + ($0 + i) % 10 / 9) },
                overheadNs: 18)
            batch.append(Sample(op: "insert", variant: i % 2 == 0 ? "reference" : "optimized", sequence: i,
                                iterations: n == 0 ? 1000 : n, wallNs: wall, cpuNs: cpu, overheadNs: 120, counters: counters,
                                iterationLatencies: latencies))
        }
        let clock = ContinuousClock()
        let start = clock.now
        try store.insertSamples(runID: runID, opID: opID, samples: batch)
        let elapsed = clock.now - start
        try store.finishRun(id: runID, status: .complete)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return (batch.count * (1 + max(0, countersPerSample) + (latenciesPerSample > 0 ? 1 : 0)), seconds)
    }
}
