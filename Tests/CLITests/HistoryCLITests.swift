// End-to-end: provenance of the measured code (the suite's git repository, --source-dir, the
// FUSEBENCH_GIT_* overrides), `run --tag`, and `fusebench history` in every format with its
// bad-input cases (exit 3, nothing written).
import Foundation
import Testing
import TestSupport
@testable import FuseBench

/// Runs git in `dir` (fixed identity, no user config); returns trimmed stdout.
@discardableResult
private func git(_ dir: URL, _ args: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["git", "-C", dir.path, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"] + args
    var env = ProcessInfo.processInfo.environment
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["HOME"] = dir.path
    p.environment = env
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    #expect(p.terminationStatus == 0, "git \(args.joined(separator: " "))")
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A git repository holding the tiny suite, committed on branch `feature-x`.
private func suiteRepository() throws -> (repo: URL, suite: URL, commit: String) {
    let repo = try CLI.tempDir().appendingPathComponent("user-repo")
    try FileManager.default.createDirectory(at: repo, withIntermediateDirectories: true)
    try git(repo, ["init", "-q", "-b", "feature-x"])
    let suite = repo.appendingPathComponent("tiny.toml")
    try tinySuite.write(to: suite, atomically: true, encoding: .utf8)
    try git(repo, ["add", "tiny.toml"])
    try git(repo, ["commit", "-q", "-m", "suite"])
    return (repo, suite, try git(repo, ["rev-parse", "HEAD"]))
}

/// A database of synthetic runs: 3 runs of `tiny/gemm` (2 variants), the last tagged and a
/// baseline `main` on the second; plus one run of `other/solo` (a series with one point).
private func historyDatabase() throws -> String {
    let db = try CLI.tempDir().appendingPathComponent("h.sqlite").path
    let store = try ResultStore(path: db)
    var ids: [Int64] = []
    for i in 0..<3 {
        ids.append(try Synthetic.run(store, ops: [Synthetic.op("gemm", median: 1000 * (1 + 0.1 * Double(i)), processes: 2, samples: 4, seed: UInt64(i))],
                                     info: { $0.gitDirty = i == 2; $0.gitBranch = "main" }))
    }
    try store.setRunTags(runID: ids[2], tags: ["ci": "nightly"])
    try store.setBaseline(name: "main", runID: ids[1])
    try Synthetic.run(store, suite: "other", ops: [Synthetic.Op(name: "solo", values: ["reference": [[5, 5, 5]]])])
    return db
}

@Suite(.serialized) struct HistoryCLITests {
    @Test func runRecordsTheSuiteRepositoryNotTheCurrentDirectory() throws {
        let (repo, suite, commit) = try suiteRepository()
        let db = repo.deletingLastPathComponent().appendingPathComponent("p.sqlite").path
        let clean = try CLI.run(["run", suite.path, "--db", db, "--quiet", "--quick", "--counters", "none", "--filter", "gemm_16/optimized",
                                 "--tag", "ci=nightly", "--tag", "pr.number=17"],
                                env: ["FUSEBENCH_GIT_COMMIT": "", "FUSEBENCH_GIT_BRANCH": ""])
        #expect(clean.status == 0, "\(clean.stderr)")
        // Dirty: a tracked file of the suite's repository changed.
        try (tinySuite + "\n# edited\n").write(to: suite, atomically: true, encoding: .utf8)
        let dirty = try CLI.run(["run", suite.path, "--db", db, "--quiet", "--quick", "--counters", "none", "--filter", "gemm_16/optimized"])
        #expect(dirty.status == 0, "\(dirty.stderr)")
        // CI overrides on a detached head.
        let ci = try CLI.run(["run", suite.path, "--db", db, "--quiet", "--quick", "--counters", "none", "--filter", "gemm_16/optimized"],
                             env: ["FUSEBENCH_GIT_COMMIT": "feedfacefeedfacefeedfacefeedfacefeedface", "FUSEBENCH_GIT_BRANCH": "release/1.2"])
        #expect(ci.status == 0, "\(ci.stderr)")

        let store = try ResultStore(path: db, access: .readOnly)
        let runs = try store.runs().sorted { $0.id < $1.id }
        #expect(runs.count == 3)
        #expect(runs[0].gitCommit == commit)
        #expect(runs[0].gitBranch == "feature-x")
        #expect(runs[0].gitDirty == false)
        #expect(try store.runTags(runID: runs[0].id) == ["ci": "nightly", "pr.number": "17"])
        #expect(runs[1].gitCommit == commit)
        #expect(runs[1].gitDirty == true)
        #expect(runs[2].gitCommit == "feedfacefeedfacefeedfacefeedfacefeedface")
        #expect(runs[2].gitBranch == "release/1.2")

        // history shows the tags and the provenance; JSON carries them.
        let text = try CLI.run(["history", "gemm_16", "--db", db])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("ci=nightly pr.number=17"))
        #expect(text.stdout.contains(String(commit.prefix(10)) + "+"))
        let json = try CLI.run(["history", "--db", db, "--format", "json"])
        #expect(json.status == 0, "\(json.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let series = try #require(doc["series"] as? [[String: Any]])
        let points = try #require(series.first?["runs"] as? [[String: Any]])
        #expect((points.first?["tags"] as? [String: String]) == ["ci": "nightly", "pr.number": "17"])
        #expect(points.last?["gitBranch"] as? String == "release/1.2")
        // The run export carries tags and provenance too.
        let gbench = try CLI.run(["export", String(runs[0].id), "--format", "gbench", "--db", db])
        #expect(gbench.status == 0, "\(gbench.stderr)")
        let exported = try #require(try JSONSerialization.jsonObject(with: Data(gbench.stdout.utf8)) as? [String: Any])
        let context = try #require(exported["context"] as? [String: Any])
        #expect(context["fusebench_tags"] as? [String: String] == ["ci": "nightly", "pr.number": "17"])
        #expect(context["fusebench_git_branch"] as? String == "feature-x")
        #expect(context["fusebench_git_dirty"] as? String == "false")
    }

    @Test func sourceDirNamesAnotherRepository() throws {
        let (repo, suite, _) = try suiteRepository()
        let other = repo.deletingLastPathComponent().appendingPathComponent("kernels-repo")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        try git(other, ["init", "-q", "-b", "kernels"])
        try "x".write(to: other.appendingPathComponent("k.c"), atomically: true, encoding: .utf8)
        try git(other, ["add", "k.c"])
        try git(other, ["commit", "-q", "-m", "k"])
        let otherCommit = try git(other, ["rev-parse", "HEAD"])
        let db = repo.deletingLastPathComponent().appendingPathComponent("s.sqlite").path
        let r = try CLI.run(["run", suite.path, "--db", db, "--quiet", "--quick", "--counters", "none", "--filter", "gemm_16/optimized",
                             "--source-dir", other.path], env: ["FUSEBENCH_GIT_COMMIT": "", "FUSEBENCH_GIT_BRANCH": ""])
        #expect(r.status == 0, "\(r.stderr)")
        let run = try #require(try ResultStore(path: db, access: .readOnly).runs().first)
        #expect(run.gitCommit == otherCommit)
        #expect(run.gitBranch == "kernels")
    }

    @Test func badTagsSourceDirsAndOverridesExitThreeWritingNothing() throws {
        let (repo, suite, _) = try suiteRepository()
        let db = repo.deletingLastPathComponent().appendingPathComponent("bad.sqlite").path
        let notRepo = try CLI.tempDir()
        let cases: [([String], [String: String], String)] = [
            (["--tag", "noequals"], [:], "KEY=VALUE"),
            (["--tag", "bad key=1"], [:], "tag key"),
            (["--tag", "=1"], [:], "tag key"),
            (["--tag", "a=1", "--tag", "a=2"], [:], "given twice"),
            (["--tag", "a=line\nbreak"], [:], "control character"),
            (["--source-dir", "/nonexistent/fusebench"], [:], "not a directory"),
            (["--source-dir", notRepo.path], [:], "not inside a git work tree"),
            ([], ["FUSEBENCH_GIT_COMMIT": "has space"], "FUSEBENCH_GIT_COMMIT"),
        ]
        for (args, env, message) in cases {
            let r = try CLI.run(["run", suite.path, "--db", db, "--quiet", "--quick", "--counters", "none"] + args, env: env)
            #expect(r.status == 3, "\(args) \(env): \(r.stderr)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
            if let store = try? ResultStore(path: db, access: .readOnly) {
                #expect(try store.runs().isEmpty, "\(args) stored a run")
            }
        }
        let gate = try CLI.run(["gate", suite.path, "--db", db, "--baseline", "main", "--tag", "bad key=1"])
        #expect(gate.status == 3)
        #expect(gate.stderr.contains("tag key"))
        if FileManager.default.fileExists(atPath: db) {
            #expect(try ResultStore(path: db, access: .readOnly).runs().isEmpty)
        }
    }

    @Test func historyFormats() throws {
        let db = try historyDatabase()
        let text = try CLI.run(["history", "tiny/gemm/optimized", "--db", db])
        #expect(text.status == 0, "\(text.stderr)")
        let lines = text.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("tiny/gemm/optimized · machine m1 Synthetic CPU 9000") == true)
        #expect(lines.first?.contains("counters none · ISA avx2+fma · 3 run(s)") == true)
        #expect(lines.count == 3 + 3)
        #expect(lines[3].contains("baseline:main") == false)
        #expect(lines[4].contains("baseline:main"))
        #expect(lines[5].contains("dirty ci=nightly"))
        #expect(lines[5].contains("0123456789+"))
        #expect(lines[5].contains("–"))  // no instruction count

        let md = try CLI.run(["history", "gemm", "--db", db, "--format", "markdown", "--last", "2"])
        #expect(md.status == 0, "\(md.stderr)")
        #expect(md.stdout.contains("### tiny/gemm/optimized"))
        #expect(md.stdout.contains("| run | started | commit | branch | median | 95% CI | instr/op | marks |"))
        #expect(md.stdout.components(separatedBy: "\n| 2 |").count == 3)  // run 2 in both series, run 1 left out
        #expect(!md.stdout.contains("\n| 1 |"))

        let csv = try CLI.run(["history", "--db", db, "--format", "csv"])
        #expect(csv.status == 0, "\(csv.stderr)")
        let rows = csv.stdout.split(separator: "\n")
        #expect(rows.first == Substring(HistoryReport.csvHeader.joined(separator: ",")))
        #expect(rows.count == 1 + 3 + 3 + 1)
        #expect(rows.contains { $0.hasPrefix("other/solo/reference@m1/none/avx2+fma,") })

        let json = try CLI.run(["history", "tiny/gemm/reference", "--db", db, "--format", "json", "--branch", "main"])
        #expect(json.status == 0, "\(json.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(doc["schema"] as? String == "fusebench-history/1")
        let series = try #require(doc["series"] as? [[String: Any]])
        #expect(series.count == 1)
        #expect(series[0]["id"] as? String == "tiny/gemm/reference@m1/none/avx2+fma")
        let runs = try #require(series[0]["runs"] as? [[String: Any]])
        #expect(runs.map { $0["runID"] as? Int } == [1, 2, 3])
        let median = try #require(runs[2]["medianNs"] as? Double)
        let lower = try #require(runs[2]["ciLowerNs"] as? Double), upper = try #require(runs[2]["ciUpperNs"] as? Double)
        #expect(abs(median - 1200) < 20 && lower <= median && median <= upper)
        #expect(runs[2]["marks"] as? [String] == ["dirty", "ci=nightly"])
    }

    @Test func historyOfOnePointSaysSo() throws {
        let db = try historyDatabase()
        let r = try CLI.run(["history", "other/solo", "--db", db])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("1 run(s)"))
        #expect(r.stdout.contains("one run only: no history yet"))
    }

    @Test func historyBadInputExitsThreeAndWritesNothing() throws {
        let db = try historyDatabase()
        let before = try Data(contentsOf: URL(fileURLWithPath: db))
        let cases: [([String], String)] = [
            (["history", "no_such_op", "--db", db], "no stored series matches pattern 'no_such_op'"),
            (["history", "--machine", "no such cpu", "--db", db], "no stored machine matches --machine 'no such cpu'"),
            (["history", "--branch", "nope", "--db", db], "on branch 'nope'"),
            (["history", "--last", "0", "--db", db], "--last must be between 1"),
            (["history", "--last", "many", "--db", db], "--last"),
            (["history", "--format", "xml", "--db", db], "--format must be one of text, markdown, json, csv"),
            (["history", "([", "--db", db], "invalid benchmark pattern"),
        ]
        for (args, message) in cases {
            let r = try CLI.run(args)
            #expect(r.status == 3, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(args): \(r.stdout)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: db)) == before)
        let missing = try CLI.tempDir().appendingPathComponent("missing.sqlite").path
        let r = try CLI.run(["history", "--db", missing])
        #expect(r.status == 3)
        #expect(r.stderr.contains("no results database there"))
        #expect(!FileManager.default.fileExists(atPath: missing))
    }
}
