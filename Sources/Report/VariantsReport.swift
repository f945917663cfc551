// `fusebench variants [RUN]`: for every op of kind `edge` in a run, one table of its variants with
// latency percentiles, energy per inference, task accuracy (from the accuracy checks), speedup vs
// the reference with a bootstrap CI, and the adopt / reject decision (rejections roll back to the
// reference). Decisions are stored as run_meta keys `variant_decision/OP/VARIANT`.
import Analysis
import BenchModel
import Foundation
import Store

/// One row of the variants table.
public struct VariantRow: Sendable, Equatable {
    public var op: String
    public var variant: String
    /// ns per iteration (one batch inference); nil when the variant was not timed.
    public var p50: Double?, p90: Double?, p99: Double?
    /// Joules per inference, nil when the run has no energy readings.
    public var energyPerInference: Double?
    /// Task metric (top-1 fraction) and its delta to the reference; nil when unknown.
    public var accuracy: Double?
    public var delta: Double?
    /// Speedup (reference p50 / variant p50) with its 95% CI.
    public var speedup: Double?, lower: Double?, upper: Double?
    public var decision: String
}

/// Builds and renders the variants tables.
public enum VariantsReport {
    /// Share of samples flagged throttled / descheduled, or CV, above which a variant is unstable.
    public static let unstableFraction = 0.2

    /// Rows of every `edge` op of the run, in op order, reference first.
    public static func rows(store: ResultStore, runID: Int64) throws -> [VariantRow] {
        let ops = try store.ops(runID: runID).filter { $0.kind == "edge" }
        let checks = try store.accuracyChecks(runID: runID)
        let telemetry = try store.telemetry(runID: runID).filter { $0.kind == "energy" }
        var rows: [VariantRow] = []
        for op in ops {
            let samples = try store.samples(runID: runID, op: op.name)
            let opChecks = checks.filter { $0.op == op.name }
            let reference = opChecks.first?.referenceVariant ?? samples.first?.variant ?? "fp32"
            let refAccuracy = opChecks.first.map { $0.cosine + $0.maxAbsError }
            var variants = [reference]
            for s in samples where !variants.contains(s.variant) { variants.append(s.variant) }
            for c in opChecks where !variants.contains(c.variant) { variants.append(c.variant) }
            let bySequence = Dictionary(grouping: telemetry.filter { $0.sampleSequence != nil }, by: { $0.sampleSequence! })
            func perProcess(_ v: String) -> [[Double]] {
                Dictionary(grouping: samples.filter { $0.variant == v }, by: \.process).sorted { $0.key < $1.key }
                    .map { $0.value.map(\.netWallNsPerIteration) }
            }
            let refGroups = perProcess(reference)
            for v in variants {
                let mine = samples.filter { $0.variant == v }
                let values = mine.map(\.netWallNsPerIteration).sorted()
                var row = VariantRow(op: op.name, variant: v, decision: "")
                if !values.isEmpty {
                    row.p50 = Stats.quantile(sorted: values, 0.5)
                    row.p90 = Stats.quantile(sorted: values, 0.9)
                    row.p99 = Stats.quantile(sorted: values, 0.99)
                    var joules = 0.0, iterations = 0, seen = false
                    for s in mine {
                        if let e = bySequence[s.sequence] {
                            seen = true
                            joules += e.compactMap(\.value).reduce(0, +)
                            iterations += s.iterations
                        }
                    }
                    if seen, iterations > 0 { row.energyPerInference = joules / Double(iterations) }
                }
                let check = opChecks.first { $0.variant == v }
                if v == reference {
                    row.accuracy = refAccuracy
                    row.delta = refAccuracy == nil ? nil : 0
                    row.decision = "reference"
                    rows.append(row)
                    continue
                }
                if let check {
                    row.accuracy = check.cosine
                    row.delta = -check.maxAbsError
                }
                if let check, !check.passed {
                    row.decision = "reject: accuracy → \(reference) (rollback)"
                    rows.append(row)
                    continue
                }
                let groups = perProcess(v)
                guard !values.isEmpty, !refGroups.allSatisfy(\.isEmpty) else {
                    row.decision = "reject: not measured → \(reference) (rollback)"
                    rows.append(row)
                    continue
                }
                // Speedup = reference / variant; the test gives variant / reference.
                let t = Bootstrap.ratioOfMediansTest(base: refGroups, head: groups, seed: 9)
                row.speedup = 1 / t.ratio
                row.lower = 1 / t.upper
                row.upper = 1 / t.lower
                let flagged = mine.filter { $0.flags.contains(.throttled) || $0.flags.contains(.descheduled) }.count
                let mean = values.reduce(0, +) / Double(values.count)
                let sd = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(1, values.count - 1))).squareRoot()
                let cv = mean > 0 ? sd / mean : 0
                if Double(flagged) / Double(mine.count) > unstableFraction || cv > unstableFraction {
                    row.decision = "reject: throttled/unstable → \(reference) (rollback)"
                } else if row.lower! <= 1 {
                    row.decision = "reject: not faster → \(reference) (rollback)"
                } else {
                    row.decision = "adopt"
                }
                rows.append(row)
            }
        }
        return rows
    }

    /// Stores each row's decision as run_meta `variant_decision/OP/VARIANT`.
    public static func store(_ rows: [VariantRow], store: ResultStore, runID: Int64) throws {
        for r in rows where r.decision != "reference" {
            try store.setRunMeta(runID: runID, key: "variant_decision/\(r.op)/\(r.variant)", value: r.decision)
        }
    }

    /// Markdown tables, one per op.
    public static func render(_ rows: [VariantRow]) -> String {
        func time(_ ns: Double?) -> String {
            guard let ns else { return "not timed" }
            return ns >= 1e6 ? String(format: "%.2f ms", ns / 1e6) : String(format: "%.1f µs", ns / 1e3)
        }
        var out = ""
        var ops: [String] = []
        for r in rows where !ops.contains(r.op) { ops.append(r.op) }
        if ops.isEmpty { return "no edge ops in this run\n" }
        for op in ops {
            out += "\n### \(op)\n\n"
            out += "| variant | p50 | p90 | p99 | energy/inference | top-1 | Δ vs ref (points) | speedup [95% CI] | decision |\n"
            out += "|---|---|---|---|---|---|---|---|---|\n"
            for r in rows where r.op == op {
                let energy = r.energyPerInference.map { String(format: "%.3g J", $0) } ?? "unavailable"
                let acc = r.accuracy.map { String(format: "%.2f%%", $0 * 100) } ?? "–"
                let delta = r.delta.map { abs($0) < 5e-7 ? "0.0" : String(format: "%+.1f", $0 * 100) } ?? "–"
                let speed = r.speedup.map { String(format: "%.2f× [%.2f, %.2f]", $0, r.lower!, r.upper!) } ?? "–"
                out += "| \(r.variant) | \(time(r.p50)) | \(time(r.p90)) | \(time(r.p99)) | \(energy) | \(acc) | \(delta) | \(speed) | \(r.decision) |\n"
            }
        }
        return out
    }
}
