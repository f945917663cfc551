// Report owns turning stored runs into things people and tools read: the run table (text),
// and exports (google/benchmark JSON, CSV). It reads through `Store` and computes with `Analysis`.
import Analysis
import BenchModel
import Foundation
import Store

/// A stored run with its statistics, ready to render or export.
public struct RunReport: Sendable {
    public var info: RunInfo
    public var meta: [String: String]
    public var ops: [OpRecord]
    public var samples: [Sample]
    public var checks: [AccuracyCheck]
    /// Statistics per op and variant, in suite order then variant order of first appearance.
    public var rows: [VariantStatistics]

    /// Loads run `runID` from `store`.
    public init(store: ResultStore, runID: Int64) throws {
        guard let info = try store.run(id: runID) else { throw StoreError.unknownRun(String(runID)) }
        self.info = info
        meta = try store.runMeta(runID: runID)
        ops = try store.ops(runID: runID)
        samples = try store.samples(runID: runID)
        checks = try store.accuracyChecks(runID: runID)
        var rows: [VariantStatistics] = []
        for op in ops {
            var variants: [String] = []
            for s in samples where s.op == op.name && !variants.contains(s.variant) { variants.append(s.variant) }
            for v in variants {
                if let st = VariantStatistics(op: op, variant: v, samples: samples) { rows.append(st) }
            }
        }
        self.rows = rows
    }

    /// The op record named `name`.
    public func op(_ name: String) -> OpRecord? { ops.first { $0.name == name } }

    /// Samples of one variant, in measurement order.
    public func samples(op: String, variant: String) -> [Sample] {
        samples.filter { $0.op == op && $0.variant == variant }
    }

    /// Speedup of `row` over its op's reference variant (reference p50 / this p50).
    public func speedup(_ row: VariantStatistics) -> Double? {
        guard let check = checks.first(where: { $0.op == row.op && $0.variant == row.variant }),
              let ref = rows.first(where: { $0.op == row.op && $0.variant == check.referenceVariant }),
              row.time.p50 > 0 else { return nil }
        return ref.time.p50 / row.time.p50
    }

    /// Accuracy check of a variant, if it was verified.
    public func check(op: String, variant: String) -> AccuracyCheck? {
        checks.first { $0.op == op && $0.variant == variant }
    }
}
