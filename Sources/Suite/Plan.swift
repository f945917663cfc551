import BenchModel
import Foundation
import Kernels

/// One op to measure, with everything the runner needs.
public struct PlannedOp: Sendable {
    public var suite: String
    /// Absolute path of the suite file (worker processes re-read it).
    public var suitePath: String
    public var spec: OpSpec
    public var factory: any KernelFactory
    /// Accuracy band the non-reference variants are checked against.
    public var tolerance: Tolerance

    /// Creates a planned op (the plan does this for suite entries; tests and embedders may too).
    public init(suite: String, suitePath: String, spec: OpSpec, factory: any KernelFactory, tolerance: Tolerance) {
        self.suite = suite
        self.suitePath = suitePath
        self.spec = spec
        self.factory = factory
        self.tolerance = tolerance
    }

    /// The op's identity (`SUITE/OP`), carried by every sample, check and report row of it.
    public var key: OpKey { OpKey(suite: suite, op: spec.name) }

    /// The benchmark of `variant` of this op (`SUITE/OP/VARIANT`).
    public func benchmarkKey(variant: String) -> BenchmarkKey { key.variant(variant) }

    /// The plug-in library the op's kernels come from (its factory's `plugin.library` run note),
    /// or nil for an op built into the executable.
    public var pluginLibrary: String? {
        (factory as? any OpFamilyExtras)?.runNotes["plugin.library"]
    }

    /// `SUITE/OP` (the benchmark name without its variant).
    public var qualifiedName: String { key.description }

    /// The op as stored with the run.
    public var record: OpRecord {
        OpRecord(suite: suite, name: spec.name, kind: spec.kind, shape: spec.shape, dtype: spec.dtype,
                 flops: factory.flops(shape: spec.shape), bytes: factory.bytes(shape: spec.shape, dtype: spec.dtype),
                 threshold: spec.settings.threshold)
    }

    /// Iterations of the simulated-counter (callgrind) pass: a fixed, shape-derived count (about
    /// 20 M flops or bytes of work, 1–64 iterations) so repeated runs count exactly the same work.
    public var simIterations: Int {
        let work = max(factory.flops(shape: spec.shape), factory.bytes(shape: spec.shape, dtype: spec.dtype), 1)
        return min(64, max(1, Int((2e7 / work).rounded(.up))))
    }

    /// Variant order of repetition `r`: ABBA interleaving (A B, B A, A B, ...) so slow drift of the
    /// machine hits every variant equally; with more than two variants, alternately forward and reversed.
    public func variantOrder(repetition r: Int) -> [String] {
        r % 2 == 0 ? spec.variants : spec.variants.reversed()
    }

    /// The schedule of repetition `r`: the variant order and how its batches are timed.
    ///
    /// Ops whose instances do not time single iterations run plain batches in `variantOrder`
    /// (ABBA). Ops that do (edge ops) alternate per-iteration-timed batches (the latency
    /// percentiles) with plain ones (the speedup and the decisions), and their order flips every
    /// second repetition — timed forward, plain forward, timed reversed, plain reversed, ... — so
    /// each kind of batch runs in both orders equally often (with the order flipping every
    /// repetition, every timed batch ran forward and every plain one reversed).
    public func batchSchedule(repetition r: Int, timesIterations: Bool) -> BatchSchedule {
        guard timesIterations else { return BatchSchedule(order: variantOrder(repetition: r), timing: .plain) }
        let forward = (r / 2) % 2 == 0
        return BatchSchedule(order: forward ? spec.variants : spec.variants.reversed(),
                             timing: r % 2 == 0 ? .perIteration : .plain)
    }
}

/// How the batches of one repetition are run: variant order and timing.
public struct BatchSchedule: Sendable, Equatable {
    /// How a batch is timed.
    public enum Timing: Sendable, Equatable {
        /// A clock read per iteration (latency distribution); only for instances that support it.
        case perIteration
        /// One clock pair around the whole batch.
        case plain
    }

    /// Variants in the order they run.
    public var order: [String]
    /// How the batches are timed.
    public var timing: Timing

    /// Creates a schedule.
    public init(order: [String], timing: Timing) {
        self.order = order
        self.timing = timing
    }
}

/// What a run will do: ops in suite order, after filtering and overrides.
public struct BenchPlan: Sendable {
    public var suites: [SuiteFile]
    public var ops: [PlannedOp]

    /// Content hash of all suite files, in order (FNV-1a 64, hex): identifies "same suite", not a security digest.
    public var suiteHash: String { ContentHash.fnv1a64Hex(suites.reduce(into: Data()) { $0.append($1.contents) }) }

    /// Builds the plan. `filter` is a regular expression matched against `SUITE/OP/VARIANT`
    /// (so `gemm_128` selects that op in every suite, `smoke/gemm_128` only smoke's);
    /// an op is kept when any of its variants match, and only matching variants run (the
    /// reference still runs first when it was filtered out but another variant needs verifying).
    /// Each op's factory comes from the registry its suite was validated against.
    ///
    /// - Throws: `PlanError` for a bad filter, an op whose factory cannot be made, or an op
    ///   (`SUITE/OP`) that appears twice.
    public init(suites: [SuiteFile], filter: String? = nil, quick: Bool = false) throws {
        self.suites = suites
        var regex: NSRegularExpression?
        if let f = filter {
            do {
                regex = try NSRegularExpression(pattern: f)
            } catch {
                throw PlanError("invalid --filter regular expression '\(f)': \(error.localizedDescription)")
            }
        }
        var ops: [PlannedOp] = []
        for s in suites {
            for spec in s.ops {
                let factory: any KernelFactory
                do {
                    factory = try spec.factory(registry: s.registry)
                } catch {
                    throw PlanError("\(s.path):\(spec.line):1: op '\(s.name)/\(spec.name)': \(error)")
                }
                var spec = spec
                if let re = regex {
                    let matching = spec.variants.filter { v in
                        let name = "\(s.name)/\(spec.name)/\(v)"
                        return re.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil
                    }
                    if matching.isEmpty { continue }
                    let ref = spec.variants[0]
                    spec.variants = matching.contains(ref) ? matching : [ref] + matching
                }
                if quick {
                    spec.settings.samples = min(spec.settings.samples, 6)
                    spec.settings.warmupNs = min(spec.settings.warmupNs, 20_000_000)
                    spec.settings.batchNs = min(spec.settings.batchNs, 1_000_000)
                }
                let tol = spec.tolerance ?? factory.defaultTolerance(shape: spec.shape, dtype: spec.dtype)
                let absolute = URL(fileURLWithPath: s.path).standardizedFileURL.path
                ops.append(PlannedOp(suite: s.name, suitePath: absolute, spec: spec, factory: factory, tolerance: tol))
            }
        }
        var seen = Set<OpKey>()
        for op in ops where !seen.insert(op.key).inserted {
            throw PlanError("op '\(op.key)' appears twice; give the suites different names")
        }
        self.ops = ops
    }
}

/// A plan-level error (bad filter, duplicate names across suites).
public struct PlanError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
