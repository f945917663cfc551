// The cheap simulated-counter pass end to end: the cache by binary content hash (hit on a repeated
// run, bypassed with --sim-cache off), the --sim-budget notes, and `gate --against` a copy of
// this (AVX2) binary counting the base side with the copy itself.
import Foundation
import Testing
@testable import FuseBench

@Suite(.serialized, .enabled(if: SimEnvironment.usable, Comment(rawValue: SimEnvironment.reason)))
struct SimCacheCLITests {
    struct Workspace {
        let dir: URL
        var db: String { dir.appendingPathComponent("s.sqlite").path }
        var suite: String { dir.appendingPathComponent("simc.toml").path }
        var env: [String: String] {
            var env = ["FUSEBENCH_NO_COUNTERS": "0"]
            if let w = SimEnvironment.worker { env["FUSEBENCH_SIM_EXECUTABLE"] = w }
            return env
        }

        init() throws {
            dir = try CLI.tempDir()
            try """
            [suite]
            name = "simc"
            [defaults]
            batch_ms = 1
            samples = 4
            warmup_ms = 5
            [[op]]
            name = "br"
            kind = "bias_relu"
            shape = { rows = 8, cols = 512 }
            """.write(toFile: suite, atomically: true, encoding: .utf8)
        }

        func run(_ args: [String]) throws -> CLI.Result { try CLI.run(args + ["--db", db], env: env) }
        func store() throws -> ResultStore { try ResultStore(path: db) }

        /// Instructions per iteration of the run's simulated samples, by variant.
        func instructions(_ run: Int64) throws -> [String: Double] {
            var out: [String: Double] = [:]
            for s in try store().samples(runID: run) where s.flags.contains(.simulated) { out[s.variant] = s.counterPerIteration("instructions") }
            return out
        }
    }

    /// Run 1 counts under callgrind and fills the cache; run 2 (same binary, op, seed, iterations)
    /// copies the counts and profiles and says from which run; `--sim-cache off` counts again.
    @Test func repeatedRunHitsTheCacheAndOffBypassesIt() throws {
        let ws = try Workspace()
        for args in [[String](), [], ["--sim-cache", "off"]] {
            let r = try ws.run(["run", ws.suite, "--quiet", "--counters", "sim"] + args)
            #expect(r.status == 0, "\(r.stderr)")
        }
        let store = try ws.store()
        let ids = try store.runs(limit: 3).map(\.id).sorted()
        let meta = try ids.map { try store.runMeta(runID: $0) }
        let hash = try ContentHash.file(atPath: try #require(CLI.binary).path)
        #expect(meta.allSatisfy { $0["binary.hash"] == hash }, "\(meta.map { $0["binary.hash"] ?? "-" }) vs \(hash)")
        #expect(meta[0]["sim.cache"] == "hits=0 counted=2")
        #expect(meta[1]["sim.cache"] == "hits=2 counted=0")
        #expect(meta[1]["sim.cached.simc/br/optimized"] == "cached from run \(ids[0])")
        #expect(meta[2]["sim.cache"] == "hits=0 counted=2 off")
        #expect(meta[2]["sim.cached.simc/br/optimized"] == nil)
        let counts = try ids.map { try ws.instructions($0) }
        #expect(counts[0].count == 2)
        #expect(counts[0] == counts[1] && counts[1] == counts[2])
        let profiles = try ids.map { try store.functionProfiles(runID: $0).map(\.profile) }
        #expect(profiles[0].count == 2 && profiles[0] == profiles[1])
        #expect(try store.simCacheCount() == 2)
    }

    /// A budget too small for even one iteration skips every variant and says why.
    @Test func budgetTooSmallSkipsAndSaysWhy() throws {
        let ws = try Workspace()
        let r = try ws.run(["run", ws.suite, "--counters", "sim", "--sim-budget", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let all = r.stdout + r.stderr
        #expect(all.contains("sim budget: simc/br/reference: skipped: estimated"), "\(all)")
        #expect(all.contains("sim budget: simc/br/optimized: skipped: estimated"), "\(all)")
        let store = try ws.store()
        let id = try #require(try store.runs(limit: 1).first?.id)
        #expect(try store.runMeta(runID: id)["sim.budget"]?.contains("exceeds its share") == true)
        #expect(try ws.instructions(id).isEmpty)
        let bad = try ws.run(["run", ws.suite, "--counters", "sim", "--sim-jobs", "0"])
        #expect(bad.status == 3 && bad.stderr.contains("--sim-jobs"), "\(bad.stderr)")
        let badCache = try ws.run(["run", ws.suite, "--counters", "sim", "--sim-cache", "maybe"])
        #expect(badCache.status == 3 && badCache.stderr.contains("--sim-cache"), "\(badCache.stderr)")
    }

    /// `gate --against` a byte-identical copy of this AVX2 binary: the base side is counted with
    /// the copy itself (no --against-sim needed), once for both sides (same content hash), and
    /// both sides get the same instruction counts.
    @Test(.enabled(if: !ISA.built.contains(.avx512f), "an AVX-512 base needs --against-sim"))
    func againstACopyOfAnAVX2BinaryCountsTheBase() throws {
        let ws = try Workspace()
        let copy = ws.dir.appendingPathComponent("fusebench-base").path
        let bin = try #require(CLI.binary).path
        if link(bin, copy) != 0 { try FileManager.default.copyItem(atPath: bin, toPath: copy) }
        let r = try ws.run(["gate", ws.suite, "--against", copy, "--counters", "sim", "--processes", "1", "--quick", "--max-time", "0"])  // one round: its two runs are the newest
        #expect([0, 1, 2].contains(r.status), "\(r.stdout)\n\(r.stderr)")
        let all = r.stdout + r.stderr
        #expect(!all.contains("--against-sim"), "\(all)")
        #expect(all.contains("callgrind runs \(copy) itself"), "\(all)")
        let store = try ws.store()
        let runs = try store.runs(limit: 2)
        let base = try #require(runs.first { $0.label?.contains("[base]") == true })
        let head = try #require(runs.first { $0.label?.contains("[head]") == true })
        let baseCounts = try ws.instructions(base.id)
        #expect(baseCounts.count == 2)
        #expect(baseCounts == (try ws.instructions(head.id)))
        #expect(try store.runMeta(runID: base.id)["binary.hash"] == (try store.runMeta(runID: head.id)["binary.hash"]))
        // Counted once per variant for both sides: the base (first side) counts, the head gets copies.
        #expect(try store.simCacheCount() == 2)
        #expect(try store.runMeta(runID: base.id)["sim.cache"] == "hits=0 counted=2")
        #expect(try store.runMeta(runID: head.id)["sim.cache"] == "hits=2 counted=0")
    }
}
