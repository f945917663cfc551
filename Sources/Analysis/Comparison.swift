import BenchModel

/// Outcome of comparing one op variant between a base and a head (verdict rules: docs/architecture.md).
public enum Verdict: String, Codable, Sendable {
    /// Not slower beyond the threshold, with confidence: the CI's upper bound < 1 + t.
    case pass
    /// Slower beyond the threshold, and significantly so after Holm correction.
    case regression
    /// Too noisy to decide either way; the gate may collect more samples.
    case inconclusive
    /// Faster beyond the threshold, significantly (CI upper bound < 1 − t, adjusted p < α).
    /// An improvement also passes the gate.
    case improvement
}

/// Base and head samples of one op variant to compare, with optional per-op thresholds.
public struct ComparisonInput: Sendable, Hashable {
    /// Op name.
    public var op: String
    /// Variant name.
    public var variant: String
    /// Time regression threshold as a fraction (0.05 = 5%); nil uses ``Comparator``'s default.
    public var threshold: Double?
    /// Instruction-count threshold as a fraction; nil uses ``Comparator``'s default.
    public var instructionsThreshold: Double?
    /// Baseline samples (any number of worker processes; `Sample.process` groups them).
    public var base: [Sample]
    /// Candidate samples.
    public var head: [Sample]

    /// Creates an input; thresholds left nil fall back to the comparator's defaults.
    public init(op: String, variant: String, threshold: Double? = nil, instructionsThreshold: Double? = nil,
                base: [Sample], head: [Sample]) {
        self.op = op
        self.variant = variant
        self.threshold = threshold
        self.instructionsThreshold = instructionsThreshold
        self.base = base
        self.head = head
    }
}

/// Result of comparing one op variant, base against head. Ratios are head / base, so a ratio
/// above 1 means head is slower (or executes more instructions).
///
/// When a side has no usable time samples, the time statistics (medians, ratio, CI) are NaN,
/// both p-values are 1, the verdict is ``Verdict/inconclusive`` and ``note`` says why. Encode
/// with a `nonConformingFloatStrategy` if such comparisons can occur.
public struct Comparison: Codable, Sendable, Hashable {
    /// Op name.
    public var op: String
    /// Variant name.
    public var variant: String
    /// Median per-iteration net wall time of the base, ns.
    public var baseMedian: Double
    /// Median per-iteration net wall time of the head, ns.
    public var headMedian: Double
    /// headMedian / baseMedian.
    public var ratio: Double
    /// Lower bound of the hierarchical bootstrap CI of the ratio.
    public var ciLower: Double
    /// Upper bound of the hierarchical bootstrap CI of the ratio.
    public var ciUpper: Double
    /// Confidence of the CI (0.95).
    public var confidence: Double
    /// p-value the verdict uses: the larger of `pValueMannWhitney` and `pValueBootstrap`.
    public var pValue: Double
    /// `pValue` after Holm correction across all ops compared together.
    public var pValueAdjusted: Double
    /// Two-sided Mann–Whitney U p-value on the pooled batch values (scipy semantics).
    public var pValueMannWhitney: Double?
    /// Two-sided process-resampling bootstrap p-value for ratio = 1.
    public var pValueBootstrap: Double?
    /// Time threshold t used for the verdict (fraction).
    public var threshold: Double
    /// Time verdict.
    public var verdict: Verdict
    /// Number of base samples used (batches, excluding `belowOverhead` ones).
    public var nBase: Int
    /// Number of head samples used.
    public var nHead: Int
    /// Number of distinct worker processes among the base samples used.
    public var processesBase: Int
    /// Number of distinct worker processes among the head samples used.
    public var processesHead: Int
    /// Median per-iteration instruction count of the base, when compared.
    public var baseInstructions: Double?
    /// Median per-iteration instruction count of the head, when compared.
    public var headInstructions: Double?
    /// headInstructions / baseInstructions; nil when either side lacks counts or the backends differ.
    public var instructionRatio: Double?
    /// Instruction threshold used (fraction).
    public var instructionsThreshold: Double
    /// ``Verdict/regression`` if `instructionRatio` > 1 + `instructionsThreshold`, else
    /// ``Verdict/pass``; nil when instructions were not compared.
    public var instructionVerdict: Verdict?
    /// Backend of the compared instruction counts (the same on both sides).
    public var instructionBackend: CounterBackend?
    /// Why something was not compared (no samples, counter backends differ, ...), if anything.
    public var note: String?

    /// Creates a comparison record (normally produced by ``Comparator/compare(_:threshold:instructionsThreshold:alpha:resamples:confidence:seed:)``).
    public init(op: String, variant: String, baseMedian: Double, headMedian: Double, ratio: Double,
                ciLower: Double, ciUpper: Double, confidence: Double, pValue: Double, pValueAdjusted: Double,
                threshold: Double, verdict: Verdict, nBase: Int, nHead: Int, processesBase: Int, processesHead: Int,
                baseInstructions: Double? = nil, headInstructions: Double? = nil, instructionRatio: Double? = nil,
                instructionsThreshold: Double, instructionVerdict: Verdict? = nil,
                instructionBackend: CounterBackend? = nil, note: String? = nil) {
        self.op = op
        self.variant = variant
        self.baseMedian = baseMedian
        self.headMedian = headMedian
        self.ratio = ratio
        self.ciLower = ciLower
        self.ciUpper = ciUpper
        self.confidence = confidence
        self.pValue = pValue
        self.pValueAdjusted = pValueAdjusted
        self.threshold = threshold
        self.verdict = verdict
        self.nBase = nBase
        self.nHead = nHead
        self.processesBase = processesBase
        self.processesHead = processesHead
        self.baseInstructions = baseInstructions
        self.headInstructions = headInstructions
        self.instructionRatio = instructionRatio
        self.instructionsThreshold = instructionsThreshold
        self.instructionVerdict = instructionVerdict
        self.instructionBackend = instructionBackend
        self.note = note
    }
}

/// Compares base and head samples op by op and assigns verdicts.
public enum Comparator {
    /// Default time threshold: 5%.
    public static let defaultThreshold = 0.05
    /// Default instruction-count threshold: 1% (counts are near-deterministic, so it is tighter).
    public static let defaultInstructionsThreshold = 0.01
    /// Default seed of the bootstrap, so that reports are reproducible without configuration.
    public static let defaultSeed: UInt64 = 0x6675_7365_6265_6E63  // "fusebenc"

    /// Compares every input and returns one ``Comparison`` per input, in input order.
    ///
    /// Per input:
    /// - Time values are `Sample.netWallNsPerIteration`, grouped by `Sample.process`. Samples
    ///   flagged `belowOverhead` (net time not positive, unreliable) are left out; outliers
    ///   and throttled samples are kept.
    /// - `ratio`, `ciLower`, `ciUpper`: ``Bootstrap/ratioOfMedians(base:head:resamples:confidence:seed:)``
    ///   (hierarchical over processes, then batches). Its seed is derived from `seed` and the
    ///   op/variant name, so a comparison does not depend on which other ops are compared.
    /// - `pValue`: the larger of ``MannWhitney/test(_:_:)`` on the pooled values of each side
    ///   (`pValueMannWhitney`) and the process-resampling bootstrap's p-value of
    ///   ``Bootstrap/ratioOfMediansTest(base:head:resamples:confidence:seed:)`` (`pValueBootstrap`).
    /// - `pValueAdjusted`: ``Holm/adjust(_:)`` over the p-values of all inputs with data on both sides.
    /// - `verdict`: ``verdict(ratio:lower:upper:adjustedP:threshold:alpha:)``.
    /// - Instructions: see ``instructionComparison(base:head:threshold:)``.
    ///
    /// Caveats. The pooled rank test treats batches as independent, so with between-process
    /// variance its p-value alone is too small; that is why `pValue` takes the larger of it and
    /// the bootstrap's, and why the regression rule also needs `ciLower > 1` on the hierarchical
    /// interval. That interval is itself too
    /// narrow when there are few processes: in a simulation with no real change, 10% process
    /// spread and 3% batch noise, about 9% of ops came out as regressions with 3 processes per
    /// side, 2.8% with 5, 1.8% with 8 and 1% with 20. Give each side at least 5 processes
    /// (pyperf uses 20).
    ///
    /// - Parameters:
    ///   - threshold: time threshold for inputs that do not set their own.
    ///   - instructionsThreshold: instruction threshold for inputs that do not set their own.
    ///   - alpha: significance level for the Holm-adjusted p-value (0.05).
    ///   - resamples: bootstrap resamples per input.
    ///   - confidence: CI coverage.
    ///   - seed: bootstrap seed.
    public static func compare(_ inputs: [ComparisonInput], threshold: Double = defaultThreshold,
                               instructionsThreshold: Double = defaultInstructionsThreshold, alpha: Double = 0.05,
                               resamples: Int = 2000, confidence: Double = 0.95,
                               seed: UInt64 = defaultSeed) -> [Comparison] {
        var results: [Comparison] = []
        var tested: [Int] = []  // indices into `results` that take part in the Holm family
        for input in inputs {
            let t = input.threshold ?? threshold
            let ti = input.instructionsThreshold ?? instructionsThreshold
            let baseGroups = timeGroups(input.base)
            let headGroups = timeGroups(input.head)
            let nBase = baseGroups.reduce(0) { $0 + $1.count }
            let nHead = headGroups.reduce(0) { $0 + $1.count }
            let instr = instructionComparison(base: input.base, head: input.head, threshold: ti)
            var notes: [String] = []
            var c = Comparison(op: input.op, variant: input.variant, baseMedian: .nan, headMedian: .nan,
                               ratio: .nan, ciLower: .nan, ciUpper: .nan, confidence: confidence, pValue: 1,
                               pValueAdjusted: 1, threshold: t, verdict: .inconclusive, nBase: nBase, nHead: nHead,
                               processesBase: baseGroups.count, processesHead: headGroups.count,
                               baseInstructions: instr.base, headInstructions: instr.head,
                               instructionRatio: instr.ratio, instructionsThreshold: ti,
                               instructionVerdict: instr.verdict, instructionBackend: instr.backend)
            if nBase == 0 { notes.append("no usable base samples") }
            if nHead == 0 { notes.append("no usable head samples") }
            if nBase > 0 && nHead > 0 {
                let basePooled = baseGroups.flatMap { $0 }
                let headPooled = headGroups.flatMap { $0 }
                let boot = Bootstrap.ratioOfMediansTest(base: baseGroups, head: headGroups, resamples: resamples,
                                                        confidence: confidence, seed: opSeed(seed, input.op, input.variant))
                c.baseMedian = Stats.median(basePooled)
                c.headMedian = Stats.median(headPooled)
                c.ratio = boot.ratio
                c.ciLower = boot.lower
                c.ciUpper = boot.upper
                c.pValueMannWhitney = MannWhitney.test(headPooled, basePooled).p
                c.pValueBootstrap = boot.p
                // A rank test on pooled batches treats batches of one process as independent and is
                // too confident when processes differ; the process-resampling bootstrap is not. The
                // verdict uses the larger (more conservative) of the two.
                c.pValue = max(c.pValueMannWhitney ?? 1, boot.p)
                tested.append(results.count)
            }
            if let n = instr.note { notes.append(n) }
            c.note = notes.isEmpty ? nil : notes.joined(separator: "; ")
            results.append(c)
        }
        let adjusted = Holm.adjust(tested.map { results[$0].pValue })
        for (k, index) in tested.enumerated() {
            results[index].pValueAdjusted = adjusted[k]
            let r = results[index]
            results[index].verdict = verdict(ratio: r.ratio, lower: r.ciLower, upper: r.ciUpper,
                                             adjustedP: r.pValueAdjusted, threshold: r.threshold, alpha: alpha)
        }
        return results
    }

    /// The time verdict rules, checked in this order:
    /// 1. **improvement** if `upper` < 1 − t and `adjustedP` < α (it also satisfies the pass
    ///    rule; it passes the gate);
    /// 2. **pass** if `upper` < 1 + t;
    /// 3. **regression** if `ratio` > 1 + t, `adjustedP` < α and `lower` > 1 (a slowdown that is
    ///    beyond the threshold and significant both by the test and by the interval);
    /// 4. otherwise **inconclusive**. NaN inputs give inconclusive.
    public static func verdict(ratio: Double, lower: Double, upper: Double, adjustedP: Double,
                               threshold t: Double, alpha: Double = 0.05) -> Verdict {
        if upper < 1 - t && adjustedP < alpha { return .improvement }
        if upper < 1 + t { return .pass }
        if ratio > 1 + t && adjustedP < alpha && lower > 1 { return .regression }
        return .inconclusive
    }

    /// Instruction-count comparison of one op variant.
    ///
    /// Values are per-iteration `instructions` counter values; only samples that carry the
    /// counter take part (all samples, `belowOverhead` included: the count does not depend on
    /// the clock). Counts of different backends are never compared: the comparison
    /// uses a backend present on both sides, preferring `sim` (deterministic) when both sides
    /// have both; if the sides share none, nothing is compared and `note` says so.
    ///
    /// The verdict is two-way — ``Verdict/regression`` if median(head) / median(base) >
    /// 1 + `threshold`, ``Verdict/pass`` otherwise — with no test or interval: counts are
    /// near-deterministic (exactly so under `sim`; within a fraction of a percent on `hw`), so
    /// the threshold alone separates change from noise.
    public static func instructionComparison(base: [Sample], head: [Sample], threshold: Double)
        -> (base: Double?, head: Double?, ratio: Double?, verdict: Verdict?, backend: CounterBackend?, note: String?) {
        let b = instructionValues(base), h = instructionValues(head)
        if b.isEmpty || h.isEmpty { return (nil, nil, nil, nil, nil, nil) }
        let common = [CounterBackend.sim, .hw].filter { b[$0] != nil && h[$0] != nil }
        guard let backend = common.first, let bv = b[backend], let hv = h[backend] else {
            let names = { (d: [CounterBackend: [Double]]) in d.keys.map(\.rawValue).sorted().joined(separator: "+") }
            return (nil, nil, nil, nil, nil,
                    "instructions not compared: base counted by \(names(b)), head by \(names(h))")
        }
        let mb = Stats.median(bv), mh = Stats.median(hv)
        guard mb > 0 else {
            return (mb, mh, nil, nil, backend, "instructions not compared: base median is 0")
        }
        let ratio = mh / mb
        return (mb, mh, ratio, ratio > 1 + threshold ? .regression : .pass, backend, nil)
    }

    /// Per-iteration instruction counts of `samples`, by backend.
    static func instructionValues(_ samples: [Sample]) -> [CounterBackend: [Double]] {
        var out: [CounterBackend: [Double]] = [:]
        for s in samples {
            for c in s.counters where c.event == "instructions" {
                out[c.backend, default: []].append(c.value / Double(max(1, s.iterations)))
            }
        }
        return out
    }

    /// Net per-iteration wall times grouped by worker process (ascending process index), without
    /// `belowOverhead` samples; groups are never empty.
    static func timeGroups(_ samples: [Sample]) -> [[Double]] {
        var byProcess: [Int: [Double]] = [:]
        // Simulated-counter samples carry counts only; their time under valgrind means nothing.
        for s in samples where !s.flags.contains(.belowOverhead) && !s.flags.contains(.simulated) {
            byProcess[s.process, default: []].append(s.netWallNsPerIteration)
        }
        return byProcess.keys.sorted().map { byProcess[$0]! }
    }

    /// Bootstrap seed of one op variant: `seed` mixed with a 64-bit FNV-1a hash of the name
    /// (stable across processes, unlike `Hasher`).
    static func opSeed(_ seed: UInt64, _ op: String, _ variant: String) -> UInt64 {
        let h = FNV1a64.hash(Array(op.utf8) + [0] + Array(variant.utf8))
        var s = seed ^ h
        return Random.splitMix64(&s)
    }
}

/// Combines per-op comparisons into the gate's overall verdict and exit code (exit codes: docs/architecture.md).
public enum GateDecision {
    /// The verdict one comparison contributes to the gate.
    ///
    /// The time verdict decides. The instruction verdict is a second, low-noise signal: when
    /// `instructionsBreakTies` is true and the time verdict is ``Verdict/inconclusive``, an
    /// instruction ``Verdict/regression`` makes the op a regression (the counts resolve what the
    /// clock could not). A time pass, improvement or regression is never overridden by counts:
    /// an op measured not-slower with confidence passes even if it executes more instructions.
    public static func gateVerdict(_ c: Comparison, instructionsBreakTies: Bool = true) -> Verdict {
        if c.verdict == .inconclusive && instructionsBreakTies && c.instructionVerdict == .regression {
            return .regression
        }
        return c.verdict
    }

    /// Overall verdict and exit code: any regression → (``Verdict/regression``, 1); else any
    /// inconclusive → (``Verdict/inconclusive``, 2); else — every op pass or improvement —
    /// (``Verdict/pass``, 0). Improvements pass the gate. An empty list is inconclusive (2):
    /// nothing compared is not evidence of no regression.
    public static func combine(_ comparisons: [Comparison], instructionsBreakTies: Bool = true)
        -> (verdict: Verdict, exitCode: Int32) {
        if comparisons.isEmpty { return (.inconclusive, 2) }
        let verdicts = comparisons.map { gateVerdict($0, instructionsBreakTies: instructionsBreakTies) }
        if verdicts.contains(.regression) { return (.regression, 1) }
        if verdicts.contains(.inconclusive) { return (.inconclusive, 2) }
        return (.pass, 0)
    }
}
