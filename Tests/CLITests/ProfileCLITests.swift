// `fusebench compare --profile` (and later `report --markdown`) end to end on synthetic stored
// runs with per-function profiles: deterministic, no measurement, no valgrind.
import Foundation
import TestSupport
import Testing
@testable import FuseBench

@Suite(.serialized) struct ProfileCLITests {
    static var ops: [Synthetic.Op] { [Synthetic.op("gemm_16", median: 10_000, seed: 1), Synthetic.op("bias_relu_small", median: 40_000, seed: 101)] }
    static var slowOps: [Synthetic.Op] { [Synthetic.op("gemm_16", median: 13_000, seed: 9), Synthetic.op("bias_relu_small", median: 40_000, seed: 109)] }

    /// A database with a sim base run, a sim head run whose gemm_16 kernels execute 30% more
    /// instructions (and are 30% slower), and a timing-only run.
    static func fixture() throws -> (db: String, base: Int64, head: Int64, timing: Int64) {
        let dir = try CLI.tempDir()
        let db = dir.appendingPathComponent("p.sqlite").path
        let store = try ResultStore(path: db)
        let base = try Synthetic.run(store, ops: ops, label: "base")
        try Synthetic.addSimProfiles(store, runID: base, ops: ops) { Synthetic.profile(kernel: "kernel_\($0.op)_\($0.variant)", instructions: 100_000) }
        let head = try Synthetic.run(store, ops: slowOps, label: "head")
        try Synthetic.addSimProfiles(store, runID: head, ops: slowOps) {
            Synthetic.profile(kernel: "kernel_\($0.op)_\($0.variant)", instructions: $0.op == "gemm_16" ? 130_000 : 100_000)
        }
        let timing = try Synthetic.run(store, ops: ops, label: "timing")
        try store.setBaseline(name: "main", runID: base)
        return (db, base, head, timing)
    }

    @Test func compareProfileShowsTheFunctionsThatChanged() throws {
        let f = try Self.fixture()
        let text = try CLI.run(["compare", "main", String(f.head), "--profile", "--db", f.db])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("differential profiles, per op execution (sim-only: per-function profiles come from the callgrind (sim) pass;"))
        #expect(text.stdout.contains("profile tiny/gemm_16/optimized — instructions/op 50.3k → 65.3k (+29.8%)"), "\(text.stdout)")
        let kernelLine = try #require(text.stdout.split(separator: "\n").first { $0.hasPrefix("kernel_gemm_16_optimized") })
        #expect(kernelLine.contains("50k") && kernelLine.contains("65k") && kernelLine.contains("+15k"))
        #expect(text.stdout.contains("profile tiny/bias_relu_small/reference — instructions/op 50.3k → 50.3k (+0.0%), L1d misses/op"))
        #expect(text.stdout.contains("(+0.0%)\nno function changed"))

        let md = try CLI.run(["compare", "main", String(f.head), "--profile", "--format", "markdown", "--db", f.db])
        #expect(md.status == 0)
        #expect(md.stdout.contains("### Differential profiles") && md.stdout.contains("#### Profile: tiny/gemm\\_16/optimized"))

        let json = try CLI.run(["compare", "main", String(f.head), "--profile", "--format", "json", "--db", f.db])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((doc["profiles"] as? [Any])?.count == 4)

        // Without --profile nothing changes.
        let plain = try CLI.run(["compare", "main", String(f.head), "--db", f.db])
        #expect(!plain.stdout.contains("profile"))
    }

    @Test func compareProfileSaysWhenASideHasNone() throws {
        let f = try Self.fixture()
        let r = try CLI.run(["compare", String(f.timing), String(f.head), "--profile", "--db", f.db])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("profile tiny/gemm_16/optimized: no profile — base: run \(f.timing) has no counters (--counters none)"), "\(r.stdout)")
    }

    @Test func reportMarkdownIsAPullRequestComment() throws {
        let f = try Self.fixture()
        let dir = URL(fileURLWithPath: f.db).deletingLastPathComponent()
        let md = dir.appendingPathComponent("comment.md").path
        let html = dir.appendingPathComponent("report.html").path
        let r = try CLI.run(["report", String(f.head), "--baseline", "main", "--markdown", md, "--html", html,
                             "--html-url", "https://ci.example/artifacts/report.html", "--db", f.db])
        #expect(r.status == 0, "\(r.stderr)")
        let comment = try String(contentsOfFile: md, encoding: .utf8)
        #expect(comment.hasPrefix("### fusebench: ❌ regression — run \(f.head) vs run \(f.base)"))
        #expect(comment.contains("[Full HTML report](https://ci.example/artifacts/report.html)"))
        #expect(comment.contains("| tiny/gemm\\_16/optimized |"))
        #expect(comment.contains("<details><summary>Why is it slower: differential profiles of 2 regressed benchmark(s)</summary>"))
        #expect(comment.contains("| kernel\\_gemm\\_16\\_optimized | 50k | 65k | +15k |"))
        #expect(comment.utf8.count < PRCommentRenderer.githubLimit)
        // The HTML report has the same profiles in its own section, after the verdicts.
        let page = try String(contentsOfFile: html, encoding: .utf8)
        let verdicts = try #require(page.range(of: "<section id=\"verdicts\">"))
        let profiles = try #require(page.range(of: "<section id=\"profiles\"><h2>Why is it slower: differential profiles</h2>"))
        #expect(verdicts.lowerBound < profiles.lowerBound)
        #expect(page.contains("<td>kernel_gemm_16_optimized</td>"))
    }

    @Test func reportMarkdownBadInputExitsThree() throws {
        let f = try Self.fixture()
        let dir = URL(fileURLWithPath: f.db).deletingLastPathComponent()
        let md = dir.appendingPathComponent("c.md").path
        let noBase = try CLI.run(["report", String(f.head), "--markdown", md, "--db", f.db])
        #expect(noBase.status == 3 && noBase.stderr.contains("--markdown needs --baseline NAME or --base RUN"), "\(noBase.stderr)")
        let badURL = try CLI.run(["report", String(f.head), "--base", String(f.base), "--markdown", md, "--html-url", "javascript:alert(1)", "--db", f.db])
        #expect(badURL.status == 3 && badURL.stderr.contains("--html-url must be an http:// or https:// URL"))
        let unwritable = try CLI.run(["report", String(f.head), "--base", String(f.base), "--markdown", dir.appendingPathComponent("no/such/dir/c.md").path, "--db", f.db])
        #expect(unwritable.status == 3 && unwritable.stderr.contains("cannot write report"), "\(unwritable.stderr)")
        let unknown = try CLI.run(["report", "999", "--base", String(f.base), "--markdown", md, "--db", f.db])
        #expect(unknown.status == 3)
        #expect(!FileManager.default.fileExists(atPath: md))
        // --html and --markdown: when the second target cannot be written, the first is not written either.
        let html = dir.appendingPathComponent("first.html").path
        let both = try CLI.run(["report", String(f.head), "--base", String(f.base), "--html", html,
                                "--markdown", dir.appendingPathComponent("no/such/dir/c.md").path, "--db", f.db])
        #expect(both.status == 3 && both.stderr.contains("cannot write report"), "\(both.stderr)")
        #expect(!FileManager.default.fileExists(atPath: html))
        // The verdict flags of compare/gate are taken (and checked) by report too.
        let threshold = try CLI.run(["report", String(f.head), "--base", String(f.base), "--markdown", md, "--threshold", "0", "--db", f.db])
        #expect(threshold.status == 3, "\(threshold.stderr)")
        #expect(!FileManager.default.fileExists(atPath: md))
        let noBaseThreshold = try CLI.run(["report", String(f.head), "--html", html, "--threshold", "5", "--db", f.db])
        #expect(noBaseThreshold.status == 3 && noBaseThreshold.stderr.contains("need --baseline"), "\(noBaseThreshold.stderr)")
        #expect(!FileManager.default.fileExists(atPath: html))
        let ok = try CLI.run(["report", String(f.head), "--base", String(f.base), "--markdown", md, "--threshold", "50", "--db", f.db])
        #expect(ok.status == 0, "\(ok.stderr)")
    }
}
