// The `variant_decisions` table: one row per (run, suite, edge op, variant) with the numbers behind the
// adopt / reject decision of `fusebench variants` (also written at the end of `fusebench run`).
import Foundation
import BenchModel

/// Share of inferences that left at one exit (early exit), with that mode's median latency.
public struct ExitRate: Codable, Sendable, Hashable {
    /// The iteration label: 1 = exit head after layer 1, 2 = final layer (batch-1 early exit).
    public var label: Int
    /// Fraction of the variant's timed inferences with this label.
    public var share: Double
    /// Number of timed inferences with this label.
    public var count: Int
    /// Median per-inference time of those inferences (ns, overhead removed); nil when the
    /// inferences of one label are not separately timed (batched early exit).
    public var p50Ns: Double?

    public init(label: Int, share: Double, count: Int, p50Ns: Double?) {
        self.label = label
        self.share = share
        self.count = count
        self.p50Ns = p50Ns
    }

    enum CodingKeys: String, CodingKey {
        case label, share, count
        case p50Ns = "p50_ns"
    }
}

/// One stored variant decision (a row of `variant_decisions`).
public struct VariantDecisionRecord: Codable, Sendable, Hashable, BenchmarkIdentified {
    /// Suite of the op.
    public var suite: String
    /// Op name within the suite.
    public var op: String
    /// Variant name.
    public var variant: String
    /// The variant this one is measured and rolled back against.
    public var referenceVariant: String
    /// Task accuracy metric (e.g. `top-1`).
    public var metric: String
    /// Task accuracy as a fraction, when measured.
    public var accuracy: Double?
    /// Accuracy minus the reference's (fraction; negative = worse).
    public var accuracyDelta: Double?
    /// Per-inference latency percentiles, ns.
    public var p50Ns: Double?, p90Ns: Double?, p99Ns: Double?
    /// `iterations` (per-inference latencies), `batches` (batch means) or `none` (not timed).
    public var latencySource: String
    /// Energy per inference in joules; nil when unavailable (never estimated).
    public var energyJ: Double?
    /// Reference median / variant median, with its 95% hierarchical-bootstrap CI.
    public var speedup: Double?, speedupLo: Double?, speedupHi: Double?
    /// Early-exit shares per exit head, when the variant labels its iterations.
    public var exitRates: [ExitRate]?
    /// `reference`, `adopt`, `reject: accuracy`, `reject: not faster`, `reject: throttled/unstable`, `reject: not measured`.
    public var decision: String
    /// The full decision text (with the rollback target).
    public var reason: String
    /// The variant rolled back to when rejected.
    public var rollbackTo: String?

    /// Creates a decision row (normally from `VariantsReport`).
    public init(suite: String, op: String, variant: String, referenceVariant: String, metric: String, accuracy: Double?, accuracyDelta: Double?,
                p50Ns: Double?, p90Ns: Double?, p99Ns: Double?, latencySource: String, energyJ: Double?,
                speedup: Double?, speedupLo: Double?, speedupHi: Double?, exitRates: [ExitRate]?,
                decision: String, reason: String, rollbackTo: String?) {
        self.suite = suite
        self.op = op
        self.variant = variant
        self.referenceVariant = referenceVariant
        self.metric = metric
        self.accuracy = accuracy
        self.accuracyDelta = accuracyDelta
        self.p50Ns = p50Ns
        self.p90Ns = p90Ns
        self.p99Ns = p99Ns
        self.latencySource = latencySource
        self.energyJ = energyJ
        self.speedup = speedup
        self.speedupLo = speedupLo
        self.speedupHi = speedupHi
        self.exitRates = exitRates
        self.decision = decision
        self.reason = reason
        self.rollbackTo = rollbackTo
    }
}

extension ResultStore {
    /// Replaces the decisions of run `runID` for the ops named in `records` (one transaction).
    ///
    /// - Throws: `StoreError.unknownRun` when the run does not exist.
    public func replaceVariantDecisions(runID: Int64, records: [VariantDecisionRecord]) throws {
        let now = Date().timeIntervalSince1970
        let encoded = try records.map { r in try r.exitRates.map { try encodeJSON($0) } }
        try write { db in
            try Self.requireRun(db, runID)
            for op in Set(records.map(\.key.opKey)) {
                try db.execute(sql: "DELETE FROM variant_decisions WHERE run_id = ? AND suite = ? AND op = ?",
                               arguments: [runID, op.suite, op.op])
            }
            for (r, exits) in zip(records, encoded) {
                try db.execute(sql: """
                    INSERT INTO variant_decisions (run_id, suite, op, variant, reference_variant, metric, accuracy, accuracy_delta,
                        p50_ns, p90_ns, p99_ns, latency_source, energy_j, speedup, speedup_lo, speedup_hi, exit_rates,
                        decision, reason, rollback_to, decided_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [runID, r.suite, r.op, r.variant, r.referenceVariant, r.metric, r.accuracy, r.accuracyDelta,
                                     r.p50Ns, r.p90Ns, r.p99Ns, r.latencySource, r.energyJ, r.speedup, r.speedupLo, r.speedupHi,
                                     exits, r.decision, r.reason, r.rollbackTo, now])
            }
        }
    }

    /// Stored decisions of a run, by suite and op, then variant (reference first).
    public func variantDecisions(runID: Int64) throws -> [VariantDecisionRecord] {
        try read { db in
            try db.fetchAll(sql: """
                SELECT suite, op, variant, reference_variant, metric, accuracy, accuracy_delta, p50_ns, p90_ns, p99_ns,
                       latency_source, energy_j, speedup, speedup_lo, speedup_hi, exit_rates, decision, reason, rollback_to
                FROM variant_decisions WHERE run_id = ?
                ORDER BY suite, op, CASE WHEN decision = 'reference' THEN 0 ELSE 1 END, variant
                """, arguments: [runID]).map { row in
                let exits: String? = try row.get(at: 15)
                return VariantDecisionRecord(
                    suite: try row.get(at: 0), op: try row.get(at: 1), variant: try row.get(at: 2), referenceVariant: try row.get(at: 3),
                    metric: try row.get(at: 4), accuracy: try row.get(at: 5), accuracyDelta: try row.get(at: 6), p50Ns: try row.get(at: 7),
                    p90Ns: try row.get(at: 8), p99Ns: try row.get(at: 9), latencySource: try row.get(at: 10), energyJ: try row.get(at: 11),
                    speedup: try row.get(at: 12), speedupLo: try row.get(at: 13), speedupHi: try row.get(at: 14),
                    exitRates: try exits.map { try decodeJSON([ExitRate].self, $0, what: "variant_decisions.exit_rates") },
                    decision: try row.get(at: 16), reason: try row.get(at: 17), rollbackTo: try row.get(at: 18))
            }
        }
    }
}
