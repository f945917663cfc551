import BenchModel
import Foundation
import Store

// Synthetic per-function profiles: turns a synthetic run into a `--counters sim` run whose every
// op variant has one simulated sample with a per-function profile, for compare --profile, the
// PR comment and the reports.
extension Synthetic {
    /// Marks run `runID` as a sim run and adds, per op of `ops` and variant, one simulated sample
    /// (2 iterations) whose profile is `profile(suite/op/variant)` (nil: no sample for it).
    public static func addSimProfiles(_ store: ResultStore, runID: Int64, ops: [Op], suite: String = "tiny",
                                      profile: (BenchmarkKey) -> FunctionProfile?) throws {
        try store.updateRun(id: runID, calibration: nil, counterMode: .sim, counterNote: "synthetic callgrind")
        var sequence = 100_000
        for op in ops {
            let record = OpRecord(suite: op.suite ?? suite, name: op.name, kind: op.kind, shape: op.shape, dtype: "f32",
                                  flops: op.flops, bytes: 3 * 16 * 16 * 4, threshold: op.threshold)
            let opID = try store.recordOp(runID: runID, op: record)
            var samples: [Sample] = []
            for variant in op.values.keys.sorted() {
                let key = BenchmarkKey(suite: record.suite, op: op.name, variant: variant)
                guard let p = profile(key) else { continue }
                let total = p.total
                samples.append(Sample(key: key, sequence: sequence, iterations: 2, wallNs: 1, cpuNs: 0, overheadNs: 0,
                                      counters: [CounterValue(event: "instructions", value: Double(total.instructions), raw: total.instructions,
                                                              timeEnabled: 0, timeRunning: 0, backend: .sim)],
                                      flags: .simulated, functionProfile: p))
                sequence += 1
            }
            try store.insertSamples(runID: runID, opID: opID, samples: samples)
        }
    }

    /// A profile of a kernel `kernel` costing `instructions` (per 2 iterations), a helper and a rest.
    public static func profile(kernel: String, instructions: UInt64, llMisses: UInt64 = 100) -> FunctionProfile {
        FunctionProfile(functions: [
            FunctionCost(function: kernel, symbol: "$s" + kernel, object: "/b/fusebench", instructions: instructions,
                         d1Misses: llMisses * 2, llMisses: llMisses, branchMisses: 3),
            FunctionCost(function: "memcpy", object: "libc.so.6", instructions: 400, d1Misses: 4, llMisses: 2, branchMisses: 0),
        ], rest: FunctionCost(function: FunctionCost.restName, object: "", file: "", count: 12, instructions: 120,
                              d1Misses: 1, llMisses: 1, branchMisses: 1))
    }
}
