// End to end: an `[[edge]]` batch-1 run through worker processes stores per-iteration latencies
// for every sample and the variant decisions; `variants` and the exports show them.
import Foundation
import GRDB
import Testing

@Suite struct EdgeLatencyCLITests {
    @Test func batchOneRunStoresLatenciesAndDecisions() throws {
        let dir = try CLI.tempDir()
        let suite = dir.appendingPathComponent("edge1.toml")
        let db = dir.appendingPathComponent("e.sqlite").path
        let root = CLI.packageRoot.path
        try """
        [suite]
        name = "e"
        [defaults]
        samples = 4
        batch_ms = 0.5
        warmup_ms = 5
        [[edge]]
        name = "digits"
        model = "\(root)/data/digits/mlp.json"
        data = "\(root)/data/digits/digits.csv"
        variants = ["fp32", "early_exit", "pruned50"]
        batch = 1
        """.write(to: suite, atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", suite.path, "--db", db, "--quiet", "--processes", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("edge variants (stored in variant_decisions"))

        let queue = try DatabaseQueue(path: db)
        try queue.read { db in
            // Every other sample of the edge op has its latencies (workers sent them; the others are
            // the plain-loop batches), and the number of per-iteration values equals the sum of
            // those samples' iterations.
            let samples = try Int.fetchOne(db, sql: "SELECT count(*) FROM samples") ?? 0
            let withLatencies = try Int.fetchOne(db, sql: "SELECT count(*) FROM iteration_latencies") ?? -1
            #expect(samples > 0 && withLatencies > 0 && withLatencies < samples)
            let iterations = try Int.fetchOne(db, sql: "SELECT sum(s.iterations) FROM samples s JOIN iteration_latencies l ON l.sample_id = s.id")
            let values = try Int.fetchOne(db, sql: "SELECT sum(json_array_length(ns)) FROM iteration_latencies")
            #expect(iterations != nil && iterations == values)
            #expect(try Int.fetchOne(db, sql: "SELECT count(DISTINCT process) FROM samples") == 2)
            // Early-exit labels are exit heads; fp32 has none (NULL = all 0).
            let labels = try Int.fetchAll(db, sql: "SELECT DISTINCT label FROM v_iteration_latencies WHERE variant = 'early_exit' ORDER BY label")
            #expect(labels == [1, 2] || labels == [1])
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM v_iteration_latencies WHERE variant = 'fp32' AND label <> 0") == 0)
            // Decisions written at the end of `run`.
            let decisions = try String.fetchAll(db, sql: "SELECT variant || ':' || decision FROM variant_decisions ORDER BY variant")
            #expect(decisions.count == 3)
            #expect(decisions.contains("fp32:reference") && decisions.contains("pruned50:reject: accuracy"))
            #expect(try String.fetchOne(db, sql: "SELECT exit_rates FROM variant_decisions WHERE variant = 'early_exit'")?.contains("\"label\":1") == true)
        }

        let json = try CLI.run(["variants", "latest", "--format", "json", "--db", db])
        #expect(json.status == 0, "\(json.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 3 && rows.allSatisfy { $0["op"] as? String == "digits" })
        #expect(rows.first { $0["variant"] as? String == "early_exit" }?["latency_source"] as? String == "iterations")
        let text = try CLI.run(["variants", "--format", "text", "--db", db])
        #expect(text.status == 0 && text.stdout.contains("early_exit exits: head 1"))
        #expect(try CLI.run(["variants", "--format", "yaml", "--db", db]).status == 3)

        let md = try CLI.run(["export", "latest", "--format", "markdown", "--db", db])
        #expect(md.status == 0 && md.stdout.contains("## Edge variants") && md.stdout.contains("exits: head 1"))
        let gb = try CLI.run(["export", "latest", "--format", "gbench", "--db", db])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(gb.stdout.utf8)) as? [String: Any])
        #expect((doc["fusebench_variants"] as? [[String: Any]])?.count == 3)
        #expect(doc["benchmarks"] is [[String: Any]] && doc["context"] is [String: Any])
    }

    @Test func badBatchExitsThreeWithLocation() throws {
        let dir = try CLI.tempDir()
        let suite = dir.appendingPathComponent("edge.toml")
        let root = CLI.packageRoot.path
        for (value, message) in [("0", "'batch' must be at least 1, got 0"), ("600", "batch must be at most the test split's 539 images"),
                                 ("2.5", "'batch' must be an integer")] {
            try """
            [suite]
            name = "e"
            [[edge]]
            name = "digits"
            model = "\(root)/data/digits/mlp.json"
            data = "\(root)/data/digits/digits.csv"
            batch = \(value)
            """.write(to: suite, atomically: true, encoding: .utf8)
            let r = try CLI.run(["run", suite.path, "--db", dir.appendingPathComponent("x.sqlite").path, "--quiet"])
            #expect(r.status == 3)
            #expect(r.stderr.hasPrefix("error: \(suite.path):7:"), "\(r.stderr)")
            #expect(r.stderr.contains(message), "\(r.stderr)")
        }
    }
}
