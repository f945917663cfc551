// Schema v3: iteration_latencies (one compact row per sample) and variant_decisions.
import Foundation
import GRDB
import Testing
import BenchModel
@testable import Store

@Suite struct IterationLatencyStoreTests {
    static func run(_ store: ResultStore) throws -> (Int64, Int64) {
        let machine = MachineFingerprint(cpuModel: "Test CPU", logicalCPUs: 2, isaHost: [], caches: [], kernel: "6.8", governor: "performance",
                                         perfEventParanoid: 2, virtualization: "kvm", pmuAvailable: false)
        let info = RunInfo(startedAt: Date(), status: .running, label: nil, suites: ["edge"], suiteHash: "x", gitCommit: nil,
                           gitBranch: nil, gitDirty: nil, harnessVersion: Harness.version, machine: machine, isaBuilt: [],
                           counterMode: .none, counterNote: "", calibration: nil, configJSON: "{}", pid: getpid())
        let runID = try store.beginRun(info)
        let opID = try store.recordOp(runID: runID, op: OpRecord(suite: "edge", name: "mlp", kind: "edge", shape: ["batch": 1],
                                                                dtype: "f32", flops: 1, bytes: 1, threshold: 0.05))
        return (runID, opID)
    }

    @Test func latenciesRoundTripAndCountMatchesIterations() throws {
        let store = try ResultStore.inMemory()
        let (runID, opID) = try Self.run(store)
        let a = IterationLatencies(ns: [1_000, 1_100, 5_000_000_000 as UInt64].map { UInt32(clamping: $0) }, labels: [1, 2, 1], overheadNs: 12.5)
        let b = IterationLatencies(ns: [900, 950], labels: [], overheadNs: 12.5)
        let samples = [
            Sample(key: BenchmarkKey(suite: "edge", op: "mlp", variant: "early_exit"), sequence: 0, iterations: 3, wallNs: 1e4, cpuNs: 1e4, overheadNs: 50, iterationLatencies: a),
            Sample(key: BenchmarkKey(suite: "edge", op: "mlp", variant: "fp32"), sequence: 1, process: 1, iterations: 2, wallNs: 2e3, cpuNs: 2e3, overheadNs: 40, iterationLatencies: b),
            Sample(key: BenchmarkKey(suite: "edge", op: "mlp", variant: "fp32"), sequence: 2, iterations: 4, wallNs: 4e3, cpuNs: 4e3, overheadNs: 40),
        ]
        try store.insertSamples(runID: runID, opID: opID, samples: samples)
        let back = try store.samples(runID: runID, iterationLatencies: true)
        #expect(back == samples)
        #expect(try store.samples(runID: runID).allSatisfy { $0.iterationLatencies == nil }, "not loaded unless asked")
        #expect(a.ns[2] == UInt32.max, "saturated, not wrapped")

        try store.sqliteRead { db in
            // Count of per-iteration values == sum of the iterations of the samples that have them.
            let perIteration = try Int.fetchOne(db, sql: "SELECT count(*) FROM v_iteration_latencies WHERE run_id = ?", arguments: [runID])
            let iterations = try Int.fetchOne(db, sql: """
                SELECT sum(s.iterations) FROM samples s JOIN iteration_latencies l ON l.sample_id = s.id
                """)
            #expect(perIteration == 5 && iterations == 5)
            let rows = try Row.fetchAll(db, sql: "SELECT variant, iteration, ns, label FROM v_iteration_latencies ORDER BY sequence, iteration")
            #expect(rows.map { $0[0] as String } == ["early_exit", "early_exit", "early_exit", "fp32", "fp32"])
            #expect(rows.map { $0[1] as Int } == [0, 1, 2, 0, 1])
            #expect((rows[0][2] as Double) == 987.5)
            #expect(rows.map { $0[3] as Int } == [1, 2, 1, 0, 0])
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM iteration_latencies WHERE labels IS NULL") == 1, "all-zero labels are NULL")
        }
        // Deleting a run's samples cascades to their latencies.
        try store.sqliteWrite { db in try db.execute(sql: "DELETE FROM ops WHERE id = ?", arguments: [opID]) }
        let left = try store.sqliteRead { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM iteration_latencies") }
        #expect(left == 0)
    }

    @Test func mismatchedLatencyCountIsRefusedAndNothingIsWritten() throws {
        let store = try ResultStore.inMemory()
        let (runID, opID) = try Self.run(store)
        let bad = Sample(key: BenchmarkKey(suite: "edge", op: "mlp", variant: "fp32"), sequence: 0, iterations: 3, wallNs: 1, cpuNs: 1, overheadNs: 0,
                         iterationLatencies: IterationLatencies(ns: [1, 2], labels: [], overheadNs: 0))
        #expect(throws: StoreError.self) { try store.insertSamples(runID: runID, opID: opID, samples: [bad]) }
        #expect(try store.samples(runID: runID).isEmpty)
    }

    @Test func latencyJSONRoundTrip() {
        let values: [Int64] = [0, 7, 10, 1_234_567, 4_294_967_295, -3]
        #expect(LatencyJSON.decode(LatencyJSON.encode(values)) == values)
        #expect(LatencyJSON.encode([UInt32]()) == "[]" && LatencyJSON.decode("[]") == [])
        #expect(LatencyJSON.decode(" [1, 2 ,3] ") == [1, 2, 3])
        #expect(LatencyJSON.decode("[1,]") == nil && LatencyJSON.decode("1,2") == nil && LatencyJSON.decode("[1 2]") == nil)
    }

    @Test func decisionsTableAndView() throws {
        let store = try ResultStore.inMemory()
        let (runID, _) = try Self.run(store)
        let rec = VariantDecisionRecord(suite: "edge", op: "mlp", variant: "early_exit", referenceVariant: "fp32", metric: "top-1", accuracy: 0.98,
                                        accuracyDelta: 0, p50Ns: 1_000, p90Ns: 2_000, p99Ns: 2_100, latencySource: "iterations",
                                        energyJ: nil, speedup: 1.4, speedupLo: 1.3, speedupHi: 1.5,
                                        exitRates: [ExitRate(label: 1, share: 0.9, count: 9, p50Ns: 1_000),
                                                    ExitRate(label: 2, share: 0.1, count: 1, p50Ns: 2_000)],
                                        decision: "adopt", reason: "adopt", rollbackTo: nil)
        try store.replaceVariantDecisions(runID: runID, records: [rec])
        #expect(try store.variantDecisions(runID: runID) == [rec])
        try store.sqliteRead { db in
            let row = try #require(try Row.fetchOne(db, sql: "SELECT decision, exit_rates FROM v_variant_decisions WHERE run_id = ?", arguments: [runID]))
            #expect(row[0] as String == "adopt")
            #expect((row[1] as String).contains("\"p50_ns\":1000"))
        }
        #expect(throws: StoreError.self) { try store.replaceVariantDecisions(runID: 999, records: [rec]) }
    }
}
