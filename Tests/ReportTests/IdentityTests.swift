// Benchmark identity in reports: two suites of a run with an op of the same name (`gemm_128` in
// `smoke` and in `default`) are two benchmarks in the run table, compare, every export and the
// run metadata; plus the batches compare/gate decide from, and the gbench aggregates.
import Analysis
import BenchModel
import Foundation
import Report
import Store
import TestSupport
import Testing

@Suite struct IdentityTests {
    /// `gemm_128` of `smoke` (1 µs, optimized 2× faster, 2 processes × 3 batches) and of
    /// `default` (9 µs, optimized 4× faster, 3 processes × 4 batches).
    static func sharedOps(slowDefault: Double = 1, seed: UInt64 = 1) -> [Synthetic.Op] {
        func v(_ median: Double, _ processes: Int, _ samples: Int, _ s: UInt64) -> [[Double]] {
            Synthetic.values(median: median, processes: processes, samples: samples, seed: s)
        }
        return [
            Synthetic.Op(name: "gemm_128", suite: "smoke", values: ["reference": v(1_000, 3, 2, seed), "optimized": v(500, 3, 2, seed + 1)]),
            Synthetic.Op(name: "gemm_128", suite: "default", values: ["reference": v(9_000 * slowDefault, 3, 4, seed + 2),
                                                                      "optimized": v(2_250 * slowDefault, 3, 4, seed + 3)]),
        ]
    }

    static let keys = ["smoke/gemm_128/reference", "smoke/gemm_128/optimized", "default/gemm_128/reference", "default/gemm_128/optimized"]
    static let counts = ["smoke": 6, "default": 12]
    static func suite(_ name: String) -> String { String(name.prefix { $0 != "/" }) }

    @Test func runReportRowsSpeedupsAndMetaAreKeyedBySuite() throws {
        let store = try ResultStore.inMemory()
        let id = try Synthetic.run(store, suite: "smoke", ops: Self.sharedOps(),
                                   checks: ["smoke/gemm_128/optimized": true, "default/gemm_128/optimized": true])
        let smoke = BenchmarkKey(suite: "smoke", op: "gemm_128", variant: "optimized")
        try store.setRunMeta(runID: id, key: RunMetaKey.fusionBytes(smoke), value: "123")
        let report = try RunReport(store: store, runID: id)
        #expect(report.rows.map(\.key.description) == Self.keys)
        for row in report.rows { #expect(row.time.n == Self.counts[row.key.suite], "\(row.key)") }
        let p50 = Dictionary(uniqueKeysWithValues: report.rows.map { ($0.key.description, $0.time.p50) })
        #expect(abs((p50["default/gemm_128/reference"] ?? 0) / (p50["smoke/gemm_128/reference"] ?? 1) - 9) < 0.1)
        // Speedups from each suite's own reference: 2× and 4×.
        let speedups = report.rows.filter { $0.variant == "optimized" }.compactMap { report.speedup($0) }
        #expect(speedups.count == 2 && abs(speedups[0] - 2) < 0.05 && abs(speedups[1] - 4) < 0.1, "\(speedups)")
        // The fused-bytes figure belongs to smoke's op only.
        let ops = Dictionary(uniqueKeysWithValues: report.ops.map { ($0.suite, $0) })
        #expect(try report.bytesMoved(op: #require(ops["smoke"]), variant: "optimized") == 123)
        #expect(try report.bytesMoved(op: #require(ops["default"]), variant: "optimized") == ops["default"]?.bytes)
        // The run table: four rows named SUITE/OP/VARIANT, the two reference rows different.
        let table = TextRenderer.rows(report)
        #expect(table.map(\.[0]) == Self.keys)
        #expect(table[0][1] != table[2][1], "smoke and default reference p50 are the same: merged")
        // Derived figures are stored per benchmark.
        try report.storeDerived(in: store)
        let meta = try store.runMeta(runID: id)
        for k in Self.keys { #expect(meta["derived.\(k)"] != nil, "derived.\(k)") }
    }

    @Test func compareAndGateDecidePerSuite() throws {
        let store = try ResultStore.inMemory()
        let base = try Synthetic.run(store, suite: "smoke", ops: Self.sharedOps(seed: 1))
        let head = try Synthetic.run(store, suite: "smoke", ops: Self.sharedOps(slowDefault: 1.3, seed: 11))
        let r = try CompareReport(store: store, baseIDs: [base], headIDs: [head])
        #expect(r.comparisons.map(\.key.description).sorted() == Self.keys.sorted())
        for c in r.comparisons {
            #expect(c.nBase == Self.counts[c.suite] && c.nHead == Self.counts[c.suite], "\(c.key)")
            #expect(c.verdict == (c.suite == "default" ? .regression : .pass), "\(c.key): \(c.verdict)")
        }
        #expect(r.exitCode == 1)
        #expect(r.onlyInBase.isEmpty && r.onlyInHead.isEmpty)
        let text = CompareRenderer.text(r, colour: false)
        for k in Self.keys { #expect(text.contains(k), "compare text lacks \(k)") }
    }

    @Test func everyExportNamesAndCountsBenchmarksBySuite() throws {
        let store = try ResultStore.inMemory()
        let id = try Synthetic.run(store, suite: "smoke", ops: Self.sharedOps())
        let report = try RunReport(store: store, runID: id)
        func json(_ f: ExportFormat) throws -> Any { try JSONSerialization.jsonObject(with: Data(Exporter.export(report, format: f).utf8)) }

        let gbench = try #require(try json(.gbench) as? [String: Any])
        let entries = try #require(gbench["benchmarks"] as? [[String: Any]])
        for k in Self.keys {
            #expect(entries.filter { $0["name"] as? String == k }.count == Self.counts[Self.suite(k)], "gbench \(k)")
            #expect(entries.contains { $0["name"] as? String == "\(k)_median" })
        }
        let bmf = try #require(try json(.bmf) as? [String: [String: [String: Double]]])
        #expect(Set(bmf.keys) == Set(Self.keys))
        #expect((bmf["default/gemm_128/reference"]?["latency"]?["value"] ?? 0) > 5 * (bmf["smoke/gemm_128/reference"]?["latency"]?["value"] ?? .infinity))
        let gab = try #require(try json(.gab) as? [[String: Any]])
        #expect(gab.compactMap { $0["name"] as? String } == Self.keys)
        for e in gab {
            let name = e["name"] as? String ?? ""
            #expect((e["extra"] as? String)?.contains("· n \(Self.counts[Self.suite(name)] ?? -1) ·") == true, "gab \(name)")
        }
        let csv = Exporter.csv(report).split(separator: "\n").dropFirst().map { $0.split(separator: ",").map(String.init) }
        for k in Self.keys {
            let rows = csv.filter { $0[1] == k }
            #expect(rows.count == Self.counts[Self.suite(k)], "csv \(k)")
            #expect(rows.allSatisfy { $0[2] == Self.suite(k) && $0[3] == "gemm_128" })
        }
        let junit = Exporter.junit(report, comparison: nil)
        for k in Self.keys { #expect(junit.contains("name=\"\(k)\""), "junit \(k)") }
        #expect(junit.contains("classname=\"smoke.gemm_128\"") && junit.contains("classname=\"default.gemm_128\""))
        let markdown = Exporter.markdown(report)
        for k in Self.keys { #expect(markdown.contains("| \(k) |"), "markdown \(k)") }
    }

    /// google/benchmark aggregates every counter in every aggregate: the median, stddev and cv
    /// entries carry the counters (and FLOPS) as the mean does.
    @Test func gbenchAggregatesCarryEveryCounter() throws {
        let store = try ResultStore.inMemory()
        let op = Synthetic.Op(name: "gemm_16", values: ["reference": [[1_000, 1_000, 1_000, 4_000]]])
        let id = try Synthetic.run(store, ops: [op], iterations: 10, counters: { _, ns, iterations in
            [CounterValue(event: "instructions", value: ns * 2 * Double(iterations), raw: 0, timeEnabled: 1, timeRunning: 1, backend: .hw)]
        })
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(Exporter.gbench(RunReport(store: store, runID: id)).utf8)) as? [String: Any])
        let entries = try #require(doc["benchmarks"] as? [[String: Any]])
        func aggregate(_ name: String) -> [String: Any]? { entries.first { $0["aggregate_name"] as? String == name } }
        // Per-iteration instructions: 2000, 2000, 2000, 8000.
        #expect(aggregate("mean")?["instructions"] as? Double == 3_500)
        #expect(aggregate("median")?["instructions"] as? Double == 2_000)
        let sd = try #require(aggregate("stddev")?["instructions"] as? Double)
        #expect(abs(sd - 3_000) < 1e-9)
        let cv = try #require(aggregate("cv")?["instructions"] as? Double)
        #expect(abs(cv - 3_000 / 3_500) < 1e-9)
        for name in ["mean", "median", "stddev", "cv"] { #expect(aggregate(name)?["FLOPS"] is Double, "\(name) lacks FLOPS") }
    }

    /// Edge ops alternate per-iteration-timed and plain batches; compare and gate decide from the
    /// plain ones only, like `variants`. Here head's timed batches are much slower (its clock reads
    /// got dearer) while the plain batches — the kernel's time — are unchanged: no regression.
    @Test func compareUsesThePlainBatchesOfEdgeOps() throws {
        let store = try ResultStore.inMemory()
        func edgeOp(timed: Double, seed: UInt64) -> Synthetic.Op {
            // Per process: plain, timed, plain, timed, ... (the runner's alternation).
            let plain = Synthetic.values(median: 2_000, processes: 3, samples: 6, seed: seed)
            let slow = Synthetic.values(median: timed, processes: 3, samples: 6, seed: seed + 1)
            var values: [[Double]] = []
            for p in 0..<3 {
                var row: [Double] = []
                for k in 0..<6 { row.append(k % 2 == 0 ? plain[p][k] : slow[p][k]) }
                values.append(row)
            }
            return Synthetic.Op(name: "mlp", kind: "edge", values: ["fp32": values])
        }
        // Timed batches are the ones above 2 500 ns per inference.
        let latencies: (String, String, Double, Int) -> IterationLatencies? = { _, _, ns, n in
            ns > 2_500 ? IterationLatencies(ns: Array(repeating: UInt32(ns), count: n), labels: [], overheadNs: 0) : nil
        }
        let base = try Synthetic.run(store, ops: [edgeOp(timed: 2_600, seed: 1)], iterations: 4, latencies: latencies)
        let head = try Synthetic.run(store, ops: [edgeOp(timed: 5_000, seed: 5)], iterations: 4, latencies: latencies)
        let r = try CompareReport(store: store, baseIDs: [base], headIDs: [head])
        let c = try #require(r.comparisons.first)
        #expect(c.nBase == 9 && c.nHead == 9, "only the 9 plain batches per side")
        #expect(abs(c.ratio - 1) < 0.02 && c.verdict == .pass, "\(c.ratio) \(c.verdict)")
        // The same batches `variants` decides from.
        let all = try store.samples(runID: head, iterationLatencies: true)
        #expect(Comparator.decisionBatches(all).count == 9)
    }
}
