// The fusion planner's decision log of a run (`fusion_decisions`), keyed by suite and model.
import BenchModel
import Foundation

extension ResultStore {
    /// Appends the fusion planner's decisions of a run (order kept), each under its suite and model.
    public func insertFusionDecisions(runID: Int64, decisions: [FusionDecision]) throws {
        guard !decisions.isEmpty else { return }
        let layers = try decisions.map { try encodeJSON($0.group) }
        try write { db in
            try Self.requireRun(db, runID)
            try Self.insertFusionDecisions(db, runID: runID, decisions: decisions, layers: layers)
        }
    }

    /// Appends `decisions` to run `runID` inside the caller's transaction; `layers[i]` is the JSON
    /// text of `decisions[i].group`.
    static func insertFusionDecisions(_ db: any StoreDatabase, runID: Int64, decisions: [FusionDecision], layers: [String]) throws {
        for (d, layerText) in zip(decisions, layers) {
            try db.execute(sql: """
                INSERT INTO fusion_decisions (run_id, suite, model, layers, rule, outcome, reason, bytes_saved, launches_saved,
                    predicted_unfused_ns, predicted_fused_ns, measured_unfused_ns, measured_fused_ns, max_abs_error,
                    measured_ratio_lower, measured_ratio_upper)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [runID, d.suite, d.model, layerText, d.rule, d.outcome.rawValue, d.reason, d.bytesSaved,
                                 d.launchesSaved, d.predictedUnfusedNs, d.predictedFusedNs, d.measuredUnfusedNs,
                                 d.measuredFusedNs, d.maxAbsError, d.measuredRatioLower, d.measuredRatioUpper])
        }
    }

    /// The fusion decisions of a run, in the order they were made (`suite` is '' for rows of older
    /// builds whose suite could not be told).
    public func fusionDecisions(runID: Int64) throws -> [FusionDecision] {
        let rows = try read { db in
            try db.fetchAll(sql: """
                SELECT suite, model, layers, rule, outcome, reason, bytes_saved, launches_saved, predicted_unfused_ns, predicted_fused_ns,
                       measured_unfused_ns, measured_fused_ns, max_abs_error, measured_ratio_lower, measured_ratio_upper
                FROM fusion_decisions WHERE run_id = ? ORDER BY id
                """, arguments: [runID])
        }
        return try rows.map { r in
            let outcomeText: String = try r.get(at: 4)
            guard let outcome = FusionDecision.Outcome(rawValue: outcomeText) else {
                throw StoreError.unusable(path: path, reason: "unknown fusion outcome '\(outcomeText)' in run \(runID)")
            }
            return FusionDecision(suite: try r.get(at: 0), model: try r.get(at: 1),
                                  group: try decodeJSON([String].self, r.get(at: 2), what: "fusion_decisions.layers"),
                                  rule: try r.get(at: 3), outcome: outcome, reason: try r.get(at: 5), bytesSaved: try r.get(at: 6),
                                  launchesSaved: try r.get(at: 7), predictedUnfusedNs: try r.get(at: 8), predictedFusedNs: try r.get(at: 9),
                                  measuredUnfusedNs: try r.get(at: 10), measuredFusedNs: try r.get(at: 11), maxAbsError: try r.get(at: 12),
                                  measuredRatioLower: try r.get(at: 13), measuredRatioUpper: try r.get(at: 14))
        }
    }
}
