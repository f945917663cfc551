// BenchModel owns the plain value types that flow between modules (suite → runner → store →
// analysis → report): samples, counter readings, run metadata, machine fingerprint, accuracy
// checks. No I/O and no behaviour beyond small derived properties, so every module can depend on it.
import Foundation

/// Where a counter value came from. Values of different backends are never compared.
public enum CounterBackend: String, Codable, Sendable, CaseIterable {
    /// Hardware PMU through perf_event.
    case hw
    /// Simulated under callgrind (deterministic instruction / cache counts).
    case sim
}

/// The counters a run actually used (after `--counters auto` chose): the run's `counter_mode`
/// column, stored as its raw value.
public enum CounterSource: String, Codable, Sendable, CaseIterable {
    /// Hardware PMU through perf_event.
    case hw
    /// Simulated under callgrind.
    case sim
    /// Timing only.
    case none
}

/// One counter's delta over one sample batch.
public struct CounterValue: Codable, Sendable, Hashable {
    /// Event name as the user wrote it (e.g. `instructions`, `amd64_fam19h_zen3::RETIRED_INSTRUCTIONS`).
    public var event: String
    /// Delta over the batch, scaled by `timeEnabled / timeRunning` when the event was multiplexed.
    public var value: Double
    /// Unscaled delta as read from the kernel.
    public var raw: UInt64
    /// Nanoseconds the event was enabled during the batch.
    public var timeEnabled: UInt64
    /// Nanoseconds the event was actually counting during the batch.
    public var timeRunning: UInt64
    /// Backend that produced the value.
    public var backend: CounterBackend

    public init(event: String, value: Double, raw: UInt64, timeEnabled: UInt64, timeRunning: UInt64, backend: CounterBackend) {
        self.event = event
        self.value = value
        self.raw = raw
        self.timeEnabled = timeEnabled
        self.timeRunning = timeRunning
        self.backend = backend
    }

    /// True when the kernel time-shared the counter (value was scaled).
    public var multiplexed: Bool { timeRunning < timeEnabled }
}

/// Flags attached to a sample; stored as an integer bit set.
public struct SampleFlags: OptionSet, Codable, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// At least one counter was multiplexed and scaled.
    public static let multiplexed = SampleFlags(rawValue: 1 << 0)
    /// Reserved bit, never set by fusebench: outliers are a property of a sample relative to the
    /// others of its op and variant (which change when the gate merges samples), so analysis
    /// counts them (Tukey fences, `VariantStatistics.outliers`) instead of storing a flag. Kept so
    /// the bit is not reused with another meaning.
    public static let outlier = SampleFlags(rawValue: 1 << 1)
    /// Taken while the machine was throttled or hot (telemetry).
    public static let throttled = SampleFlags(rawValue: 1 << 2)
    /// The run had an injected slowdown for this op (testing aid).
    public static let injectedSlowdown = SampleFlags(rawValue: 1 << 3)
    /// Net time after overhead subtraction was not positive; the batch is unreliable.
    public static let belowOverhead = SampleFlags(rawValue: 1 << 4)
    /// Counts from the simulated (`sim`, callgrind) pass: no meaningful time, only counters.
    public static let simulated = SampleFlags(rawValue: 1 << 5)
    /// Wall time exceeded thread CPU time by more than half: the thread was descheduled (other
    /// work on a shared CPU) for part of the batch.
    public static let descheduled = SampleFlags(rawValue: 1 << 6)
}

/// Wall time of every iteration of one sample batch, for kernels that opt in (`IterationLabeled`
/// instances, e.g. the `edge` op): the clock is read between iterations, so `ns[i]` is the time
/// from the end of iteration i − 1 (or the batch start) to the end of iteration i. It includes one
/// clock read and the loop's bookkeeping, calibrated as `overheadNs` (not subtracted here).
public struct IterationLatencies: Codable, Sendable, Hashable {
    /// Raw wall time per iteration (ns), saturated at `UInt32.max` (≈ 4.3 s).
    public var ns: [UInt32]
    /// A small integer per iteration chosen by the kernel (early exit: the head the image left
    /// at, 1 or 2; batched early exit: how many images left at the exit head; otherwise 0).
    public var labels: [Int32]
    /// Calibrated per-iteration harness cost included in each `ns` value (clock read + loop).
    public var overheadNs: Double

    public init(ns: [UInt32], labels: [Int32], overheadNs: Double) {
        self.ns = ns
        self.labels = labels
        self.overheadNs = overheadNs
    }

    /// Per-iteration times with the calibrated overhead removed (never below 0).
    public var netNs: [Double] { ns.map { max(0, Double($0) - overheadNs) } }
}

/// One measured batch of iterations of one op variant.
public struct Sample: Codable, Sendable, Hashable, BenchmarkIdentified {
    /// Suite of the op (with `op` and `variant`, the benchmark's identity: see `key`).
    public var suite: String
    /// Benchmark op name within its suite (e.g. `gemm_128`).
    public var op: String
    /// Variant name (`reference`, `optimized`, ...).
    public var variant: String
    /// Position in the run's measurement order (0-based), shows the interleaving.
    public var sequence: Int
    /// Worker process that took the sample (0 for in-process runs).
    public var process: Int
    /// Iterations in the batch.
    public var iterations: Int
    /// Wall time of the whole batch in ns (CLOCK_MONOTONIC_RAW), before overhead subtraction.
    public var wallNs: Double
    /// Thread CPU time of the batch in ns.
    public var cpuNs: Double
    /// Calibrated harness overhead for this batch in ns (subtracted in `netWallNsPerIteration`).
    public var overheadNs: Double
    /// Counter deltas over the batch (empty in a timing-only run).
    public var counters: [CounterValue]
    /// Flags.
    public var flags: SampleFlags
    /// Per-iteration wall times and labels, when the kernel opted in (`IterationLabeled`); the
    /// count equals `iterations`. Optional in JSON, so workers of older builds still decode.
    public var iterationLatencies: IterationLatencies?
    /// Self cost per function over the batch (top functions, the rest summed), for `.simulated`
    /// samples whose callgrind output named its functions. Optional in JSON.
    public var functionProfile: FunctionProfile?

    /// Creates a sample of benchmark `key`.
    public init(key: BenchmarkKey, sequence: Int, process: Int = 0, iterations: Int, wallNs: Double,
                cpuNs: Double, overheadNs: Double, counters: [CounterValue] = [], flags: SampleFlags = [],
                iterationLatencies: IterationLatencies? = nil, functionProfile: FunctionProfile? = nil) {
        self.iterationLatencies = iterationLatencies
        self.functionProfile = functionProfile
        self.suite = key.suite
        self.op = key.op
        self.variant = key.variant
        self.sequence = sequence
        self.process = process
        self.iterations = iterations
        self.wallNs = wallNs
        self.cpuNs = cpuNs
        self.overheadNs = overheadNs
        self.counters = counters
        self.flags = flags
    }

    enum CodingKeys: String, CodingKey {
        case suite, op, variant, sequence, process, iterations, wallNs, cpuNs, overheadNs, counters, flags, iterationLatencies
        case functionProfile
    }

    /// Decodes a sample; `suite` may be missing (workers of builds before it was sent), and is
    /// then empty until the parent, which knows the op it asked for, sets it.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        suite = try c.decodeIfPresent(String.self, forKey: .suite) ?? ""
        op = try c.decode(String.self, forKey: .op)
        variant = try c.decode(String.self, forKey: .variant)
        sequence = try c.decode(Int.self, forKey: .sequence)
        process = try c.decode(Int.self, forKey: .process)
        iterations = try c.decode(Int.self, forKey: .iterations)
        wallNs = try c.decode(Double.self, forKey: .wallNs)
        cpuNs = try c.decode(Double.self, forKey: .cpuNs)
        overheadNs = try c.decode(Double.self, forKey: .overheadNs)
        counters = try c.decode([CounterValue].self, forKey: .counters)
        flags = try c.decode(SampleFlags.self, forKey: .flags)
        iterationLatencies = try c.decodeIfPresent(IterationLatencies.self, forKey: .iterationLatencies)
        functionProfile = try c.decodeIfPresent(FunctionProfile.self, forKey: .functionProfile)
    }

    /// Per-iteration wall time with the calibrated overhead removed (never below 0).
    public var netWallNsPerIteration: Double {
        max(0, wallNs - overheadNs) / Double(max(1, iterations))
    }

    /// Per-iteration CPU time (overhead is not subtracted: it is calibrated on the wall clock).
    public var cpuNsPerIteration: Double { cpuNs / Double(max(1, iterations)) }

    /// Per-iteration value of a counter, if present.
    public func counterPerIteration(_ event: String) -> Double? {
        counters.first { $0.event == event }.map { $0.value / Double(max(1, iterations)) }
    }
}

/// Lifecycle of a run in the store.
public enum RunStatus: String, Codable, Sendable, CaseIterable {
    case running, complete, interrupted, failed
    /// A run left `running` by a process that no longer exists.
    case stale
}

/// What was verified before timing an optimized variant.
public struct AccuracyCheck: Codable, Sendable, Hashable, BenchmarkIdentified {
    /// Suite of the op. The accuracy comparators (which know no suites) leave it empty; the
    /// runner sets it from the planned op, the store from the op's row.
    public var suite: String
    /// Op name within its suite.
    public var op: String
    /// The checked (optimized) variant.
    public var variant: String
    /// The variant it was checked against.
    public var referenceVariant: String
    /// Largest absolute difference between the two outputs.
    public var maxAbsError: Double
    /// Largest relative difference between the two outputs.
    public var maxRelError: Double
    /// Cosine similarity of the two outputs.
    public var cosine: Double
    /// The tolerance the check applied.
    public var tolerance: Tolerance
    /// Whether the variant was within `tolerance`.
    public var passed: Bool
    /// Human-readable reason when `passed` is false.
    public var reason: String?
    /// The error figure the run table shows: the largest elementwise error divided by the scale
    /// named by `normalization` (for GEMM-like ops the standard bound Σ_k |a_ik·b_kj| of each
    /// element; else the output's largest magnitude). nil for checks stored before it existed
    /// (schema v13) and for failed checks that compared nothing.
    public var normalizedError: Double?
    /// What `normalizedError` is relative to; nil when unknown (older rows).
    public var normalization: ErrorNormalization?
    /// |reference| at the element with the largest relative error (`maxRelError`): the context
    /// that tells a large relative error on an output near zero from a real one. nil when unknown.
    public var worstRelReference: Double?
    /// Root mean square of the reference output (‖c‖₂/√n), to compare `worstRelReference` with.
    public var outputRMS: Double?

    /// Creates a check record; `suite` may be left empty by comparators and filled in later.
    public init(suite: String = "", op: String, variant: String, referenceVariant: String, maxAbsError: Double, maxRelError: Double,
                cosine: Double, tolerance: Tolerance, passed: Bool, reason: String? = nil, normalizedError: Double? = nil,
                normalization: ErrorNormalization? = nil, worstRelReference: Double? = nil, outputRMS: Double? = nil) {
        self.suite = suite
        self.op = op
        self.variant = variant
        self.referenceVariant = referenceVariant
        self.maxAbsError = maxAbsError
        self.maxRelError = maxRelError
        self.cosine = cosine
        self.tolerance = tolerance
        self.passed = passed
        self.reason = reason
        self.normalizedError = normalizedError
        self.normalization = normalization
        self.worstRelReference = worstRelReference
        self.outputRMS = outputRMS
    }

    enum CodingKeys: String, CodingKey {
        case suite, op, variant, referenceVariant, maxAbsError, maxRelError, cosine, tolerance, passed, reason
        case normalizedError, normalization, worstRelReference, outputRMS
    }

    /// Decodes a check; `suite` may be missing (workers of builds before it was sent).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        suite = try c.decodeIfPresent(String.self, forKey: .suite) ?? ""
        op = try c.decode(String.self, forKey: .op)
        variant = try c.decode(String.self, forKey: .variant)
        referenceVariant = try c.decode(String.self, forKey: .referenceVariant)
        maxAbsError = try c.decode(Double.self, forKey: .maxAbsError)
        maxRelError = try c.decode(Double.self, forKey: .maxRelError)
        cosine = try c.decode(Double.self, forKey: .cosine)
        tolerance = try c.decode(Tolerance.self, forKey: .tolerance)
        passed = try c.decode(Bool.self, forKey: .passed)
        reason = try c.decodeIfPresent(String.self, forKey: .reason)
        normalizedError = try c.decodeIfPresent(Double.self, forKey: .normalizedError)
        normalization = try c.decodeIfPresent(ErrorNormalization.self, forKey: .normalization)
        worstRelReference = try c.decodeIfPresent(Double.self, forKey: .worstRelReference)
        outputRMS = try c.decodeIfPresent(Double.self, forKey: .outputRMS)
    }
}

/// What an accuracy check's `normalizedError` is relative to (stored as the raw value).
public enum ErrorNormalization: String, Codable, Sendable, Hashable, CaseIterable {
    /// Each element's error over its standard floating-point error bound's scale, Σ_k |a_ik·b_kj|
    /// (plus |bias| where the op adds one): GEMM, batched GEMM, GEMV, linear.
    case bound
    /// The largest error over the reference output's largest magnitude (max |c|): every op without
    /// such a bound (elementwise, normalization, attention, convolution, fused models, integer
    /// outputs of user kernels).
    case outputMax = "max|c|"
    /// Task-accuracy checks: `normalizedError` is the metric's drop (the band is on that drop).
    case taskMetric = "task metric"

    /// How the run table names the scale (`of bound`, `of max|c|`).
    public var label: String {
        switch self {
        case .bound: "of bound"
        case .outputMax: "of max|c|"
        case .taskMetric: "metric drop"
        }
    }
}

/// Accuracy band an optimized variant must stay inside relative to its reference.
///
/// An element passes when `|a-b| <= abs + rel*|ref|` (numpy `isclose` semantics); the whole
/// output passes when every element passes and the cosine similarity is at least `minCosine`.
public struct Tolerance: Codable, Sendable, Hashable {
    public var abs: Double
    public var rel: Double
    public var minCosine: Double
    public init(abs: Double, rel: Double, minCosine: Double = 0.9999) {
        self.abs = abs
        self.rel = rel
        self.minCosine = minCosine
    }
}

/// Description of a benchmark op as stored with a run.
public struct OpRecord: Codable, Sendable, Hashable {
    /// Suite the op came from.
    public var suite: String
    /// Op name, unique within its suite.
    public var name: String
    /// Kernel kind (`gemm`, `bias_relu`, ...).
    public var kind: String
    /// Shape parameters (e.g. `m`, `n`, `k`).
    public var shape: [String: Int]
    /// Element type (`f32`).
    public var dtype: String
    /// Floating-point operations per iteration (0 when not meaningful).
    public var flops: Double
    /// Bytes moved per iteration by an ideal implementation (compulsory traffic).
    public var bytes: Double
    /// Regression threshold as a fraction (0.05 = 5%).
    public var threshold: Double

    public init(suite: String, name: String, kind: String, shape: [String: Int], dtype: String,
                flops: Double, bytes: Double, threshold: Double) {
        self.suite = suite
        self.name = name
        self.kind = kind
        self.shape = shape
        self.dtype = dtype
        self.flops = flops
        self.bytes = bytes
        self.threshold = threshold
    }

    /// The op's identity (`SUITE/OP`).
    public var key: OpKey { OpKey(suite: suite, op: name) }

    /// The benchmark of `variant` of this op.
    public func benchmarkKey(variant: String) -> BenchmarkKey { BenchmarkKey(suite: suite, op: name, variant: variant) }

    /// `SUITE/OP/VARIANT` benchmark name used in tables and exports.
    public func benchmarkName(variant: String) -> String { benchmarkKey(variant: variant).description }
}

/// One telemetry value stored in `thermal_readings`: taken with a sample batch, or run-level.
public struct TelemetryRow: Codable, Sendable, Hashable {
    /// Sequence of the sample it belongs to (nil for run-level rows).
    public var sampleSequence: Int?
    /// `temperature`, `frequency`, `throttle`, `energy`, `effective_ghz`.
    public var kind: String
    /// Sensor, domain or CPU.
    public var label: String
    /// Value, or nil when the source could not be read (`note` says why).
    public var value: Double?
    public var unit: String
    public var note: String

    public init(sampleSequence: Int?, kind: String, label: String, value: Double?, unit: String, note: String = "") {
        self.sampleSequence = sampleSequence
        self.kind = kind
        self.label = label
        self.value = value
        self.unit = unit
        self.note = note
    }
}
