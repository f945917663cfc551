// A baseline's kept build (FuseBenchCLI/KeptBuilds.swift, Builds/BuildArchive.swift): `baseline set`
// keeps the executable that measured the run, refuses one that did not, prunes what no baseline
// needs; `gate --baseline` measures a kept build again, paired, and falls back to the stored samples
// (saying why) when the build is missing, changed, built for another CPU or the plan loads plug-ins.
import Foundation
import Testing
import TestSupport
@testable import FuseBench
@testable import FuseBenchCLI

@Suite(.serialized) struct KeptBuildTests {
    typealias Workspace = GateTests.Workspace

    /// A small file standing in for an executable, and its content hash.
    static func fakeBuild(_ ws: Workspace, _ name: String) throws -> (path: String, hash: String) {
        let path = ws.dir.appendingPathComponent(name).path
        try Data("#!/bin/sh\n# \(name)\nexit 0\n".utf8).write(to: URL(fileURLWithPath: path))
        _ = chmod(path, 0o755)
        return (path, try ContentHash.file(atPath: path))
    }

    /// A synthetic run recorded as measured by the executable of content hash `hash`.
    static func run(_ store: ResultStore, hash: String?, seed: UInt64, isa: [String] = ["avx2", "fma"]) throws -> Int64 {
        let id = try Synthetic.run(store, ops: GateTests.steady(seed: seed), info: { $0.isaBuilt = isa })
        if let hash { try store.setRunMeta(runID: id, key: RunMetaKey.binaryHash, value: hash) }
        return id
    }

    @Test func baselineSetKeepsTheRunsBuildAndPrunesWhatNoBaselineNeeds() throws {
        let ws = try Workspace()
        let store = try ws.store()
        let archive = BuildArchive(databasePath: ws.db)
        let (a, b, c) = (try Self.fakeBuild(ws, "a"), try Self.fakeBuild(ws, "b"), try Self.fakeBuild(ws, "c"))
        let (ra, rb, rc) = (try Self.run(store, hash: a.hash, seed: 1), try Self.run(store, hash: b.hash, seed: 2),
                            try Self.run(store, hash: c.hash, seed: 3))

        let first = try ws.run(["baseline", "set", "main", String(ra), "--build", a.path])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("build \(a.hash) kept"), "\(first.stdout)")
        #expect(archive.entry(hash: a.hash)?.path == archive.directory + "/\(a.hash)/a")
        #expect(try ws.run(["baseline", "show", "main"]).stdout.contains("build \(a.hash) kept"))
        #expect(try ws.run(["baseline", "list"]).stdout.contains("kept"))

        // The build of the run a baseline pointed at before stays (for --to-previous) …
        #expect(try ws.run(["baseline", "set", "main", String(rb), "--build", b.path]).status == 0)
        #expect(Set(archive.entries().map(\.hash)) == [a.hash, b.hash])
        // … the one before that goes.
        let third = try ws.run(["baseline", "set", "main", String(rc), "--build", c.path])
        #expect(third.status == 0, "\(third.stderr)")
        #expect(third.stdout.contains("removed kept build(s) no baseline needs: \(a.hash)"), "\(third.stdout)")
        #expect(Set(archive.entries().map(\.hash)) == [b.hash, c.hash])
        // Another baseline keeps its own; removing it lets its build go.
        #expect(try ws.run(["baseline", "set", "old", String(ra), "--build", a.path]).status == 0)
        #expect(Set(archive.entries().map(\.hash)) == [a.hash, b.hash, c.hash])
        #expect(try ws.run(["baseline", "rm", "old"]).status == 0)
        #expect(Set(archive.entries().map(\.hash)) == [b.hash, c.hash])
        // Rolling back keeps the build of the run it returns to.
        #expect(try ws.run(["baseline", "set", "main", "--to-previous"]).status == 0)
        #expect(try store.baseline(name: "main")?.runID == rb)
        #expect(archive.entry(hash: b.hash) != nil)
    }

    @Test func aBuildThatIsNotTheRunsIsRefusedAndTheBaselineDoesNotMove() throws {
        let ws = try Workspace()
        let store = try ws.store()
        let archive = BuildArchive(databasePath: ws.db)
        let (a, b) = (try Self.fakeBuild(ws, "a"), try Self.fakeBuild(ws, "b"))
        let ra = try Self.run(store, hash: a.hash, seed: 1)
        let rb = try Self.run(store, hash: b.hash, seed: 2)
        #expect(try ws.run(["baseline", "set", "main", String(ra), "--build", a.path]).status == 0)

        let wrong = try ws.run(["baseline", "set", "main", String(rb), "--build", a.path])
        #expect(wrong.status == 3)
        #expect(wrong.stderr.contains("not the build that measured run \(rb)"), "\(wrong.stderr)")
        #expect(try store.baseline(name: "main")?.runID == ra, "a refused --build leaves the baseline where it was")
        #expect(archive.entries().map(\.hash) == [a.hash])
        #expect(try ws.run(["baseline", "set", "main", String(rb), "--build", ws.dir.appendingPathComponent("nope").path]).status == 3)
        #expect(try ws.run(["baseline", "set", "main", String(rb), "--build", a.path, "--no-keep-build"]).status == 3)

        // Without --build and no matching executable at hand: the baseline moves, the build is not kept.
        let implicit = try ws.run(["baseline", "set", "main", String(rb)])
        #expect(implicit.status == 0, "\(implicit.stderr)")
        #expect(implicit.stdout.contains("build not kept: run \(rb) was measured by build \(b.hash)"), "\(implicit.stdout)")
        #expect(try store.baseline(name: "main")?.runID == rb)
        // A run recorded before binary hashes were stored.
        let old = try Self.run(store, hash: nil, seed: 3)
        #expect(try ws.run(["baseline", "set", "main", String(old)]).stdout.contains("no recorded binary hash"))
        #expect(try ws.run(["baseline", "set", "main", String(old), "--build", a.path]).status == 3)
        // --no-keep-build: nothing kept, nothing pruned.
        let none = try ws.run(["baseline", "set", "other", String(rb), "--no-keep-build"])
        #expect(none.status == 0)
        #expect(!none.stdout.contains("kept"))
    }

    /// Ctrl-C while the build is copied: exit 130, no partial copy left, the baseline not moved.
    @Test func anInterruptedKeepLeavesNothingAndDoesNotMoveTheBaseline() throws {
        let ws = try Workspace()
        let store = try ws.store()
        let small = try Self.fakeBuild(ws, "small")
        let before = try Self.run(store, hash: small.hash, seed: 1)
        try store.setBaseline(name: "main", runID: before)
        // A large "build" (sparse: no disk is used until it is copied), so the copy takes a while.
        let big = ws.dir.appendingPathComponent("big").path
        #expect(FileManager.default.createFile(atPath: big, contents: Data("#!/bin/sh\n".utf8)))
        let handle = try #require(FileHandle(forWritingAtPath: big))
        try handle.truncate(atOffset: 256 << 20)
        try handle.close()
        let run = try Self.run(store, hash: try ContentHash.file(atPath: big), seed: 2)
        let archive = BuildArchive(databasePath: ws.db)

        let (p, out, err) = try CLI.start(["baseline", "set", "main", String(run), "--build", big, "--db", ws.db])
        let deadline = Date().addingTimeInterval(60)
        var sawCopy = false
        while p.isRunning, Date() < deadline {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: archive.directory)) ?? []
            if names.contains(where: { $0.hasPrefix(".incoming-") }) {
                sawCopy = true
                kill(p.processIdentifier, SIGINT)
                break
            }
            usleep(2_000)
        }
        _ = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        try #require(sawCopy, "the copy finished before it could be interrupted (exit \(p.terminationStatus))")
        #expect(p.terminationStatus == 130, "\(stderr)")
        #expect(stderr.contains("nothing kept, baseline main not moved"), "\(stderr)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: archive.directory)) ?? []).isEmpty, "no partial copy is left")
        #expect(try store.baseline(name: "main")?.runID == before)
    }

    @Test func theGateUsesAKeptBuildOnlyWhenThisCPUCanRunItAndItHoldsEveryOp() throws {
        let ws = try Workspace()
        let store = try ws.store()
        let archive = BuildArchive(databasePath: ws.db)
        let plan = try BenchPlan(suites: [try SuiteLoader.load(path: ws.suite)], filter: nil, quick: true)
        let a = try Self.fakeBuild(ws, "a")
        let plain = try Self.run(store, hash: a.hash, seed: 1)
        let wide = try Self.run(store, hash: a.hash, seed: 2, isa: ["avx2", "fma", "avx512f", "avx512bw"])
        let unknown = try Self.run(store, hash: nil, seed: 3)

        #expect(try KeptBuilds.base(store: store, runID: plain, archive: archive, plan: plan) == .storedSamples(reason: nil),
                "not kept yet: the stored samples, nothing to explain")
        try archive.keep(executable: a.path, expectedHash: a.hash)
        let kept = try #require(archive.entry(hash: a.hash))
        let avx2: ISAFeatures = [.avx2, .fma]
        #expect(try KeptBuilds.base(store: store, runID: plain, archive: archive, plan: plan, hostISA: avx2) == .kept(kept))
        guard case .storedSamples(let why?) = try KeptBuilds.base(store: store, runID: wide, archive: archive, plan: plan, hostISA: avx2) else {
            Issue.record("a build for AVX-512 was used on an AVX2 host")
            return
        }
        #expect(why.contains("avx512f") && why.contains("which this CPU lacks"), "\(why)")
        #expect(try KeptBuilds.base(store: store, runID: wide, archive: archive, plan: plan, hostISA: avx2.union([.avx512f, .avx512bw])) == .kept(kept))
        #expect(try KeptBuilds.base(store: store, runID: unknown, archive: archive, plan: plan) == .storedSamples(reason: nil))
        guard case .storedSamples(let pg?) = try KeptBuilds.base(store: store, runID: plain, archive: nil, plan: plan) else {
            Issue.record("no archive (PostgreSQL) must say why")
            return
        }
        #expect(pg.contains("PostgreSQL"))

        // A kept file that changed is never measured.
        _ = chmod(kept.path, 0o755)
        try Data("changed".utf8).write(to: URL(fileURLWithPath: kept.path))
        guard case .storedSamples(let changed?) = try KeptBuilds.base(store: store, runID: plain, archive: archive, plan: plan, hostISA: avx2) else {
            Issue.record("a changed kept build was used")
            return
        }
        #expect(changed.contains("not usable"), "\(changed)")
    }

    /// End to end: a real run, its build kept by `baseline set`, then gated with its kept build
    /// measured again (the default) and with the stored samples when the kept copy was changed.
    @Test func gateMeasuresTheKeptBuildAgainPaired() throws {
        let ws = try Workspace()
        let run = try ws.run(["run", ws.suite, "--quick", "--quiet", "--counters", "none", "--label", "tiny-base"])
        #expect(run.status == 0, "\(run.stderr)")
        let set = try ws.run(["baseline", "set", "main", "latest"])
        #expect(set.status == 0, "\(set.stderr)")
        let store = try ws.store()
        let baseRun = try #require(try store.baseline(name: "main")?.runID)
        let hash = try #require(try store.runMeta(runID: baseRun)[RunMetaKey.binaryHash])
        #expect(set.stdout.contains("build \(hash) kept"), "the run was measured by this fusebench: \(set.stdout)")
        let kept = try #require(BuildArchive(databasePath: ws.db).entry(hash: hash))

        let r = try ws.run(["gate", ws.suite, "--baseline", "main", "--processes", "2", "--quick", "--quiet", "--counters", "none",
                            "--max-time", "0", "--format", "json"])
        #expect([0, 2].contains(r.status), "exit \(r.status)\n\(r.stdout)\n\(r.stderr)")
        #expect(r.stderr.contains("its build \(hash) is kept: measuring it now as the base"), "\(r.stderr)")
        #expect(r.stderr.contains("interleaving base = \(kept.path)"), "\(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect((doc["comparisons"] as? [Any])?.count == 4)
        let runs = try store.runs(limit: 10)
        let base = try #require(runs.first { $0.label == "gate [base]" })
        #expect(doc["baseRuns"] as? [Int] == [Int(base.id)], "the kept build's new run is the base, not the stored run")
        #expect(try store.runMeta(runID: base.id)["worker.executable"] == kept.path)
        #expect(try store.runMeta(runID: base.id)[RunMetaKey.binaryHash] == hash)

        // A changed kept copy: the gate says so and compares with the stored samples instead.
        _ = chmod(kept.path, 0o755)
        try Data("changed".utf8).write(to: URL(fileURLWithPath: kept.path))
        let fallback = try ws.run(["gate", ws.suite, "--baseline", "main", "--processes", "2", "--quick", "--quiet", "--counters", "none",
                                   "--max-time", "0"])
        #expect([0, 2].contains(fallback.status), "exit \(fallback.status)\n\(fallback.stderr)")
        #expect(fallback.stderr.contains("its kept build is not usable"), "\(fallback.stderr)")
        #expect(fallback.stderr.contains("comparing with its stored samples"))
        #expect(try store.runs(limit: 1).first?.label == "gate")
        #expect(try ws.run(["gate", ws.suite, "--stored-samples", "--against", "/bin/true"]).status == 3, "--stored-samples needs --baseline")
    }
}
