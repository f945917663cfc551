// End-to-end: `fusebench reindex` writes the series points runs lack (here one run in the middle of
// the history, which the read-write open's oldest/newest probe does not see), says how many, and
// changes nothing else; a missing database is exit 3 with nothing created.
import Foundation
import GRDB
import Testing
import TestSupport
@testable import FuseBench

@Suite(.serialized) struct ReindexCLITests {
    @Test func reindexFillsMissingPointsAndReportsThem() throws {
        let db = try CLI.tempDir().appendingPathComponent("reindex.sqlite").path
        do {
            let store = try ResultStore(path: db)
            for i in 0..<3 {
                try Synthetic.run(store, ops: [Synthetic.op("gemm", median: 1000, processes: 2, samples: 3, seed: UInt64(i))])
            }
        }
        let queue = try DatabaseQueue(path: db)
        let before = try queue.read { try Row.fetchAll($0, sql: "SELECT op_id, variant, batches, instructions FROM series_points ORDER BY op_id, variant") }
        #expect(before.count == 6)
        try queue.write { try $0.execute(sql: "DELETE FROM series_points WHERE op_id IN (SELECT id FROM ops WHERE run_id = 2)") }
        try queue.close()

        let history = try CLI.run(["history", "tiny/gemm/reference$", "--db", db, "--format", "csv"])
        #expect(history.status == 0, "\(history.stderr)")
        let result = try CLI.run(["reindex", "--db", db])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("2 missing series point(s) written; 0 still missing"), "\(result.stdout)")
        let after = try DatabaseQueue(path: db).read {
            try Row.fetchAll($0, sql: "SELECT op_id, variant, batches, instructions FROM series_points ORDER BY op_id, variant")
        }
        #expect(after == before)
        // The history reads the same from the points as it did from the samples.
        let again = try CLI.run(["history", "tiny/gemm/reference$", "--db", db, "--format", "csv"])
        #expect(again.stdout == history.stdout)

        let missing = db + ".missing"
        let none = try CLI.run(["reindex", "--db", missing])
        #expect(none.status == 3, "\(none.stderr)")
        #expect(!FileManager.default.fileExists(atPath: missing))
    }
}
