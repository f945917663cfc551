// Learned noise per benchmark from the stored history of this machine (docs/history.md, "Learned noise"):
// the provider the gate and `fusebench noise` call (`NoiseHistory.priors`), and the report of
// `fusebench noise` (`NoiseReport`): per benchmark the A/A pairs found, sigmaAA, sigmaProcess and
// the smallest threshold a gate against a stored baseline can resolve. Reads per-run summaries
// through Store (NoiseRuns.swift) and estimates with Analysis (Noise.swift).
import Analysis
import BenchModel
import Foundation
import Store

/// Learned run-to-run noise of benchmarks on one machine, from stored A/A-like runs.
public enum NoiseHistory {
    /// Fewest A/A pairs a prior is learned from; with fewer, `priors` returns `.unknown` (with `pairs` set).
    public static let minimumPairs = 5
    /// Most A/A pairs used per benchmark: the newest ones.
    public static let window = 50

    /// Learned noise per benchmark measured on the machine `machineKey` (RunInfo.machine.key), from A/A-like pairs:
    /// consecutive completed runs (by start time) containing the benchmark, same machine key, same `binary.hash`,
    /// no injected slowdown, none of `excluding` (the runs being compared). Keys without enough pairs
    /// (fewer than `NoiseHistory.minimumPairs`) map to `.unknown` with `pairs` set to what was found.
    /// Uses at most the newest `NoiseHistory.window` pairs per benchmark.
    ///
    /// "Consecutive" is among the eligible runs of the same binary: runs of other binaries in
    /// between do not break a pair (see `NoiseEstimator`). Per-process medians are read only for
    /// the runs of the pairs used, so the cost does not grow with the length of the history.
    ///
    /// - Throws: `StoreError` when the database cannot be read.
    public static func priors(store: ResultStore, machineKey: String, keys: [BenchmarkKey],
                              excluding: Set<Int64>) throws -> [BenchmarkKey: NoisePrior] {
        try learn(store: store, machineKey: machineKey, keys: keys, excluding: excluding).priors
    }

    /// `priors`, plus the runs it read (medians filled for the runs of the pairs used).
    static func learn(store: ResultStore, machineKey: String, keys: [BenchmarkKey],
                      excluding: Set<Int64>) throws -> (priors: [BenchmarkKey: NoisePrior], runs: [NoiseRunSummary]) {
        let unique = Array(Set(keys)).sorted()
        let runs = try store.noiseRuns(machineKey: machineKey, keys: unique, excluding: excluding)
        // The pairs as the run list alone shows them, with a few spare in case a run has no usable
        // batch of the benchmark (then the estimate pairs around it).
        var wanted: [BenchmarkKey: Set<Int64>] = [:]
        for key in unique {
            let pairs = NoiseEstimator.pairs(runs, key: key, machineKey: machineKey, window: window + minimumPairs,
                                             requireMedians: false)
            wanted[key] = Set(pairs.flatMap { [$0.earlier, $0.later] })
        }
        let filled = try store.readProcessMedians(runs, wanted: wanted)
        var priors: [BenchmarkKey: NoisePrior] = [:]
        for key in unique {
            priors[key] = NoiseEstimator.prior(runs: filled, key: key, machineKey: machineKey,
                                               minimumPairs: minimumPairs, window: window)
        }
        return (priors, filled)
    }
}

/// `fusebench noise`: what this machine's history says about each benchmark's noise, and the
/// smallest regression threshold a gate against a stored baseline can resolve.
public struct NoiseReport: Sendable, Codable, Hashable {
    /// One benchmark.
    public struct Row: Sendable, Codable, Hashable {
        /// `SUITE/OP/VARIANT`.
        public var benchmark: String
        /// The op's regression threshold (fraction; the suite's, or `--threshold`).
        public var threshold: Double
        /// A/A pairs the estimate uses (at most `NoiseHistory.window`), or found when fewer than the minimum.
        public var pairs: Int
        /// Robust SD of the log ratio of two runs of unchanged code (≈ relative); nil when unknown.
        public var sigmaAA: Double?
        /// Robust SD of ln(process median) within a run; nil when unknown.
        public var sigmaProcess: Double?
        /// Median worker processes per run in the pairs used (0 when unknown).
        public var typicalProcesses: Int
        /// Smallest threshold (fraction) a gate against a stored baseline can decide, with the
        /// baseline's share of sigmaAA (sigmaAA/√2) as the floor of the standard error; nil when unknown.
        public var smallestResolvableThreshold: Double?
        /// `smallestResolvableThreshold` exceeds `threshold`: the gate cannot resolve the threshold on this machine.
        public var tooNoisy: Bool
        /// More runs of one unchanged build needed before the history says anything (0 when enough).
        public var moreRunsNeeded: Int

        /// Encodes every field; unknown figures as `null` (not left out), so JSON readers see one shape.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(benchmark, forKey: .benchmark)
            try c.encode(threshold, forKey: .threshold)
            try c.encode(pairs, forKey: .pairs)
            try c.encode(sigmaAA, forKey: .sigmaAA)
            try c.encode(sigmaProcess, forKey: .sigmaProcess)
            try c.encode(typicalProcesses, forKey: .typicalProcesses)
            try c.encode(smallestResolvableThreshold, forKey: .smallestResolvableThreshold)
            try c.encode(tooNoisy, forKey: .tooNoisy)
            try c.encode(moreRunsNeeded, forKey: .moreRunsNeeded)
        }
    }

    /// `MachineFingerprint.key` of the machine.
    public var machineKey: String
    /// `NoiseHistory.minimumPairs`.
    public var minimumPairs: Int
    /// `NoiseHistory.window`.
    public var window: Int
    /// Benchmarks in the Holm family the resolvable thresholds assume (all rows).
    public var familySize: Int
    /// One row per benchmark, in the order asked.
    public var rows: [Row]

    /// Learns the noise of `benchmarks` (with each one's threshold, a fraction) on `machineKey`.
    /// `currentBinaryHash` (this executable's `binary.hash`) makes `moreRunsNeeded` exact: a build
    /// with no stored run needs one run more than the pairs missing, since its first run pairs with nothing.
    /// It is evaluated only when some benchmark lacks history (hashing an executable reads all of it).
    ///
    /// - Throws: `StoreError` when the database cannot be read.
    public init(store: ResultStore, machineKey: String, benchmarks: [(key: BenchmarkKey, threshold: Double)],
                currentBinaryHash: @autoclosure () -> String?) throws {
        let learned = try NoiseHistory.learn(store: store, machineKey: machineKey, keys: benchmarks.map(\.key), excluding: [])
        self.machineKey = machineKey
        minimumPairs = NoiseHistory.minimumPairs
        window = NoiseHistory.window
        familySize = Set(benchmarks.map(\.key)).count
        var seen = Set<BenchmarkKey>()
        var hash: String?? = nil   // currentBinaryHash, once asked
        rows = []
        for (key, threshold) in benchmarks where seen.insert(key).inserted {
            let prior = learned.priors[key] ?? .unknown
            var row = Row(benchmark: key.description, threshold: threshold, pairs: prior.pairs, sigmaAA: nil, sigmaProcess: nil,
                          typicalProcesses: prior.typicalProcesses, smallestResolvableThreshold: nil, tooNoisy: false,
                          moreRunsNeeded: 0)
            if prior.source == .history, prior.sigmaAA.isFinite {
                row.sigmaAA = prior.sigmaAA
                row.sigmaProcess = prior.sigmaProcess
                let floor = prior.sigmaAA / 2.0.squareRoot()
                let smallest = DecisionContract.smallestResolvableThreshold(standardErrorFloor: floor, benchmarks: familySize)
                if smallest.isFinite {
                    row.smallestResolvableThreshold = smallest
                    row.tooNoisy = smallest > threshold
                }
            } else {
                if hash == nil { hash = .some(currentBinaryHash()) }
                let built = (hash ?? nil).map { current in
                    learned.runs.contains { NoiseEstimator.isAALike($0, machineKey: machineKey) && $0.binaryHash == current && $0.benchmarks.contains(key) }
                } ?? false
                row.moreRunsNeeded = max(0, NoiseHistory.minimumPairs - prior.pairs) + (built ? 0 : 1)
            }
            rows.append(row)
        }
    }

    /// Output formats of `fusebench noise`.
    public enum Format: String, CaseIterable, Sendable {
        case text, json
    }

    /// The report as text (a table) or JSON (this struct, sorted keys).
    public func render(_ format: Format) -> String {
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            // Every Double here is finite (unknown values are nil), so encoding cannot fail.
            return ((try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}") + "\n"
        case .text:
            return renderText()
        }
    }

    private func renderText() -> String {
        func percent(_ v: Double?) -> String { v.map { String(format: "%.1f%%", $0 * 100) } ?? "—" }
        var lines = ["Learned noise on machine \(machineKey)",
                     "(A/A pairs: consecutive complete runs of one unchanged binary, no injected slowdown; newest \(window) used, \(minimumPairs) needed)",
                     ""]
        let header = ["benchmark", "pairs", "sigmaAA", "sigmaProcess", "processes", "threshold", "resolvable", "note"]
        var table = [header]
        for row in rows {
            var note = ""
            if row.tooNoisy {
                note = "too noisy for the threshold"
            } else if row.moreRunsNeeded > 0 {
                note = "needs \(row.moreRunsNeeded) more A/A run\(row.moreRunsNeeded == 1 ? "" : "s") (same build, this machine)"
            }
            table.append([row.benchmark, String(row.pairs), percent(row.sigmaAA), percent(row.sigmaProcess),
                          row.typicalProcesses > 0 ? String(row.typicalProcesses) : "—", percent(row.threshold),
                          percent(row.smallestResolvableThreshold), note])
        }
        let widths = header.indices.map { c in table.map { $0[c].count }.max() ?? 0 }
        for (i, cells) in table.enumerated() {
            var line = ""
            for (c, cell) in cells.enumerated() {
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                // The benchmark and note columns are left-aligned, the figures right-aligned.
                line += c == 0 || c == cells.count - 1 ? cell + pad : pad + cell
                if c < cells.count - 1 { line += "  " }
            }
            lines.append(line.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression))
            if i == 0 { lines.append(String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1))) }
        }
        lines.append("")
        lines.append("resolvable: smallest threshold a gate against a stored baseline can decide here (standard-error floor sigmaAA/√2, \(familySize) benchmark(s) in the family)")
        return lines.joined(separator: "\n") + "\n"
    }
}
