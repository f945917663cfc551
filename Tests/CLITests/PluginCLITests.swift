// End-to-end tests of `[[plugin]]` suite entries: C plug-ins compiled at test time are run by the
// fusebench binary; every bad input exits 3 with the suite's file:line and the library's name.
import Foundation
@testable import FuseBench
import Testing
import TestSupport

/// A suite with one `[[plugin]]` entry; its keys sit on fixed lines (header 4, library 6, kernel 7,
/// shape 8, variants 9) so tests can check where an error points.
private func pluginSuite(library: String, kernel: String, shape: String, variants: String? = nil, extra: String = "") -> String {
    """
    [suite]
    name = "plug"

    [[plugin]]
    name = "op1"
    library = "\(library)"
    kernel = "\(kernel)"
    shape = \(shape)
    \(variants.map { "variants = \($0)" } ?? "# all variants")
    samples = 3
    batch_ms = 0.2
    warmup_ms = 2
    \(extra)
    """
}

@Suite(.serialized) struct PluginCLITests {
    @Test func goodPluginRunsVerifiedAgainstBuiltinsAndOwnReference() throws {
        let dir = try TestPluginDirectory()
        defer { dir.remove() }
        _ = try dir.build(TestPluginSources.good, name: "good")
        // The library path is relative to the suite file.
        let suite = try dir.write("""
        [suite]
        name = "plug"
        [defaults]
        samples = 3
        batch_ms = 0.2
        warmup_ms = 2
        [[plugin]]
        name = "gemm_small"
        library = "libgood.so"
        kernel = "my_gemm"
        shape = { m = 16, n = 16, k = 16 }
        [[plugin]]
        name = "softmax_small"
        library = "./libgood.so"
        kernel = "my_softmax"
        shape = { rows = 4, cols = 64 }
        [[plugin]]
        name = "scale_small"
        library = "libgood.so"
        kernel = "scale2"
        shape = { n = 256 }
        variants = ["reference_scale", "unrolled", "with_setup"]
        """, to: "suite.toml")
        let db = dir.url.appendingPathComponent("r.sqlite").path
        let r = try CLI.run(["run", suite.path, "--db", db, "--quiet", "--counters", "none"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("plug/gemm_small/naive"))
        let store = try ResultStore(path: db)
        let id = try store.resolveRun("latest")
        let checks = try store.accuracyChecks(runID: id)
        #expect(Set(checks.map(\.variant)) == ["naive", "rows", "unrolled", "with_setup"])
        #expect(checks.allSatisfy { $0.passed }, "\(checks)")
        let samples = try store.samples(runID: id)
        #expect(samples.contains { $0.op == "gemm_small" && $0.variant == "naive" })
        #expect(!samples.contains { $0.op == "gemm_small" && $0.variant == "reference" })  // verifies, not timed unless listed
        #expect(samples.contains { $0.op == "scale_small" && $0.variant == "reference_scale" })
        let ops = try store.ops(runID: id)
        #expect(ops.first { $0.name == "gemm_small" }?.kind == "my_gemm")
        // Provenance: which library (path and content hash) each plug-in op measured.
        let meta = try store.runMeta(runID: id)
        let library = dir.url.appendingPathComponent("libgood.so").resolvingSymlinksInPath().path
        #expect(meta["plugin.library.plug/gemm_small"] == library)
        #expect(meta["plugin.hash.plug/gemm_small"] == ContentHash.fnv1a64Hex(try Data(contentsOf: URL(fileURLWithPath: library))))
    }

    @Test func wrongPluginKernelIsRejectedNotTimed() throws {
        let dir = try TestPluginDirectory()
        defer { dir.remove() }
        let lib = try dir.build(TestPluginSources.good, name: "wrong", flags: ["-DFB_TEST_WRONG"])
        let suite = try dir.write(pluginSuite(library: lib.path, kernel: "my_gemm", shape: "{ m = 8, n = 8, k = 8 }"), to: "s.toml")
        let db = dir.url.appendingPathComponent("r.sqlite").path
        let r = try CLI.run(["run", suite.path, "--db", db, "--quiet", "--counters", "none"])
        #expect(r.stdout.contains("REJECTED plug/op1/naive"), "\(r.stdout)\n\(r.stderr)")
        let store = try ResultStore(path: db)
        let id = try store.resolveRun("latest")
        #expect(try store.accuracyChecks(runID: id).map(\.passed) == [false])
        #expect(try store.samples(runID: id).filter { $0.variant == "naive" }.isEmpty)
    }

    @Test func badPluginEntriesExitThreeAtTheLineNamingTheLibrary() throws {
        let dir = try TestPluginDirectory()
        defer { dir.remove() }
        let good = try dir.build(TestPluginSources.good, name: "good")
        let noEntry = try dir.build(TestPluginSources.noEntry, name: "noentry")
        let abi = try dir.build(TestPluginSources.good, name: "abi7", flags: ["-DFB_TEST_ABI=7"])
        let missing = dir.url.appendingPathComponent("libmissing.so").path
        let cases: [(name: String, suite: String, line: Int, contains: [String])] = [
            ("missing library", pluginSuite(library: missing, kernel: "k", shape: "{ n = 4 }"), 6, [missing, "no such file"]),
            ("missing symbol", pluginSuite(library: noEntry.path, kernel: "k", shape: "{ n = 4 }"), 6, [noEntry.path, "fusebench_plugin"]),
            ("ABI mismatch", pluginSuite(library: abi.path, kernel: "k", shape: "{ n = 4 }"), 6, [abi.path, "version 7", "version 1"]),
            ("unknown kernel", pluginSuite(library: good.path, kernel: "sgemm", shape: "{ n = 4 }"), 7,
             [good.path, "no kernel 'sgemm'", "my_gemm, my_softmax, scale2"]),
            ("refused shape", pluginSuite(library: good.path, kernel: "scale2", shape: "{ n = 6 }"), 8,
             [good.path, "n must be a multiple of 4, got 6"]),
            ("unknown shape key", pluginSuite(library: good.path, kernel: "scale2", shape: "{ n = 8, q = 2 }"), 8, [good.path, "'q'"]),
            ("unknown variant", pluginSuite(library: good.path, kernel: "scale2", shape: "{ n = 8 }", variants: #"["turbo"]"#), 9,
             [good.path, "no variant 'turbo'", "unrolled"]),
        ]
        for c in cases {
            let suite = try dir.write(c.suite, to: "bad.toml")
            let r = try CLI.run(["run", suite.path, "--db", dir.url.appendingPathComponent("r.sqlite").path, "--quiet", "--counters", "none"])
            #expect(r.status == 3, "\(c.name): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains("error: \(suite.path):\(c.line):"), "\(c.name): \(r.stderr)")
            for s in c.contains { #expect(r.stderr.contains(s), "\(c.name): '\(s)' not in \(r.stderr)") }
        }
    }
}
