import Analysis
import BenchModel
import Foundation

/// Export formats of `fusebench export`.
public enum ExportFormat: String, CaseIterable, Sendable {
    /// google/benchmark JSON (loads in its tools/compare.py).
    case gbench
    /// One row per sample, counters as columns.
    case csv
}

/// Serialises a run for other tools.
public enum Exporter {
    /// Renders `report` in `format`.
    public static func export(_ report: RunReport, format: ExportFormat) throws -> String {
        switch format {
        case .gbench: return try gbench(report)
        case .csv: return csv(report)
        }
    }

    /// google/benchmark JSON: `context` + `benchmarks[]`. Each sample is one `iteration` entry
    /// (repetition), followed by `mean`/`median`/`stddev`/`cv` aggregates like
    /// `--benchmark_repetitions` produces, so compare.py's U test sees every repetition.
    /// Counters (per iteration) are extra numeric fields on each entry.
    public static func gbench(_ r: RunReport) throws -> String {
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
            "fusebench_status": r.info.status.rawValue,
            "fusebench_cpu": r.info.machine.cpuModel,
            "fusebench_counters": r.info.counterMode,
            "fusebench_git_commit": r.info.gitCommit ?? "",
            "fusebench_isa_built": r.info.isaBuilt.joined(separator: ","),
        ]
        var benchmarks: [[String: Any]] = []
        var family = 0
        for op in r.ops {
            let variants = r.rows.filter { $0.op == op.name }
            for row in variants {
                let name = op.benchmarkName(variant: row.variant)
                let own = r.samples(op: op.name, variant: row.variant)
                for (i, s) in own.enumerated() {
                    var e: [String: Any] = [
                        "name": name, "family_index": family, "per_family_instance_index": 0, "run_name": name,
                        "run_type": "iteration", "repetitions": own.count, "repetition_index": i, "threads": 1,
                        "iterations": s.iterations, "real_time": s.netWallNsPerIteration, "cpu_time": s.cpuNsPerIteration,
                        "time_unit": "ns",
                    ]
                    for c in s.counters { e[c.event] = c.value / Double(max(1, s.iterations)) }
                    if op.flops > 0, s.netWallNsPerIteration > 0 { e["FLOPS"] = op.flops / s.netWallNsPerIteration * 1e9 }
                    benchmarks.append(e)
                }
                let wall = own.map(\.netWallNsPerIteration), cpu = own.map(\.cpuNsPerIteration)
                guard let w = Summary(wall), let c = Summary(cpu) else { continue }
                let aggregates: [(String, Double, Double, String)] = [
                    ("mean", w.mean, c.mean, "time"), ("median", w.p50, c.p50, "time"),
                    ("stddev", w.stddev, c.stddev, "time"), ("cv", w.cv, c.cv, "percentage"),
                ]
                for (agg, rv, cv, unit) in aggregates {
                    var e: [String: Any] = [
                        "name": "\(name)_\(agg)", "family_index": family, "per_family_instance_index": 0, "run_name": name,
                        "run_type": "aggregate", "repetitions": own.count, "threads": 1, "aggregate_name": agg,
                        "aggregate_unit": unit, "iterations": own.count, "real_time": rv, "cpu_time": cv, "time_unit": "ns",
                    ]
                    if agg == "mean" { for (k, v) in row.counterMeans { e[k] = v } }
                    benchmarks.append(e)
                }
                family += 1
            }
        }
        let doc: [String: Any] = ["context": context, "benchmarks": benchmarks]
        let data = try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// CSV, one row per sample; counter events become `<event>_per_iter` columns.
    public static func csv(_ r: RunReport) -> String {
        var events: [String] = []
        for s in r.samples { for c in s.counters where !events.contains(c.event) { events.append(c.event) } }
        var header = ["run_id", "benchmark", "suite", "op", "variant", "sequence", "process", "iterations", "wall_ns",
                      "cpu_ns", "overhead_ns", "ns_per_iter", "cpu_ns_per_iter", "flags"]
        header += events.map { "\($0)_per_iter" }
        if !events.isEmpty { header.append("counter_backend") }
        var lines = [header.map(field).joined(separator: ",")]
        let suiteOf = Dictionary(r.ops.map { ($0.name, $0.suite) }, uniquingKeysWith: { a, _ in a })
        for s in r.samples {
            let suite = suiteOf[s.op] ?? ""
            var row = [String(r.info.id), "\(suite)/\(s.op)/\(s.variant)", suite, s.op, s.variant, String(s.sequence),
                       String(s.process), String(s.iterations), num(s.wallNs), num(s.cpuNs), num(s.overheadNs),
                       num(s.netWallNsPerIteration), num(s.cpuNsPerIteration), String(s.flags.rawValue)]
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
