import Analysis
import BenchModel
import Foundation

/// Renders the per-op table `fusebench run` prints.
public enum TextRenderer {
    /// The run table plus a footer about counters and accuracy.
    /// Column titles of the run table.
    public static let header = ["benchmark", "p50", "p90", "p99", "CV", "instr/op", "IPC", "miss/op", "miss/1k-ins", "GFLOP/s", "GB/s", "%peak", "speedup", "accuracy"]

    public static func runTable(_ r: RunReport) -> String {
        var out = Format.table(header: header, rows: rows(r))
        out += footer(r)
        return out
    }

    /// What a `layer:NAME` variant (a part of a model timed alone) is — "one layer, unfused", or
    /// "fused group, alone" when NAME joins several layers with `+` — or nil for any other variant.
    public static func partDescription(_ variant: String) -> String? {
        guard BenchmarkKey.isPart(variant: variant) else { return nil }
        return variant.contains("+") ? "fused group, alone" : "one layer, unfused"
    }

    /// The cells of the run table, one row per op variant.
    public static func rows(_ r: RunReport) -> [[String]] {
        var rows: [[String]] = []
        for row in r.rows {
            guard r.op(row.key.opKey) != nil else { continue }
            let check = r.check(row.key)
            let roof = r.roofline(row)
            let part = partDescription(row.variant)
            let acc: String
            if let part {
                acc = part
            } else if let c = check {
                acc = AccuracyText.cell(c)
            } else {
                acc = "reference"
            }
            rows.append([
                row.key.description,
                Format.duration(ns: row.time.p50),
                Format.duration(ns: row.time.p90),
                Format.duration(ns: row.time.p99),
                String(format: "%.1f%%", row.time.cv * 100),
                row.counterMeans["instructions"].map { Format.count($0) } ?? "–",
                row.ipc.map { String(format: "%.2f", $0) } ?? "–",
                row.cacheMisses.map { Format.count($0) } ?? "–",
                row.cacheMissesPerKiloInstruction.map { String(format: "%.2f", $0) } ?? "–",
                part != nil ? "–" : row.gflops.map { String(format: "%.2f", $0) } ?? "–",
                roof.gbytesPerSecond.map { String(format: "%.1f", $0) } ?? "–",
                roof.percentOfPeak.map { String(format: "%.0f%%", $0) } ?? "–",
                r.speedup(row).map { String(format: "%.2f×", $0) } ?? "–",
                acc,
            ])
        }
        return rows
    }

    /// Lines under the table: run, counters, machine, rejections.
    static func footer(_ r: RunReport) -> String {
        var out = "\n\nrun \(r.info.id) · \(r.info.status.rawValue) · \(r.samples.count) samples · counters (\(r.info.counterMode.rawValue)): \(r.info.counterNote)"
        if let p = r.peak {
            let bw = p.bandwidth.map { String(format: "%@ %.0f", $0.level, $0.readGBps) }.joined(separator: ", ")
            out += String(format: "\npeak (measured this run): FMA %.0f GFLOP/s (%@); read GB/s %@ — %%peak is of the roofline bound", p.flopsPerSecond / 1e9, p.kernelPath.rawValue, bw)
        }
        if let t = r.meta["telemetry.summary"] { out += "\n\(t)" }
        let energy = r.rows.compactMap { row -> String? in
            r.joulesPerInference(row.key).map { String(format: "%@ %.3g J", row.key.description, $0) }
        }
        out += "\nenergy per inference: " + (energy.isEmpty ? "unavailable (no RAPL/powercap energy readings on this machine)" : energy.joined(separator: ", "))
        let throttled = r.rows.reduce(0) { $0 + $1.throttledSamples }
        if throttled > 0 { out += "\nthrottled: \(throttled) sample(s) flagged (compare/gate --exclude-throttled leaves them out)" }
        let descheduled = r.samples.filter { $0.flags.contains(.descheduled) }.count
        if descheduled > 0 {
            out += "\ndescheduled: \(descheduled) sample(s) whose wall time exceeded CPU time by > 50% (other work on the CPU; --exclude-throttled leaves them out)"
        }
        out += "\nmachine: \(r.info.machine.cpuModel) · kernels built for \(r.info.isaBuilt.joined(separator: ",")) · path \(r.meta["isa.kernel_path"] ?? "?")\(r.meta["isa.int8_kernel_path"].map { " · int8 path \($0)" } ?? "")"
        let rejected = r.checks.filter { !$0.passed }
        for c in rejected {
            out += "\nrejected: \(c.key) — not timed; \(c.reason ?? "outside tolerance")"
        }
        let multiplexed = r.rows.reduce(0) { $0 + $1.multiplexedSamples }
        if multiplexed > 0 { out += "\nnote: \(multiplexed) samples had multiplexed counters (values scaled, flagged)" }
        return out
    }
}
