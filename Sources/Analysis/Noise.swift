// Learned noise: what this machine's history says about one benchmark's run-to-run noise
// (`NoisePrior`), and the pure estimator that learns it from per-run summaries of A/A-like runs
// (same machine, same binary content hash, no injected slowdown). No I/O: Report reads the
// summaries from Store (NoiseHistory.swift) and hands them here.
import BenchModel
import Foundation

/// What this machine's history says about one benchmark's run-to-run noise.
public struct NoisePrior: Sendable, Hashable, Codable {
    /// Where the prior comes from.
    public enum Source: String, Codable, Sendable {
        /// Learned from stored A/A pairs.
        case history
        /// Not enough history: nothing learned.
        case none
    }

    /// Where the prior comes from.
    public var source: Source
    /// Number of A/A run pairs (unchanged binary, same machine) it was learned from; 0 when none.
    public var pairs: Int
    /// Root mean square about 0 (not a robust scale: the tail matters) of ln(level(run2)/level(run1))
    /// over A/A pairs of consecutive runs, where level =
    /// median of the run's per-process medians of net ns/iteration. NaN when unknown.
    public var sigmaAA: Double
    /// Robust SD of ln(process median) within one run, typical over history runs with ≥ 3
    /// processes; nil if unknown.
    public var sigmaProcess: Double?
    /// Median number of worker processes per run in the pairs used.
    public var typicalProcesses: Int

    /// Nothing known: source `.none`, 0 pairs, sigmaAA NaN, sigmaProcess nil, typicalProcesses 0.
    public static let unknown = NoisePrior(source: .none, pairs: 0, sigmaAA: .nan, sigmaProcess: nil, typicalProcesses: 0)

    /// Creates a prior.
    public init(source: Source, pairs: Int, sigmaAA: Double, sigmaProcess: Double?, typicalProcesses: Int) {
        self.source = source
        self.pairs = pairs
        self.sigmaAA = sigmaAA
        self.sigmaProcess = sigmaProcess
        self.typicalProcesses = typicalProcesses
    }
}

/// The learned-noise estimator: A/A pairs and robust spreads from per-run summaries.
///
/// A run is *eligible* for benchmark `key` on machine `machineKey` when it was measured on that
/// machine key, records a binary content hash, has no injected slowdown and measured `key`.
/// Its *level* is the median of its per-process medians of net ns/iteration. Eligible runs are
/// taken in start order and grouped by binary hash and configured process count; each run is
/// paired with the next eligible run of the same group (runs of other binaries in between do not
/// break the pair: they measured other code, and a pair across them is still two runs of unchanged
/// code). Runs measured with different process counts are never paired: an in-process run and a
/// 10-worker run of the same code differ by placement (where the kernel's buffers and threads
/// landed), and their level ratio is not the run-to-run noise of either way of measuring. The
/// newest `window` pairs (by the start of their earlier run) are used.
///
/// `sigmaAA` is the root mean square around 0 of ln(level(later)/level(earlier)) over the pairs —
/// around 0, not around the median, because unchanged code has no expected change, and a median
/// estimated from a handful of pairs would make the spread look smaller than it is. Deliberately
/// **not** a robust scale: the gate's promise is about its tail (≤ 1% false failures), and on a
/// shared VM the run-to-run differences are heavy-tailed — most A/A pairs within 1–2%, now and then
/// one at +20–60% when a neighbour takes the machine (seen on the Zen 1 VM: a winsorised MAD scale
/// of 1–2% let 10 of 30 A/A gates against a one-process baseline fail). A disturbed run therefore
/// raises sigmaAA, which makes the gate say "too noisy on this machine" rather than fail unchanged code.
/// `sigmaProcess` is the same estimator on all within-run differences ln(m_i) − ln(m_j) of process
/// medians (runs of the pairs with ≥ 3 processes), divided by √2: a difference of two processes has
/// twice the variance of one, and pooling differences works for runs of any size, where a per-run
/// MAD of three values would be biased low.
///
/// Precision: consecutive pairs of one binary overlap (a run is the later side of one pair and the
/// earlier side of the next), so P pairs carry about the information of 2P/3 independent ones (the
/// asymptotic efficiency of successive differences, von Neumann); a consumer that treats sigmaAA²
/// as a variance estimate should give it about 2P/3 degrees of freedom, not P − 1.
public enum NoiseEstimator {
    /// Two runs of one binary on one machine measured with the same process count, consecutive
    /// among that group's eligible runs.
    public struct Pair: Sendable, Hashable {
        /// The earlier run (`runs.id`).
        public var earlier: Int64
        /// The later run.
        public var later: Int64

        /// Creates a pair.
        public init(earlier: Int64, later: Int64) {
            self.earlier = earlier
            self.later = later
        }
    }

    /// Winsorising point of `robustScaleAroundZero`, in units of the MAD-based scale.
    public static let winsorizeAt = 2.5

    /// Whether `run` can be a side of an A/A pair for benchmarks measured on `machineKey`:
    /// same machine key, a recorded binary hash, no injected slowdown.
    public static func isAALike(_ run: NoiseRunSummary, machineKey: String) -> Bool {
        guard run.machineKey == machineKey, !run.injectedSlowdown, let hash = run.binaryHash else { return false }
        return !hash.isEmpty
    }

    /// The newest `window` A/A pairs of `key`, oldest first. With `requireMedians` a run counts as
    /// measuring `key` only when it has per-process medians of it (what the estimate needs);
    /// without, when `benchmarks` lists it (what a caller knows before reading medians).
    public static func pairs(_ runs: [NoiseRunSummary], key: BenchmarkKey, machineKey: String, window: Int,
                             requireMedians: Bool) -> [Pair] {
        guard window > 0 else { return [] }
        // Indices, not copies of the runs: a history holds thousands and each is asked about once per benchmark.
        var order = Array(runs.indices)
        if !isInStartOrder(runs) { order.sort { startsBefore(runs[$0], runs[$1]) } }
        var newerByGroup: [PairGroup: Int64] = [:]
        var found: [Pair] = []
        for i in order.reversed() {
            let measured = requireMedians ? !(runs[i].processMedians[key]?.isEmpty ?? true) : runs[i].benchmarks.contains(key)
            guard measured, isAALike(runs[i], machineKey: machineKey), let hash = runs[i].binaryHash else { continue }
            let group = PairGroup(binaryHash: hash, processes: runs[i].processes)
            if let newer = newerByGroup[group] {
                found.append(Pair(earlier: runs[i].runID, later: newer))
                if found.count == window { break }
            }
            newerByGroup[group] = runs[i].runID
        }
        return found.reversed()
    }

    /// What two runs must share to form a pair: the measured bytes and the way they were measured.
    struct PairGroup: Hashable {
        var binaryHash: String
        var processes: Int?
    }

    /// Whether `a` started before `b` (ties: the smaller run id first).
    static func startsBefore(_ a: NoiseRunSummary, _ b: NoiseRunSummary) -> Bool {
        a.startedAt != b.startedAt ? a.startedAt < b.startedAt : a.runID < b.runID
    }

    /// Whether `runs` is already in start order (as Store returns it).
    static func isInStartOrder(_ runs: [NoiseRunSummary]) -> Bool {
        guard runs.count > 1 else { return true }
        for i in 1..<runs.count where startsBefore(runs[i], runs[i - 1]) { return false }
        return true
    }

    /// Level of a run: the median of its per-process medians (NaN when there are none).
    public static func level(_ processMedians: [Double]) -> Double { Median.of(processMedians) }

    /// What the history says about `key` on `machineKey`: `.unknown` with `pairs` set when fewer
    /// than `minimumPairs` A/A pairs exist, else sigmaAA, sigmaProcess and the typical process
    /// count learned from the newest `window` pairs.
    public static func prior(runs: [NoiseRunSummary], key: BenchmarkKey, machineKey: String, minimumPairs: Int,
                             window: Int) -> NoisePrior {
        let used = pairs(runs, key: key, machineKey: machineKey, window: window, requireMedians: true)
        var unknown = NoisePrior.unknown
        unknown.pairs = used.count
        guard used.count >= max(1, minimumPairs) else { return unknown }
        let runIDs = Set(used.flatMap { [$0.earlier, $0.later] })
        var medians: [Int64: [Double]] = [:]
        for i in runs.indices where runIDs.contains(runs[i].runID) {
            if let m = runs[i].processMedians[key], !m.isEmpty { medians[runs[i].runID] = m }
        }
        var ratios: [Double] = []
        for pair in used {
            guard let a = medians[pair.earlier], let b = medians[pair.later] else { continue }
            let r = log(level(b) / level(a))
            if r.isFinite { ratios.append(r) }
        }
        guard ratios.count >= max(1, minimumPairs) else {
            unknown.pairs = ratios.count
            return unknown
        }
        let groups = runIDs.sorted().compactMap { medians[$0] }
        let counts = groups.map { Double($0.count) }
        let typical = counts.isEmpty ? 0 : Int(Median.of(counts).rounded())
        return NoisePrior(source: .history, pairs: ratios.count, sigmaAA: rootMeanSquare(ratios),
                          sigmaProcess: sigmaProcess(groups), typicalProcesses: typical)
    }

    /// Typical robust SD of ln(process median) within a run, from the runs of `groups` (each a run's
    /// per-process medians) with at least 3 processes; nil when there is none.
    public static func sigmaProcess(_ groups: [[Double]]) -> Double? {
        var differences: [Double] = []
        for medians in groups where medians.count >= 3 {
            let logs = medians.filter { $0 > 0 && $0.isFinite }.map { log($0) }
            guard logs.count >= 3 else { continue }
            for i in 0..<logs.count { for j in (i + 1)..<logs.count { differences.append(logs[i] - logs[j]) } }
        }
        guard !differences.isEmpty else { return nil }
        return robustScaleAroundZero(differences) / 2.0.squareRoot()
    }

    /// Root mean square of the finite `values` (their standard deviation about a known centre 0);
    /// NaN when there is none.
    public static func rootMeanSquare(_ values: [Double]) -> Double {
        let finite = values.filter(\.isFinite)
        guard !finite.isEmpty else { return .nan }
        return (finite.reduce(0) { $0 + $1 * $1 } / Double(finite.count)).squareRoot()
    }

    /// Robust standard deviation of `values` about a known centre 0: the root mean square after
    /// winsorising |x| at `winsorizeAt` × s0 (s0 = 1.4826 · median |x|), divided by its value for
    /// a standard normal, so it estimates σ of N(0, σ²) without bias for large counts and bounds the
    /// influence of any one value. 0 when more than half the values are 0; NaN when empty.
    public static func robustScaleAroundZero(_ values: [Double]) -> Double {
        let finite = values.filter(\.isFinite)
        guard !finite.isEmpty else { return .nan }
        let s0 = 1.482_602_218_505_602 * Median.of(finite.map { abs($0) })
        guard s0 > 0 else { return 0 }
        let cap = winsorizeAt * s0
        let meanSquare = finite.reduce(0) { $0 + min($1 * $1, cap * cap) } / Double(finite.count)
        return (meanSquare / winsorizedSecondMoment(winsorizeAt)).squareRoot()
    }

    /// E[min(Z², c²)] for a standard normal Z: (2Φ(c) − 1) − 2cφ(c) + 2c²(1 − Φ(c)).
    static func winsorizedSecondMoment(_ c: Double) -> Double {
        let tail = 0.5 * erfc(c / 2.0.squareRoot())          // 1 − Φ(c)
        let density = exp(-c * c / 2) / (2 * Double.pi).squareRoot()
        return (1 - 2 * tail) - 2 * c * density + 2 * c * c * tail
    }
}
