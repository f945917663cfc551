// `gate --against-suite`: the base side loads its ops from other suite files (a downstream
// repository's merge-base checkout). Bad input is exit 3 before anything is measured; a head op
// without a base counterpart is not gated; the base side really measures the base suite's op.
import Foundation
import Testing
@testable import FuseBench

@Suite(.serialized) struct AgainstSuiteCLITests {
    struct Workspace {
        let dir: URL
        var db: String { dir.appendingPathComponent("g.sqlite").path }
        var head: String { dir.appendingPathComponent("head/tiny.toml").path }
        var base: String { dir.appendingPathComponent("base/tiny.toml").path }

        /// Head: `tinySuite`; base: `baseText` (default: only gemm_16, with another shape).
        init(baseText: String? = nil) throws {
            dir = try CLI.tempDir()
            for sub in ["head", "base"] {
                try FileManager.default.createDirectory(at: dir.appendingPathComponent(sub), withIntermediateDirectories: true)
            }
            try tinySuite.write(toFile: head, atomically: true, encoding: .utf8)
            let text = baseText ?? """
                [suite]
                name = "tiny"
                [defaults]
                batch_ms = 0.5
                samples = 4
                warmup_ms = 5
                [[op]]
                name = "gemm_16"
                kind = "gemm"
                shape = { m = 8, n = 8, k = 8 }
                """
            try text.write(toFile: base, atomically: true, encoding: .utf8)
        }

        func gate(_ args: [String]) throws -> CLI.Result {
            try CLI.run(["gate"] + args + ["--db", db, "--quiet", "--counters", "none", "--processes", "1", "--max-time", "0"])
        }
    }

    @Test func badInputIsExitThreeBeforeMeasuring() throws {
        let ws = try Workspace()
        defer { try? FileManager.default.removeItem(at: ws.dir) }
        let missing = try ws.gate([ws.head, "--against-suite", ws.dir.appendingPathComponent("nope.toml").path])
        #expect(missing.status == 3)
        #expect(missing.stderr.contains("error: --against-suite") && missing.stderr.contains("nope.toml"), "\(missing.stderr)")
        let count = try ws.gate([ws.head, "--against-suite", ws.base, "--against-suite", ws.base])
        #expect(count.status == 3)
        #expect(count.stderr.contains("given 2 time(s) for 1 suite(s)"), "\(count.stderr)")
        let withBaseline = try ws.gate([ws.head, "--against-suite", ws.base, "--baseline", "main"])
        #expect(withBaseline.status == 3)
        #expect(withBaseline.stderr.contains("excludes --baseline"), "\(withBaseline.stderr)")
        // Another suite name: nothing can be matched.
        let other = try Workspace(baseText: tinySuite.replacingOccurrences(of: "name = \"tiny\"", with: "name = \"other\""))
        defer { try? FileManager.default.removeItem(at: other.dir) }
        let renamed = try other.gate([other.head, "--against-suite", other.base])
        #expect(renamed.status == 3)
        #expect(renamed.stderr.contains("suite 'other' cannot be the base of 'tiny'"), "\(renamed.stderr)")
        // No op in common.
        let disjoint = try Workspace(baseText: tinySuite.replacingOccurrences(of: "gemm_16", with: "gemm_x")
            .replacingOccurrences(of: "bias_relu_small", with: "bias_y"))
        defer { try? FileManager.default.removeItem(at: disjoint.dir) }
        let none = try disjoint.gate([disjoint.head, "--against-suite", disjoint.base])
        #expect(none.status == 3)
        #expect(none.stderr.contains("no op of the head's suites is in the base suites"), "\(none.stderr)")
        // A base suite with an error is reported at its own file and line.
        try "[suite]\nname = \"tiny\"\n[[op]]\nname = \"gemm_16\"\nkind = \"nosuchkind\"\n".write(toFile: ws.base, atomically: true, encoding: .utf8)
        let broken = try ws.gate([ws.head, "--against-suite", ws.base])
        #expect(broken.status == 3)
        #expect(broken.stderr.contains("error: \(ws.base):"), "\(broken.stderr)")
        let stored = FileManager.default.fileExists(atPath: ws.db) ? try ResultStore(path: ws.db).runs(limit: 5) : []
        #expect(stored.isEmpty)
    }

    /// The base side measures the base suite's op (its shape is stored with the base run), and an
    /// op only the head has is left out with a note instead of being measured against nothing.
    @Test func baseSideMeasuresTheBaseSuitesOp() throws {
        let ws = try Workspace()
        defer { try? FileManager.default.removeItem(at: ws.dir) }
        let r = try ws.gate([ws.head, "--against-suite", ws.base])
        #expect([0, 1, 2].contains(r.status), "\(r.stdout)\n\(r.stderr)")
        #expect(r.stderr.contains("not gated") && r.stderr.contains("tiny/bias_relu_small"), "\(r.stderr)")
        let store = try ResultStore(path: ws.db)
        let runs = try store.runs(limit: 2)
        let base = try #require(runs.first { $0.label?.contains("[base]") == true })
        let head = try #require(runs.first { $0.label?.contains("[head]") == true })
        #expect(try store.ops(runID: base.id).map(\.shape) == [["m": 8, "n": 8, "k": 8]])
        #expect(try store.ops(runID: head.id).map(\.shape) == [["m": 16, "n": 16, "k": 16]])
        #expect(try store.samples(runID: base.id).allSatisfy { $0.op == "gemm_16" })
        #expect(try !store.samples(runID: base.id).isEmpty)
    }
}
