// Benchmark identity end to end: two suites of one run with an op of the same name (as
// `fusebench run smoke default` has `gemm_128` twice) stay two benchmarks in the run table, the
// store, `compare`, `gate` and every export.
import Foundation
import Testing
@testable import FuseBench

/// Suite `name` with one op `gemm_8` of size `size`, `samples` batches per variant.
private func sharedNameSuite(_ name: String, size: Int, samples: Int) -> String {
    """
    [suite]
    name = "\(name)"

    [defaults]
    batch_ms = 0.3
    samples = \(samples)
    warmup_ms = 2

    [[op]]
    name = "gemm_8"
    kind = "gemm"
    shape = { m = \(size), n = \(size), k = \(size) }
    """
}

@Suite(.serialized) struct IdentityCLITests {
    @Test func sameOpNameInTwoSuitesStaysApartEverywhere() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let alpha = dir.appendingPathComponent("alpha.toml").path, beta = dir.appendingPathComponent("beta.toml").path
        try sharedNameSuite("alpha", size: 8, samples: 2).write(toFile: alpha, atomically: true, encoding: .utf8)
        try sharedNameSuite("beta", size: 32, samples: 4).write(toFile: beta, atomically: true, encoding: .utf8)
        let db = dir.appendingPathComponent("id.sqlite").path
        func fb(_ args: [String]) throws -> CLI.Result { try CLI.run(args + ["--db", db]) }

        // The qualified name slows alpha's gemm_8 only.
        let run = try fb(["run", alpha, beta, "--quick", "--quiet", "--counters", "none",
                          "--inject-slowdown", "alpha/gemm_8=50"])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        let keys = ["alpha/gemm_8/reference", "alpha/gemm_8/optimized", "beta/gemm_8/reference", "beta/gemm_8/optimized"]
        let counts = ["alpha": 2, "beta": 4]
        for k in keys { #expect(run.stdout.contains(k), "run table lacks \(k)") }

        let store = try ResultStore(path: db)
        let id = try store.resolveRun("latest")
        let samples = try store.samples(runID: id)
        let bySuite = Dictionary(grouping: samples, by: \.suite)
        #expect(bySuite["alpha"]?.count == 2 * 2 && bySuite["beta"]?.count == 2 * 4)
        #expect(bySuite["alpha"]?.allSatisfy { $0.flags.contains(.injectedSlowdown) } == true)
        #expect(bySuite["beta"]?.contains { $0.flags.contains(.injectedSlowdown) } == false)

        // Run report: one row per benchmark, each from its own samples.
        let report = try RunReport(store: store, runID: id)
        #expect(report.rows.map(\.key.description) == keys)
        for row in report.rows { #expect(row.time.n == counts[row.key.suite], "\(row.key)") }

        // compare and gate: one comparison per benchmark, each with its own batches.
        for args in [["compare", String(id), String(id), "--format", "json"],
                     ["gate", "--run", String(id), "--baseline", String(id), "--format", "json"]] {
            let r = try fb(args)
            #expect([0, 1, 2].contains(r.status), "\(args[0]): \(r.stderr)")
            let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(args[0])")
            let comparisons = try #require(doc["comparisons"] as? [[String: Any]])
            let compared = comparisons.map { "\($0["suite"] ?? "?")/\($0["op"] ?? "?")/\($0["variant"] ?? "?")" }
            #expect(compared.sorted() == keys.sorted(), "\(args[0])")
            #expect(comparisons.compactMap { $0["benchmark"] as? String }.sorted() == keys.sorted(), "\(args[0]): benchmark field")
            for c in comparisons {
                #expect(c["nBase"] as? Int == counts[c["suite"] as? String ?? ""], "\(args[0]): \(c)")
            }
        }

        // Exports: every format names SUITE/OP/VARIANT and keeps the two ops' samples apart.
        func export(_ format: String) throws -> String {
            let r = try fb(["export", String(id), "--format", format])
            #expect(r.status == 0, "\(format): \(r.stderr)")
            return r.stdout
        }
        let gbench = try #require(try JSONSerialization.jsonObject(with: Data(export("gbench").utf8)) as? [String: Any])
        let entries = try #require(gbench["benchmarks"] as? [[String: Any]])
        for k in keys {
            let suite = String(k.prefix { $0 != "/" })
            let iterations = entries.filter { $0["name"] as? String == k && $0["run_type"] as? String == "iteration" }
            #expect(iterations.count == counts[suite], "gbench \(k)")
            #expect(entries.contains { $0["name"] as? String == k + "_median" }, "gbench \(k)_median")
        }
        let bmf = try #require(try JSONSerialization.jsonObject(with: Data(export("bmf").utf8)) as? [String: Any])
        #expect(Set(bmf.keys) == Set(keys))
        let gab = try #require(try JSONSerialization.jsonObject(with: Data(export("gab").utf8)) as? [[String: Any]])
        #expect(gab.compactMap { $0["name"] as? String } == keys)
        for e in gab {
            let name = e["name"] as? String ?? ""
            #expect((e["extra"] as? String)?.contains("· n \(counts[String(name.prefix { $0 != "/" })] ?? -1) ·") == true, "gab \(name)")
        }
        let junit = try export("junit")
        for k in keys { #expect(junit.contains("name=\"\(k)\""), "junit \(k)") }
        let csv = try export("csv").split(separator: "\n").dropFirst()
        for k in keys {
            let suite = String(k.prefix { $0 != "/" })
            #expect(csv.filter { $0.split(separator: ",")[1] == k }.count == counts[suite], "csv \(k)")
        }
        // Markdown: the two ops' rows are their own (different sizes, different times).
        let markdown = try export("markdown")
        let rows = markdown.split(separator: "\n").filter { $0.hasPrefix("| alpha/gemm_8/") || $0.hasPrefix("| beta/gemm_8/") }
        #expect(rows.count == 4)
        let cells = rows.map { $0.split(separator: "|").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) } }
        #expect(cells.count == 4 && cells[0].dropFirst() != cells[2].dropFirst(), "alpha and beta reference rows are identical: merged")
    }
}
