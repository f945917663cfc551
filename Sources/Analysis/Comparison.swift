import BenchModel
import Foundation

/// Outcome of comparing one op variant between a base and a head (the rule: ``DecisionRule``,
/// docs/ci-gating.md "The contract").
public enum Verdict: String, Codable, Sendable {
    /// Not slower beyond the threshold, with confidence: the estimate is below the decision boundary
    /// and the look-corrected upper bound below 1 + t.
    case pass
    /// Slower: the estimate is at or above the decision boundary inside [1, 1 + t] and significant
    /// after Holm correction across ops and the correction for repeated looks.
    case regression
    /// Too noisy to decide either way; the gate may collect more samples.
    case inconclusive
    /// Faster beyond the threshold, significantly (CI upper bound < 1 − t, adjusted p < α).
    /// An improvement also passes the gate.
    case improvement
}

/// Base and head samples of one op variant to compare, with optional per-op thresholds.
public struct ComparisonInput: Sendable, Hashable {
    /// The compared benchmark (`SUITE/OP/VARIANT`).
    public var key: BenchmarkKey
    /// Time regression threshold as a fraction (0.05 = 5%); nil uses ``Comparator``'s default.
    public var threshold: Double?
    /// Instruction-count threshold as a fraction; nil uses ``Comparator``'s default.
    public var instructionsThreshold: Double?
    /// Baseline samples per run (round), in run order; within a run `Sample.process` is the worker
    /// process. Time groups are keyed (run, process): process 0 of round 1 and of round 2 are distinct.
    public var baseRuns: [[Sample]]
    /// Candidate samples per run (round); with `paired`, run i was measured together with base run i.
    public var headRuns: [[Sample]]
    /// Both sides were measured in the same runner invocations, workers alternating ABBA
    /// (`gate --against`): base process p of run i is paired with head process p of run i.
    public var paired: Bool
    /// This machine's learned run-to-run noise of the benchmark (unpaired estimates use it).
    public var prior: NoisePrior

    /// Baseline samples of every run.
    public var base: [Sample] { baseRuns.flatMap { $0 } }
    /// Candidate samples of every run.
    public var head: [Sample] { headRuns.flatMap { $0 } }

    /// Creates an input of one run per side; thresholds left nil fall back to the comparator's defaults.
    public init(key: BenchmarkKey, threshold: Double? = nil, instructionsThreshold: Double? = nil,
                base: [Sample], head: [Sample], prior: NoisePrior = .unknown) {
        self.init(key: key, threshold: threshold, instructionsThreshold: instructionsThreshold,
                  baseRuns: [base], headRuns: [head], paired: false, prior: prior)
    }

    /// Creates an input of several runs (rounds) per side.
    public init(key: BenchmarkKey, threshold: Double? = nil, instructionsThreshold: Double? = nil,
                baseRuns: [[Sample]], headRuns: [[Sample]], paired: Bool, prior: NoisePrior = .unknown) {
        self.key = key
        self.threshold = threshold
        self.instructionsThreshold = instructionsThreshold
        self.baseRuns = baseRuns
        self.headRuns = headRuns
        self.paired = paired
        self.prior = prior
    }
}

/// Result of comparing one op variant, base against head. Ratios are head / base, so a ratio
/// above 1 means head is slower (or executes more instructions).
///
/// When a side has no usable time samples, the time statistics (medians, ratio, CI) are NaN,
/// both p-values are 1, the verdict is ``Verdict/inconclusive`` and ``note`` says why. Encode
/// with a `nonConformingFloatStrategy` if such comparisons can occur.
public struct Comparison: Codable, Sendable, Hashable {
    /// Suite of the op (with `op` and `variant` the benchmark's identity, `key`).
    public var suite: String
    /// Op name within its suite.
    public var op: String
    /// Variant name.
    public var variant: String
    /// Median per-iteration net wall time of the base, ns.
    public var baseMedian: Double
    /// Median per-iteration net wall time of the head, ns.
    public var headMedian: Double
    /// Estimated head/base time ratio, exp(d̂) (the ratio of pooled medians when there is no estimate).
    public var ratio: Double
    /// Lower bound of the CI of the ratio (the decision estimate's t interval; the descriptive
    /// hierarchical bootstrap when there is no estimate).
    public var ciLower: Double
    /// Upper bound of the CI of the ratio.
    public var ciUpper: Double
    /// Confidence of the CI (0.95).
    public var confidence: Double
    /// One-sided p-value of the test of no slowdown (d ≤ 0) that the regression rule uses; 1 without an estimate.
    public var pValue: Double
    /// `pValue` after Holm correction across all ops compared together and × the maximum number of looks.
    public var pValueAdjusted: Double
    /// No longer computed (kept for JSON compatibility; always nil).
    public var pValueMannWhitney: Double?
    /// Two-sided process-resampling bootstrap p-value for ratio = 1, when the descriptive bootstrap
    /// stood in for a missing estimate.
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
    /// How the time verdict was reached (estimate, interval, look, boundary); nil without an estimate.
    public var decision: DecisionDetails?
    /// Why the time verdict is undecided (too few pairs, not yet significant, too noisy, no noise
    /// history with one process per side); nil when decided.
    public var undecidedReason: String?

    /// Creates a comparison record (normally produced by ``Comparator/compare(_:threshold:instructionsThreshold:alpha:resamples:confidence:seed:)``).
    public init(key: BenchmarkKey, baseMedian: Double, headMedian: Double, ratio: Double,
                ciLower: Double, ciUpper: Double, confidence: Double, pValue: Double, pValueAdjusted: Double,
                threshold: Double, verdict: Verdict, nBase: Int, nHead: Int, processesBase: Int, processesHead: Int,
                baseInstructions: Double? = nil, headInstructions: Double? = nil, instructionRatio: Double? = nil,
                instructionsThreshold: Double, instructionVerdict: Verdict? = nil,
                instructionBackend: CounterBackend? = nil, note: String? = nil) {
        self.suite = key.suite
        self.op = key.op
        self.variant = key.variant
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

    /// The compared benchmark (`SUITE/OP/VARIANT`).
    public var key: BenchmarkKey { BenchmarkKey(suite: suite, op: op, variant: variant) }
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
    /// - Time values are `Sample.netWallNsPerIteration`, grouped by (run, `Sample.process`). Samples
    ///   flagged `belowOverhead` (net time not positive, unreliable) are left out; outliers
    ///   and throttled samples are kept.
    /// - The time estimate is ``LogRatioEstimator/paired(base:head:)`` when `paired` (both sides
    ///   measured together, workers ABBA), else ``LogRatioEstimator/unpaired(base:head:prior:historyPairsNeeded:)``
    ///   with the input's learned noise. `ratio` = exp(d̂) and [`ciLower`, `ciUpper`] its two-sided
    ///   `confidence` t interval. Without an estimate (too few pairs; one process per side and no noise
    ///   history) the ratio and CI are the descriptive hierarchical bootstrap of the ratio of medians
    ///   and the verdict is inconclusive with `undecidedReason`.
    /// - `verdict`, `pValue` (one-sided, d ≤ 0), `pValueAdjusted` (Holm across the inputs with an
    ///   estimate, × ``DecisionContract/maximumLooks``) and `decision`: ``DecisionRule/decide(_:thresholds:look:missingReasons:)``.
    /// - Instructions: see ``instructionComparison(base:head:threshold:)``.
    ///
    /// - Parameters:
    ///   - threshold: time threshold for inputs that do not set their own.
    ///   - instructionsThreshold: instruction threshold for inputs that do not set their own.
    ///   - resamples: bootstrap resamples per input (descriptive fallback only).
    ///   - confidence: CI coverage.
    ///   - seed: bootstrap seed.
    ///   - look: the sequential look (gate round, 1-based) the decision is made at.
    public static func compare(_ inputs: [ComparisonInput], threshold: Double = defaultThreshold,
                               instructionsThreshold: Double = defaultInstructionsThreshold,
                               resamples: Int = 2000, confidence: Double = 0.95,
                               seed: UInt64 = defaultSeed, look: Int = 1) -> [Comparison] {
        var results: [Comparison] = []
        var estimates: [LogRatioEstimate?] = []
        var reasons: [String?] = []
        var thresholds: [Double] = []
        for input in inputs {
            let t = input.threshold ?? threshold
            let ti = input.instructionsThreshold ?? instructionsThreshold
            let baseGroups = processGroups(input.baseRuns)
            let headGroups = processGroups(input.headRuns)
            let nBase = baseGroups.reduce(0) { $0 + $1.values.count }
            let nHead = headGroups.reduce(0) { $0 + $1.values.count }
            let instr = instructionComparison(base: input.base, head: input.head, threshold: ti)
            var notes: [String] = []
            var c = Comparison(key: input.key, baseMedian: .nan, headMedian: .nan,
                               ratio: .nan, ciLower: .nan, ciUpper: .nan, confidence: confidence, pValue: 1,
                               pValueAdjusted: 1, threshold: t, verdict: .inconclusive, nBase: nBase, nHead: nHead,
                               processesBase: baseGroups.count, processesHead: headGroups.count,
                               baseInstructions: instr.base, headInstructions: instr.head,
                               instructionRatio: instr.ratio, instructionsThreshold: ti,
                               instructionVerdict: instr.verdict, instructionBackend: instr.backend)
            if nBase == 0 { notes.append("no usable base samples") }
            if nHead == 0 { notes.append("no usable head samples") }
            var estimate: LogRatioEstimate?
            var reason: String? = nBase == 0 || nHead == 0 ? "no usable samples on one side" : nil
            if nBase > 0 && nHead > 0 {
                c.baseMedian = Stats.median(baseGroups.flatMap(\.values))
                c.headMedian = Stats.median(headGroups.flatMap(\.values))
                if input.paired {
                    let p = LogRatioEstimator.paired(base: baseGroups, head: headGroups)
                    (estimate, reason) = (p.estimate, p.reason)
                } else {
                    (estimate, reason) = LogRatioEstimator.unpaired(base: baseGroups, head: headGroups, prior: input.prior)
                }
                if let e = estimate {
                    let q = StudentT.quantile(0.5 + confidence / 2, df: e.degreesOfFreedom)
                    c.ratio = exp(e.estimate)
                    c.ciLower = exp(e.estimate - q * e.standardError)
                    c.ciUpper = exp(e.estimate + q * e.standardError)
                } else {
                    // Descriptive only: no verdict rests on it.
                    let boot = Bootstrap.ratioOfMediansTest(base: baseGroups.map(\.values), head: headGroups.map(\.values),
                                                            resamples: resamples, confidence: confidence,
                                                            seed: opSeed(seed, input.key))
                    c.ratio = boot.ratio
                    c.ciLower = boot.lower
                    c.ciUpper = boot.upper
                    c.pValueBootstrap = boot.p
                }
            }
            if let n = instr.note { notes.append(n) }
            c.note = notes.isEmpty ? nil : notes.joined(separator: "; ")
            results.append(c)
            estimates.append(estimate)
            reasons.append(reason)
            thresholds.append(t)
        }
        let decisions = DecisionRule.decide(estimates, thresholds: thresholds, look: look, missingReasons: reasons)
        for (i, d) in decisions.enumerated() {
            results[i].verdict = d.verdict
            results[i].decision = d.details
            results[i].undecidedReason = d.verdict == .inconclusive ? d.reason : nil
            if let details = d.details {
                results[i].pValue = details.pValueOneSided
                results[i].pValueAdjusted = details.pValueCorrected
            }
        }
        return results
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

    /// The batches of one op that time and speedup decisions use: for an op whose instances time
    /// every iteration (edge ops alternate per-iteration-timed and plain batches), only the plain
    /// batches — their times carry no per-iteration clock reads; otherwise all of them. `samples`
    /// are one op's samples (any variants) with `iterationLatencies` loaded. `compare`, `gate`
    /// and `variants` all decide from these batches.
    public static func decisionBatches(_ samples: [Sample]) -> [Sample] {
        let plain = samples.filter { $0.iterationLatencies == nil }
        // Simulated-counter samples are never per-iteration timed; they alone do not make plain batches.
        return plain.allSatisfy { $0.flags.contains(.simulated) } ? samples : plain
    }

    /// Net per-iteration wall times grouped by (run, worker process) — runs in the order given,
    /// processes ascending — without `belowOverhead` and simulated samples; groups are never empty.
    public static func processGroups(_ runs: [[Sample]]) -> [ProcessGroup] {
        var out: [ProcessGroup] = []
        for (r, samples) in runs.enumerated() {
            var byProcess: [Int: [Double]] = [:]
            // Simulated-counter samples carry counts only; their time under valgrind means nothing.
            for s in samples where !s.flags.contains(.belowOverhead) && !s.flags.contains(.simulated) {
                byProcess[s.process, default: []].append(s.netWallNsPerIteration)
            }
            for p in byProcess.keys.sorted() { out.append(ProcessGroup(run: r, process: p, values: byProcess[p] ?? [])) }
        }
        return out
    }

    /// Bootstrap seed of one benchmark: `seed` mixed with a 64-bit FNV-1a hash of `SUITE/OP`,
    /// a zero byte and the variant (stable across processes, unlike `Hasher`).
    static func opSeed(_ seed: UInt64, _ key: BenchmarkKey) -> UInt64 {
        let h = FNV1a64.hash(Array(key.opKey.description.utf8) + [0] + Array(key.variant.utf8))
        var s = seed ^ h
        return Random.splitMix64(&s)
    }
}

/// Combines per-op comparisons into the gate's overall verdict and exit code (exit codes: docs/architecture.md).
public enum GateDecision {
    /// The verdict one comparison contributes to the gate: the time verdict combined with the
    /// instruction signal (on by default wherever both sides have counts of the same backend).
    ///
    /// With r the instruction ratio, ti the instruction threshold (1%) and t the time threshold:
    /// - r > 1 + t → **regression**, even when time passes: the op deterministically does t more
    ///   work (a time ``Verdict/improvement`` — significantly faster beyond t — still stands);
    /// - r > 1 + ti and time not pass/improvement (regression or undecided) → **regression**:
    ///   the counts settle what the clock could not;
    /// - otherwise the time verdict (between 1 + ti and 1 + t with a time pass: pass, with the
    ///   note of ``instructionNote(_:)``).
    /// `instructionSignal: false` gives the time verdict alone.
    public static func gateVerdict(_ c: Comparison, instructionSignal: Bool = true) -> Verdict {
        guard instructionSignal, let r = c.instructionRatio, r.isFinite else { return c.verdict }
        if r > 1 + c.threshold && c.verdict != .improvement { return .regression }
        if r > 1 + c.instructionsThreshold && (c.verdict == .inconclusive || c.verdict == .regression) { return .regression }
        return c.verdict
    }

    /// The visible note of an op whose time passes while its instructions grew beyond the
    /// instruction threshold but not beyond the time threshold ("instructions +3.0%"); nil otherwise.
    public static func instructionNote(_ c: Comparison) -> String? {
        guard let r = c.instructionRatio, r.isFinite, r > 1 + c.instructionsThreshold else { return nil }
        let pct = String(format: "instructions %+.1f%%", (r - 1) * 100)
        switch (c.verdict, gateVerdict(c)) {
        case (.pass, .pass), (.improvement, .improvement): return pct
        case (.pass, .regression): return pct + " (≥ the time threshold: regression although time passes)"
        case (.inconclusive, .regression): return pct + " (decides the undecided time verdict)"
        default: return nil
        }
    }

    /// Overall verdict and exit code: any regression → (``Verdict/regression``, 1); else any
    /// inconclusive → (``Verdict/inconclusive``, 2); else — every op pass or improvement —
    /// (``Verdict/pass``, 0). Improvements pass the gate. An empty list is inconclusive (2):
    /// nothing compared is not evidence of no regression.
    public static func combine(_ comparisons: [Comparison], instructionSignal: Bool = true)
        -> (verdict: Verdict, exitCode: Int32) {
        if comparisons.isEmpty { return (.inconclusive, 2) }
        let verdicts = comparisons.map { gateVerdict($0, instructionSignal: instructionSignal) }
        if verdicts.contains(.regression) { return (.regression, 1) }
        if verdicts.contains(.inconclusive) { return (.inconclusive, 2) }
        return (.pass, 0)
    }
}
