// End-to-end: `fusebench history --changes` (detect, store, list the new ones, exit 1), triage
// with --acknowledge / --accept (exit 0 afterwards, nothing found twice), the change-point marks of
// plain `history`, and bad input (unknown id, bad pattern, too few runs, bad options: exit 3).
import Foundation
import GRDB
import Testing
import TestSupport
@testable import FuseBench

/// 16 runs of `tiny/gemm` (2 variants): the first 8 at 1000 ns, then 8 at 1100 ns (a 10 % step
/// between runs 8 and 9, in both variants), plus one run of `other/solo` (one point).
private func stepDatabase() throws -> (db: String, runs: [Int64]) {
    let db = try CLI.tempDir().appendingPathComponent("cp.sqlite").path
    let store = try ResultStore(path: db)
    var ids: [Int64] = []
    for i in 0..<16 {
        ids.append(try Synthetic.run(store, ops: [Synthetic.op("gemm", median: i < 8 ? 1000 : 1100, processes: 2, samples: 4, seed: UInt64(i))],
                                     info: { $0.gitCommit = String(format: "%040x", i) }))
    }
    try Synthetic.run(store, suite: "other", ops: [Synthetic.Op(name: "solo", values: ["reference": [[5, 5, 5]]])])
    return (db, ids)
}

private func changePointCount(_ db: String) throws -> Int {
    try DatabaseQueue(path: db).read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM change_points") ?? -1 }
}

@Suite(.serialized) struct ChangePointCLITests {
    @Test func changesAlertOnceUntilTriaged() throws {
        let (db, runs) = try stepDatabase()
        let first = try CLI.run(["history", "--changes", "tiny/gemm", "--db", db, "--format", "json"])
        #expect(first.status == 1, "\(first.stderr)")
        let doc = try #require(JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any])
        let points = try #require(doc["change_points"] as? [[String: Any]])
        #expect(points.count == 2)  // reference and optimized
        for p in points {
            #expect(p["run_before"] as? Int64 == runs[7])
            #expect(p["run_after"] as? Int64 == runs[8])
            #expect(p["state"] as? String == "new")
            #expect(p["commit_after"] as? String == String(format: "%040x", 8))
            let ratio = try #require(p["ratio"] as? Double)
            #expect(abs(ratio - 1.1) < 0.02)
            #expect((p["ratio_lower"] as? Double ?? 0) <= ratio && ratio <= (p["ratio_upper"] as? Double ?? 0))
            #expect(p["new_in_this_scan"] as? Bool == true)
        }
        #expect(try changePointCount(db) == 2)

        // Again: nothing new is stored, the untriaged points still alert.
        let again = try CLI.run(["history", "--changes", "tiny/gemm", "--db", db])
        #expect(again.status == 1)
        #expect(again.stdout.contains("0 newly found, 2 listed"), "\(again.stdout)")
        #expect(try changePointCount(db) == 2)

        // Plain history marks the first run at the new level.
        let history = try CLI.run(["history", "tiny/gemm/optimized", "--db", db, "--format", "csv"])
        #expect(history.status == 0, "\(history.stderr)")
        let marked = history.stdout.split(separator: "\n").filter { $0.contains("change#") }
        #expect(marked.count == 1)
        #expect(marked.first?.contains(":new:+") == true)

        // Triage both: no alert any more, and re-detection stores nothing.
        let ids = points.compactMap { $0["id"] as? Int64 }.sorted()
        let ack = try CLI.run(["history", "--acknowledge", String(ids[0]), "--note", "looking into it", "--db", db])
        #expect(ack.status == 0, "\(ack.stderr)")
        let acc = try CLI.run(["history", "--accept", String(ids[1]), "--db", db])
        #expect(acc.status == 0, "\(acc.stderr)")
        let quiet = try CLI.run(["history", "--changes", "tiny/gemm", "--db", db, "--format", "csv"])
        #expect(quiet.status == 0, "\(quiet.stdout)\(quiet.stderr)")
        #expect(quiet.stdout.split(separator: "\n").count == 1)  // header only
        #expect(try changePointCount(db) == 2)
        let all = try CLI.run(["history", "--changes", "tiny/gemm", "--db", db, "--state", "all", "--format", "csv"])
        #expect(all.status == 0)
        #expect(all.stdout.contains(",acknowledged,looking into it"))
        #expect(all.stdout.contains(",accepted,"))
    }

    @Test func markdownAndTextListTheNewPoints() throws {
        let (db, _) = try stepDatabase()
        let md = try CLI.run(["history", "--changes", "optimized", "--db", db, "--format", "markdown"])
        #expect(md.status == 1)
        #expect(md.stdout.contains("| id | series |"))
        // Escaped as Markdown text: "@m1" would otherwise mention a GitHub user in a PR comment.
        #expect(md.stdout.contains("tiny/gemm/optimized&#64;m"))
        let text = try CLI.run(["history", "--changes", "optimized", "--db", db])
        #expect(text.status == 1)
        #expect(text.stdout.contains("+10."))
    }

    @Test func badInputIsExit3AndWritesNothing() throws {
        let (db, _) = try stepDatabase()
        let unknown = try CLI.run(["history", "--accept", "99", "--db", db])
        #expect(unknown.status == 3)
        #expect(unknown.stderr.contains("no change point has id 99"), "\(unknown.stderr)")
        let pattern = try CLI.run(["history", "--changes", "([", "--db", db])
        #expect(pattern.status == 3)
        #expect(pattern.stderr.contains("error:"))
        let nothing = try CLI.run(["history", "--changes", "no_such_op", "--db", db])
        #expect(nothing.status == 3)
        // A series with one point cannot be analysed.
        let short = try CLI.run(["history", "--changes", "other/solo", "--db", db])
        #expect(short.status == 3)
        #expect(short.stderr.contains("enough runs"), "\(short.stderr)")
        for args in [["--changes", "--format", "xml"], ["--changes", "--state", "old"], ["--changes", "--window", "2"], ["--changes", "--window", "2001"],
                     ["--changes", "--significance", "0.5"], ["--changes", "--min-effect", "-1"], ["--note", "x"],
                     ["--accept", "1", "--acknowledge", "1"], ["--changes", "--accept", "1"],
                     // Options of --changes without it, and --last (the listing's) with it, are refused, not ignored.
                     ["--window", "50"], ["--shape"], ["--state", "all"], ["--changes", "--last", "10"]] {
            let r = try CLI.run(["history"] + args + ["--db", db])
            #expect(r.status == 3, "\(args): \(r.stderr)")
        }
        #expect(try changePointCount(db) == 0)
        let missing = try CLI.run(["history", "--changes", "--db", db + ".missing"])
        #expect(missing.status == 3)
        #expect(!FileManager.default.fileExists(atPath: db + ".missing"))
    }
}
