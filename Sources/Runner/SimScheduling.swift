// What the simulated-counter pass needs around callgrind itself: the cache key of a simulated
// sample (`SimCacheKey`), the run's budget (`SimBudget`: how long a variant would take under
// callgrind, and what to do when it is over its share) and the parallel runner of callgrind
// processes (`SimJobs`).
import BenchModel
import Counters
import Foundation
import Kernels
import Suite

/// What a side's callgrind runs with: everything of the cache key that is not the op.
struct SimIdentity: Sendable, Hashable {
    /// Content hash (`ContentHash.file(atPath:)`) of the executable callgrind runs (the stripped
    /// copy is made of it), so only counts of exactly these bytes are ever served.
    var binaryHash: String
    /// valgrind's version, the callgrind options and the host CPU whose caches it simulates.
    var simulator: String
    /// The kernel path (ISA) the executable takes under valgrind.
    var isaPath: String
}

/// The cache key of one simulated sample: the identity of the binary and simulator, the op's
/// content (kind, shape, dtype, seed; for an entry of a registered family, e.g. `[[model]]`, the
/// suite file's content hash; for a plug-in op, the library's content hash), the variant and the
/// iteration count. Renaming an op or moving a file keeps the key; changing anything that can
/// change what callgrind counts changes it.
struct SimCacheKey: Hashable {
    /// Binary, simulator and ISA path.
    var identity: SimIdentity
    /// The canonical text (stored as `sim_cache.key`).
    var text: String

    /// Version of the key format; bump when what the key covers changes.
    static let format = "fusebench-sim-cache-1"

    /// The key of `variant` of `op` counted over `iterations`; `suiteHash` is the suite file's
    /// content hash (used only for ops of a registered family).
    init(identity: SimIdentity, op: PlannedOp, variant: String, iterations: Int, suiteHash: String?) {
        self.identity = identity
        var parts = [
            Self.format,
            "binary \(identity.binaryHash)",
            "simulator \(identity.simulator)",
            "isa \(identity.isaPath)",
            "kind \(op.spec.kind)",
            "shape \(op.spec.shape.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
            "dtype \(op.spec.dtype)",
            "seed \(op.spec.settings.seed)",
        ]
        if op.spec.family != nil { parts.append("entry \(suiteHash ?? "unknown")") }
        if let plugin = (op.factory as? any OpFamilyExtras)?.runNotes["plugin.hash"] { parts.append("plugin \(plugin)") }
        parts += ["variant \(variant)", "iterations \(iterations)"]
        text = parts.joined(separator: "\n")
    }
}

/// One variant of one side's op to count.
struct SimWorkItem {
    var request: SimRequest
    var variant: String
    /// Iterations to count (the op's `simIterations`, or fewer by the budget).
    var iterations: Int
    /// Median timed ns per iteration of the variant (nil when it was not timed).
    var perIterationNs: Double?
}

/// The run's budget for callgrind (`--sim-budget`).
///
/// A variant's callgrind time is estimated as `startup + slowdown × t × (n + 1)`: t its median timed
/// ns per iteration, n the iterations counted plus the untimed set-up iteration `exec` runs, and
/// `startup` valgrind's start of the executable. `slowdown` starts at `defaultSlowdown` and is
/// replaced by the median of the factors observed in this run's callgrind runs. Each variant may
/// use an equal share of what is left: (budget − spent − committed) × min(jobs, variants left) / variants left. A
/// variant over its share is counted over fewer iterations (the largest power of two that fits,
/// so the same timing gives the same count and the cache keeps hitting) or, when even one
/// iteration does not fit, skipped. Instruction counts are compared per iteration, so a reduced
/// count compares with a full one.
struct SimBudget {
    /// The whole run's budget (seconds).
    let seconds: Double
    /// Callgrind processes at once.
    let jobs: Int
    /// Variants not yet planned (every variant of every op and side, an upper bound).
    private(set) var remainingItems: Int
    /// Wall time spent in callgrind so far (seconds).
    private(set) var spentSeconds = 0.0
    /// Estimated wall time of the runs planned but not yet done (seconds, already divided by jobs).
    private var committedSeconds = 0.0
    /// Estimated valgrind start-up per run (seconds).
    var startupSeconds = SimBudget.defaultStartupSeconds
    /// callgrind's slowdown over the timed code (× wall time), refined by observation.
    private(set) var slowdown = SimBudget.defaultSlowdown
    private var observed: [Double] = []

    /// Start-up of one callgrind run of fusebench before the first observation (seconds; 2-core Zen VM).
    static let defaultStartupSeconds = 1.5
    /// callgrind with cache and branch simulation runs vectorised kernels about this many times slower.
    static let defaultSlowdown = 60.0

    /// What to do with one variant.
    enum Decision: Equatable {
        /// Count over this many iterations; the reason is set when the count was reduced.
        case run(Int, String?)
        /// Do not count it, because of the reason.
        case skip(String)
    }

    init(seconds: Double, jobs: Int, items: Int) {
        self.seconds = seconds
        self.jobs = max(1, jobs)
        remainingItems = items
    }

    /// Median of `(wall − overhead) / iterations` over the timing samples of `variant` (not
    /// simulated), nil when there are none.
    static func perIterationNs(_ samples: [Sample], variant: String) -> Double? {
        let values = samples.filter { $0.variant == variant && !$0.flags.contains(.simulated) && $0.iterations > 0 }
            .map { ($0.wallNs - $0.overheadNs) / Double($0.iterations) }
            .filter { $0.isFinite && $0 > 0 }
        return values.isEmpty ? nil : Median.of(values)
    }

    /// Estimated seconds of counting `iterations` iterations of a variant taking `perIterationNs`.
    func estimate(perIterationNs: Double, iterations: Int) -> Double {
        startupSeconds + slowdown * perIterationNs * Double(iterations + 1) / 1e9
    }

    /// The share of the budget one more variant may use now (seconds of one callgrind process): what
    /// is left, times the processes that can run at once (at most one per variant left), over the
    /// variants left.
    var share: Double {
        let left = max(1, remainingItems)
        return max(0, seconds - spentSeconds - committedSeconds) * Double(min(jobs, left)) / Double(left)
    }

    /// Decides `item`'s iteration count (or skip) and commits its estimated time; call once per
    /// item, cache hits included (`account` only).
    mutating func plan(item: SimWorkItem) -> Decision {
        defer { remainingItems = max(0, remainingItems - 1) }
        guard let t = item.perIterationNs else { return .run(item.iterations, nil) }
        let share = self.share
        let full = estimate(perIterationNs: t, iterations: item.iterations)
        if full <= share {
            committedSeconds += full / Double(jobs)
            return .run(item.iterations, nil)
        }
        var n = 1
        while n * 2 < item.iterations, estimate(perIterationNs: t, iterations: n * 2) <= share { n *= 2 }
        let one = estimate(perIterationNs: t, iterations: n)
        let why = String(format: "estimated %.1f s under callgrind (%.3g ms/iteration × %d iterations × slowdown %.0f + start-up) exceeds its share %.1f s of --sim-budget %g s",
                          full, t / 1e6, item.iterations, slowdown, share, seconds)
        guard one <= share else { return .skip("skipped: \(why)") }
        committedSeconds += one / Double(jobs)
        return .run(n, "\(item.iterations) → \(n) iteration(s): \(why)")
    }

    /// Counts a variant served from the cache (it uses no budget).
    mutating func account() {
        remainingItems = max(0, remainingItems - 1)
    }

    /// Books `seconds` of wall time spent on callgrind runs just done (their commitments end).
    mutating func spent(seconds: Double) {
        spentSeconds += seconds
        committedSeconds = 0
    }

    /// Refines the slowdown from one callgrind run of `item` that took `wallNs`.
    mutating func observe(item: SimWorkItem, wallNs: Double) {
        guard let t = item.perIterationNs else { return }
        let work = t * Double(item.iterations + 1)
        let factor = (wallNs - startupSeconds * 1e9) / work
        guard factor.isFinite, factor > 1 else { return }
        observed.append(factor)
        slowdown = Median.of(observed)
    }
}

/// One callgrind run: the runner and the worker's arguments.
struct SimJob: Sendable {
    var callgrind: Callgrind
    var arguments: [String]
}

/// How one callgrind run ended.
enum SimOutcome: Sendable {
    /// Counted, in `wallNs` of wall time.
    case counted(CallgrindOutput, wallNs: Double)
    /// Killed because `shouldStop` said so (its process reaped, its folder removed).
    case interrupted
    /// Never started: the run was interrupted before its turn.
    case notStarted
    /// callgrind could not run or its output could not be read.
    case failed(any Error)
}

/// Runs callgrind processes, at most `parallel` at once.
enum SimJobs {
    /// Runs every job, up to `parallel` at once, each on its own thread; returns the outcomes in
    /// job order. Once `shouldStop` says yes (it is asked every 50 ms by each running job) the
    /// running processes are killed and reaped and no further job starts.
    static func run(_ jobs: [SimJob], parallel: Int, shouldStop: @escaping @Sendable () -> Bool) -> [SimOutcome] {
        let state = SimJobState(count: jobs.count)
        let threads = max(1, min(parallel, jobs.count))
        if threads == 1 {
            work(jobs, state: state, shouldStop: shouldStop)
        } else {
            let done = DispatchSemaphore(value: 0)
            for _ in 0..<threads {
                let thread = Thread {
                    work(jobs, state: state, shouldStop: shouldStop)
                    done.signal()
                }
                thread.start()
            }
            for _ in 0..<threads { done.wait() }
        }
        return state.outcomes
    }

    private static func work(_ jobs: [SimJob], state: SimJobState, shouldStop: @Sendable () -> Bool) {
        while let i = state.take() {
            if shouldStop() {
                state.set(i, .notStarted)
                continue
            }
            let t0 = Clock.wall()
            do {
                let out = try jobs[i].callgrind.run(arguments: jobs[i].arguments, shouldStop: shouldStop)
                state.set(i, .counted(out, wallNs: Double(Clock.wall() &- t0)))
            } catch is Callgrind.Interrupted {
                state.set(i, .interrupted)
            } catch {
                state.set(i, .failed(error))
            }
        }
    }
}

/// The shared queue of job indices and outcomes of `SimJobs.run`.
private final class SimJobState: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private let count: Int
    private var results: [SimOutcome]

    init(count: Int) {
        self.count = count
        results = Array(repeating: .notStarted, count: count)
    }

    /// The next job index, nil when none is left.
    func take() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < count else { return nil }
        next += 1
        return next - 1
    }

    func set(_ i: Int, _ outcome: SimOutcome) {
        lock.lock()
        results[i] = outcome
        lock.unlock()
    }

    var outcomes: [SimOutcome] {
        lock.lock()
        defer { lock.unlock() }
        return results
    }
}
