// Change-point scan: runs the pure detector (Analysis/ChangePoints.swift) over the stored series
// that match a pattern, stores the points not stored yet (Store/ChangePointStore.swift) and
// renders the points still in state `new` for `fusebench history --changes`.
//
// Each series is analysed over its newest `window` runs. Every stored change point of the series
// (whatever its state) is a known boundary: detection runs separately between them, so a stored
// step is never found again and a large accepted step does not mask later, smaller ones.
import Analysis
import BenchModel
import Foundation
import Store

/// What one scan found.
public struct ChangeScanResult: Sendable {
    /// Series analysed (at least `2 × minSegment` usable runs in the window).
    public var analysed: [SeriesKey]
    /// Matching series with too few runs to analyse.
    public var tooShort: [SeriesKey]
    /// Ids of the change points stored by this scan.
    public var inserted: [Int64]
    /// Change points of the matching series in the requested states (by default: still `new`),
    /// including those stored by earlier scans and not triaged yet.
    public var points: [StoredChangePoint]
}

/// Change-point scan over stored series.
public enum ChangeScan {
    /// Default number of newest runs of each series that detection looks at.
    public static let defaultWindow = 200

    /// Largest window: detection (E-divisive) keeps a window × window distance matrix per series
    /// (8 bytes each: 32 MB at 2 000) and each permutation sums over it, so time and memory grow
    /// with the window's square — 10 000 runs would need 800 MB and minutes per series.
    public static let maximumWindow = 2000

    /// Scans the series matching `pattern`, `branch` and `machine` (as `ResultStore.series(matching:branch:machine:)`).
    ///
    /// - Parameters:
    ///   - window: newest runs of each series analysed (≥ 2 × `options.minSegment`; a larger
    ///     window than `maximumWindow` is cut to it).
    ///   - states: which stored points to return (default: `new` only).
    ///   - now: detection time stored with new points.
    /// - Throws: `StoreError` (bad pattern, unreadable database).
    public static func scan(store: ResultStore, pattern: String?, branch: String?, machine: String?, window: Int = defaultWindow,
                            options: ChangePointOptions = ChangePointOptions(), states: Set<ChangePointState> = [.new],
                            now: Date = Date()) throws -> ChangeScanResult {
        let keys = try store.series(matching: pattern, branch: branch, machine: machine)
        var analysed: [SeriesKey] = [], tooShort: [SeriesKey] = []
        var candidates: [ChangePointCandidate] = []
        let needed = 2 * max(2, options.minSegment)
        let window = min(window, maximumWindow)
        for key in keys {
            let points = try store.seriesPoints(key, branch: branch, last: max(window, needed))
            var runs: [RunDistribution] = [], kept: [SeriesPoint] = []
            for point in points {
                if let run = RunDistribution(samples: point.samples) {
                    runs.append(run)
                    kept.append(point)
                }
            }
            guard runs.count >= needed else {
                tooShort.append(key)
                continue
            }
            analysed.append(key)
            let stored = try store.changePoints(series: key, branch: branch)
            let index = Dictionary(kept.enumerated().map { ($0.element.runID, $0.offset) }, uniquingKeysWith: { a, _ in a })
            let boundaries = stored.compactMap { index[$0.candidate.runAfter] }
            var seriesOptions = options
            seriesOptions.seed = FNV1a64.hash(Array(key.id.utf8), seed: options.seed)
            for found in ChangePoints.detect(runs, knownBoundaries: boundaries, options: seriesOptions) {
                let before = kept[found.index - 1], after = kept[found.index]
                candidates.append(ChangePointCandidate(series: key, branch: branch, runBefore: before.runID, runAfter: after.runID,
                                                       commitBefore: before.gitCommit, commitAfter: after.gitCommit,
                                                       ratio: found.ratio, lower: found.lower, upper: found.upper, p: found.p))
            }
        }
        let inserted = try store.insertChangePoints(candidates, detectedAt: now)
        let wanted = Set(keys.map(\.id))
        let points = try store.changePoints(series: nil, branch: branch, states: states).filter { wanted.contains($0.candidate.series.id) }
        return ChangeScanResult(analysed: analysed, tooShort: tooShort, inserted: inserted, points: points)
    }
}

/// Renders change points for `history --changes`.
public enum ChangePointRenderer {
    /// Step as a signed percentage, e.g. `+10.2%`.
    static func percent(_ ratio: Double) -> String { String(format: "%+.1f%%", (ratio - 1) * 100) }

    /// History marks of stored change points, by the first run at the new level:
    /// `change#ID:STATE:+9.8%` (no spaces; marks are joined by spaces).
    public static func marksByRun(_ points: [StoredChangePoint]) -> [Int64: [String]] {
        var out: [Int64: [String]] = [:]
        for p in points { out[p.candidate.runAfter, default: []].append("change#\(p.id):\(p.state.rawValue):\(percent(p.candidate.ratio))") }
        return out
    }

    static func commit(_ c: String?) -> String { c.map { String($0.prefix(12)) } ?? "-" }

    static func rows(_ points: [StoredChangePoint]) -> [[String]] {
        points.map { p in
            let c = p.candidate
            return [String(p.id), c.series.id, "\(c.runBefore) → \(c.runAfter)", "\(commit(c.commitBefore)) → \(commit(c.commitAfter))",
                    percent(c.ratio), "\(percent(c.lower)) … \(percent(c.upper))", String(format: "%.3g", c.p), p.state.rawValue]
        }
    }

    static let header = ["id", "series", "runs", "commits", "step", "95% CI", "p", "state"]

    /// Plain-text table (or a one-line "no change points" note), with the scan's counts.
    public static func text(_ result: ChangeScanResult) -> String {
        var out = "change points: \(result.analysed.count) series analysed, \(result.tooShort.count) with too few runs, "
            + "\(result.inserted.count) newly found, \(result.points.count) listed\n"
        if !result.points.isEmpty { out += Format.table(header: header, rows: rows(result.points)) + "\n" }
        return out
    }

    /// GitHub-flavoured Markdown table (`|` in names escaped).
    public static func markdown(_ result: ChangeScanResult) -> String {
        func cell(_ s: String) -> String { MarkdownText.escape(s) }
        var lines = ["**Change points**: \(result.analysed.count) series analysed, \(result.inserted.count) newly found, "
            + "\(result.points.count) listed", ""]
        if !result.points.isEmpty {
            lines.append("| " + header.joined(separator: " | ") + " |")
            lines.append("|" + String(repeating: " --- |", count: header.count))
            for r in rows(result.points) { lines.append("| " + r.map(cell).joined(separator: " | ") + " |") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// JSON object: `analysed`, `too_short` (series ids), `inserted` (ids) and `change_points`.
    public static func json(_ result: ChangeScanResult) throws -> String {
        let points: [[String: Any]] = result.points.map { p in
            let c = p.candidate
            var o: [String: Any] = [
                "id": p.id, "series": c.series.id, "benchmark": c.series.benchmark.description, "suite": c.series.benchmark.suite,
                "op": c.series.benchmark.op, "variant": c.series.benchmark.variant, "machine_id": c.series.machineID,
                "counters": c.series.counterMode, "isa": c.series.isaFeatures, "run_before": c.runBefore, "run_after": c.runAfter,
                "ratio": c.ratio, "ratio_lower": c.lower, "ratio_upper": c.upper, "p": c.p, "state": p.state.rawValue,
                "detected_at": HistoryReport.iso(p.detectedAt), "new_in_this_scan": result.inserted.contains(p.id),
            ]
            o["branch"] = c.branch ?? NSNull()
            o["commit_before"] = c.commitBefore ?? NSNull()
            o["commit_after"] = c.commitAfter ?? NSNull()
            o["triaged_at"] = p.triagedAt.map { HistoryReport.iso($0) } ?? NSNull()
            o["note"] = p.note ?? NSNull()
            return o
        }
        let doc: [String: Any] = ["analysed": result.analysed.map(\.id), "too_short": result.tooShort.map(\.id),
                                  "inserted": result.inserted, "change_points": points]
        return try Exporter.jsonText(doc)
    }

    /// CSV, one row per change point, RFC 4180 quoting.
    public static func csv(_ result: ChangeScanResult) -> String {
        var lines = ["id,series,suite,op,variant,machine_id,counters,branch,run_before,run_after,commit_before,commit_after,"
            + "ratio,ratio_lower,ratio_upper,p,state,note"]
        for p in result.points {
            let c = p.candidate
            let fields: [String] = [String(p.id), c.series.id, c.series.benchmark.suite, c.series.benchmark.op, c.series.benchmark.variant,
                                    String(c.series.machineID), c.series.counterMode, c.branch ?? "", String(c.runBefore),
                                    String(c.runAfter), c.commitBefore ?? "", c.commitAfter ?? "", String(c.ratio), String(c.lower),
                                    String(c.upper), String(c.p), p.state.rawValue, p.note ?? ""]
            lines.append(fields.map(Exporter.field).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
