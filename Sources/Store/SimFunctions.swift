// Reading the per-function profiles of simulated samples (`sim_functions`), written with their
// samples by `SampleWriter`.
import Foundation
import BenchModel

extension ResultStore {
    /// The per-function profiles of run `runID`'s simulated samples, in sample order, each keyed
    /// `SUITE/OP/VARIANT` by its op's row; `op` restricts to that op (`SUITE/OP`). Samples without a
    /// stored profile (timing samples, hardware counters, runs before profiles were kept, a read-only
    /// database of an older schema) are absent.
    ///
    /// - Throws: `StoreError.unusable` when a stored row is inconsistent (a rank below -1).
    public func functionProfiles(runID: Int64, op: OpKey? = nil) throws -> [ProfiledSample] {
        try read { db in
            // A read-only file of an older schema (not migrated) has no profiles.
            guard try Self.tableExists(db, "sim_functions") else { return [] }
            var filter = "o.run_id = ?"
            var arguments: [any StoreEncodable] = [runID]
            if let op {
                filter += " AND o.suite = ? AND o.name = ?"
                arguments += [op.suite, op.op]
            }
            var result: [ProfiledSample] = []
            var lastSample: Int64?
            try db.forEachRow(sql: """
                SELECT f.sample_id, o.suite, o.name, s.variant, s.sequence, s.iterations,
                       f.rank, f.function, f.symbol, f.object, f.file, f.functions, f.ir, f.d1_misses, f.ll_misses, f.branch_misses
                FROM ops o JOIN samples s ON s.op_id = o.id JOIN sim_functions f ON f.sample_id = s.id
                WHERE \(filter)
                ORDER BY s.sequence, s.id, CASE WHEN f.rank >= 0 THEN 0 ELSE 1 END, f.rank
                """, arguments: arguments) { row in
                let sampleID: Int64 = try row.get(at: 0)
                if sampleID != lastSample {
                    lastSample = sampleID
                    result.append(ProfiledSample(key: BenchmarkKey(suite: try row.get(at: 1), op: try row.get(at: 2), variant: try row.get(at: 3)),
                                                 sequence: try row.get(at: 4), iterations: try row.get(at: 5),
                                                 profile: FunctionProfile(functions: [], rest: nil)))
                }
                let rank: Int64 = try row.get(at: 6)
                func unsigned(_ i: Int) throws -> UInt64? { (try row.get(at: i) as Int64?).map { UInt64(bitPattern: $0) } }
                let cost = FunctionCost(function: try row.get(at: 7), symbol: try row.get(at: 8), object: try row.get(at: 9),
                                        file: try row.get(at: 10), count: try row.get(at: 11),
                                        instructions: try unsigned(12) ?? 0, d1Misses: try unsigned(13), llMisses: try unsigned(14),
                                        branchMisses: try unsigned(15))
                let last = result.count - 1
                switch rank {
                case -1: result[last].profile.rest = cost
                case 0...: result[last].profile.functions.append(cost)
                default: throw StoreError.unusable(path: path, reason: "sim_functions row of sample id \(sampleID) has rank \(rank)")
                }
                return true
            }
            return result
        }
    }
}
