import Foundation
import Testing
@testable import FuseBench

/// The executable callgrind can run here: the test build itself when its kernels have no AVX-512
/// (valgrind 3.19 cannot execute AVX-512), else the AVX2 sim worker `tools/setup --sim` builds.
enum SimEnvironment {
    static var valgrindPresent: Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/valgrind")
        }
    }

    static var worker: String? {
        if !ISA.built.contains(.avx512f) { return CLI.binary?.path }
        let sim = CLI.packageRoot.appendingPathComponent(".build-sim/release/fusebench").path
        return FileManager.default.isExecutableFile(atPath: sim) ? sim : nil
    }

    static var usable: Bool { valgrindPresent && worker != nil }
    static let reason = "needs valgrind and, on an AVX-512 build, the AVX2 sim worker from `tools/setup --sim`"
}

@Suite(.serialized, .enabled(if: SimEnvironment.usable, Comment(rawValue: SimEnvironment.reason)))
struct SimCounterTests {
    func suiteFile(_ dir: URL, cols: Int) throws -> String {
        let path = dir.appendingPathComponent("sim\(cols).toml").path
        try """
        [suite]
        name = "sim"
        [[op]]
        name = "br"
        kind = "bias_relu"
        shape = { rows = 64, cols = \(cols) }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func count(_ suite: String, iterations: Int) throws -> CallgrindOutput {
        let worker: String = try #require(SimEnvironment.worker)
        let cg = try Callgrind.prepare(executable: worker)
        return try cg.run(arguments: ["exec", suite, "br", "optimized", "--iterations", String(iterations), "--callgrind"])
    }

    /// Counts cover exactly the toggled iterations and scale with the work: n and 2n elements
    /// give ≈ 2× the instructions and ≈ 2× the L1d read misses (streaming, cold per iteration
    /// only once the data exceeds L1, so 64×1024 and 64×2048 floats are used).
    @Test func countsScaleWithProblemSize() throws {
        let dir = try CLI.tempDir()
        let small = try count(try suiteFile(dir, cols: 1024), iterations: 4)
        let large = try count(try suiteFile(dir, cols: 2048), iterations: 4)
        let ir = Double(large.totals["Ir"]!) / Double(small.totals["Ir"]!)
        let d1 = Double(large.totals["D1mr"]!) / Double(small.totals["D1mr"]!)
        #expect(abs(ir - 2) < 0.1, "instruction ratio \(ir)")
        #expect(abs(d1 - 2) < 0.2, "D1 read miss ratio \(d1)")
        // Collection is toggled around the loop only: 0 iterations count (almost) nothing.
        let none = try count(try suiteFile(dir, cols: 1024), iterations: 0)
        #expect(Double(none.totals["Ir"]!) < Double(small.totals["Ir"]!) / 100)
    }

    @Test func runWithSimCountersIsDeterministic() throws {
        let dir = try CLI.tempDir()
        let suite = try suiteFile(dir, cols: 512)
        let db = dir.appendingPathComponent("x.sqlite").path
        var env = ["FUSEBENCH_NO_COUNTERS": "0"]
        if let w = SimEnvironment.worker { env["FUSEBENCH_SIM_EXECUTABLE"] = w }
        for _ in 0..<2 {
            let r = try CLI.run(["run", suite, "--db", db, "--quiet", "--counters", "sim"], env: env)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("counters (sim)"))
        }
        let store = try ResultStore(path: db)
        let ids = try store.runs(limit: 2).map(\.id)
        let counts = try ids.map { id -> [Double] in
            let sim = try store.samples(runID: id).filter { $0.flags.contains(.simulated) }
            #expect(sim.count == 2)   // one callgrind pass per variant
            #expect(sim.allSatisfy { $0.counters.allSatisfy { $0.backend == .sim } })
            return sim.sorted { $0.variant < $1.variant }.map { $0.counterPerIteration("instructions")! }
        }
        // Same binary, same inputs: identical instruction counts.
        #expect(counts[0] == counts[1])
        #expect(try store.runMeta(runID: ids[0])["sim.caches"]?.contains("D1 cache") == true)

        // Each sim sample keeps its per-function profile; the kernel dominates it, demangled when
        // the toolchain's swift-demangle is on PATH. Same binary: the profiles are identical.
        let profiles = try ids.map { try store.functionProfiles(runID: $0) }
        #expect(profiles.allSatisfy { $0.count == 2 })
        let optimized = try #require(profiles[0].first { $0.variant == "optimized" })
        let top = try #require(optimized.profile.functions.first)
        #expect(top.symbol.contains("biasReLU") && top.function.contains("biasReLU"), "\(top)")
        #expect(Double(top.instructions) > 0.9 * Double(optimized.profile.total.instructions))
        #expect(profiles[0].map(\.profile) == profiles[1].map(\.profile))
        let compare = try CLI.run(["compare", String(ids[1]), String(ids[0]), "--profile", "--db", db])
        #expect(compare.status == 0, "\(compare.stderr)")
        #expect(compare.stdout.contains("profile sim/br/optimized — instructions/op"), "\(compare.stdout)")
        #expect(compare.stdout.contains("no function changed"))
        #expect(compare.stdout.contains("sim-only: per-function profiles come from the callgrind (sim) pass"))
    }
}
