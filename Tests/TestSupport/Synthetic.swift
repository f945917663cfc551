import BenchModel
import Foundation
import Store

// TestSupport: fixtures shared by several test targets (a library target, because test targets
// cannot share source files).

/// Synthetic runs written through `ResultStore`, so that verdicts and exports are deterministic
/// (no measurement, no clock).
public enum Synthetic {
    public static let machine = MachineFingerprint(cpuModel: "Synthetic CPU 9000", logicalCPUs: 2, isaHost: ["avx2", "fma"],
                                            caches: ["L1d 32K", "L1i 32K", "L2 512K", "L3 16M"], kernel: "6.1.0-test",
                                            governor: "performance", perfEventParanoid: 2, virtualization: "none",
                                            pmuAvailable: false)

    /// Small deterministic generator (SplitMix64) for reproducible noise.
    public struct Noise {
        public var state: UInt64
        public init(seed: UInt64) { state = seed }
        /// Uniform in [-1, 1).
        public mutating func next() -> Double {
            let z = SplitMix64.step(&state)
            return Double(z >> 11) / Double(UInt64(1) << 52) - 1
        }
    }

    /// One op of a synthetic run: per variant, per process, the per-iteration times (ns).
    public struct Op {
        public var name: String
        /// Suite of the op; nil = the run's `suite`. Ops of two suites may share a name.
        public var suite: String?
        public var kind = "gemm"
        public var threshold = 0.05
        public var flops: Double = 2 * 16 * 16 * 16
        public var shape: [String: Int] = ["m": 16, "n": 16, "k": 16]
        /// variant → process → ns per iteration of each batch.
        public var values: [String: [[Double]]]

        public init(name: String, suite: String? = nil, kind: String = "gemm", threshold: Double = 0.05,
                    flops: Double = 2 * 16 * 16 * 16, values: [String: [[Double]]]) {
            self.name = name
            self.suite = suite
            self.kind = kind
            self.threshold = threshold
            self.flops = flops
            self.values = values
        }
    }

    /// Per-process values around `median` with ± `noise` (fraction) uniform batch noise and
    /// ± `processSpread` (fraction) uniform between-process offsets.
    public static func values(median: Double, processes: Int = 5, samples: Int = 8, noise: Double = 0.005,
                       processSpread: Double = 0, seed: UInt64) -> [[Double]] {
        var rng = Noise(seed: seed)
        return (0..<processes).map { _ in
            let offset = 1 + processSpread * rng.next()
            return (0..<samples).map { _ in median * offset * (1 + noise * rng.next()) }
        }
    }

    /// A two-variant op: `reference` at `median`, `optimized` at half of it.
    public static func op(_ name: String, median: Double, noise: Double = 0.005, processes: Int = 5, samples: Int = 8,
                   processSpread: Double = 0, seed: UInt64, threshold: Double = 0.05) -> Op {
        Op(name: name, threshold: threshold, values: [
            "reference": values(median: median, processes: processes, samples: samples, noise: noise,
                                processSpread: processSpread, seed: seed),
            "optimized": values(median: median / 2, processes: processes, samples: samples, noise: noise,
                                processSpread: processSpread, seed: seed &+ 1),
        ])
    }

    /// Writes a run of suite `suite` (and of the suites ops name) with `ops` and finishes it with
    /// `status`; returns its id.
    /// `checks` (`OP/VARIANT` or `SUITE/OP/VARIANT` → passed) adds accuracy checks against `reference`.
    @discardableResult
    public static func run(_ store: ResultStore, suite: String = "tiny", ops: [Op], label: String? = nil,
                    harness: String = Harness.version, machine: MachineFingerprint = Synthetic.machine,
                    status: RunStatus = .complete, checks: [String: Bool] = [:],
                    checkTolerance: Tolerance = Tolerance(abs: 1e-4, rel: 1e-4),
                    flags: (_ variant: String, _ index: Int) -> SampleFlags = { _, _ in [] },
                    iterations: Int = 1000,
                    latencies: (_ op: String, _ variant: String, _ nsPerIteration: Double, _ iterations: Int) -> IterationLatencies? = { _, _, _, _ in nil },
                    counters: (_ variant: String, _ nsPerIteration: Double, _ iterations: Int) -> [CounterValue] = { _, _, _ in [] },
                    info customize: (inout RunInfo) -> Void = { _ in }
    ) throws -> Int64 {
        var suites = [suite]
        for op in ops { if let s = op.suite, !suites.contains(s) { suites.append(s) } }
        var info = RunInfo(startedAt: Date(), status: .running, label: label, suites: suites, suiteHash: "00000000feedf00d",
                           gitCommit: "0123456789abcdef0123456789abcdef01234567", gitBranch: "test", gitDirty: false,
                           harnessVersion: harness, machine: machine, isaBuilt: ["avx2", "fma"], counterMode: .none,
                           counterNote: "synthetic", calibration: nil, configJSON: "{}", pid: getpid())
        customize(&info)
        let id = try store.beginRun(info)
        var sequence = 0
        for op in ops {
            let record = OpRecord(suite: op.suite ?? suite, name: op.name, kind: op.kind, shape: op.shape, dtype: "f32",
                                  flops: op.flops, bytes: 3 * 16 * 16 * 4, threshold: op.threshold)
            let opID = try store.recordOp(runID: id, op: record)
            var samples: [Sample] = []
            let variants = op.values.keys.sorted { ($0 == "reference" ? 0 : 1, $0) < ($1 == "reference" ? 0 : 1, $1) }
            for (key, passed) in checks.sorted(by: { $0.key < $1.key }) {
                // `OP/VARIANT` checks the op of that name in every suite, `SUITE/OP/VARIANT` one suite's.
                let variant: String
                if let k = BenchmarkKey.parse(key) {
                    guard k.opKey == record.key else { continue }
                    variant = k.variant
                } else {
                    guard key.hasPrefix(op.name + "/") else { continue }
                    variant = String(key.dropFirst(op.name.count + 1))
                }
                try store.insertAccuracy(runID: id, opID: opID, check: AccuracyCheck(
                    suite: record.suite, op: op.name, variant: variant, referenceVariant: "reference", maxAbsError: passed ? 1e-7 : 0.5,
                    maxRelError: passed ? 1e-7 : 0.5, cosine: passed ? 1 : 0.5, tolerance: checkTolerance,
                    passed: passed, reason: passed ? nil : "max abs error 0.5 > 1e-4 & <bad>"))
            }
            for variant in variants {
                for (process, values) in op.values[variant]!.enumerated() {
                    for v in values {
                        samples.append(Sample(key: BenchmarkKey(suite: op.suite ?? suite, op: op.name, variant: variant), sequence: sequence, process: process,
                                              iterations: iterations, wallNs: v * Double(iterations),
                                              cpuNs: v * Double(iterations) * 0.99, overheadNs: 0,
                                              counters: counters(variant, v, iterations), flags: flags(variant, samples.count),
                                              iterationLatencies: latencies(op.name, variant, v, iterations)))
                        sequence += 1
                    }
                }
            }
            try store.insertSamples(runID: id, opID: opID, samples: samples)
        }
        try store.finishRun(id: id, status: status)
        return id
    }
}
