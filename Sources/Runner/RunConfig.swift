import BenchModel
import Foundation
import Suite

/// How counters are chosen for a run.
public enum CounterMode: String, Sendable, CaseIterable {
    /// Hardware counters when the machine has a usable PMU, else simulated counters (callgrind)
    /// when valgrind is usable, else a timing-only run — and the run says which.
    case auto
    /// Hardware counters or fail.
    case hw
    /// Simulated counters (callgrind) or fail.
    case sim
    /// No counters (timing only).
    case none
}

/// Options of one run (from the CLI).
public struct RunConfig: Sendable {
    public var label: String?
    /// Free `KEY=VALUE` labels (`--tag`), stored in `run_tags` (validated by `RunTags`).
    public var tags: [String: String] = [:]
    /// Directory whose git state is recorded as the measured code (`--source-dir`); nil = the
    /// directory of the first suite file (see `GitInfo.measured`).
    public var sourceDirectory: String?
    public var counterMode: CounterMode = .auto
    /// Pin the measuring thread to this CPU.
    public var pinCPU: Int?
    /// Suppress the progress line.
    public var quiet = false
    /// Testing aid: add real work proportional to an op's time (`OP` → fraction, 0.05 = 5%).
    public var injectedSlowdown: [String: Double] = [:]
    /// Environment (injectable for tests).
    public var environment: [String: String] = ProcessInfo.processInfo.environment
    /// Extra key/values recorded in the run's config JSON.
    public var extraConfig: [String: String] = [:]
    /// Worker processes per op (1 = measure in this process). Variance lives between processes
    /// (memory placement, alignment), so statistics that decide anything need several.
    public var processes = 1
    /// Who measures: one side normally; two for `gate --against` (base = another fusebench
    /// binary, head = this one), whose workers alternate ABBA per op and fill one run each.
    public var sides: [RunSide] = [RunSide(name: "", executable: nil)]
    /// `--quick` caps, forwarded to workers.
    public var quick = false
    /// Before each op, wait until the hottest CPU sensor is below this (°C), when sensors exist.
    public var cooldownToC: Double?
    /// Before each op, wait this many seconds.
    public var cooldownSeconds: Double?
    /// Samples taken above this temperature (°C) are flagged as throttled.
    public var temperatureLimitC = 95.0
    /// The worker watchdog given explicitly (`--worker-timeout`, `FUSEBENCH_WORKER_TIMEOUT`; see
    /// `workerTimeoutRange`): a worker process that sends nothing for this many seconds is killed
    /// and its op fails. nil = not given: see `workerTimeout(isolated:)`.
    public var workerTimeoutSeconds: Double?

    /// The watchdog of ops that require isolation (plug-ins, `isolated` Swift kernels) when none
    /// is given: long enough for one build, one reference run or one batch of any op of the
    /// bundled suites on a slow machine.
    public static let defaultWorkerTimeout = 120.0
    /// Accepted `--worker-timeout` values (seconds).
    public static let workerTimeoutRange: ClosedRange<Double> = 1...86_400
    /// Environment variable giving the worker timeout when `--worker-timeout` is not used.
    public static let workerTimeoutVariable = "FUSEBENCH_WORKER_TIMEOUT"

    /// Callgrind processes run at once by the simulated-counter pass (`--sim-jobs`); default: the
    /// online CPUs. They run after the op's timed batches, never during them.
    public var simJobs = RunConfig.onlineCPUs
    /// Wall-time budget of the whole run's simulated-counter pass in seconds (`--sim-budget`); a
    /// variant estimated beyond its share gets fewer iterations or is skipped (see `SimBudget`).
    public var simBudgetSeconds = RunConfig.defaultSimBudget
    /// Reuse and store simulated samples in the database's cache (`--sim-cache on|off`).
    public var simCache = true

    /// Default `--sim-budget` (seconds): keeps `suites/fusion.toml` with default flags within
    /// 5 minutes on a 2-core machine without a PMU (docs/results.md, "Simulated counters").
    public static let defaultSimBudget = 120.0
    /// Accepted `--sim-budget` values (seconds).
    public static let simBudgetRange: ClosedRange<Double> = 1...86_400
    /// Accepted `--sim-jobs` values.
    public static let simJobsRange: ClosedRange<Int> = 1...256
    /// Number of online CPUs (at least 1).
    public static var onlineCPUs: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    public init() {}

    /// The watchdog of a worker measuring an op (nil = none): the explicit `workerTimeoutSeconds`
    /// for every op; without one, `defaultWorkerTimeout` only for ops whose factory requires
    /// isolation (`isolated`), whose kernels are foreign code that may hang. Other ops (built-in
    /// kinds, `gate --against` workers) keep running however long one verification or batch takes.
    public func workerTimeout(isolated: Bool) -> Double? {
        workerTimeoutSeconds ?? (isolated ? RunConfig.defaultWorkerTimeout : nil)
    }

    /// True when every sample is taken in this process (no workers).
    public var inProcess: Bool { processes <= 1 && sides.count == 1 && sides[0].executable == nil }
}

/// One measuring side of a run.
public struct RunSide: Sendable {
    /// Label suffix (`base`, `head`) or empty.
    public var name: String
    /// fusebench executable of the workers; nil = this binary.
    public var executable: String?
    /// Executable for this side's callgrind pass when it is not `executable` itself (e.g. an
    /// AVX2 build of the `--against` binary); nil = no sim pass for a foreign side.
    public var simExecutable: String?
    /// This side's own ops (`gate --against-suite`: the base checkout's suite files), by
    /// `SUITE/OP` of the run's plan; nil = the plan's ops. Its workers, callgrind pass and family
    /// extras load these, so a plug-in library path resolves in that side's checkout.
    public var ops: [OpKey: PlannedOp]?

    public init(name: String, executable: String?, simExecutable: String? = nil, ops: [OpKey: PlannedOp]? = nil) {
        self.name = name
        self.executable = executable
        self.simExecutable = simExecutable
        self.ops = ops
    }

    /// What this side measures for the plan's `op`: its own op of the same `SUITE/OP` when it
    /// has its own suites, else `op` itself.
    public func op(for op: PlannedOp) -> PlannedOp {
        ops?[op.key] ?? op
    }
}

extension RunConfig {
    /// Reads the worker timeout from `FUSEBENCH_WORKER_TIMEOUT` (nil when unset or empty).
    ///
    /// - Throws: `RunError` when the value is not a number of seconds in `workerTimeoutRange`.
    public static func workerTimeout(environment: [String: String]) throws -> Double? {
        guard let text = environment[workerTimeoutVariable], !text.isEmpty else { return nil }
        guard let s = Double(text), workerTimeoutRange.contains(s) else {
            throw RunError("\(workerTimeoutVariable)=\(text): expected seconds from \(Int(workerTimeoutRange.lowerBound)) to \(Int(workerTimeoutRange.upperBound))")
        }
        return s
    }
}

/// Errors that stop a run before or while it measures (exit code 3 at the CLI).
public struct RunError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

/// One op that could not be measured to the end (its worker crashed or hung): the run keeps what
/// the op's workers sent, goes on with the next ops and ends `failed`.
public struct OpFailure: Error, CustomStringConvertible, Sendable {
    /// `SUITE/OP` of the op.
    public var op: String
    /// What happened, naming the worker, the signal (or the hang), the variant when known and
    /// the plug-in library when the op came from one, followed by the worker's last stderr lines.
    public var message: String

    /// A failure of `op`.
    public init(op: String, message: String) {
        self.op = op
        self.message = message
    }

    public var description: String { message }
}

/// SIGINT/SIGTERM arrived before any run existed in the store (exit 130 at the CLI; nothing was
/// measured, so nothing is lost).
public struct RunInterrupted: Error, CustomStringConvertible, Sendable {
    /// The signal received (0 when only a child process saw it).
    public var signal: Int32
    /// An interruption by `signal`.
    public init(signal: Int32) { self.signal = signal }
    /// The message printed before exiting 130.
    public var description: String { "interrupted (signal \(signal)) before the run started; nothing was measured or stored" }
}
