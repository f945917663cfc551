import Foundation

/// Identity of the machine a run was measured on; comparisons across fingerprints are flagged.
public struct MachineFingerprint: Codable, Sendable, Hashable {
    public var cpuModel: String
    public var logicalCPUs: Int
    /// ISA features the CPU supports (e.g. `avx2`, `fma`, `avx512f`).
    public var isaHost: [String]
    /// Caches as reported by sysfs, e.g. `L1d 48K`, `L2 1024K`, `L3 32768K`.
    public var caches: [String]
    public var kernel: String
    /// cpufreq governor or `unavailable`.
    public var governor: String
    public var perfEventParanoid: Int?
    /// Hypervisor vendor or `none`.
    public var virtualization: String
    /// Whether a hardware PMU is usable for counting.
    public var pmuAvailable: Bool

    public init(cpuModel: String, logicalCPUs: Int, isaHost: [String], caches: [String], kernel: String,
                governor: String, perfEventParanoid: Int?, virtualization: String, pmuAvailable: Bool) {
        self.cpuModel = cpuModel
        self.logicalCPUs = logicalCPUs
        self.isaHost = isaHost
        self.caches = caches
        self.kernel = kernel
        self.governor = governor
        self.perfEventParanoid = perfEventParanoid
        self.virtualization = virtualization
        self.pmuAvailable = pmuAvailable
    }

    /// Stable short key for equality checks across runs.
    public var key: String {
        "\(cpuModel)|\(logicalCPUs)|\(isaHost.joined(separator: ","))|\(pmuAvailable)"
    }
}

/// Calibrated harness costs for a run, stored with it and subtracted from samples.
public struct Calibration: Codable, Sendable, Hashable {
    /// Cost of one clock read pair (ns).
    public var clockPairNs: Double
    /// Cost of reading the counter groups once (ns); 0 without counters.
    public var counterReadNs: Double
    /// Cost of an empty batch (timers + counter reads + loop), median over trials (ns).
    public var emptyBatchNs: Double
    /// Per-iteration cost of the empty measurement loop (ns).
    public var perIterationNs: Double
    /// Minimum batch duration the runner aims for (ns).
    public var targetBatchNs: Double
    /// Per-iteration cost of the measurement loop when every iteration is timed as well
    /// (`IterationLabeled` kernels: one clock read, the label read and two stores per iteration);
    /// nil in calibrations stored by builds without per-iteration timing.
    public var perTimedIterationNs: Double?

    public init(clockPairNs: Double, counterReadNs: Double, emptyBatchNs: Double, perIterationNs: Double, targetBatchNs: Double) {
        self.clockPairNs = clockPairNs
        self.counterReadNs = counterReadNs
        self.emptyBatchNs = emptyBatchNs
        self.perIterationNs = perIterationNs
        self.targetBatchNs = targetBatchNs
    }

    /// Overhead of a batch of `iterations` iterations.
    public func overhead(iterations: Int) -> Double { emptyBatchNs + perIterationNs * Double(iterations) }

    /// Overhead of a batch of `iterations` individually timed iterations (falls back to the
    /// plain loop cost when the calibration predates per-iteration timing).
    public func timedOverhead(iterations: Int) -> Double {
        emptyBatchNs + (perTimedIterationNs ?? perIterationNs) * Double(iterations)
    }

    /// Share of a 1 ms op that one sample's overhead represents, for a batch of one iteration.
    public var shareOfOneMillisecond: Double { overhead(iterations: 1) / 1_000_000 }
}

/// Everything about a run except its samples.
public struct RunInfo: Codable, Sendable, Hashable {
    public var id: Int64
    public var startedAt: Date
    public var endedAt: Date?
    public var status: RunStatus
    public var label: String?
    public var suites: [String]
    /// FNV-1a 64 content hash of the suite files (hex); see `ContentHash`.
    public var suiteHash: String
    public var gitCommit: String?
    public var gitBranch: String?
    public var gitDirty: Bool?
    public var harnessVersion: String
    public var machine: MachineFingerprint
    /// ISA features the kernels were compiled for.
    public var isaBuilt: [String]
    /// Counter backend in use (stored as `hw`, `sim` or `none`); `counterNote` says why.
    public var counterMode: CounterSource
    public var counterNote: String
    public var calibration: Calibration?
    /// Free-form configuration (CLI flags, suite defaults) as JSON text.
    public var configJSON: String
    /// PID of the process that owns a `running` run (for stale detection).
    public var pid: Int32
    /// The run's identity across databases (lower-case UUID text, `runs.uuid`), kept by `push` and
    /// `merge`; `id` is local to one database. Empty for a run not stored yet (`beginRun` assigns one).
    public var uuid: String

    public init(id: Int64 = 0, startedAt: Date, endedAt: Date? = nil, status: RunStatus, label: String?, suites: [String],
                suiteHash: String, gitCommit: String?, gitBranch: String?, gitDirty: Bool?, harnessVersion: String,
                machine: MachineFingerprint, isaBuilt: [String], counterMode: CounterSource, counterNote: String,
                calibration: Calibration?, configJSON: String, pid: Int32, uuid: String = "") {
        self.id = id
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.status = status
        self.label = label
        self.suites = suites
        self.suiteHash = suiteHash
        self.gitCommit = gitCommit
        self.gitBranch = gitBranch
        self.gitDirty = gitDirty
        self.harnessVersion = harnessVersion
        self.machine = machine
        self.isaBuilt = isaBuilt
        self.counterMode = counterMode
        self.counterNote = counterNote
        self.calibration = calibration
        self.configJSON = configJSON
        self.pid = pid
        self.uuid = uuid
    }
}

/// Version of the harness, stored with every run.
public enum Harness {
    public static let version = "0.1.0"

    /// Path of the running executable (workers and the callgrind pass re-execute it).
    public static var executablePath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
