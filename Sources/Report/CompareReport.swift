import Analysis
import BenchModel
import Foundation
import Store

/// A comparison of two stored runs (or of several runs per side, merged), ready to render.
public struct CompareReport: Sendable {
    public var base: [RunInfo]
    public var head: [RunInfo]
    /// One row per op variant present on both sides, in head order.
    public var comparisons: [Comparison]
    /// Benchmarks only in base / only in head (`SUITE/OP/VARIANT`).
    public var onlyInBase: [String]
    public var onlyInHead: [String]
    /// Things the reader must know (machine or harness changed, suite text changed, ...).
    public var warnings: [String]
    /// Ratio of median per-iteration cache misses (head / base), keyed `SUITE/OP/VARIANT`, when
    /// both sides counted them with the same backend.
    public var cacheMissRatio: [String: Double]
    /// Samples flagged throttled or descheduled that were left out (when excluding them).
    public var excludedThrottled: Int
    /// Overall verdict and exit code (0 pass, 1 regression, 2 inconclusive).
    public var verdict: Verdict
    public var exitCode: Int32

    /// Options of a comparison.
    public struct Options: Sendable {
        /// Overrides every op's threshold (fraction).
        public var threshold: Double?
        public var instructionsThreshold: Double?
        /// Leave out samples flagged as taken while throttled or descheduled.
        public var excludeThrottled = false
        /// Base run i and head run i were measured together, workers ABBA (`gate --against`):
        /// pair their processes.
        public var paired = false
        /// Use this machine's learned run-to-run noise (NoiseHistory) for unpaired estimates.
        public var learnedNoise = true
        /// The sequential look (gate round) the decision is made at, 1-based.
        public var look = 1
        /// Creates options.
        public init(threshold: Double? = nil, instructionsThreshold: Double? = nil, excludeThrottled: Bool = false,
                    paired: Bool = false, learnedNoise: Bool = true, look: Int = 1) {
            self.threshold = threshold
            self.instructionsThreshold = instructionsThreshold
            self.excludeThrottled = excludeThrottled
            self.paired = paired
            self.learnedNoise = learnedNoise
            self.look = look
        }
    }

    /// How the time verdicts' uncertainty was obtained, one line per kind (shown under the table),
    /// e.g. "paired: 12 back-to-back base/head process pairs".
    public var noiseLines: [String] {
        var seen: [String] = []
        for c in comparisons {
            let line = c.decision?.noiseSource ?? c.undecidedReason.map { "no estimate: " + $0 }
            if let line, !seen.contains(line) { seen.append(line) }
        }
        return seen
    }

    /// A report from comparisons made elsewhere (renderer tests, reports of many ops); the
    /// verdict and exit code are combined from `comparisons` as `gate` does.
    public init(base: [RunInfo], head: [RunInfo], comparisons: [Comparison], warnings: [String] = [],
                onlyInBase: [String] = [], onlyInHead: [String] = [], cacheMissRatio: [String: Double] = [:]) {
        self.base = base
        self.head = head
        self.comparisons = comparisons
        self.onlyInBase = onlyInBase
        self.onlyInHead = onlyInHead
        self.warnings = warnings
        self.cacheMissRatio = cacheMissRatio
        excludedThrottled = 0
        let decision = GateDecision.combine(comparisons)
        verdict = decision.verdict
        exitCode = decision.exitCode
    }

    /// Compares runs `baseIDs` (merged) with runs `headIDs` (merged).
    ///
    /// - Throws: `CompareError` for empty runs or runs of different suites (exit 3 at the CLI).
    public init(store: ResultStore, baseIDs: [Int64], headIDs: [Int64], options: Options = Options()) throws {
        let baseSide = try Side(store: store, ids: baseIDs)
        let headSide = try Side(store: store, ids: headIDs)
        base = baseSide.infos
        head = headSide.infos
        guard !baseSide.samples.isEmpty else { throw CompareError("base run \(Self.ids(baseIDs)) has no samples") }
        guard !headSide.samples.isEmpty else { throw CompareError("head run \(Self.ids(headIDs)) has no samples") }
        let baseSuites = Set(base.flatMap(\.suites)), headSuites = Set(head.flatMap(\.suites))
        guard !baseSuites.isDisjoint(with: headSuites) else {
            throw CompareError("runs of different suites: base \(Self.ids(baseIDs)) ran \(baseSuites.sorted().joined(separator: ", ")), head \(Self.ids(headIDs)) ran \(headSuites.sorted().joined(separator: ", "))")
        }
        var warnings: [String] = []
        let b0 = base[0], h0 = head[0]
        if b0.machine.key != h0.machine.key {
            warnings.append("different machines: base on \(b0.machine.cpuModel) (\(b0.machine.logicalCPUs) CPUs, PMU \(b0.machine.pmuAvailable ? "yes" : "no")), head on \(h0.machine.cpuModel) (\(h0.machine.logicalCPUs) CPUs, PMU \(h0.machine.pmuAvailable ? "yes" : "no")) — times are not comparable")
        }
        if b0.harnessVersion != h0.harnessVersion {
            warnings.append("different harness versions: base \(b0.harnessVersion), head \(h0.harnessVersion)")
        }
        if b0.isaBuilt != h0.isaBuilt {
            warnings.append("kernels built for different ISAs: base \(b0.isaBuilt.joined(separator: ",")), head \(h0.isaBuilt.joined(separator: ","))")
        }
        if b0.suiteHash != h0.suiteHash { warnings.append("suite files differ between the runs (hash \(b0.suiteHash) vs \(h0.suiteHash))") }
        if b0.counterMode != h0.counterMode {
            warnings.append("counter backends differ (base \(b0.counterMode.rawValue), head \(h0.counterMode.rawValue)): instruction counts are not compared")
        }
        for r in base + head where r.status != .complete {
            warnings.append("run \(r.id) is \(r.status.rawValue), not complete")
        }
        if base.contains(where: { $0.configJSON.contains("inject_slowdown") }) || head.contains(where: { $0.configJSON.contains("inject_slowdown") }) {
            warnings.append("a run has --inject-slowdown active (deliberately slowed kernels)")
        }

        var excluded = 0
        func keep(_ s: [Sample]) -> [Sample] {
            guard options.excludeThrottled else { return s }
            let k = s.filter { !$0.flags.contains(.throttled) && !$0.flags.contains(.descheduled) }
            excluded += s.count - k.count
            return k
        }
        let baseKeys = Set(baseSide.keys), headKeys = Set(headSide.keys)
        var inputs: [ComparisonInput] = []
        // The same op with another shape (e.g. an edge op's batch changed) measures other work.
        for (key, op) in headSide.ops.sorted(by: { $0.key < $1.key }) {
            if let b = baseSide.ops[key], b.shape != op.shape || b.dtype != op.dtype {
                func describe(_ o: OpRecord) -> String { o.shape.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + " " + o.dtype }
                warnings.append("op \(key) has another shape or dtype (base \(describe(b)), head \(describe(op))): its times measure different work")
            }
        }
        let common = headSide.keys.filter { baseKeys.contains($0) }
        var priors: [BenchmarkKey: NoisePrior] = [:]
        if options.learnedNoise && !options.paired {
            priors = try NoiseHistory.priors(store: store, machineKey: b0.machine.key, keys: common,
                                             excluding: Set(baseIDs + headIDs))
        }
        if options.paired && baseIDs.count != headIDs.count {
            throw CompareError("paired comparison needs as many base runs as head runs (\(baseIDs.count) vs \(headIDs.count))")
        }
        for key in common {
            let threshold = options.threshold ?? headSide.ops[key.opKey]?.threshold
            inputs.append(ComparisonInput(key: key, threshold: threshold, instructionsThreshold: options.instructionsThreshold,
                                          baseRuns: baseSide.runs(key).map(keep), headRuns: headSide.runs(key).map(keep),
                                          paired: options.paired, prior: priors[key] ?? .unknown))
        }
        onlyInBase = baseSide.keys.filter { !headKeys.contains($0) }.map(\.description)
        onlyInHead = headSide.keys.filter { !baseKeys.contains($0) }.map(\.description)
        guard !inputs.isEmpty else {
            throw CompareError("the runs have no op variant in common (base \(Self.ids(baseIDs)), head \(Self.ids(headIDs)))")
        }
        var missRatio: [String: Double] = [:]
        for input in inputs {
            if let b = Self.medianCounter(input.base, "cache-misses"), let h = Self.medianCounter(input.head, "cache-misses"),
               b.backend == h.backend, b.value > 0 {
                missRatio[input.key.description] = h.value / b.value
            }
        }
        cacheMissRatio = missRatio
        comparisons = Comparator.compare(inputs, instructionsThreshold: options.instructionsThreshold ?? Comparator.defaultInstructionsThreshold,
                                         look: options.look)
        let decision = GateDecision.combine(comparisons)
        verdict = decision.verdict
        exitCode = decision.exitCode
        excludedThrottled = excluded
        if !onlyInBase.isEmpty { warnings.append("only in base (not compared): \(onlyInBase.joined(separator: ", "))") }
        if !onlyInHead.isEmpty { warnings.append("only in head (not compared): \(onlyInHead.joined(separator: ", "))") }
        self.warnings = warnings
    }

    /// Keeps the comparisons of `decided` (ops decided at an earlier look of a sequential gate: a
    /// decided op stops there) in place of this look's, and recombines the verdict and exit code.
    public mutating func keep(_ decided: [BenchmarkKey: Comparison]) {
        guard !decided.isEmpty else { return }
        comparisons = comparisons.map { decided[$0.key] ?? $0 }
        let decision = GateDecision.combine(comparisons)
        verdict = decision.verdict
        exitCode = decision.exitCode
    }

    /// Median per-iteration value of `event` and its backend (preferring `sim`, deterministic).
    static func medianCounter(_ samples: [Sample], _ event: String) -> (value: Double, backend: CounterBackend)? {
        for backend in [CounterBackend.sim, .hw] {
            let v = samples.compactMap { s -> Double? in
                guard let c = s.counters.first(where: { $0.event == event && $0.backend == backend }) else { return nil }
                return c.value / Double(max(1, s.iterations))
            }
            if !v.isEmpty { return (Stats.median(v), backend) }
        }
        return nil
    }

    static func ids(_ ids: [Int64]) -> String { ids.map(String.init).joined(separator: "+") }

    /// Samples and ops of one side (one or more runs, kept apart: time groups are keyed (run,
    /// process), and paired comparisons pair run i of base with run i of head), keyed
    /// `SUITE/OP/VARIANT`. Of an op that has per-iteration-timed batches only the plain ones are
    /// kept (`Comparator.decisionBatches`, the batches `variants` decides from).
    struct Side {
        var infos: [RunInfo] = []
        var ops: [OpKey: OpRecord] = [:]
        var keys: [BenchmarkKey] = []
        /// Per key, one sample list per run of the side (in run order; empty where a run lacks it).
        var byRun: [BenchmarkKey: [[Sample]]] = [:]
        var samples: [Sample] { byRun.values.flatMap { $0.flatMap { $0 } } }

        init(store: ResultStore, ids: [Int64]) throws {
            for (r, id) in ids.enumerated() {
                guard let info = try store.run(id: id) else { throw StoreError.unknownRun(String(id)) }
                infos.append(info)
                for op in try store.ops(runID: id) where ops[op.key] == nil { ops[op.key] = op }
                let all = try store.samples(runID: id, iterationLatencies: true)
                var opOrder: [OpKey] = []
                var byOp: [OpKey: [Sample]] = [:]
                for s in all {
                    if byOp[s.opKey] == nil { opOrder.append(s.opKey) }
                    byOp[s.opKey, default: []].append(s)
                }
                for var s in opOrder.flatMap({ Comparator.decisionBatches(byOp[$0] ?? []) }) {
                    s.iterationLatencies = nil  // only needed to tell timed from plain batches
                    if byRun[s.key] == nil {
                        keys.append(s.key)
                        byRun[s.key] = Array(repeating: [], count: ids.count)
                    }
                    byRun[s.key]?[r].append(s)
                }
            }
        }

        func samples(_ k: BenchmarkKey) -> [Sample] { (byRun[k] ?? []).flatMap { $0 } }
        func runs(_ k: BenchmarkKey) -> [[Sample]] { byRun[k] ?? [] }
    }
}

/// A comparison that cannot be made (exit code 3).
public struct CompareError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
