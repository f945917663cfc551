import BenchModel
import Foundation
import GRDB

extension ResultStore {
    /// Appends the fusion planner's decisions of a run (order kept).
    public func insertFusionDecisions(runID: Int64, decisions: [FusionDecision]) throws {
        guard !decisions.isEmpty else { return }
        try write { db in
            try Self.requireRun(db, runID)
            for d in decisions {
                try db.execute(sql: """
                    INSERT INTO fusion_decisions (run_id, model, layers, rule, outcome, reason, bytes_saved, launches_saved,
                        predicted_unfused_ns, predicted_fused_ns, measured_unfused_ns, measured_fused_ns, max_abs_error)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [runID, d.model, try encodeJSON(d.group), d.rule, d.outcome.rawValue, d.reason, d.bytesSaved,
                                     d.launchesSaved, d.predictedUnfusedNs, d.predictedFusedNs, d.measuredUnfusedNs,
                                     d.measuredFusedNs, d.maxAbsError])
            }
        }
    }

    /// The fusion decisions of a run, in the order they were made.
    public func fusionDecisions(runID: Int64) throws -> [FusionDecision] {
        let rows = try read { db in
            try Row.fetchAll(db, sql: """
                SELECT model, layers, rule, outcome, reason, bytes_saved, launches_saved, predicted_unfused_ns, predicted_fused_ns,
                       measured_unfused_ns, measured_fused_ns, max_abs_error FROM fusion_decisions WHERE run_id = ? ORDER BY id
                """, arguments: [runID])
        }
        return try rows.map { r in
            let outcomeText: String = r[3]
            guard let outcome = FusionDecision.Outcome(rawValue: outcomeText) else {
                throw StoreError.unusable(path: path, reason: "unknown fusion outcome '\(outcomeText)' in run \(runID)")
            }
            return FusionDecision(model: r[0], group: try decodeJSON([String].self, r[1], what: "fusion_decisions.layers"), rule: r[2],
                                  outcome: outcome, reason: r[4], bytesSaved: r[5], launchesSaved: r[6], predictedUnfusedNs: r[7],
                                  predictedFusedNs: r[8], measuredUnfusedNs: r[9], measuredFusedNs: r[10], maxAbsError: r[11])
        }
    }
}
