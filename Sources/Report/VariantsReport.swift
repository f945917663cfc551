// `fusebench variants [RUN]`: for every variants op in a run (one with per-iteration latencies,
// accuracy checks or stored decisions, whatever its family), one table of its variants with
// per-inference latency percentiles (from the per-iteration latencies when the run recorded them,
// else from the batches), energy per inference, task accuracy (from the accuracy checks), speedup
// vs the reference with a bootstrap CI, the early-exit rates per head with each mode's median, and
// the adopt / reject decision (rejections roll back to the reference). Decisions are stored in
// the `variant_decisions` table.
import Analysis
import BenchModel
import Foundation
import Store

/// The decision on one variant of an edge op. Its text (`description`) and kind are the strings
/// stored in `variant_decisions.reason` / `.decision` and printed in the table, unchanged from
/// when the decision was a string; code switches on the cases instead of parsing the text.
public enum VariantDecision: Sendable, Hashable, CustomStringConvertible, Codable {
    /// The op's reference variant.
    case reference
    /// Faster than the reference with its accuracy inside the band: adopted.
    case adopt
    /// Rejected; the op rolls back to the reference variant `rollbackTo`.
    case reject(RejectReason, rollbackTo: String)
    /// The entry's accuracy band is open (100 points): the variant is only timed.
    case timingOnly
    /// The run was interrupted before the variant could be decided.
    case undecidedInterrupted
    /// Fewer than `minimum` decisive samples.
    case undecidedFewSamples(minimum: Int)
    /// Not decided yet (a row under construction).
    case pending

    /// Why a variant was rejected (raw values are the stored texts).
    public enum RejectReason: String, Sendable, Hashable, CaseIterable {
        /// Its accuracy check failed (outside the entry's accuracy band).
        case accuracy = "accuracy"
        /// No decisive samples of the variant at all.
        case notMeasured = "not measured"
        /// Too many samples flagged throttled/descheduled, or a CV above the same limit.
        case unstable = "throttled/unstable"
        /// The lower bound of its speedup's CI is not above 1.
        case notFaster = "not faster"
    }

    /// The decision without its rollback target (`reference`, `adopt`, `reject: accuracy`, ...):
    /// the `decision` column and the JSON `decision` key.
    public var kind: String {
        switch self {
        case .reject(let why, _): "reject: \(why.rawValue)"
        default: description
        }
    }

    /// The full text, e.g. `adopt` or `reject: not faster → fp32 (rollback)`.
    public var description: String {
        switch self {
        case .reference: "reference"
        case .adopt: "adopt"
        case .reject(let why, let to): "reject: \(why.rawValue) → \(to) (rollback)"
        case .timingOnly: "timing only (accuracy band open)"
        case .undecidedInterrupted: "undecided: run interrupted"
        case .undecidedFewSamples(let n): "undecided: fewer than \(n) samples"
        case .pending: ""
        }
    }

    /// The variant rolled back to, for rejections.
    public var rollbackTo: String? {
        if case .reject(_, let to) = self { return to }
        return nil
    }

    /// Parses a stored text (`description`); nil for text this version does not know.
    public init?(text: String) {
        switch text {
        case "reference": self = .reference
        case "adopt": self = .adopt
        case "timing only (accuracy band open)": self = .timingOnly
        case "undecided: run interrupted": self = .undecidedInterrupted
        case "": self = .pending
        default:
            let fewPrefix = "undecided: fewer than ", fewSuffix = " samples"
            if text.hasPrefix(fewPrefix), text.hasSuffix(fewSuffix),
               let n = Int(text.dropFirst(fewPrefix.count).dropLast(fewSuffix.count)) {
                self = .undecidedFewSamples(minimum: n)
                return
            }
            let rollbackSuffix = " (rollback)"
            for why in RejectReason.allCases {
                let prefix = "reject: \(why.rawValue) → "
                if text.hasPrefix(prefix), text.hasSuffix(rollbackSuffix), text.count > prefix.count + rollbackSuffix.count {
                    self = .reject(why, rollbackTo: String(text.dropFirst(prefix.count).dropLast(rollbackSuffix.count)))
                    return
                }
            }
            return nil
        }
    }

    /// Encodes as the stored text.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    /// Decodes the stored text.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        guard let d = VariantDecision(text: text) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown variant decision '\(text)'")
        }
        self = d
    }
}

/// One row of the variants table.
public struct VariantRow: Sendable, Equatable {
    /// Suite of the op.
    public var suite: String
    /// Op name within its suite.
    public var op: String
    public var variant: String
    /// The op's reference variant (fp32 for the MLP, nchw for the CNN): the rollback target.
    public var reference: String = ""
    /// Images per inference (the op's `batch`); nil when the op record does not say.
    public var batch: Int?
    /// ns per inference (one iteration); nil when the variant was not timed.
    public var p50: Double?, p90: Double?, p99: Double?
    /// Where the percentiles come from: `iterations` (every inference timed), `batches` (batch
    /// means, runs without per-iteration latencies) or `none`.
    public var latencySource = "none"
    /// Timed inferences behind the percentiles (iterations, or batches for `batches`).
    public var count = 0
    /// Joules per inference, nil when the run has no energy readings.
    public var energyPerInference: Double?
    /// Task metric name, value (top-1 fraction) and its delta to the reference; nil when unknown.
    public var metric = "top-1"
    public var accuracy: Double?
    public var delta: Double?
    /// Speedup (reference median / variant median of the batch means) with its 95% CI.
    public var speedup: Double?, lower: Double?, upper: Double?
    /// Early exit: share of inferences per exit (label 1 = exit head, 2 = final layer), with each
    /// mode's median; nil for variants without exit labels.
    public var exitRates: [ExitRate]?
    /// The decision (its text, e.g. `reject: not faster → fp32 (rollback)`, is what is stored and printed).
    public var decision: VariantDecision

    /// Creates the row of benchmark `key` with `decision` (only its identity and decision set).
    public init(key: BenchmarkKey, decision: VariantDecision) {
        self.suite = key.suite
        self.op = key.op
        self.variant = key.variant
        self.decision = decision
    }

    /// The row's benchmark (`SUITE/OP/VARIANT`).
    public var key: BenchmarkKey { BenchmarkKey(suite: suite, op: op, variant: variant) }

    /// The decision without the rollback suffix (`reference`, `adopt`, `reject: accuracy`, ...).
    public var decisionKind: String { decision.kind }

    /// The variant rolled back to, for rejections.
    public var rollbackTo: String? { decision.rollbackTo }
}

/// Output formats of `fusebench variants`.
public enum VariantsFormat: String, CaseIterable, Sendable {
    case text, markdown, json
}

/// Builds and renders the variants tables.
public enum VariantsReport {
    /// Share of samples flagged throttled / descheduled, or CV, above which a variant is unstable.
    public static let unstableFraction = 0.2

    /// Rows of every variants op of the run, in op order, reference first.
    ///
    /// An op is a variants op by what the run stored for it, whatever its family: samples with
    /// per-iteration latencies, accuracy checks, or stored variant decisions.
    public static func rows(store: ResultStore, runID: Int64) throws -> [VariantRow] {
        let ops = try store.ops(runID: runID)
        let decided = Set(try store.variantDecisions(runID: runID).map { OpKey(suite: $0.suite, op: $0.op) })
        let telemetry = try store.telemetry(runID: runID).filter { $0.kind == "energy" }
        let interrupted = try store.run(id: runID)?.status == .interrupted
        var rows: [VariantRow] = []
        for op in ops {
            let stored = try store.samples(runID: runID, op: op.key, iterationLatencies: true)
            let opChecks = try store.accuracyChecks(runID: runID, op: op.key)
            guard stored.contains(where: { $0.iterationLatencies != nil }) || !opChecks.isEmpty || decided.contains(op.key) else {
                continue
            }
            // Parts timed alone (a model's `layer:NAME`) are not variants: no decision, no row.
            let samples = stored.filter { !$0.flags.contains(.simulated) && !BenchmarkKey.isPart(variant: $0.variant) }
            let reference = opChecks.first?.referenceVariant ?? samples.first?.variant ?? "fp32"
            let refAccuracy = opChecks.first.map { $0.cosine + $0.maxAbsError }
            var variants = [reference]
            for s in samples where !variants.contains(s.variant) { variants.append(s.variant) }
            for c in opChecks where !variants.contains(c.variant) { variants.append(c.variant) }
            let bySequence = Dictionary(grouping: telemetry.filter { $0.sampleSequence != nil }, by: { $0.sampleSequence! })
            // Batches for the speedup and the stability check: those timed without per-iteration
            // clock reads when the op has them (edge ops alternate), else all — as compare and gate.
            let decisive = Comparator.decisionBatches(samples)
            func perProcess(_ v: String) -> [[Double]] {
                Dictionary(grouping: decisive.filter { $0.variant == v }, by: \.process).sorted { $0.key < $1.key }
                    .map { $0.value.map(\.netWallNsPerIteration) }
            }
            let refGroups = perProcess(reference)
            for v in variants {
                let all = samples.filter { $0.variant == v }
                let mine = decisive.filter { $0.variant == v }
                let batchValues = mine.map(\.netWallNsPerIteration).sorted()
                var row = VariantRow(key: op.benchmarkKey(variant: v), decision: .pending)
                row.reference = reference
                row.batch = op.shape["batch"]
                row.metric = "top-1"
                if !batchValues.isEmpty {
                    fillLatencies(&row, samples: all, batchValues: batchValues)
                    var joules = 0.0, iterations = 0, seen = false
                    for s in all {
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
                    row.decision = .reference
                    rows.append(row)
                    continue
                }
                if let check {
                    row.accuracy = check.cosine
                    row.delta = -check.maxAbsError
                }
                if let check, !check.passed {
                    row.decision = .reject(.accuracy, rollbackTo: reference)
                    rows.append(row)
                    continue
                }
                if let check, check.tolerance.abs >= 1 {
                    // A band of 100 points accepts any accuracy: such an entry only times the
                    // variants (e.g. those another entry rejects on accuracy); it decides nothing.
                    row.decision = .timingOnly
                    fillSpeedup(&row, reference: refGroups, variant: perProcess(v))
                    rows.append(row)
                    continue
                }
                if interrupted {
                    row.decision = .undecidedInterrupted
                    fillSpeedup(&row, reference: refGroups, variant: perProcess(v))
                    rows.append(row)
                    continue
                }
                guard batchValues.count >= minimumSamples, refGroups.joined().count >= minimumSamples else {
                    row.decision = batchValues.isEmpty ? .reject(.notMeasured, rollbackTo: reference)
                                                       : .undecidedFewSamples(minimum: minimumSamples)
                    fillSpeedup(&row, reference: refGroups, variant: perProcess(v))
                    rows.append(row)
                    continue
                }
                fillSpeedup(&row, reference: refGroups, variant: perProcess(v))
                let flagged = mine.filter { $0.flags.contains(.throttled) || $0.flags.contains(.descheduled) }.count
                let mean = batchValues.reduce(0, +) / Double(batchValues.count)
                let sd = (batchValues.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(1, batchValues.count - 1))).squareRoot()
                let cv = mean > 0 ? sd / mean : 0
                if Double(flagged) / Double(mine.count) > unstableFraction || cv > unstableFraction {
                    row.decision = .reject(.unstable, rollbackTo: reference)
                } else if row.lower! <= 1 {
                    row.decision = .reject(.notFaster, rollbackTo: reference)
                } else {
                    row.decision = .adopt
                }
                rows.append(row)
            }
        }
        return rows
    }

    /// Fewest batches of the variant and of the reference a decision is made from.
    public static let minimumSamples = 5

    /// Speedup = reference / variant on the batch means, with its 95% CI (see
    /// docs/design-notes.md: the batches are the independent units; per-inference values within a
    /// batch are not). Left nil when either side has no samples.
    static func fillSpeedup(_ row: inout VariantRow, reference: [[Double]], variant: [[Double]]) {
        guard !reference.joined().isEmpty, !variant.joined().isEmpty else { return }
        let t = Bootstrap.ratioOfMediansTest(base: reference, head: variant, seed: 9)
        row.speedup = 1 / t.ratio
        row.lower = 1 / t.upper
        row.upper = 1 / t.lower
    }

    /// p50, and p90 / p99 only when there are at least 10 / 100 values (fewer would make them
    /// the maximum, not a tail percentile); nil percentiles print as "–".
    static func setPercentiles(_ row: inout VariantRow, sorted values: [Double]) {
        row.count = values.count
        guard !values.isEmpty else { return }
        row.p50 = Stats.quantile(sorted: values, 0.5)
        row.p90 = values.count >= 10 ? Stats.quantile(sorted: values, 0.9) : nil
        row.p99 = values.count >= 100 ? Stats.quantile(sorted: values, 0.99) : nil
    }

    /// Percentiles per inference: from the per-iteration latencies of the samples that have them,
    /// else from the batch means. Exit rates from the iteration labels (early exit).
    static func fillLatencies(_ row: inout VariantRow, samples: [Sample], batchValues: [Double]) {
        let timed = samples.compactMap(\.iterationLatencies)
        guard !timed.isEmpty else {
            setPercentiles(&row, sorted: batchValues)
            row.latencySource = "batches"
            return
        }
        var values: [Double] = []
        values.reserveCapacity(timed.reduce(0) { $0 + $1.ns.count })
        var byLabel: [Int32: [Double]] = [:]
        let labeled = timed.contains { l in l.labels.contains { $0 != 0 } }
        for l in timed {
            let net = l.netNs
            values += net
            if labeled {
                for (i, v) in net.enumerated() { byLabel[l.labels.isEmpty ? 0 : l.labels[i], default: []].append(v) }
            }
        }
        values.sort()
        setPercentiles(&row, sorted: values)
        row.latencySource = "iterations"
        guard labeled else { return }
        let total = Double(values.count)
        if let b = row.batch, b > 1 {
            // Batched early exit: the label is the number of the batch's images that left at the
            // exit head; the rates are over images, and there are no per-head latencies.
            var early = 0
            for (label, v) in byLabel { early += Int(label) * v.count }
            let images = Int(total) * b
            row.exitRates = [ExitRate(label: 1, share: Double(early) / Double(images), count: early, p50Ns: nil),
                             ExitRate(label: 2, share: Double(images - early) / Double(images), count: images - early, p50Ns: nil)]
            return
        }
        row.exitRates = byLabel.keys.sorted().map { label in
            let v = byLabel[label]!.sorted()
            return ExitRate(label: Int(label), share: Double(v.count) / total, count: v.count, p50Ns: Stats.quantile(sorted: v, 0.5))
        }
    }

    /// The stored form of the rows.
    public static func records(_ rows: [VariantRow]) -> [VariantDecisionRecord] {
        rows.map { r in
            VariantDecisionRecord(suite: r.suite, op: r.op, variant: r.variant, referenceVariant: r.reference, metric: r.metric,
                                  accuracy: r.accuracy, accuracyDelta: r.delta, p50Ns: r.p50, p90Ns: r.p90, p99Ns: r.p99,
                                  latencySource: r.latencySource, energyJ: r.energyPerInference,
                                  speedup: r.speedup, speedupLo: r.lower, speedupHi: r.upper,
                                  exitRates: r.exitRates,
                                  decision: r.decisionKind, reason: r.decision.description, rollbackTo: r.rollbackTo)
        }
    }

    /// Stores the rows in `variant_decisions` (replacing earlier decisions of the same ops).
    public static func store(_ rows: [VariantRow], store: ResultStore, runID: Int64) throws {
        guard !rows.isEmpty else { return }
        try store.replaceVariantDecisions(runID: runID, records: records(rows))
    }

    static func time(_ ns: Double?) -> String {
        guard let ns, ns.isFinite, ns >= 0 else { return "not timed" }
        return Format.duration(ns: ns)
    }

    /// Name of an exit label.
    static func exitName(_ label: Int) -> String {
        switch label {
        case 1: return "head 1"
        case 2: return "final"
        default: return "label \(label)"
        }
    }

    /// `exits: head 1 90.7% (p50 1.1 µs), final 9.3% (p50 2 µs)`.
    public static func exitLine(_ rates: [ExitRate]) -> String {
        "exits: " + rates.map { e in
            String(format: "%@ %.1f%%", exitName(e.label), e.share * 100)
                + (e.p50Ns.map { " (p50 \(time($0)))" } ?? "")
        }.joined(separator: ", ")
    }

    static func cells(_ r: VariantRow) -> [String] {
        let energy = r.energyPerInference.map { String(format: "%.3g J", $0) } ?? "unavailable"
        let acc = r.accuracy.map { String(format: "%.2f%%", $0 * 100) } ?? "–"
        let delta = r.delta.map { abs($0) < 5e-7 ? "0.0" : String(format: "%+.1f", $0 * 100) } ?? "–"
        let speed = r.speedup.map { String(format: "%.2f× [%.2f, %.2f]", $0, r.lower!, r.upper!) } ?? "–"
        let timed = r.p50 != nil
        func tail(_ v: Double?) -> String { timed && v == nil ? "–" : time(v) }
        return [r.variant, time(r.p50), tail(r.p90), tail(r.p99), energy, acc, delta, speed, r.decision.description]
    }

    static let header = ["variant", "p50", "p90", "p99", "energy/inference", "top-1", "Δ vs ref (points)", "speedup [95% CI]", "decision"]

    static func ops(_ rows: [VariantRow]) -> [OpKey] {
        var ops: [OpKey] = []
        for r in rows where !ops.contains(r.key.opKey) { ops.append(r.key.opKey) }
        return ops
    }

    /// What one row of latencies means for an op (`per image (batch 1), from every inference`).
    static func latencyNote(_ rows: [VariantRow]) -> String {
        let batch = rows.first?.batch
        let unit = batch.map { $0 == 1 ? "per image (batch 1)" : "per inference of a \($0)-image batch" } ?? "per inference"
        let perInference = rows.contains { $0.latencySource == "iterations" }
        let source = perInference ? "percentiles over every timed inference" : "percentiles over batch means"
        let batches = perInference ? "the batch means of the batches run without per-inference clock reads" : "the batch means"
        return "latency \(unit); \(source); speedup = ratio of medians of \(batches), 95% CI by hierarchical bootstrap"
    }

    /// Renders the rows in `format`.
    public static func render(_ rows: [VariantRow], format: VariantsFormat) throws -> String {
        switch format {
        case .markdown: return markdown(rows)
        case .text: return text(rows)
        case .json: return try json(rows)
        }
    }

    /// Markdown: `### SUITE/OP`, a note, the table, and one line per variant with exit rates.
    public static func markdown(_ rows: [VariantRow]) -> String {
        let names = ops(rows)
        if names.isEmpty { return "no edge ops in this run\n" }
        var out = ""
        for op in names {
            let mine = rows.filter { $0.key.opKey == op }
            out += "\n### \(op)\n\n"
            out += "_\(latencyNote(mine))_\n\n"
            out += "| " + header.joined(separator: " | ") + " |\n"
            out += "|" + header.map { _ in "---" }.joined(separator: "|") + "|\n"
            for r in mine {
                out += "| " + cells(r).map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |\n"
            }
            let exits = mine.filter { $0.exitRates != nil }
            if !exits.isEmpty { out += "\n" }
            for r in exits { out += "- \(r.variant) \(exitLine(r.exitRates!))\n" }
        }
        return out
    }

    /// Plain text: aligned columns per op (`SUITE/OP`).
    public static func text(_ rows: [VariantRow]) -> String {
        let names = ops(rows)
        if names.isEmpty { return "no edge ops in this run\n" }
        var out = ""
        for op in names {
            let mine = rows.filter { $0.key.opKey == op }
            out += "\n\(op) — \(latencyNote(mine))\n"
            out += Format.table(header: header, rows: mine.map(cells))
            if !out.hasSuffix("\n") { out += "\n" }
            for r in mine where r.exitRates != nil { out += "  \(r.variant) \(exitLine(r.exitRates!))\n" }
        }
        return out
    }

    /// JSON: the stored records (`variant_decisions` columns, snake_case), as an array.
    public static func json(_ rows: [VariantRow]) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: jsonObjects(rows), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// One dictionary per row (for the JSON output and the gbench export's `fusebench_variants`).
    public static func jsonObjects(_ rows: [VariantRow]) -> [[String: Any]] {
        rows.map { r in
            var o: [String: Any] = [
                "suite": r.suite, "op": r.op, "variant": r.variant, "benchmark": r.key.description,
                "reference_variant": r.reference, "metric": r.metric,
                "latency_source": r.latencySource, "count": r.count, "decision": r.decisionKind, "reason": r.decision.description,
            ]
            func put(_ key: String, _ v: Double?) { if let v, v.isFinite { o[key] = v } }
            put("accuracy", r.accuracy)
            put("accuracy_delta", r.delta)
            put("p50_ns", r.p50)
            put("p90_ns", r.p90)
            put("p99_ns", r.p99)
            put("energy_j", r.energyPerInference)
            put("speedup", r.speedup)
            put("speedup_lo", r.lower)
            put("speedup_hi", r.upper)
            if let b = r.batch { o["batch"] = b }
            if let to = r.rollbackTo { o["rollback_to"] = to }
            if let exits = r.exitRates {
                o["exit_rates"] = exits.map { e -> [String: Any] in
                    var d: [String: Any] = ["label": e.label, "exit": exitName(e.label), "share": e.share, "count": e.count]
                    if let p = e.p50Ns { d["p50_ns"] = p }
                    return d
                }
            }
            return o
        }
    }
}
