// The variants report on per-iteration latencies: per-inference percentiles, early-exit rates per
// head with each mode's median, the variant_decisions table, and the variants in the exports.
import BenchModel
import Foundation
import Report
@testable import Store
import TestSupport
import Testing

@Suite struct VariantsLatencyTests {
    /// Per iteration: `early_exit` leaves at head 1 (1 000 ns) for 9 of every 10 images and at the
    /// final layer (2 000 ns) for the 10th; the others take their batch value (± 1 ns); every raw
    /// value carries a 20 ns per-iteration overhead.
    static func latencies(_ op: String, _ variant: String, _ v: Double, _ n: Int) -> IterationLatencies? {
        guard op == "mlp" else { return nil }
        if variant == "early_exit" {
            let labels = (0..<n).map { Int32($0 % 10 == 9 ? 2 : 1) }
            return IterationLatencies(ns: labels.map { $0 == 1 ? 1_020 : 2_020 }, labels: labels, overheadNs: 20)
        }
        return IterationLatencies(ns: (0..<n).map { UInt32(v.rounded()) + UInt32($0 % 3) + 19 }, labels: [], overheadNs: 20)
    }

    static func fixture() throws -> (ResultStore, Int64) {
        let store = try ResultStore.inMemory()
        let op = Synthetic.Op(name: "mlp", kind: "edge", values: [
            "reference": Synthetic.values(median: 2_000, processes: 3, samples: 4, seed: 1),
            "early_exit": Synthetic.values(median: 1_100, processes: 3, samples: 4, seed: 2),
            "pruned50": Synthetic.values(median: 1_000, processes: 3, samples: 4, seed: 3),
        ])
        let other = Synthetic.op("gemm_x", median: 1000, processes: 3, samples: 4, seed: 5)
        let id = try Synthetic.run(store, ops: [op, other], checks: ["mlp/early_exit": true, "mlp/pruned50": false],
                                   iterations: 200, latencies: latencies)
        return (store, id)
    }

    @Test func percentilesPerInferenceAndExitRates() throws {
        let (store, id) = try Self.fixture()
        let rows = try VariantsReport.rows(store: store, runID: id)
        #expect(rows.map(\.variant) == ["reference", "early_exit", "pruned50"])
        let ref = try #require(rows.first { $0.variant == "reference" })
        #expect(ref.latencySource == "iterations" && ref.count == 3 * 4 * 200)
        #expect(abs(ref.p50! - 2_000) < 20)
        let ee = try #require(rows.first { $0.variant == "early_exit" })
        #expect(ee.latencySource == "iterations" && ee.count == 2_400)
        // The per-inference distribution is bimodal: p50 is the head-1 mode, p99 the final-layer mode.
        #expect(ee.p50 == 1_000 && ee.p99 == 2_000)
        let rates = try #require(ee.exitRates)
        #expect(rates.map(\.label) == [1, 2])
        #expect(abs(rates[0].share - 0.9) < 1e-12 && rates[0].count == 2_160 && rates[0].p50Ns == 1_000)
        #expect(abs(rates[1].share - 0.1) < 1e-12 && rates[1].count == 240 && rates[1].p50Ns == 2_000)
        #expect(ref.exitRates == nil)
        // The speedup stays the ratio of medians of the batch means (2000 / 1100).
        #expect(abs(ee.speedup! - 2_000.0 / 1_100) < 0.02 && ee.decision == .adopt)
        let pruned = try #require(rows.first { $0.variant == "pruned50" })
        #expect(pruned.decision == .reject(.accuracy, rollbackTo: "reference") && pruned.rollbackTo == "reference")

        let md = try VariantsReport.render(rows, format: .markdown)
        #expect(md.contains("- early_exit exits: head 1 90.0% (p50 1 µs), final 10.0% (p50 2 µs)"))
        #expect(md.contains("percentiles over every timed inference"))
        let text = try VariantsReport.render(rows, format: .text)
        #expect(text.contains("early_exit exits: head 1 90.0%"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(VariantsReport.render(rows, format: .json).utf8)) as? [[String: Any]])
        let eeJSON = try #require(json.first { $0["variant"] as? String == "early_exit" })
        #expect((eeJSON["exit_rates"] as? [[String: Any]])?.count == 2)
        #expect(eeJSON["decision"] as? String == "adopt")
    }

    @Test func decisionsAreStoredInTheTable() throws {
        let (store, id) = try Self.fixture()
        let rows = try VariantsReport.rows(store: store, runID: id)
        try VariantsReport.store(rows, store: store, runID: id)
        try VariantsReport.store(rows, store: store, runID: id)  // recomputing replaces, never duplicates
        let stored = try store.variantDecisions(runID: id)
        #expect(stored.count == 3)
        #expect(stored.map(\.variant) == ["reference", "early_exit", "pruned50"])
        let ee = try #require(stored.first { $0.variant == "early_exit" })
        #expect(ee.decision == "adopt" && ee.rollbackTo == nil && ee.latencySource == "iterations")
        #expect(ee.exitRates?.map(\.label) == [1, 2] && ee.exitRates?[1].p50Ns == 2_000)
        #expect(ee.speedupLo! <= ee.speedup! && ee.speedup! <= ee.speedupHi!)
        let pruned = try #require(stored.first { $0.variant == "pruned50" })
        #expect(pruned.decision == "reject: accuracy" && pruned.rollbackTo == "reference")
        #expect(pruned.reason == "reject: accuracy → reference (rollback)")
        #expect(try store.runMeta(runID: id).keys.allSatisfy { !$0.hasPrefix("variant_decision/") })
    }

    /// The report selects ops by what was stored, not by family: an op of any kind whose samples
    /// carry per-iteration latencies is a variants op; one with neither latencies, accuracy checks
    /// nor decisions is not. It used to select `kind == "edge"` only.
    @Test func opsAreSelectedByStoredLatenciesNotByKind() throws {
        let store = try ResultStore.inMemory()
        let op = Synthetic.Op(name: "mlp", kind: "speech", values: [
            "reference": Synthetic.values(median: 2_000, processes: 3, samples: 4, seed: 1),
            "fast": Synthetic.values(median: 1_000, processes: 3, samples: 4, seed: 2),
        ])
        let other = Synthetic.op("gemm_x", median: 1000, processes: 3, samples: 4, seed: 5)
        let id = try Synthetic.run(store, ops: [op, other], iterations: 20, latencies: Self.latencies)
        let rows = try VariantsReport.rows(store: store, runID: id)
        #expect(rows.count == 2 && Set(rows.map(\.variant)) == ["reference", "fast"])
        #expect(rows.allSatisfy { $0.key.op == "mlp" && $0.latencySource == "iterations" })
    }

    @Test func batchMeansWithoutIterationLatencies() throws {
        let store = try ResultStore.inMemory()
        let op = Synthetic.Op(name: "mlp", kind: "edge", values: [
            "reference": Synthetic.values(median: 2_000, processes: 2, samples: 4, seed: 1),
            "fast": Synthetic.values(median: 1_000, processes: 2, samples: 4, seed: 2),
        ])
        let id = try Synthetic.run(store, ops: [op], checks: ["mlp/fast": true])
        let rows = try VariantsReport.rows(store: store, runID: id)
        #expect(rows.allSatisfy { $0.latencySource == "batches" && $0.count == 8 && $0.exitRates == nil })
        #expect(try VariantsReport.render(rows, format: .markdown).contains("percentiles over batch means"))
    }

    @Test func markdownAndGbenchExportsCarryTheVariants() throws {
        let (store, id) = try Self.fixture()
        let rows = try VariantsReport.rows(store: store, runID: id)
        let report = try RunReport(store: store, runID: id)
        let md = try Exporter.export(report, format: .markdown, variants: rows)
        #expect(md.contains("## Edge variants") && md.contains("### tiny/mlp") && md.contains("| early_exit |"))
        #expect(md.contains("exits: head 1 90.0%"))
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(Exporter.export(report, format: .gbench, variants: rows).utf8)) as? [String: Any])
        // compare.py reads `context` and `benchmarks`; those are unchanged by the extra array.
        let plain = try #require(try JSONSerialization.jsonObject(with: Data(Exporter.export(report, format: .gbench).utf8)) as? [String: Any])
        // (`fusebench_accuracy`: the run's accuracy checks, present with or without variants.)
        #expect(Set(doc.keys) == ["context", "benchmarks", "fusebench_variants", "fusebench_accuracy"])
        #expect(Set(plain.keys) == ["context", "benchmarks", "fusebench_accuracy"])
        #expect((doc["benchmarks"] as? [[String: Any]])?.count == (plain["benchmarks"] as? [[String: Any]])?.count)
        let variants = try #require(doc["fusebench_variants"] as? [[String: Any]])
        #expect(variants.count == 3)
        #expect(variants.contains { $0["variant"] as? String == "early_exit" && $0["decision"] as? String == "adopt" && $0["exit_rates"] != nil })
        // No edge ops → no extra array, no variants section.
        #expect(!(try Exporter.export(report, format: .markdown)).contains("Edge variants"))
    }

    /// An entry whose band is 100 points times variants but decides nothing; an interrupted run
    /// and a variant with fewer than `minimumSamples` batches are left undecided.
    @Test func timingOnlyInterruptedAndTooFewSamplesDecideNothing() throws {
        let store = try ResultStore.inMemory()
        let op = Synthetic.Op(name: "mlp", kind: "edge", values: [
            "reference": Synthetic.values(median: 2_000, processes: 2, samples: 4, seed: 1),
            "fast": Synthetic.values(median: 1_000, processes: 2, samples: 4, seed: 2),
            "few": Synthetic.values(median: 1_000, processes: 1, samples: 3, seed: 3),
        ])
        let id = try Synthetic.run(store, ops: [op], checks: ["mlp/fast": true, "mlp/few": true])
        let normal = try VariantsReport.rows(store: store, runID: id)
        #expect(normal.first { $0.variant == "fast" }?.decision == .adopt)
        let few = try #require(normal.first { $0.variant == "few" })
        #expect(few.decision == .undecidedFewSamples(minimum: 5) && few.rollbackTo == nil && few.speedup != nil)

        let interruptedID = try Synthetic.run(store, ops: [op], status: .interrupted, checks: ["mlp/fast": true])
        let interrupted = try VariantsReport.rows(store: store, runID: interruptedID)
        #expect(interrupted.first { $0.variant == "fast" }?.decision == .undecidedInterrupted)

        // Band open: the stored check's tolerance is the band (1.0 = 100 points).
        let openID = try Synthetic.run(store, ops: [op], checks: ["mlp/fast": true], checkTolerance: Tolerance(abs: 1.0, rel: 0))
        let open = try #require(try VariantsReport.rows(store: store, runID: openID).first { $0.variant == "fast" })
        #expect(open.decision == .timingOnly && open.speedup != nil && open.rollbackTo == nil)
    }

    /// Two suites of one run with an edge op of the same name: rows are labelled SUITE/OP, each
    /// from its own suite's samples, and both are stored.
    @Test func sameOpNameInTwoSuitesIsKeptApart() throws {
        let store = try ResultStore.inMemory()
        let info = RunInfo(startedAt: Date(), status: .running, label: nil, suites: ["a", "b"], suiteHash: "0",
                           gitCommit: nil, gitBranch: nil, gitDirty: nil, harnessVersion: Harness.version,
                           machine: Synthetic.machine, isaBuilt: ["avx2"], counterMode: .none, counterNote: "",
                           calibration: nil, configJSON: "{}", pid: getpid())
        let id = try store.beginRun(info)
        for (suite, median) in [("a", 1_000.0), ("b", 4_000.0)] {
            let opID = try store.recordOp(runID: id, op: OpRecord(suite: suite, name: "mlp", kind: "edge", shape: ["batch": 1],
                                                                  dtype: "f32", flops: 1, bytes: 1, threshold: 0.05))
            var samples: [Sample] = []
            for (i, v) in ["reference": median, "fast": median / 2].sorted(by: { $0.key > $1.key }).enumerated() {
                for k in 0..<6 {
                    samples.append(Sample(key: BenchmarkKey(suite: suite, op: "mlp", variant: v.key), sequence: i * 6 + k, process: 0, iterations: 10,
                                          wallNs: v.value * 10, cpuNs: v.value * 10, overheadNs: 0,
                                          iterationLatencies: IterationLatencies(ns: Array(repeating: UInt32(v.value), count: 10), labels: [], overheadNs: 0)))
                }
            }
            try store.insertSamples(runID: id, opID: opID, samples: samples)
        }
        try store.finishRun(id: id, status: .complete)
        let rows = try VariantsReport.rows(store: store, runID: id)
        #expect(rows.map(\.key.opKey.description) == ["a/mlp", "a/mlp", "b/mlp", "b/mlp"])
        #expect(rows.filter { $0.variant == "reference" }.map(\.p50) == [1_000, 4_000])
        try VariantsReport.store(rows, store: store, runID: id)
        #expect(try store.variantDecisions(runID: id).count == 4)
    }

    /// A latency array that does not match its sample (hand-edited or corrupt database) is an
    /// error naming the sample, never a crash in the report.
    @Test func malformedIterationLatenciesAreAnErrorNotACrash() throws {
        let (store, id) = try Self.fixture()
        try store.sqliteWrite { db in try db.execute(sql: "UPDATE iteration_latencies SET labels = '[1,2]' WHERE labels IS NOT NULL") }
        #expect { try VariantsReport.rows(store: store, runID: id) } throws: {
            "\($0)".contains("iteration_latencies of sample id") && "\($0)".contains("for 200 iterations")
        }
    }

    /// Edge ops alternate timed batches (per-inference latencies) with plain-loop batches: the
    /// percentiles come from the timed ones, the speedup and its CI from the plain ones only.
    @Test func speedupFromPlainBatchesPercentilesFromTimedOnes() throws {
        let store = try ResultStore.inMemory()
        let info = RunInfo(startedAt: Date(), status: .running, label: nil, suites: ["s"], suiteHash: "0",
                           gitCommit: nil, gitBranch: nil, gitDirty: nil, harnessVersion: Harness.version,
                           machine: Synthetic.machine, isaBuilt: ["avx2"], counterMode: .none, counterNote: "",
                           calibration: nil, configJSON: "{}", pid: getpid())
        let id = try store.beginRun(info)
        let opID = try store.recordOp(runID: id, op: OpRecord(suite: "s", name: "mlp", kind: "edge", shape: ["batch": 1],
                                                              dtype: "f32", flops: 1, bytes: 1, threshold: 0.05))
        var samples: [Sample] = []
        // (plain batch ns, timed batch ns): the timed batches are 400 ns slower per inference.
        for (variant, plain, timed) in [("fp32", 2_000.0, 2_400.0), ("fast", 1_000.0, 1_400.0)] {
            for k in 0..<12 {
                let isTimed = k % 2 == 0
                let ns = (isTimed ? timed : plain) + Double(k % 3)
                samples.append(Sample(key: BenchmarkKey(suite: "s", op: "mlp", variant: variant), sequence: samples.count, process: 0,
                                      iterations: 100, wallNs: ns * 100, cpuNs: ns * 100, overheadNs: 0,
                                      iterationLatencies: isTimed ? IterationLatencies(ns: Array(repeating: UInt32(ns), count: 100), labels: [], overheadNs: 0) : nil))
            }
        }
        try store.insertSamples(runID: id, opID: opID, samples: samples)
        try store.finishRun(id: id, status: .complete)
        let rows = try VariantsReport.rows(store: store, runID: id)
        let fast = try #require(rows.first { $0.variant == "fast" })
        #expect(fast.latencySource == "iterations" && fast.count == 600 && abs(fast.p50! - 1_401) <= 1)
        #expect(abs(fast.speedup! - 2.0) < 0.01, "\(fast.speedup!)")
        #expect(fast.decision == .adopt)
        #expect(try VariantsReport.render(rows, format: .markdown).contains("batches run without per-inference clock reads"))
        // The HTML report's speedup is the same one, from the plain batches (pooled with the timed
        // ones it would be about 1.83×).
        let html = try #require(HTMLRunReport.speedups(try RunReport(store: store, runID: id, iterationLatencies: true))[BenchmarkKey(suite: "s", op: "mlp", variant: "fast")])
        #expect(abs(html.speedup - fast.speedup!) < 0.01, "\(html.speedup) vs \(fast.speedup!)")
    }
}
