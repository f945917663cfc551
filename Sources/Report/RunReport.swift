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
    /// Telemetry rows of the run.
    public var telemetry: [TelemetryRow]
    /// `run --tag KEY=VALUE` labels of the run.
    public var tags: [String: String] = [:]
    /// Statistics per benchmark (`SUITE/OP/VARIANT`), in op order then variant order of first
    /// appearance.
    public var rows: [VariantStatistics]

    /// Loads run `runID` from `store`; with `iterationLatencies`, samples carry their per-iteration
    /// times, so `Comparator.decisionBatches` can tell timed batches from plain ones (the HTML
    /// report's speedups need that; the run table does not).
    public init(store: ResultStore, runID: Int64, iterationLatencies: Bool = false) throws {
        guard let info = try store.run(id: runID) else { throw StoreError.unknownRun(String(runID)) }
        self.info = info
        meta = try store.runMeta(runID: runID)
        ops = try store.ops(runID: runID)
        samples = try store.samples(runID: runID, iterationLatencies: iterationLatencies)
        checks = try store.accuracyChecks(runID: runID)
        telemetry = try store.telemetry(runID: runID)
        tags = try store.runTags(runID: runID)
        var rows: [VariantStatistics] = []
        for op in ops {
            var variants: [String] = []
            for s in samples where s.opKey == op.key && !variants.contains(s.variant) { variants.append(s.variant) }
            for v in variants {
                if let st = VariantStatistics(op: op, variant: v, samples: samples) { rows.append(st) }
            }
        }
        self.rows = rows
    }

    /// Machine peak measured at the start of the run (FMA FLOP/s and bandwidth per level), if stored.
    public var peak: PeakFigures? {
        meta["peak"].flatMap { try? JSONDecoder().decode(PeakFigures.self, from: Data($0.utf8)) }
    }

    /// Roofline figures of one variant: achieved GFLOP/s and GB/s at the median, arithmetic
    /// intensity, and the share of the roofline bound (min of FMA peak and intensity × the
    /// bandwidth of the cache level the working set fits in) that was reached.
    public struct Roofline: Codable, Sendable, Hashable {
        public var gflops: Double?
        public var gbytesPerSecond: Double?
        public var intensity: Double?
        public var percentOfPeak: Double?
    }

    /// Roofline figures of `row` (nil fields when the op declares no FLOPs/bytes or no peak was measured).
    public func roofline(_ row: VariantStatistics) -> Roofline {
        guard !BenchmarkKey.isPart(variant: row.variant), var op = op(row.key.opKey) else { return Roofline() }
        op.bytes = bytesMoved(op: op, variant: row.variant)
        var r = Roofline(gflops: row.gflops, gbytesPerSecond: op.bytes > 0 && row.time.p50 > 0 ? op.bytes / row.time.p50 : nil,
                         intensity: op.bytes > 0 && op.flops > 0 ? op.flops / op.bytes : nil)
        if let p = peak, row.time.p50 > 0, let bw = p.bandwidthGBps(forWorkingSet: op.bytes) {
            // Bound: min(FMA peak, intensity × bandwidth of the level the working set fits in,
            // `PeakFigures.roofline`); a kernel without FLOPs is bound by bandwidth alone.
            if op.flops > 0 {
                let bound = p.roofline(flops: op.flops, bytes: op.bytes)
                r.percentOfPeak = op.flops / row.time.p50 * 1e9 / bound * 100
            } else if op.bytes > 0 {
                r.percentOfPeak = op.bytes / row.time.p50 / bw * 100
            }
        }
        return r
    }

    /// Bytes one iteration of `variant` moves: the plan's own figure for fused models (stored by
    /// the runner as `fusion.bytes.SUITE/OP/VARIANT`), else the op's compulsory traffic. Runs
    /// stored before the key named the suite (`fusion.bytes.OP.VARIANT`) are read when the op's
    /// name is unique in the run.
    public func bytesMoved(op: OpRecord, variant: String) -> Double {
        if let v = meta[RunMetaKey.fusionBytes(op.benchmarkKey(variant: variant))].flatMap(Double.init) { return v }
        if ops.filter({ $0.name == op.name }).count == 1,
           let v = meta["\(RunMetaKey.fusionBytesPrefix)\(op.name).\(variant)"].flatMap(Double.init) { return v }
        return op.bytes
    }

    /// Writes every variant's roofline figures into the run's notes (`derived.SUITE/OP/VARIANT`),
    /// so they are stored with the run.
    public func storeDerived(in store: ResultStore) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for row in rows {
            let text = String(decoding: try encoder.encode(roofline(row)), as: UTF8.self)
            try store.setRunMeta(runID: info.id, key: RunMetaKey.derived(row.key), value: text)
        }
    }

    /// Energy per inference (J) of a benchmark: energy of its batches / their iterations; nil when
    /// the run has no energy readings (never estimated).
    public func joulesPerInference(_ key: BenchmarkKey) -> Double? {
        let own = samples(key)
        let bySequence = Dictionary(own.map { ($0.sequence, $0) }, uniquingKeysWith: { a, _ in a })
        var joules = 0.0, iterations = 0
        for row in telemetry where row.kind == "energy" {
            guard let seq = row.sampleSequence, let s = bySequence[seq], let v = row.value else { continue }
            joules += v
            iterations += s.iterations
        }
        return iterations > 0 ? joules / Double(iterations) : nil
    }

    /// The record of op `key` (`SUITE/OP`).
    public func op(_ key: OpKey) -> OpRecord? { ops.first { $0.key == key } }

    /// Samples of one benchmark, in measurement order.
    public func samples(_ key: BenchmarkKey) -> [Sample] {
        samples.filter { $0.key == key }
    }

    /// Speedup of `row` over its op's reference variant (reference p50 / this p50).
    public func speedup(_ row: VariantStatistics) -> Double? {
        guard let check = check(row.key),
              let ref = rows.first(where: { $0.key == row.key.opKey.variant(check.referenceVariant) }),
              row.time.p50 > 0 else { return nil }
        return ref.time.p50 / row.time.p50
    }

    /// Accuracy check of a benchmark, if it was verified.
    public func check(_ key: BenchmarkKey) -> AccuracyCheck? {
        checks.first { $0.key == key }
    }
}
