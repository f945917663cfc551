import BenchModel
import Foundation

/// Renders the fusion planner's decision log (`fusebench fusion RUN`).
public enum FusionRenderer {
    /// One block per model: each candidate group, its rule, outcome and reason, with the
    /// predicted/measured times and error; then the bytes each plan moves.
    public static func render(decisions: [FusionDecision], meta: [String: String]) -> String {
        guard !decisions.isEmpty else { return "no fusion decisions in this run (it ran no [[model]] with a fused variant)" }
        var out: [String] = []
        var models: [String] = []
        for d in decisions where !models.contains(d.model) { models.append(d.model) }
        for model in models {
            let own = decisions.filter { $0.model == model }
            let accepted = own.filter { $0.outcome == .accepted }.count
            out.append("model \(model): \(own.count) decision(s), \(accepted) fusion(s) adopted")
            let rows = own.map { d -> [String] in
                [d.group.joined(separator: "→"), d.rule, d.outcome.rawValue,
                 d.bytesSaved > 0 ? Format.count(d.bytesSaved) + "B" : "–", d.launchesSaved > 0 ? String(d.launchesSaved) : "–",
                 times(d.predictedUnfusedNs, d.predictedFusedNs), times(d.measuredUnfusedNs, d.measuredFusedNs),
                 d.maxAbsError.map { String(format: "%.1e", $0) } ?? "–", d.reason]
            }
            out.append(Format.table(header: ["group", "rule", "outcome", "bytes saved", "passes saved", "predicted unfused→fused",
                                             "measured unfused→fused", "max err", "reason"], rows: rows))
            let bytes = bytesMoved(model: model, meta: meta).map { "\($0.label) \(Format.count($0.bytes))B" }
            if !bytes.isEmpty { out.append("bytes moved per inference: " + bytes.joined(separator: " · ")) }
            out.append("")
        }
        return out.joined(separator: "\n")
    }

    /// Bytes per inference of each variant of `model` (stored as `fusion.bytes.SUITE/OP/VARIANT`,
    /// or `fusion.bytes.OP.VARIANT` by older builds), labelled by variant, or by `SUITE/OP/VARIANT`
    /// when several suites of the run have a model of that name.
    static func bytesMoved(model: String, meta: [String: String]) -> [(label: String, bytes: Double)] {
        var keyed: [(BenchmarkKey, Double)] = []
        var legacy: [(String, Double)] = []
        for (k, v) in meta where k.hasPrefix(RunMetaKey.fusionBytesPrefix) {
            guard let bytes = Double(v) else { continue }
            let rest = String(k.dropFirst(RunMetaKey.fusionBytesPrefix.count))
            if let key = BenchmarkKey.parse(rest), key.op == model {
                keyed.append((key, bytes))
            } else if rest.hasPrefix(model + ".") {
                legacy.append((String(rest.dropFirst(model.count + 1)), bytes))
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
}
