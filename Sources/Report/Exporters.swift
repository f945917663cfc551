import Analysis
import BenchModel
import Foundation

/// Export formats of `fusebench export`.
public enum ExportFormat: String, CaseIterable, Sendable {
    /// google/benchmark JSON (loads in its tools/compare.py).
    case gbench
    /// One row per sample, counters as columns.
    case csv
    /// Bencher Metric Format: `{name: {latency: {value, lower_value, upper_value}}}` (ns).
    case bmf
    /// github-action-benchmark `customSmallerIsBetter` list.
    case gab
    /// JUnit XML: one testcase per benchmark; failures for rejected variants and (with a
    /// baseline) regressions.
    case junit
    /// The run table as Markdown.
    case markdown
}

/// Serialises a run for other tools.
public enum Exporter {
    /// Renders `report` in `format`.
    /// `comparison` (against a baseline) is used by `junit` to fail regressed benchmarks.
    /// `variants` (the run's edge-variant rows, `VariantsReport.rows`) are appended to `markdown`
    /// as tables and to `gbench` as the top-level `fusebench_variants` array.
    public static func export(_ report: RunReport, format: ExportFormat, comparison: CompareReport? = nil,
                              variants: [VariantRow] = []) throws -> String {
        switch format {
        case .gbench: return try gbench(report, variants: variants)
        case .csv: return csv(report)
        case .bmf: return try bmf(report)
        case .gab: return try gab(report)
        case .junit: return junit(report, comparison: comparison)
        case .markdown: return markdown(report, variants: variants)
        }
    }

    /// Median and 95% bootstrap interval (over processes, then batches) of a benchmark's time.
    static func interval(_ r: RunReport, _ key: BenchmarkKey) -> (median: Double, lower: Double, upper: Double)? {
        let own = r.samples(key).filter { !$0.flags.contains(.simulated) && !$0.flags.contains(.belowOverhead) }
        guard !own.isEmpty else { return nil }
        let groups = Dictionary(grouping: own, by: \.process).sorted { $0.key < $1.key }.map { $0.value.map(\.netWallNsPerIteration) }
        return Bootstrap.medianInterval(groups, seed: 0x6675_7365_6265_6e63)
    }

    static func jsonText(_ object: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]), as: UTF8.self) + "\n"
    }

    /// Bencher Metric Format. Measures: `latency` (ns/iteration, median with its 95% interval),
    /// plus `instructions` (per iteration) when counted.
    public static func bmf(_ r: RunReport) throws -> String {
        var doc: [String: Any] = [:]
        for row in r.rows {
            guard let ci = interval(r, row.key) else { continue }
            var measures: [String: Any] = ["latency": ["value": ci.median, "lower_value": ci.lower, "upper_value": ci.upper]]
            if let i = row.counterMeans["instructions"] { measures["instructions"] = ["value": i] }
            if let g = row.gflops { measures["throughput"] = ["value": g * 1e9] }
            doc[row.key.description] = measures
        }
        return try jsonText(doc)
    }

    /// github-action-benchmark `customSmallerIsBetter`: `[{name, unit, value, range, extra}]`.
    public static func gab(_ r: RunReport) throws -> String {
        var list: [[String: Any]] = []
        for row in r.rows {
            guard let ci = interval(r, row.key) else { continue }
            let half = (ci.upper - ci.lower) / 2
            list.append(["name": row.key.description, "unit": "ns", "value": ci.median,
                         "range": String(format: "± %.1f", half),
                         "extra": "p90 \(Format.duration(ns: row.time.p90)) · n \(row.time.n) · run \(r.info.id) · \(r.info.machine.cpuModel)"])
        }
        return try jsonText(list)
    }

    /// JUnit XML, one testcase per benchmark (time = median seconds per iteration): classname
    /// `SUITE.OP` (how JUnit tools group cases), name `SUITE/OP/VARIANT`.
    public static func junit(_ r: RunReport, comparison: CompareReport?) -> String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var cases: [String] = []
        var failures = 0
        for row in r.rows {
            let key = row.key
            var body = ""
            if let c = r.check(key), !c.passed {
                failures += 1
                body = "<failure type=\"accuracy\" message=\"rejected: outside accuracy band\">\(esc(c.reason ?? ""))</failure>"
            } else if let cmp = comparison?.comparisons.first(where: { $0.key == key }),
                      cmp.verdict == .regression {
                failures += 1
                body = "<failure type=\"regression\" message=\"\(esc(String(format: "%.1f%% slower than baseline (CI %.3f–%.3f, p %.2g)", (cmp.ratio - 1) * 100, cmp.ciLower, cmp.ciUpper, cmp.pValueAdjusted)))\"/>"
            }
            cases.append("    <testcase classname=\"\(esc(key.suite)).\(esc(key.op))\" name=\"\(esc(key.description))\" time=\"\(row.time.p50 / 1e9)\">\(body)</testcase>")
        }
        let rejected = r.checks.filter { !$0.passed }
        for c in rejected where !r.rows.contains(where: { $0.key == c.key }) {
            failures += 1
            cases.append("    <testcase classname=\"\(esc(c.suite)).\(esc(c.op))\" name=\"\(esc(c.key.description))\" time=\"0\"><failure type=\"accuracy\" message=\"rejected: outside accuracy band\">\(esc(c.reason ?? ""))</failure></testcase>")
        }
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuites name="fusebench" tests="\(cases.count)" failures="\(failures)">
              <testsuite name="fusebench run \(r.info.id)" tests="\(cases.count)" failures="\(failures)">
            \(cases.joined(separator: "\n"))
              </testsuite>
            </testsuites>

            """
    }

    /// The run table as a Markdown table, with the run's footer lines quoted under it, then (when
    /// the run has edge ops) the variants tables under `## Edge variants`.
    public static func markdown(_ r: RunReport, variants: [VariantRow] = []) -> String {
        var out = "### fusebench run \(r.info.id) (\(r.info.status.rawValue))\n\n"
        out += "| " + TextRenderer.header.joined(separator: " | ") + " |\n|" + TextRenderer.header.map { _ in "---" }.joined(separator: "|") + "|\n"
        for row in TextRenderer.rows(r) { out += "| " + row.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |\n" }
        let footer = TextRenderer.footer(r).split(separator: "\n").map { "> " + $0 }.joined(separator: "\n")
        out += "\n" + footer + "\n"
        if !variants.isEmpty {
            out += "\n## Edge variants\n" + VariantsReport.markdown(variants)
        }
        return out
    }

    /// google/benchmark JSON: `context` + `benchmarks[]`. Each sample is one `iteration` entry
    /// (repetition), followed by `mean`/`median`/`stddev`/`cv` aggregates like
    /// `--benchmark_repetitions` produces, so compare.py's U test sees every repetition.
    /// Counters (per iteration) and `FLOPS` are extra numeric fields on each entry, and every
    /// aggregate aggregates each of them too (google/benchmark aggregates every counter).
    /// `variants` become the top-level `fusebench_variants` array and the accuracy checks the
    /// `fusebench_accuracy` array (`AccuracyText.jsonObject`; compare.py reads only `context`
    /// and `benchmarks`, so it ignores both).
    public static func gbench(_ r: RunReport, variants: [VariantRow] = []) throws -> String {
        let iso = ISO8601DateFormatter()
        var caches: [[String: Any]] = []
        for c in r.info.machine.caches {
            // "L1d 48K" → level 1, type Data, size bytes
            let parts = c.split(separator: " ")
            guard parts.count == 2 else { continue }
            let name = parts[0].dropFirst()
            let level = Int(name.prefix { $0.isNumber }) ?? 0
            let t = name.hasSuffix("d") ? "Data" : name.hasSuffix("i") ? "Instruction" : "Unified"
            let sizeText = parts[1]
            let n = Int(sizeText.prefix { $0.isNumber }) ?? 0
            let size = sizeText.hasSuffix("M") ? n << 20 : sizeText.hasSuffix("K") ? n << 10 : n
            caches.append(["type": t, "level": level, "size": size, "num_sharing": 0])
        }
        let context: [String: Any] = [
            "date": iso.string(from: r.info.startedAt),
            "host_name": ProcessInfo.processInfo.hostName,
            "executable": "fusebench",
            "num_cpus": r.info.machine.logicalCPUs,
            "mhz_per_cpu": 0,
            "cpu_scaling_enabled": r.info.machine.governor != "unavailable" && r.info.machine.governor != "performance",
            "caches": caches,
            "library_build_type": "release",
            "library_version": "fusebench \(r.info.harnessVersion)",
            "fusebench_run_id": r.info.id,
            "fusebench_run_uuid": r.info.uuid,
            "fusebench_status": r.info.status.rawValue,
            "fusebench_cpu": r.info.machine.cpuModel,
            "fusebench_counters": r.info.counterMode.rawValue,
            "fusebench_git_commit": r.info.gitCommit ?? "",
            "fusebench_git_branch": r.info.gitBranch ?? "",
            "fusebench_git_dirty": r.info.gitDirty.map { $0 ? "true" : "false" } ?? "",
            "fusebench_tags": r.tags,
            "fusebench_isa_built": r.info.isaBuilt.joined(separator: ","),
        ]
        var benchmarks: [[String: Any]] = []
        var family = 0
        for op in r.ops {
            let variants = r.rows.filter { $0.key.opKey == op.key }
            for row in variants {
                let name = row.key.description
                let own = r.samples(row.key)
                var counterValues: [(name: String, values: [Double])] = []
                func addCounter(_ event: String, _ value: Double) {
                    if let i = counterValues.firstIndex(where: { $0.name == event }) {
                        counterValues[i].values.append(value)
                    } else {
                        counterValues.append((event, [value]))
                    }
                }
                for (i, s) in own.enumerated() {
                    var e: [String: Any] = [
                        "name": name, "family_index": family, "per_family_instance_index": 0, "run_name": name,
                        "run_type": "iteration", "repetitions": own.count, "repetition_index": i, "threads": 1,
                        "iterations": s.iterations, "real_time": s.netWallNsPerIteration, "cpu_time": s.cpuNsPerIteration,
                        "time_unit": "ns",
                    ]
                    for c in s.counters {
                        let v = c.value / Double(max(1, s.iterations))
                        e[c.event] = v
                        addCounter(c.event, v)
                    }
                    if op.flops > 0, s.netWallNsPerIteration > 0 {
                        let flops = op.flops / s.netWallNsPerIteration * 1e9
                        e["FLOPS"] = flops
                        addCounter("FLOPS", flops)
                    }
                    benchmarks.append(e)
                }
                let wall = own.map(\.netWallNsPerIteration), cpu = own.map(\.cpuNsPerIteration)
                guard let w = Summary(wall), let c = Summary(cpu) else { continue }
                let aggregates: [(String, Double, Double, String)] = [
                    ("mean", w.mean, c.mean, "time"), ("median", w.p50, c.p50, "time"),
                    ("stddev", w.stddev, c.stddev, "time"), ("cv", w.cv, c.cv, "percentage"),
                ]
                let counterSummaries = counterValues.compactMap { v in Summary(v.values).map { (v.name, $0) } }
                for (agg, rv, cv, unit) in aggregates {
                    var e: [String: Any] = [
                        "name": "\(name)_\(agg)", "family_index": family, "per_family_instance_index": 0, "run_name": name,
                        "run_type": "aggregate", "repetitions": own.count, "threads": 1, "aggregate_name": agg,
                        "aggregate_unit": unit, "iterations": own.count, "real_time": rv, "cpu_time": cv, "time_unit": "ns",
                    ]
                    // Each counter aggregated the same way over the entries that carry it.
                    for (event, s) in counterSummaries {
                        let v: Double
                        switch agg {
                        case "mean": v = s.mean
                        case "median": v = s.p50
                        case "stddev": v = s.stddev
                        default: v = s.cv
                        }
                        if v.isFinite { e[event] = v }
                    }
                    benchmarks.append(e)
                }
                family += 1
            }
        }
        var doc: [String: Any] = ["context": context, "benchmarks": benchmarks]
        if !variants.isEmpty { doc["fusebench_variants"] = VariantsReport.jsonObjects(variants) }
        if !r.checks.isEmpty { doc["fusebench_accuracy"] = r.checks.map(AccuracyText.jsonObject) }
        let data = try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// CSV, one row per sample; counter events become `<event>_per_iter` columns.
    public static func csv(_ r: RunReport) -> String {
        var events: [String] = []
        for s in r.samples { for c in s.counters where !events.contains(c.event) { events.append(c.event) } }
        var header = ["run_id", "benchmark", "suite", "op", "variant", "sequence", "process", "iterations", "wall_ns",
                      "cpu_ns", "overhead_ns", "ns_per_iter", "cpu_ns_per_iter", "flags", "run_uuid"]
        header += events.map { "\($0)_per_iter" }
        if !events.isEmpty { header.append("counter_backend") }
        var lines = [header.map(field).joined(separator: ",")]
        for s in r.samples {
            var row = [String(r.info.id), s.key.description, s.suite, s.op, s.variant, String(s.sequence),
                       String(s.process), String(s.iterations), num(s.wallNs), num(s.cpuNs), num(s.overheadNs),
                       num(s.netWallNsPerIteration), num(s.cpuNsPerIteration), String(s.flags.rawValue), r.info.uuid]
            for e in events { row.append(s.counterPerIteration(e).map(num) ?? "") }
            if !events.isEmpty { row.append(s.counters.first?.backend.rawValue ?? "") }
            lines.append(row.map(field).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func num(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }

    /// RFC 4180 quoting.
    static func field(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
