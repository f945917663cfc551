// Builds the HTML report of one stored run from `RunReport` (and optionally a `CompareReport`,
// the run's variant decisions, fusion decisions and series history): one `HTMLReport.Section`
// per part. Each section is a public function so other renderers can reuse or extend them; the
// numbers come from the same code as the text renderers (`TextRenderer`, `CompareRenderer`,
// `VariantsReport`, `FusionRenderer`) — nothing is re-derived here.
import Analysis
import BenchModel
import Charts
import Foundation
import Store

/// The history of one series the report's run belongs to, ready to draw.
public struct HistorySeries: Sendable {
    /// Title (`SUITE/OP/VARIANT`, plus what distinguishes the series if needed).
    public var title: String
    /// Runs, oldest first.
    public var points: [HistoryChart.Point]
    /// Change points (index into `points` of the first run of the new level).
    public var marks: [HistoryChart.Mark]
    /// Index of the report's run in `points`, if present.
    public var current: Int?

    /// A series `title` with `points` (oldest first), change-point `marks` and the report's run at `current`.
    public init(title: String, points: [HistoryChart.Point], marks: [HistoryChart.Mark] = [], current: Int? = nil) {
        self.title = title
        self.points = points
        self.marks = marks
        self.current = current
    }
}

/// Everything the HTML report of one run shows, loaded from the store.
public struct HTMLRunReportInput: Sendable {
    /// The run with its statistics.
    public var run: RunReport
    /// Gate verdicts against a baseline or another run (`--baseline` / `--base`), if asked for.
    public var comparison: CompareReport?
    /// Edge-variant rows (`VariantsReport.rows`), empty when the run has no variants op.
    public var variants: [VariantRow]
    /// Fusion planner decisions of the run.
    public var fusion: [FusionDecision]
    /// History of the run's series (empty: no history charts).
    public var history: [HistorySeries]
    /// What the history section says about the series (which machine/backend/ISA, what was left out).
    public var historyNote: String

    /// Input for the report of `run`.
    public init(run: RunReport, comparison: CompareReport? = nil, variants: [VariantRow] = [], fusion: [FusionDecision] = [],
                history: [HistorySeries] = [], historyNote: String = "") {
        self.run = run
        self.comparison = comparison
        self.variants = variants
        self.fusion = fusion
        self.history = history
        self.historyNote = historyNote
    }
}

/// Renders `HTMLRunReportInput` as an `HTMLReport`.
public enum HTMLRunReport {
    /// The report of one run: run header, gate verdicts (with a comparison), one block per op
    /// (distribution chart, speedup with CI, accuracy), results table, roofline, counters, fusion
    /// decisions, edge variants, history. Parts without content say so in one line.
    public static func build(_ input: HTMLRunReportInput) -> HTMLReport {
        let r = input.run
        var report = HTMLReport(title: "fusebench run \(r.info.id) — \(r.info.suites.joined(separator: ", "))",
                                subtitle: HTMLReport.escape(subtitle(r.info)))
        report.add(header(r))
        if let c = input.comparison { report.add(verdicts(c)) }
        report.add(ops(r))
        report.add(results(r))
        report.add(roofline(r))
        report.add(counters(r))
        report.add(fusion(input.fusion, meta: r.meta))
        report.add(variants(input.variants))
        report.add(history(input.history, note: input.historyNote))
        return report
    }

    /// `started … · status · label · commit`.
    static func subtitle(_ info: RunInfo) -> String {
        var parts = [ISO8601DateFormatter().string(from: info.startedAt), info.status.rawValue]
        if let l = info.label { parts.append("label \(l)") }
        if let c = info.gitCommit { parts.append("commit \(c.prefix(12))\(info.gitDirty == true ? "+dirty" : "")\(info.gitBranch.map { " (\($0))" } ?? "")") }
        return parts.joined(separator: " · ")
    }

    static func note(_ text: String) -> String { "<p class=\"note\">\(HTMLReport.escape(text))</p>" }

    /// Run header: machine, ISA, counters and why, telemetry summary, harness overhead, peak.
    public static func header(_ r: RunReport) -> HTMLReport.Section {
        let m = r.info.machine
        var rows: [[String]] = [
            ["run", "\(r.info.id) (\(r.info.status.rawValue)), \(r.samples.count) samples, harness \(r.info.harnessVersion)"],
            ["machine", "\(m.cpuModel) · \(m.logicalCPUs) logical CPUs · \(m.caches.joined(separator: ", ")) · kernel \(m.kernel) · governor \(m.governor) · virtualization \(m.virtualization) · PMU \(m.pmuAvailable ? "yes" : "no")"],
            ["ISA", "kernels built for \(r.info.isaBuilt.joined(separator: ",")) · host \(m.isaHost.joined(separator: ",")) · path \(r.meta["isa.kernel_path"] ?? "?")\(r.meta["isa.int8_kernel_path"].map { " · int8 path \($0)" } ?? "")"],
            ["counters", "\(r.info.counterMode.rawValue): \(r.info.counterNote)"],
            ["telemetry", r.meta["telemetry.summary"] ?? "no telemetry summary stored"],
        ]
        if let c = r.info.calibration {
            rows.append(["overhead", String(format: "clock pair %.0f ns · counter read %.0f ns · empty batch %.0f ns · %.2f ns/iteration · %.3f%% of a 1 ms op (subtracted from every sample)",
                                            c.clockPairNs, c.counterReadNs, c.emptyBatchNs, c.perIterationNs, c.shareOfOneMillisecond * 100)])
        } else {
            rows.append(["overhead", "no calibration stored"])
        }
        if let p = r.peak {
            let bw = p.bandwidth.map { String(format: "%@ %.0f GB/s", $0.level, $0.readGBps) }.joined(separator: ", ")
            rows.append(["peak", String(format: "FMA %.0f GFLOP/s (%@); read %@ (measured at the start of the run)", p.flopsPerSecond / 1e9, p.kernelPath.rawValue, bw)])
        }
        let throttled = r.rows.reduce(0) { $0 + $1.throttledSamples }
        let descheduled = r.samples.filter { $0.flags.contains(.descheduled) }.count
        if throttled + descheduled > 0 {
            rows.append(["flags", "\(throttled) throttled, \(descheduled) descheduled sample(s) (drawn hollow in the distributions)"])
        }
        for c in r.checks where !c.passed {
            rows.append(["rejected", "\(c.key) — not timed; \(c.reason ?? "outside tolerance")"])
        }
        return HTMLReport.Section(id: "run", title: "Run", html: HTMLReport.table(header: ["", ""], rows: rows, cssClass: "kv"))
    }

    /// Gate verdict per benchmark, from `CompareReport` (the same verdicts as `compare`/`gate`).
    public static func verdicts(_ c: CompareReport) -> HTMLReport.Section {
        var html = "<p class=\"\(c.verdict == .regression ? "bad" : c.verdict == .inconclusive ? "warn" : "good")\">\(HTMLReport.escape(CompareRenderer.summary(c)))</p>"
        html += HTMLReport.table(header: CompareRenderer.header, rows: c.comparisons.map { CompareRenderer.cells($0, c) }, numeric: [1, 2, 3, 4, 5, 6],
                                 cssClass: "data verdicts")
        for w in c.warnings { html += "<p class=\"warn\">warning: \(HTMLReport.escape(w))</p>" }
        for cmp in c.comparisons { if let n = cmp.note { html += note("\(cmp.key): \(n)") } }
        if !c.onlyInBase.isEmpty { html += note("only in base: " + c.onlyInBase.joined(separator: ", ")) }
        if !c.onlyInHead.isEmpty { html += note("only in head: " + c.onlyInHead.joined(separator: ", ")) }
        return HTMLReport.Section(id: "verdicts", title: "Gate verdicts", html: html)
    }

    /// Speedup of each non-reference variant over its op's reference, with the 95% CI of the
    /// comparator's hierarchical bootstrap (the `compare` statistics on `Comparator.decisionBatches`,
    /// reference as base).
    public static func speedups(_ r: RunReport) -> [BenchmarkKey: (speedup: Double, lower: Double, upper: Double)] {
        var inputs: [ComparisonInput] = []
        for op in r.ops {
            let own = r.rows.filter { $0.key.opKey == op.key && !BenchmarkKey.isPart(variant: $0.variant) }
            guard let first = own.first else { continue }
            let reference = own.compactMap { r.check($0.key)?.referenceVariant }.first ?? first.variant
            // The batches compare and variants decide from: per-iteration-timed batches are left out
            // of a variant that has plain ones, so this speedup is the one the other views show.
            let refSamples = Comparator.decisionBatches(r.samples(op.key.variant(reference)))
            for row in own where row.variant != reference {
                inputs.append(ComparisonInput(key: row.key, base: refSamples, head: Comparator.decisionBatches(r.samples(row.key))))
            }
        }
        var out: [BenchmarkKey: (Double, Double, Double)] = [:]
        for c in Comparator.compare(inputs) where c.ratio.isFinite && c.ratio > 0 && c.ciLower > 0 {
            out[c.key] = (1 / c.ratio, 1 / c.ciUpper, 1 / c.ciLower)
        }
        return out
    }

    /// Unit for durations around `ns`: divisor and name.
    static func unit(for ns: Double) -> (Double, String) {
        switch ns {
        case 1e9...: return (1e9, "s")
        case 1e6...: return (1e6, "ms")
        case 1e3...: return (1e3, "µs")
        default: return (1, "ns")
        }
    }

    /// The distribution chart of one op: every variant's batches (ns per iteration, net of
    /// overhead; simulated-counter batches left out).
    public static func distributionChart(_ r: RunReport, op: OpRecord) -> String {
        let own = r.rows.filter { $0.key.opKey == op.key }
        let timed = own.map { row in r.samples(row.key).filter { !$0.flags.contains(.simulated) } }
        let all = timed.flatMap { $0.map(\.netWallNsPerIteration) }.filter(\.isFinite)
        let (div, name) = unit(for: all.max() ?? 1)
        let groups = zip(own, timed).map { row, samples in
            DistributionChart.Group(label: row.variant, points: samples.map {
                DistributionChart.Point(order: $0.sequence, value: $0.netWallNsPerIteration / div, process: $0.process,
                                        flagged: $0.flags.contains(.throttled) || $0.flags.contains(.descheduled))
            })
        }
        return DistributionChart(title: "\(op.key) — time per iteration", yLabel: name, groups: groups,
                                 valueLabel: { TickLabel.format($0) + " " + name }).render()
    }

    /// Per op: the distribution chart and a table of its variants (p50, p90, CV, speedup with CI, accuracy).
    public static func ops(_ r: RunReport) -> HTMLReport.Section {
        let speed = speedups(r)
        var html = note("Every batch is a point (ns per iteration, net of the calibrated overhead), left to right in the order it ran within the run, coloured by worker process; hollow points were flagged throttled or descheduled. Boxes: quartiles, median, whiskers to the last batch within 1.5 IQR. Speedup: reference median / variant median with the 95% hierarchical bootstrap CI (as compare).")
        for op in r.ops {
            let own = r.rows.filter { $0.key.opKey == op.key }
            guard !own.isEmpty else { continue }
            html += "<div class=\"op\" id=\"op-\(HTMLReport.anchor(op.key.description))\"><h3>\(HTMLReport.escape(op.key.description))</h3>"
            html += "<p class=\"note\">\(HTMLReport.escape("\(op.kind) · \(op.shape.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")) · \(op.dtype)"))</p>"
            html += "<div class=\"chart\">" + distributionChart(r, op: op) + "</div>"
            let rows = own.map { row -> [String] in
                let s = speed[row.key].map { String(format: "%.2f× [%.2f, %.2f]", $0.speedup, $0.lower, $0.upper) } ?? "–"
                return [row.variant, Format.duration(ns: row.time.p50), Format.duration(ns: row.time.p90),
                        String(format: "%.1f%%", row.time.cv * 100), String(row.time.n), s, accuracy(r, row)]
            }
            html += HTMLReport.table(header: ["variant", "p50", "p90", "CV", "batches", "speedup [95% CI]", "accuracy"], rows: rows, numeric: [1, 2, 3, 4, 5])
            html += "</div>"
        }
        if r.rows.isEmpty { html += note("no timed variants in this run") }
        return HTMLReport.Section(id: "ops", title: "Ops and variants", html: html)
    }

    /// Accuracy verdict of a variant in detail (`AccuracyText.detail`: the normalised error, then
    /// the worst element's relative error with its context).
    static func accuracy(_ r: RunReport, _ row: VariantStatistics) -> String {
        if let part = TextRenderer.partDescription(row.variant) { return part }
        guard let c = r.check(row.key) else { return "reference" }
        return AccuracyText.detail(c)
    }

    /// The run table (`fusebench run`'s columns: percentiles, counters, roofline, speedup, accuracy).
    public static func results(_ r: RunReport) -> HTMLReport.Section {
        let rows = TextRenderer.rows(r)
        let html = rows.isEmpty ? note("no rows") :
            HTMLReport.table(header: TextRenderer.header, rows: rows, numeric: Set(1..<(TextRenderer.header.count - 1)), cssClass: "data results")
        return HTMLReport.Section(id: "results", title: "Results table", html: html)
    }

    /// The roofline chart: every variant with FLOPs and bytes placed under the run's measured
    /// FMA peak and bandwidth ceilings.
    public static func rooflineChart(_ r: RunReport) -> String {
        var points: [RooflineChart.Point] = []
        for (i, op) in r.ops.enumerated() {
            for row in r.rows where row.key.opKey == op.key {
                let roof = r.roofline(row)
                guard let ai = roof.intensity, let g = roof.gflops else { continue }
                points.append(RooflineChart.Point(label: row.key.description, intensity: ai, gflops: g, series: i))
            }
        }
        let peak = r.peak
        return RooflineChart(title: "Roofline — run \(r.info.id)", peakGflops: peak.map { $0.flopsPerSecond / 1e9 },
                             ceilings: peak?.bandwidth.map { RooflineChart.Ceiling(label: $0.level, gbytesPerSecond: $0.readGBps) } ?? [],
                             points: points).render()
    }

    /// Roofline section: the chart and a note on where the ceilings come from.
    public static func roofline(_ r: RunReport) -> HTMLReport.Section {
        var html = "<div class=\"chart\">" + rooflineChart(r) + "</div>"
        html += note(r.peak == nil
            ? "No machine peak stored with this run: variants are placed without ceilings."
            : "Ceilings: the FMA peak and the read bandwidth of each memory level, measured at the start of the run. Colour = op; hover a point for its name.")
        return HTMLReport.Section(id: "roofline", title: "Roofline", html: html)
    }

    /// Mean counter values per iteration for every variant that has any.
    public static func counters(_ r: RunReport) -> HTMLReport.Section {
        var names: [String] = []
        for row in r.rows { for k in row.counterMeans.keys.sorted() where !names.contains(k) { names.append(k) } }
        guard !names.isEmpty else {
            return HTMLReport.Section(id: "counters", title: "Counters",
                                      html: note("no counter values in this run — counters \(r.info.counterMode.rawValue): \(r.info.counterNote)"))
        }
        let rows = r.rows.filter { !$0.counterMeans.isEmpty }.map { row in
            [row.key.description, row.counterBackend?.rawValue ?? "–"] + names.map { row.counterMeans[$0].map { Format.count($0) } ?? "–" }
                + [row.ipc.map { String(format: "%.2f", $0) } ?? "–"]
        }
        let html = note("Mean per iteration; backend \(r.info.counterMode.rawValue): \(r.info.counterNote)")
            + HTMLReport.table(header: ["benchmark", "backend"] + names + ["IPC"], rows: rows, numeric: Set(2..<(names.count + 3)), cssClass: "data counters")
        return HTMLReport.Section(id: "counters", title: "Counters", html: html)
    }

    /// The fusion planner's decisions per model (as `fusebench fusion`).
    public static func fusion(_ decisions: [FusionDecision], meta: [String: String]) -> HTMLReport.Section {
        guard !decisions.isEmpty else {
            return HTMLReport.Section(id: "fusion", title: "Fusion decisions", html: note("no fusion decisions in this run (it ran no [[model]] with a fused variant)"))
        }
        var html = ""
        var models: [OpKey] = []
        for d in decisions where !models.contains(d.opKey) { models.append(d.opKey) }
        for model in models {
            let own = decisions.filter { $0.opKey == model }
            html += "<h3>\(HTMLReport.escape("model \(model): \(own.count) decision(s), \(own.filter { $0.outcome == .accepted }.count) adopted"))</h3>"
            html += HTMLReport.table(header: FusionRenderer.header, rows: own.map(FusionRenderer.cells), numeric: [3, 4],
                                     cssClass: "data fusion")
            let bytes = FusionRenderer.bytesMoved(model: model, meta: meta).map { "\($0.label) \(Format.count($0.bytes))B" }
            if !bytes.isEmpty { html += note("bytes moved per inference: " + bytes.joined(separator: " · ")) }
        }
        return HTMLReport.Section(id: "fusion", title: "Fusion decisions", html: html)
    }

    /// Edge variants: latency percentiles, accuracy and adopt/reject per variant (as `fusebench variants`).
    public static func variants(_ rows: [VariantRow]) -> HTMLReport.Section {
        let names = VariantsReport.ops(rows)
        guard !names.isEmpty else {
            return HTMLReport.Section(id: "variants", title: "Edge variants", html: note("no edge-variant ops in this run"))
        }
        var html = ""
        for op in names {
            let mine = rows.filter { $0.key.opKey == op }
            html += "<h3>\(HTMLReport.escape(op.description))</h3>" + note(VariantsReport.latencyNote(mine))
            html += HTMLReport.table(header: VariantsReport.header, rows: mine.map(VariantsReport.cells), cssClass: "data variants")
            for r in mine { if let e = r.exitRates { html += note("\(r.variant) \(VariantsReport.exitLine(e))") } }
        }
        return HTMLReport.Section(id: "variants", title: "Edge variants", html: html)
    }

    /// A change point to mark on a history chart: the first run at the new level, and a label
    /// (e.g. `+12% [8%, 15%] new`). The integrator fills these from the `change_points` table.
    public struct ChangeMark: Sendable, Equatable {
        /// `change_points.run_after`: the first run of the new level.
        public var runAfter: Int64
        public var label: String
        /// A mark before run `runAfter` labelled `label`.
        public init(runAfter: Int64, label: String) {
            self.runAfter = runAfter
            self.label = label
        }
    }

    /// One series' history, ready to draw: per run the median and 95% CI exactly as
    /// `fusebench history` computes them (`HistoryReport.entry`), the report's run highlighted,
    /// `changes` placed before their `runAfter` run (marks of runs outside `points` are dropped).
    public static func historySeries(_ key: SeriesKey, points: [SeriesPoint], currentRunID: Int64,
                                     changes: [ChangeMark] = []) -> HistorySeries {
        let chartPoints = points.map { p -> HistoryChart.Point in
            let e = HistoryReport.entry(p, baselines: [])
            return HistoryChart.Point(label: "#\(p.runID)\(p.gitCommit.map { " \($0.prefix(7))" } ?? "")", median: e.medianNs,
                                      lower: e.ciLowerNs, upper: e.ciUpperNs)
        }
        let marks = changes.compactMap { c in points.firstIndex { $0.runID == c.runAfter }.map { HistoryChart.Mark(index: $0, label: c.label) } }
        return HistorySeries(title: key.benchmark.description, points: chartPoints, marks: marks,
                             current: points.firstIndex { $0.runID == currentRunID })
    }

    /// `historySeries` of several series, computed concurrently (the bootstrap dominates the cost
    /// of a report with history); results in input order.
    public static func historySeries(_ inputs: [(key: SeriesKey, points: [SeriesPoint], changes: [ChangeMark])],
                                     currentRunID: Int64) -> [HistorySeries] {
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var values: [Int: HistorySeries] = [:]
        }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: inputs.count) { i in
            let s = historySeries(inputs[i].key, points: inputs[i].points, currentRunID: currentRunID, changes: inputs[i].changes)
            results.lock.lock()
            results.values[i] = s
            results.lock.unlock()
        }
        return inputs.indices.compactMap { results.values[$0] }
    }

    /// History of the run's series, change points marked.
    public static func history(_ series: [HistorySeries], note extra: String = "") -> HTMLReport.Section {
        guard !series.isEmpty else {
            return HTMLReport.Section(id: "history", title: "History", html: note(extra.isEmpty ? "no history for this run's series" : extra))
        }
        var html = note("Per run (oldest to newest): median time per iteration with its 95% CI, as `fusebench history` shows it (order statistics for one-process runs, bootstrap over processes otherwise); dashed lines mark change points; the larger orange point is this run. \(extra)")
        html += "<div class=\"charts\">"
        for s in series {
            let all = s.points.map(\.median).filter(\.isFinite)
            let (div, name) = unit(for: all.max() ?? 1)
            let pts = s.points.map { HistoryChart.Point(label: $0.label, median: $0.median / div, lower: $0.lower.map { $0 / div }, upper: $0.upper.map { $0 / div }) }
            html += "<div class=\"chart\">" + HistoryChart(title: s.title, yLabel: name, points: pts, marks: s.marks, current: s.current,
                                                         valueLabel: { TickLabel.format($0) + " " + name }).render() + "</div>"
        }
        html += "</div>"
        return HTMLReport.Section(id: "history", title: "History", html: html)
    }
}
