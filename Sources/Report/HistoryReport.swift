// The history of series (`fusebench history`): per series a header (benchmark, machine, counter
// backend, built ISA) and per run its median with the bootstrap 95% CI of the median,
// instructions per op and marks, rendered as text, Markdown, JSON or CSV. The series and their
// points come from Store (Series.swift); the statistics from Analysis.
import Analysis
import BenchModel
import Foundation
import Store

/// The history of the series matching a pattern, ready to render.
public struct HistoryReport: Sendable {
    /// One run of a series, summarised.
    public struct Entry: Sendable, Codable, Hashable {
        public var runID: Int64
        /// Start of the run, ISO-8601 UTC (`2026-12-05T12:00:00Z`).
        public var startedAt: String
        public var status: String
        public var gitCommit: String?
        public var gitBranch: String?
        public var gitDirty: Bool?
        public var label: String?
        public var tags: [String: String]
        /// Usable batches of the run (see `SeriesPoint.samples`).
        public var batches: Int
        /// Median net time per iteration (ns) and its 95% interval: exact order-statistic interval for a one-process run, bootstrap (processes, then batches) otherwise.
        public var medianNs: Double
        public var ciLowerNs: Double
        public var ciUpperNs: Double
        public var instructionsPerOp: Double?
        /// Marks: `interrupted` (or another non-complete status), `dirty`, `baseline:NAME`, `KEY=VALUE` tags.
        public var marks: [String]
    }

    /// One series with its runs, oldest first.
    public struct Series: Sendable, Codable, Hashable {
        /// Stable id (`SeriesKey.id`).
        public var id: String
        public var benchmark: String
        public var machineID: Int64
        public var machineKey: String
        public var cpuModel: String
        public var counterMode: String
        public var isaBuilt: [String]
        public var runs: [Entry]
    }

    /// Output formats.
    public enum OutputFormat: String, Sendable, CaseIterable {
        case text, markdown, json, csv
    }

    /// The series, sorted (`SeriesKey.<`).
    public var series: [Series]

    /// Seed of the median CI bootstrap (fixed: the same data always gives the same interval).
    static let seed: UInt64 = 0x6869_7374_6f72_7921

    /// Loads the series matching `pattern` (a regular expression on `SUITE/OP/VARIANT`; nil = all)
    /// on `branch` and `machine` (see `ResultStore.series`), each with its newest `last` runs.
    ///
    /// - Throws: `HistoryError` for a bad `last`, a machine no stored run was measured on, or when
    ///   nothing matches; `StoreError.invalidName` for a bad pattern.
    public init(store: ResultStore, pattern: String?, branch: String?, machine: String?, last: Int?) throws {
        if let last, last < 1 { throw HistoryError("--last must be at least 1, got \(last)") }
        if let machine, try !store.machineExists(machine) {
            throw HistoryError("no stored machine matches --machine '\(machine)' (give a machine key, m<ID> or part of the CPU model; see `fusebench runs`)")
        }
        let keys = try store.series(matching: pattern, branch: branch, machine: machine)
        let baselines = try store.baselineNamesByRun()
        var out: [Series] = []
        for key in keys {
            let points = try store.seriesPoints(key, branch: branch, last: last)
            guard !points.isEmpty else { continue }
            let changeMarks = try ChangePointRenderer.marksByRun(store.changePoints(series: key, branch: branch))
            out.append(Series(id: key.id, benchmark: key.benchmark.description, machineID: key.machineID, machineKey: key.machineKey,
                              cpuModel: key.cpuModel, counterMode: key.counterMode, isaBuilt: key.isaFeatures,
                              runs: Self.entries(points, baselines: baselines, extraMarks: changeMarks)))
        }
        guard !out.isEmpty else {
            var what = pattern.map { "pattern '\($0)'" } ?? "any benchmark"
            if let branch { what += " on branch '\(branch)'" }
            if let machine { what += " on machine '\(machine)'" }
            throw HistoryError("no stored series matches \(what) (see `fusebench runs`)")
        }
        series = out
    }

    /// Creates a report from series already built (for tests and other renderers).
    public init(series: [Series]) {
        self.series = series
    }

    /// Bootstrap resamples of the median CI of a run with several worker processes.
    public static let ciResamples = 1000

    /// `entry` of every point, computed on all CPUs (the bootstraps dominate `history`'s time);
    /// the result does not depend on the number of CPUs (each point has its own fixed seed).
    /// `extraMarks` (by run id) are appended to the marks, e.g. change points of this series.
    public static func entries(_ points: [SeriesPoint], baselines: [Int64: [String]], extraMarks: [Int64: [String]] = [:]) -> [Entry] {
        let slots = EntrySlots(count: points.count)
        defer { slots.deallocate() }
        DispatchQueue.concurrentPerform(iterations: points.count) { i in
            let p = points[i]
            slots.set(i, entry(p, baselines: baselines[p.runID] ?? [], extra: extraMarks[p.runID] ?? []))
        }
        return slots.values()
    }

    /// Summarises one point: median, CI, marks. The CI of a run measured in one process is the
    /// exact distribution-free interval from order statistics (`MedianInterval`); of a run with
    /// several worker processes the hierarchical bootstrap (`Bootstrap.medianInterval`: processes,
    /// then batches), so between-process variance widens it as in `compare`.
    public static func entry(_ p: SeriesPoint, baselines: [String], extra: [String] = []) -> Entry {
        let groups = p.sampleGroups
        // One process (or none: a point without samples gets NaN figures, never a trap).
        let ci = groups.count <= 1 ? MedianInterval.orderStatistics(groups.first ?? [])
            : Bootstrap.medianInterval(groups, resamples: ciResamples, seed: seed)
        return Entry(runID: p.runID, startedAt: iso(p.startedAt), status: p.status, gitCommit: p.gitCommit, gitBranch: p.gitBranch,
                     gitDirty: p.gitDirty, label: p.label, tags: p.tags, batches: p.samples.count, medianNs: ci.median,
                     ciLowerNs: ci.lower, ciUpperNs: ci.upper, instructionsPerOp: p.instructionsPerOp,
                     marks: marks(p, baselines: baselines, extra: extra))
    }

    /// The marks of a run in a series, in this order: its status when not complete, `dirty`,
    /// `baseline:NAME` for each baseline pointing at it, its tags as `KEY=VALUE` (sorted), then
    /// `extra` (e.g. change points) — the one place marks are built.
    public static func marks(_ p: SeriesPoint, baselines: [String], extra: [String] = []) -> [String] {
        var marks: [String] = []
        if p.status != RunStatus.complete.rawValue { marks.append(p.status) }
        if p.gitDirty == true { marks.append("dirty") }
        marks += baselines.sorted().map { "baseline:\($0)" }
        marks += p.tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return marks + extra
    }

    /// ISO-8601 UTC with seconds (`2026-12-05T12:00:00Z`). Formatted with `gmtime_r`: a
    /// formatter object per run cost more than everything else `history` does per run.
    static func iso(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        guard gmtime_r(&t, &parts) != nil else { return String(date.timeIntervalSince1970) }
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : String(v) }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    // MARK: - Rendering

    /// The report in `format`; text and Markdown end with a newline, as do JSON and CSV.
    public func render(_ format: OutputFormat) -> String {
        switch format {
        case .text: return text()
        case .markdown: return markdown()
        case .json: return json()
        case .csv: return csv()
        }
    }

    /// `0123456789+` (first 10 characters, `+` when dirty), or `–`.
    static func shortCommit(_ e: Entry) -> String {
        guard let c = e.gitCommit, !c.isEmpty else { return "–" }
        return String(c.prefix(10)) + (e.gitDirty == true ? "+" : "")
    }

    /// The cells of one run, shared by text and Markdown.
    static func cells(_ e: Entry) -> [String] {
        [String(e.runID), e.startedAt, shortCommit(e), e.gitBranch ?? "–", Format.duration(ns: e.medianNs),
         "[\(Format.duration(ns: e.ciLowerNs)), \(Format.duration(ns: e.ciUpperNs))]",
         e.instructionsPerOp.map { Format.count($0) } ?? "–", e.marks.joined(separator: " ")]
    }

    static let header = ["run", "started", "commit", "branch", "median", "95% CI", "instr/op", "marks"]

    /// Header line of a series.
    static func title(_ s: Series) -> String {
        "\(s.benchmark) · machine m\(s.machineID) \(s.machineKey.hasPrefix(s.cpuModel) ? s.machineKey : s.cpuModel + " (" + s.machineKey + ")") · counters \(s.counterMode) · ISA \(s.isaBuilt.isEmpty ? "baseline" : s.isaBuilt.joined(separator: "+")) · \(s.runs.count) run(s)"
    }

    /// What is said under a series with one run.
    static let onePoint = "one run only: no history yet"

    private func text() -> String {
        var out = ""
        for (i, s) in series.enumerated() {
            if i > 0 { out += "\n" }
            out += Self.title(s) + "\n"
            out += Format.table(header: Self.header, rows: s.runs.map(Self.cells)) + "\n"
            if s.runs.count == 1 { out += Self.onePoint + "\n" }
        }
        return out
    }

    private func markdown() -> String {
        func escape(_ s: String) -> String {
            var out = ""
            for c in s {
                switch c {
                case "|", "\\", "`", "*", "_", "[", "]", "<", ">", "#": out += "\\\(c)"
                case "\n", "\r": out += " "
                default: out.append(c)
                }
            }
            return out
        }
        var out = ""
        for (i, s) in series.enumerated() {
            if i > 0 { out += "\n" }
            out += "### " + escape(Self.title(s)) + "\n\n"
            out += "| " + Self.header.joined(separator: " | ") + " |\n"
            out += "|" + Self.header.map { _ in " --- |" }.joined() + "\n"
            for e in s.runs { out += "| " + Self.cells(e).map(escape).joined(separator: " | ") + " |\n" }
            if s.runs.count == 1 { out += "\n" + Self.onePoint + "\n" }
        }
        return out
    }

    private func json() -> String {
        struct Document: Encodable {
            var schema = "fusebench-history/1"
            var series: [Series]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let data = (try? encoder.encode(Document(series: series))) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// One line per run of a series; `tags` as `KEY=VALUE` joined by `;`, `marks` joined by a space.
    public static let csvHeader = ["series", "benchmark", "machine_id", "machine_key", "cpu_model", "counter_mode", "isa_built",
                            "run_id", "started_at", "status", "git_commit", "git_branch", "git_dirty", "label", "tags",
                            "batches", "median_ns", "ci_lower_ns", "ci_upper_ns", "instructions_per_op", "marks"]

    private func csv() -> String {
        var lines = [Self.csvHeader.joined(separator: ",")]
        for s in series {
            for e in s.runs {
                let row = [s.id, s.benchmark, String(s.machineID), s.machineKey, s.cpuModel, s.counterMode, s.isaBuilt.joined(separator: "+"),
                           String(e.runID), e.startedAt, e.status, e.gitCommit ?? "", e.gitBranch ?? "",
                           e.gitDirty.map { $0 ? "1" : "0" } ?? "", e.label ?? "",
                           e.tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ";"),
                           String(e.batches), Exporter.num(e.medianNs), Exporter.num(e.ciLowerNs), Exporter.num(e.ciUpperNs),
                           e.instructionsPerOp.map(Exporter.num) ?? "", e.marks.joined(separator: " ")]
                lines.append(row.map(Exporter.field).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Result slots written by `concurrentPerform` workers, each index by exactly one worker and read
/// only after all have finished (so no two threads touch the same slot).
private final class EntrySlots: @unchecked Sendable {
    private let buffer: UnsafeMutableBufferPointer<HistoryReport.Entry?>

    init(count: Int) {
        buffer = .allocate(capacity: count)
        buffer.initialize(repeating: nil)
    }

    func set(_ index: Int, _ entry: HistoryReport.Entry) { buffer[index] = entry }

    func values() -> [HistoryReport.Entry] { buffer.compactMap { $0 } }

    func deallocate() {
        _ = buffer.deinitialize()
        buffer.deallocate()
    }
}

/// A history that cannot be shown (exit 3 at the CLI).
public struct HistoryError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
