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
            let bytes = meta.filter { $0.key.hasPrefix("fusion.bytes.\(model).") }.sorted { $0.key < $1.key }
                .compactMap { kv in Double(kv.value).map { "\(kv.key.dropFirst("fusion.bytes.\(model).".count)) \(Format.count($0))B" } }
            if !bytes.isEmpty { out.append("bytes moved per inference: " + bytes.joined(separator: " · ")) }
            out.append("")
        }
        return out.joined(separator: "\n")
    }

    static func times(_ a: Double?, _ b: Double?) -> String {
        guard let a, let b else { return "–" }
        return "\(Format.duration(ns: a)) → \(Format.duration(ns: b))"
    }
}
