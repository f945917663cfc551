// Reading the per-function profiles of simulated samples (`sim_functions`), written with their
// samples by `SampleWriter`.
import Foundation
import GRDB
import BenchModel

extension ResultStore {
    /// The per-function profiles of run `runID`'s simulated samples, in sample order, each keyed
    /// `SUITE/OP/VARIANT` by its op's row; `op` restricts to that op (`SUITE/OP`). Samples without a
    /// stored profile (timing samples, hardware counters, runs before profiles were kept, a read-only
    /// database of an older schema) are absent.
    ///
    /// - Throws: `StoreError.unusable` when a stored row is inconsistent (a rank below -1).
    public func functionProfiles(runID: Int64, op: OpKey? = nil) throws -> [ProfiledSample] {
        try sqliteRead { db in
            // A read-only file of an older schema (not migrated) has no profiles.
            let exists = try Bool.fetchOne(db, sql: """
                SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sim_functions')
                """) ?? false
            guard exists else { return [] }
            var filter = "o.run_id = ?"
            var arguments: StatementArguments = [runID]
            if let op {
                filter += " AND o.suite = ? AND o.name = ?"
                arguments += [op.suite, op.op]
            }
            let rows = try Row.fetchCursor(db, sql: """
                SELECT f.sample_id, o.suite, o.name, s.variant, s.sequence, s.iterations,
                       f.rank, f.function, f.symbol, f.object, f.file, f.functions, f.ir, f.d1_misses, f.ll_misses, f.branch_misses
                FROM ops o JOIN samples s ON s.op_id = o.id JOIN sim_functions f ON f.sample_id = s.id
                WHERE \(filter)
                ORDER BY s.sequence, s.id, f.rank >= 0 DESC, f.rank
                """, arguments: arguments)
            var result: [ProfiledSample] = []
            var lastSample: Int64?
            while let row = try rows.next() {
                let sampleID: Int64 = row[0]
                if sampleID != lastSample {
                    lastSample = sampleID
                    result.append(ProfiledSample(key: BenchmarkKey(suite: row[1], op: row[2], variant: row[3]), sequence: row[4],
                                                 iterations: row[5], profile: FunctionProfile(functions: [], rest: nil)))
                }
                let rank: Int64 = row[6]
                func unsigned(_ i: Int) -> UInt64? { (row[i] as Int64?).map { UInt64(bitPattern: $0) } }
                let cost = FunctionCost(function: row[7], symbol: row[8], object: row[9], file: row[10], count: row[11],
                                        instructions: unsigned(12) ?? 0, d1Misses: unsigned(13), llMisses: unsigned(14),
                                        branchMisses: unsigned(15))
                let last = result.count - 1
                switch rank {
                case -1: result[last].profile.rest = cost
                case 0...: result[last].profile.functions.append(cost)
                default: throw StoreError.unusable(path: path, reason: "sim_functions row of sample id \(sampleID) has rank \(rank)")
                }
            }
            return result
        }
    }
}
