// Per-function profiles of simulated samples: stored with their samples (`sim_functions`), read
// back exactly, deleted with them, and carried through side files (JSON).
import Foundation
import GRDB
import Testing
import BenchModel
@testable import Store

@Suite struct SimFunctionsStoreTests {
    static let op = OpRecord(suite: "core", name: "bias_relu", kind: "bias_relu", shape: ["rows": 64, "cols": 1024],
                             dtype: "f32", flops: 65536, bytes: 65536 * 8, threshold: 0.05)

    static func info() -> RunInfo {
        RunInfo(startedAt: Date(timeIntervalSince1970: 1_700_000_000), status: .running, label: nil, suites: ["core"],
                suiteHash: "abc", gitCommit: nil, gitBranch: nil, gitDirty: nil, harnessVersion: Harness.version,
                machine: MachineFingerprint(cpuModel: "Sim CPU", logicalCPUs: 2, isaHost: ["avx2"], caches: [], kernel: "6.1",
                                            governor: "performance", perfEventParanoid: 2, virtualization: "none", pmuAvailable: false),
                isaBuilt: ["avx2"], counterMode: .sim, counterNote: "callgrind", calibration: nil, configJSON: "{}", pid: 1)
    }

    static let profile = FunctionProfile(functions: [
        FunctionCost(function: "biasReLUFused(rows:cols:x:bias:y:)", symbol: "$s7Kernels13biasReLUFusedyyF", object: "/b/fusebench",
                     file: "???", instructions: 141_274, d1Misses: 16_453, llMisses: 8_261, branchMisses: 144),
        FunctionCost(function: "memcmp | <b>", object: "libc.so.6", file: "memcmp.S", instructions: UInt64(Int64.max) + 7,
                     d1Misses: 2, llMisses: 2, branchMisses: nil),
        FunctionCost(function: "no cache sim", instructions: 5),
    ], rest: FunctionCost(function: FunctionCost.restName, object: "", file: "", count: 21, instructions: 1_210,
                          d1Misses: 70, llMisses: 40, branchMisses: 39))

    @Test func roundTripOrderAndViews() throws {
        let store = try ResultStore.inMemory()
        let run = try store.beginRun(Self.info())
        let opID = try store.recordOp(runID: run, op: Self.op)
        let key = BenchmarkKey(suite: "core", op: "bias_relu", variant: "optimized")
        let timed = Sample(key: key, sequence: 0, iterations: 100, wallNs: 1e6, cpuNs: 1e6, overheadNs: 0)
        let sim = Sample(key: key, sequence: 1, iterations: 2, wallNs: 1, cpuNs: 0, overheadNs: 0,
                         counters: [CounterValue(event: "instructions", value: 142_484, raw: 142_484, timeEnabled: 0, timeRunning: 0, backend: .sim)],
                         flags: .simulated, functionProfile: Self.profile)
        try store.storeOpResults(OpResults(runID: run, op: Self.op, samples: [timed, sim]))
        _ = opID

        let read = try store.functionProfiles(runID: run)
        #expect(read == [ProfiledSample(key: key, sequence: 1, iterations: 2, profile: Self.profile)])
        #expect(try store.functionProfiles(runID: run, op: OpKey(suite: "core", op: "other")).isEmpty)
        #expect(try store.functionProfiles(runID: run + 1).isEmpty)
        // The samples themselves read back as before (the profile is read separately).
        #expect(try store.samples(runID: run).map(\.functionProfile) == [nil, nil])

        let rows = try store.sqliteRead { db in
            try Row.fetchAll(db, sql: "SELECT rank, function, functions, ir_per_iter, d1_misses_per_iter FROM v_sim_functions ORDER BY rank")
        }
        #expect(rows.map { $0[0] as Int64 } == [-1, 0, 1, 2])
        #expect(rows[1][1] as String == "biasReLUFused(rows:cols:x:bias:y:)")
        #expect(rows[0][2] as Int64 == 21)
        #expect(rows[1][3] as Double == 141_274.0 / 2)
        #expect((rows[3][4] as Double?) == nil)
    }

    @Test func deletedWithTheirSample() throws {
        let store = try ResultStore.inMemory()
        let run = try store.beginRun(Self.info())
        let key = BenchmarkKey(suite: "core", op: "bias_relu", variant: "reference")
        let sim = Sample(key: key, sequence: 0, iterations: 2, wallNs: 1, cpuNs: 0, overheadNs: 0, flags: .simulated, functionProfile: Self.profile)
        try store.storeOpResults(OpResults(runID: run, op: Self.op, samples: [sim]))
        let count = { try store.sqliteRead { try Int.fetchOne($0, sql: "SELECT count(*) FROM sim_functions") ?? -1 } }
        #expect(try count() == 4)
        try store.sqliteWrite { try $0.execute(sql: "DELETE FROM runs WHERE id = ?", arguments: [run]) }
        #expect(try count() == 0)
    }

    /// Results kept in a side file while the database was locked keep their profiles.
    @Test func sideFileJSONKeepsProfiles() throws {
        let key = BenchmarkKey(suite: "core", op: "bias_relu", variant: "reference")
        let sim = Sample(key: key, sequence: 0, iterations: 2, wallNs: 1, cpuNs: 0, overheadNs: 0, flags: .simulated, functionProfile: Self.profile)
        let results = OpResults(runID: 1, op: Self.op, samples: [sim])
        let decoded = try JSONDecoder().decode(OpResults.self, from: try JSONEncoder().encode(results))
        #expect(decoded == results)
        // A sample written by a build without profiles still decodes.
        var plain = sim
        plain.functionProfile = nil
        let json = String(decoding: try JSONEncoder().encode(plain), as: UTF8.self)
        #expect(!json.contains("functionProfile"))
        #expect(try JSONDecoder().decode(Sample.self, from: Data(json.utf8)) == plain)
    }
}
