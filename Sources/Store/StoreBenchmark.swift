import Foundation
import BenchModel

/// Measures how fast the store ingests raw samples, to check the ≥ 1M rows/s target.
public enum StoreBenchmark {
    /// Opens (or creates) the database at `path`, creates a throwaway run named
    /// `store-benchmark` with one op, and times one `insertSamples` call of `samples` samples
    /// carrying `countersPerSample` counter values each. The run is marked `complete` afterwards.
    ///
    /// - Returns: rows written (sample rows + counter rows) and the wall-clock seconds taken.
    public static func measureInsertRate(path: String, samples: Int, countersPerSample: Int) throws -> (rows: Int, seconds: Double) {
        let store = try ResultStore(path: path)
        let machine = MachineFingerprint(cpuModel: "store-benchmark", logicalCPUs: 1, isaHost: [], caches: [],
                                         kernel: "n/a", governor: "unavailable", perfEventParanoid: nil,
                                         virtualization: "none", pmuAvailable: false)
        let info = RunInfo(startedAt: Date(), status: .running, label: "store-benchmark", suites: [], suiteHash: "",
                           gitCommit: nil, gitBranch: nil, gitDirty: nil, harnessVersion: Harness.version,
                           machine: machine, isaBuilt: [], counterMode: "none", counterNote: "store benchmark",
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
            batch.append(Sample(op: "insert", variant: i % 2 == 0 ? "reference" : "optimized", sequence: i,
                                iterations: 1000, wallNs: wall, cpuNs: cpu, overheadNs: 120, counters: counters))
        }
        let clock = ContinuousClock()
        let start = clock.now
        try store.insertSamples(runID: runID, opID: opID, samples: batch)
        let elapsed = clock.now - start
        try store.finishRun(id: runID, status: .complete)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return (batch.count * (1 + max(0, countersPerSample)), seconds)
    }
}
