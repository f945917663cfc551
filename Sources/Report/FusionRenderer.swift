import BenchModel
import Foundation

/// Renders the fusion planner's decision log (`fusebench fusion RUN`).
public enum FusionRenderer {
    /// One block per `[[model]]` (suite and model: two suites may each have a model of the same
    /// name): each candidate group, its rule, outcome and reason, with the predicted and measured
    /// unfused→fused times (the measured change with its 95% interval: the speed check's evidence)
    /// and error; then the bytes each plan moves.
    public static func render(decisions: [FusionDecision], meta: [String: String]) -> String {
        guard !decisions.isEmpty else { return "no fusion decisions in this run (it ran no [[model]] with a fused variant)" }
        var out: [String] = []
        var models: [OpKey] = []
        for d in decisions where !models.contains(d.opKey) { models.append(d.opKey) }
        for model in models {
            let own = decisions.filter { $0.opKey == model }
            let accepted = own.filter { $0.outcome == .accepted }.count
            let name = model.suite.isEmpty ? model.op : model.description
            out.append("model \(name): \(own.count) decision(s), \(accepted) fusion(s) adopted")
            out.append(Format.table(header: header, rows: own.map(cells)))
            let bytes = bytesMoved(model: model, meta: meta).map { "\($0.label) \(Format.count($0.bytes))B" }
            if !bytes.isEmpty { out.append("bytes moved per inference: " + bytes.joined(separator: " · ")) }
            out.append("")
        }
        return out.joined(separator: "\n")
    }

    /// Bytes per inference of each variant of `model` (stored as `fusion.bytes.SUITE/OP/VARIANT`,
    /// or `fusion.bytes.OP.VARIANT` by older builds), labelled by variant. A model whose suite is
    /// unknown (decisions of older builds) takes the keys of every suite with a model of that
    /// name, labelled `SUITE/OP/VARIANT` when there are several. The older key form is read only
    /// for keys that are not `SUITE/OP/VARIANT` (a suite may itself be named like `MODEL.x`).
    static func bytesMoved(model: OpKey, meta: [String: String]) -> [(label: String, bytes: Double)] {
        var keyed: [(BenchmarkKey, Double)] = []
        var legacy: [(String, Double)] = []
        for (k, v) in meta where k.hasPrefix(RunMetaKey.fusionBytesPrefix) {
            guard let bytes = Double(v) else { continue }
            let rest = String(k.dropFirst(RunMetaKey.fusionBytesPrefix.count))
            if let key = BenchmarkKey.parse(rest) {
                if key.op == model.op, model.suite.isEmpty || key.suite == model.suite { keyed.append((key, bytes)) }
            } else if rest.hasPrefix(model.op + ".") {
                legacy.append((String(rest.dropFirst(model.op.count + 1)), bytes))
            }
        }
        let suites = Set(keyed.map(\.0.suite))
        return keyed.sorted { $0.0 < $1.0 }.map { (suites.count > 1 ? $0.0.description : $0.0.variant, $0.1) }
            + legacy.sorted { $0.0 < $1.0 }
    }

    static func times(_ a: Double?, _ b: Double?) -> String {
        guard let a, let b else { return "–" }
        return "\(Format.duration(ns: a)) → \(Format.duration(ns: b))"
    }

    /// Column titles of a model's decision table (text and HTML).
    static let header = ["group", "rule", "outcome", "bytes saved", "passes saved", "predicted unfused→fused",
                         "measured unfused→fused [95% CI]", "max err", "reason"]

    /// One decision's cells under `header`.
    static func cells(_ d: FusionDecision) -> [String] {
        [d.group.joined(separator: "→"), d.rule, d.outcome.rawValue,
         d.bytesSaved > 0 ? Format.count(d.bytesSaved) + "B" : "–", d.launchesSaved > 0 ? String(d.launchesSaved) : "–",
         predicted(d), measured(d), d.maxAbsError.map { String(format: "%.1e", $0) } ?? "–", d.reason]
    }

    /// A change as a signed percentage of the unfused time: `−4.0%`, `+1.1%`.
    static func change(_ ratio: Double) -> String {
        String(format: "%@%.1f%%", ratio < 1 ? "−" : "+", abs(ratio - 1) * 100)
    }

    /// `799 µs → 768 µs (−3.9%)`, or `–` without a prediction.
    static func predicted(_ d: FusionDecision) -> String {
        guard let r = d.predictedRatio else { return "–" }
        return times(d.predictedUnfusedNs, d.predictedFusedNs) + " (\(change(r)))"
    }

    /// `801 µs → 810 µs (+1.1% [+0.4%, +1.8%])`; the unfused time alone for an illegal group (it has
    /// no fused kernel); `not measured` for decisions of builds before the speed check.
    static func measured(_ d: FusionDecision) -> String {
        guard let u = d.measuredUnfusedNs else { return "not measured" }
        guard let r = d.measuredRatio else {
            return "\(Format.duration(ns: u)) → – (\(d.outcome == .rejectedIllegal ? "no fused kernel" : "fused not measured"))"
        }
        let ci = d.measuredRatioLower.flatMap { l in d.measuredRatioUpper.map { " [\(change(l)), \(change($0))]" } } ?? ""
        return times(d.measuredUnfusedNs, d.measuredFusedNs) + " (\(change(r))\(ci))"
    }
}
