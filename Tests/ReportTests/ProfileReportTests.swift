// Differential profiles in reports (compare --profile) and the pull-request comment: which side
// has no profile and why, rendering and escaping, and the comment's size limit on 200 ops.
import Analysis
import BenchModel
import Foundation
import Report
import Store
import TestSupport
import Testing

@Suite struct ProfileReportTests {
    static var ops: [Synthetic.Op] { [Synthetic.op("gemm_16", median: 10_000, seed: 1), Synthetic.op("bias_relu_small", median: 40_000, seed: 2)] }

    /// Base and head sim runs; head's gemm_16/optimized kernel executes 30% more instructions.
    static func simPair(_ store: ResultStore) throws -> (base: Int64, head: Int64) {
        let base = try Synthetic.run(store, ops: ops)
        try Synthetic.addSimProfiles(store, runID: base, ops: ops) { Synthetic.profile(kernel: "kernel_\($0.op)_\($0.variant)", instructions: 100_000) }
        let head = try Synthetic.run(store, ops: ops)
        try Synthetic.addSimProfiles(store, runID: head, ops: ops) { key in
            Synthetic.profile(kernel: "kernel_\(key.op)_\(key.variant)",
                              instructions: key.op == "gemm_16" && key.variant == "optimized" ? 130_000 : 100_000,
                              llMisses: key.op == "gemm_16" && key.variant == "optimized" ? 900 : 100)
        }
        return (base, head)
    }

    @Test func diffPerComparedBenchmark() throws {
        let store = try ResultStore.inMemory()
        let (base, head) = try Self.simPair(store)
        let compare = try CompareReport(store: store, baseIDs: [base], headIDs: [head])
        let profiles = try ProfileReport(store: store, report: compare)
        #expect(profiles.entries.count == compare.comparisons.count)
        #expect(profiles.entries.allSatisfy { $0.diff != nil && $0.missing == nil })
        let gemm = try #require(profiles.entries.first { $0.key.description == "tiny/gemm_16/optimized" }?.diff)
        #expect(gemm.rows.first?.function == "kernel_gemm_16_optimized")
        #expect(gemm.rows.first?.deltaInstructions == 15_000)   // 30 000 over 2 iterations
        #expect(gemm.rows.first?.deltaLLMisses == 400)
        let text = ProfileRenderer.text(profiles)
        #expect(text.contains("sim-only") || text.contains("(sim) pass only"))
        #expect(text.contains("profile tiny/gemm_16/optimized — instructions/op 50.3k → 65.3k (+29.8%)"), "\(text)")
        #expect(text.contains("kernel_gemm_16_optimized"))
        #expect(text.contains("+15k"))
        #expect(text.contains("no function changed"))   // the unchanged benchmarks
        let json = try CompareRenderer.render(compare, format: .json, profiles: profiles)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let entries = try #require(doc["profiles"] as? [[String: Any]])
        #expect(entries.count == compare.comparisons.count)
        let g = try #require(entries.first { $0["benchmark"] as? String == "tiny/gemm_16/optimized" })
        let fns = try #require(g["functions"] as? [[String: Any]])
        #expect(fns.first?["deltaInstructions"] as? Double == 15_000)
        #expect(fns.first?["symbol"] as? String == "$skernel_gemm_16_optimized")
        // Without --profile the JSON document has no profiles key (unchanged contract).
        #expect(!(try CompareRenderer.render(compare, format: .json)).contains("\"profiles\""))
    }

    @Test func missingSideSaysWhy() throws {
        let store = try ResultStore.inMemory()
        let (base, _) = try Self.simPair(store)
        let timing = try Synthetic.run(store, ops: Self.ops)   // counters none
        let hw = try Synthetic.run(store, ops: Self.ops)
        try store.updateRun(id: hw, calibration: nil, counterMode: .hw, counterNote: "perf")
        let oldSim = try Synthetic.run(store, ops: Self.ops)
        try store.updateRun(id: oldSim, calibration: nil, counterMode: .sim, counterNote: "callgrind")
        for (head, expected) in [(timing, "has no counters (--counters none)"), (hw, "used hardware counters; per-function profiles are sim-only"),
                                 (oldSim, "has no per-function profiles")] {
            let p = try ProfileReport(store: store, report: try CompareReport(store: store, baseIDs: [base], headIDs: [head]))
            #expect(p.entries.allSatisfy { $0.diff == nil })
            let missing = p.entries.first?.missing ?? ""
            #expect(missing.hasPrefix("head: run \(head) ") && missing.contains(expected), "\(missing)")
            #expect(ProfileRenderer.text(p).contains("no profile — head: run \(head)"))
        }
    }

    @Test func namesAreEscaped() throws {
        let hostile = "<script>alert(1)</script> | `x` *y* [z](http://e) @team #12 $a$\u{1B}[31m"
        let row = ProfileDiff.Row(function: hostile, symbol: "s", object: "o", base: .init(instructions: 1), head: .init(instructions: 5),
                                  baseShare: 1, headShare: 1, listedForMisses: false)
        let diff = ProfileDiff(key: BenchmarkKey(suite: "s", op: "<b>|op", variant: "v"), rows: [row], omitted: 0,
                               baseTotal: .init(instructions: 1), headTotal: .init(instructions: 5), baseSamples: 1, headSamples: 1,
                               baseKeptFloor: nil, headKeptFloor: nil)
        let report = ProfileReport(entries: [.init(key: diff.key, diff: diff, missing: nil)])
        let md = ProfileRenderer.markdown(report)
        #expect(!md.contains("<script>") && !md.contains("<b>"))
        #expect(md.contains("&lt;script&gt;alert(1)&lt;/script&gt; \\| \\`x\\` \\*y\\* \\[z\\](http://e) &#64;team &#35;12 \\$a\\$"))
        #expect(!md.contains("\u{1B}"))
        // Every table line has exactly the header's number of unescaped cell separators.
        for line in md.split(separator: "\n") where line.hasPrefix("|") {
            let separators = line.replacingOccurrences(of: "\\|", with: "").filter { $0 == "|" }.count
            #expect(separators == 8, "\(line)")   // 7 columns
        }
        let text = ProfileRenderer.text(report)
        #expect(!text.contains("\u{1B}"))
        // The HTML report's profile section escapes them too.
        let section = HTMLRunReport.profiles(report, comparison: CompareReport(base: [], head: [], comparisons: []))
        #expect(section.id == "profiles" && section.html.contains("<table class=\"data profile\">"))
        #expect(!section.html.contains("<script>") && !section.html.contains("<b>"))
        #expect(section.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(MarkdownText.escape("a\nb\r") == "a b ")
    }

    /// 200 ops × 2 variants, long names, 25-function profiles: the comment stays within GitHub's
    /// limit, lists every regression and inconclusive result first, counts the rest and says what
    /// it cut. (Comparisons are built directly: the statistics are not under test here.)
    @Test func prCommentFitsGitHubLimitWith200Ops() throws {
        let long = String(repeating: "x", count: 60)
        var comparisons: [Comparison] = []
        var entries: [ProfileReport.Entry] = []
        for i in 0..<200 {
            for variant in ["reference", "optimized"] {
                let key = BenchmarkKey(suite: "tiny", op: "op_\(i)_\(long)", variant: variant)
                let verdict: Verdict = i % 10 == 0 && variant == "optimized" ? .regression : i % 37 == 0 ? .inconclusive : .pass
                let ratio = verdict == .regression ? 1.5 : 1.0
                comparisons.append(Comparison(key: key, baseMedian: 5_000, headMedian: 5_000 * ratio, ratio: ratio, ciLower: ratio - 0.01,
                                              ciUpper: ratio + 0.01, confidence: 0.95, pValue: 0.001, pValueAdjusted: 0.01, threshold: 0.05,
                                              verdict: verdict, nBase: 40, nHead: 40, processesBase: 5, processesHead: 5,
                                              instructionsThreshold: 0.01))
                func profile(_ extra: UInt64) -> ProfiledSample {
                    ProfiledSample(key: key, sequence: 0, iterations: 2, profile: FunctionProfile(functions: (0..<25).map { (f: Int) -> FunctionCost in
                        FunctionCost(function: "specialized generic function number \(f) of \(key.op) with a long signature(a:b:c:)",
                                     symbol: "$s\(f)", instructions: UInt64(1_000 * (25 - f)) + extra * UInt64(f), d1Misses: 1, llMisses: 1)
                    }, rest: nil))
                }
                entries.append(.init(key: key, diff: ProfileDiff.compute(key: key, base: [profile(0)], head: [profile(verdict == .regression ? 50 : 0)]),
                                     missing: nil))
            }
        }
        let compare = CompareReport(base: [], head: [], comparisons: comparisons, warnings: (0..<30).map { "warning \($0)" })
        #expect(compare.verdict == .regression && compare.exitCode == 1)
        let profiles = ProfileReport(entries: entries)
        let url = "https://ci.example/run/1/report.html"
        let full = PRCommentRenderer.render(compare, profiles: profiles, htmlURL: url, limit: .max)
        #expect(full.markdown.utf8.count > PRCommentRenderer.githubLimit)   // the case being tested
        #expect(full.rowsCut == 0 && full.profilesCut == 0 && !full.markdown.contains("Shortened"))
        let r = PRCommentRenderer.render(compare, profiles: profiles, htmlURL: url)
        #expect(r.markdown.utf8.count <= PRCommentRenderer.githubLimit)
        #expect(r.rowsCut > 0 && r.markdown.contains("Shortened to fit GitHub's comment limit"))
        #expect(r.markdown.contains("\(r.rowsCut) benchmark(s) not listed (\(r.rowsCut) pass)"))
        #expect(r.markdown.contains("[Full HTML report](\(url))"))
        #expect(r.markdown.contains("and 20 more warning(s)"))
        for c in comparisons where c.verdict == .regression || c.verdict == .inconclusive {
            #expect(r.markdown.contains("| " + MarkdownText.escape(c.key.description) + " |"), "\(c.key) must be listed")
        }
        // Regressions first, then inconclusive, then passes.
        let rows = r.markdown.split(separator: "\n").filter { $0.hasPrefix("| tiny/") }
        #expect(rows.prefix(20).allSatisfy { $0.contains("regression") })
        #expect(rows.dropFirst(20).prefix(10).allSatisfy { $0.contains("inconclusive") })
        // Profiles of regressed benchmarks only, as many as fit, and the cut is said.
        #expect(r.markdown.contains("Why is it slower: differential profiles of 20 regressed benchmark(s)"))
        #expect(r.markdown.contains("#### Profile: "))
        if r.profilesCut > 0 { #expect(r.markdown.contains("\(r.profilesCut) of 20 profile(s) left out")) }
        #expect(r.markdown.contains("</details>"))
    }

    @Test func prCommentLinkOnlyForHTTP() {
        #expect(PRCommentRendererProbe.link("javascript:alert(1)") == nil)
        #expect(PRCommentRendererProbe.link("https://x.example/a b)") == "https://x.example/a%20b%29")
    }
}

/// Access to the renderer's URL check through its public output.
enum PRCommentRendererProbe {
    static func link(_ url: String) -> String? {
        guard let store = try? ResultStore.inMemory(), let id = try? Synthetic.run(store, ops: ProfileReportTests.ops),
              let report = try? CompareReport(store: store, baseIDs: [id], headIDs: [id]) else { return "setup failed" }
        let md = PRCommentRenderer.render(report, htmlURL: url).markdown
        guard let start = md.range(of: "[Full HTML report](") else { return nil }
        return String(md[start.upperBound...].prefix { $0 != ")" })
    }
}
