// `fusebench push` and `fusebench merge` end to end: lines per run, idempotence, a push killed
// with SIGKILL resumed by running it again, merge leaving its inputs byte-identical and reporting
// conflicts with exit 3, and `run` with an unreachable server keeping the run in the spool.
import Foundation
import Testing
@testable import FuseBench

/// A database at `path` holding `runs` complete runs of `samples` samples each (one op, two
/// variants); returns the run ids.
@discardableResult
private func makeShard(_ path: String, runs: Int, samples: Int = 8, cpu: String = "Push CPU") throws -> [Int64] {
    let store = try ResultStore(path: path)
    let machine = MachineFingerprint(cpuModel: cpu, logicalCPUs: 2, isaHost: [], caches: [], kernel: "6.8", governor: "performance",
                                     perfEventParanoid: 2, virtualization: "none", pmuAvailable: false)
    var ids: [Int64] = []
    for r in 0..<runs {
        let id = try store.beginRun(RunInfo(startedAt: Date(timeIntervalSince1970: 1_700_000_000 + Double(r)), status: .running,
                                            label: "push", suites: ["s"], suiteHash: "h", gitCommit: nil, gitBranch: nil,
                                            gitDirty: nil, harnessVersion: Harness.version, machine: machine, isaBuilt: [],
                                            counterMode: .none, counterNote: "", calibration: nil, configJSON: "{}", pid: getpid()))
        let opID = try store.recordOp(runID: id, op: OpRecord(suite: "s", name: "g", kind: "gemm", shape: ["m": 4], dtype: "f32",
                                                              flops: 1, bytes: 1, threshold: 0.05))
        try store.insertSamples(runID: id, opID: opID, samples: (0..<samples).map {
            Sample(key: BenchmarkKey(suite: "s", op: "g", variant: $0 % 2 == 0 ? "reference" : "optimized"), sequence: $0,
                   iterations: 4, wallNs: 1_000 + Double($0), cpuNs: 900, overheadNs: 10)
        })
        try store.finishRun(id: id, status: .complete)
        ids.append(id)
    }
    return ids
}

/// Run UUID → sample count of every run in the database at `path`.
private func sampleCounts(_ path: String) throws -> [String: Int] {
    let store = try ResultStore(path: path, access: .readOnly)
    var counts: [String: Int] = [:]
    for (id, uuid) in try store.runUUIDs() { counts[uuid] = try store.samples(runID: id).count }
    return counts
}

@Suite(.serialized) struct PushCLITests {
    @Test func pushPrintsOneLinePerRunAndIsIdempotent() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("spool.sqlite").path
        let target = dir.appendingPathComponent("team/all.sqlite").path
        try makeShard(source, runs: 3)
        let latest = try CLI.run(["push", "--db", source, "--to", target])
        #expect(latest.status == 0, "\(latest.stderr)")
        #expect(latest.stdout.contains("run 3 (") && latest.stdout.contains("pushed 8 samples"))
        let all = try CLI.run(["push", "--all", "--db", source, "--to", target])
        #expect(all.status == 0, "\(all.stderr)")
        let lines = all.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.filter { $0.hasSuffix("pushed 8 samples") }.count == 2)
        #expect(lines.filter { $0.hasSuffix("already present") }.count == 1)
        #expect(try sampleCounts(target) == (try sampleCounts(source)))
        let again = try CLI.run(["push", "--all", "--db", source, "--to", target])
        #expect(again.status == 0)
        #expect(again.stdout.split(separator: "\n").allSatisfy { $0.hasSuffix("already present") })
        // By UUID prefix.
        let uuid = try #require(try sampleCounts(source).keys.sorted().first)
        let byUUID = try CLI.run(["push", String(uuid.prefix(13)), "--db", source, "--to", target])
        #expect(byUUID.status == 0 && byUUID.stdout.contains("already present"), "\(byUUID.stderr)")
        // Bad input: an unknown run, a target that is another program's database.
        let unknown = try CLI.run(["push", "99", "--db", source, "--to", target])
        #expect(unknown.status == 3 && unknown.stderr.contains("error:"))
        let foreign = dir.appendingPathComponent("foreign.sqlite").path
        try Data("not a database at all, just text".utf8).write(to: URL(fileURLWithPath: foreign))
        let refused = try CLI.run(["push", "--all", "--db", source, "--to", foreign])
        #expect(refused.status == 3 && refused.stderr.contains("error:"), "\(refused.stderr)")
    }

    /// SIGKILL during a push of many runs: every run in the target is complete (all its samples),
    /// the one being copied is absent; the same command again pushes the rest.
    @Test func aKilledPushIsResumedByPushingAgain() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("spool.sqlite").path
        let target = dir.appendingPathComponent("target.sqlite").path
        try makeShard(source, runs: 30, samples: 1_500)
        let expected = try sampleCounts(source)
        let (process, _, _) = try CLI.start(["push", "--all", "--db", source, "--to", target])
        // Kill once a few runs have arrived (polling the target, which WAL lets us read meanwhile).
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning, Date() < deadline {
            if FileManager.default.fileExists(atPath: target), let counts = try? sampleCounts(target), counts.count >= 3 { break }
            usleep(20_000)
        }
        let killedMidway = process.isRunning
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let partial = try sampleCounts(target)
        for (uuid, count) in partial { #expect(expected[uuid] == count, "run \(uuid) copied partially: \(count) samples") }
        if killedMidway { #expect(partial.count < expected.count) }
        let resumed = try CLI.run(["push", "--all", "--db", source, "--to", target])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.split(separator: "\n").filter { $0.hasSuffix("already present") }.count == partial.count)
        #expect(try sampleCounts(target) == expected)
    }

    @Test func mergeLeavesInputsByteIdenticalAndReportsConflicts() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a.sqlite").path
        let b = dir.appendingPathComponent("b.sqlite").path
        let aIDs = try makeShard(a, runs: 2, cpu: "CPU A")
        let bIDs = try makeShard(b, runs: 3, cpu: "CPU B")
        do {
            try ResultStore(path: a).setBaseline(name: "main", runID: aIDs[1])
            try ResultStore(path: b).setBaseline(name: "nightly", runID: bIDs[0])
        }
        let before = try [a, b].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        let out = dir.appendingPathComponent("merged/out.sqlite").path
        let merged = try CLI.run(["merge", out, a, b])
        #expect(merged.status == 0, "\(merged.stderr)")
        #expect(merged.stdout.contains("a.sqlite: 2 runs merged"))
        #expect(merged.stdout.contains("b.sqlite: 3 runs merged"))
        #expect(try [a, b].map { try Data(contentsOf: URL(fileURLWithPath: $0)) } == before)
        let wal = (try? Data(contentsOf: URL(fileURLWithPath: a + "-wal"))) ?? Data()
        #expect(wal.isEmpty)
        var expected = try sampleCounts(a)
        expected.merge(try sampleCounts(b)) { x, _ in x }
        #expect(try sampleCounts(out) == expected)
        let store = try ResultStore(path: out, access: .readOnly)
        #expect(try store.baseline(name: "main") != nil && store.baseline(name: "nightly") != nil)
        // Merging again changes nothing; a shard whose "main" names another run is a conflict (exit 3).
        let again = try CLI.run(["merge", out, a, b])
        #expect(again.status == 0 && again.stdout.contains("0 runs merged"))
        let c = dir.appendingPathComponent("c.sqlite").path
        let cIDs = try makeShard(c, runs: 1, cpu: "CPU C")
        try ResultStore(path: c).setBaseline(name: "main", runID: cIDs[0])
        let conflict = try CLI.run(["merge", out, c])
        #expect(conflict.status == 3)
        #expect(conflict.stderr.contains("conflict: ") && conflict.stderr.contains("baseline main"), "\(conflict.stderr)")
        #expect(try sampleCounts(out).count == 6)  // c's run merged nonetheless
        // Bad input.
        #expect(try CLI.run(["merge", out, dir.appendingPathComponent("missing.sqlite").path]).status == 3)
        #expect(try CLI.run(["merge", out, out]).status == 3)
    }

    /// `run --db postgres://...` whose server cannot be reached: the run is recorded in the spool,
    /// stderr says how to push it later, exit 3; `push` from the spool works once a target is there.
    @Test func runKeepsItsRunInTheSpoolWhenTheServerIsUnreachable() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let suite = dir.appendingPathComponent("tiny.toml")
        try tinySuite.write(to: suite, atomically: true, encoding: .utf8)
        let spool = dir.appendingPathComponent("spool.sqlite").path
        // Port 1 on loopback: nothing listens there (or, without the Fleet trait, no PostgreSQL support).
        let url = "postgres://fusebench:secret@127.0.0.1:1/results"
        let r = try CLI.run(["run", suite.path, "--filter", "gemm_16", "--counters", "none", "--quiet", "--db", url, "--spool", spool])
        #expect(r.status == 3, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stderr.contains("kept in \(spool); push it later with"), "\(r.stderr)")
        #expect(!r.stderr.contains("secret"))
        let store = try ResultStore(path: spool, access: .readOnly)
        let id = try store.resolveRun("latest")
        #expect(try store.run(id: id)?.status == .complete)
        let uuid = try #require(try store.run(id: id)).uuid
        #expect(r.stderr.contains("run \(uuid) kept in"))
        let other = dir.appendingPathComponent("later.sqlite").path
        let push = try CLI.run(["push", "--all", "--db", spool, "--to", other])
        #expect(push.status == 0, "\(push.stderr)")
        #expect(try sampleCounts(other) == (try sampleCounts(spool)))
    }

    /// `gate --against` with a PostgreSQL `--db` that cannot be reached: both builds are measured
    /// into the spool, the verdict's exit code stands (0 or 2, not 3), and stderr says the runs are
    /// kept in the spool; a `--baseline` that must come from the unreachable server is an error.
    @Test func gateKeepsItsVerdictWhenThePushFails() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let suite = dir.appendingPathComponent("tiny.toml")
        try tinySuite.write(to: suite, atomically: true, encoding: .utf8)
        let spool = dir.appendingPathComponent("spool.sqlite").path
        let url = "postgres://fusebench@127.0.0.1:1/results"
        let binary = try #require(CLI.binary).path
        let r = try CLI.run(["gate", suite.path, "--filter", "gemm_16", "--against", binary, "--processes", "2", "--quick", "--quiet",
                             "--max-time", "0", "--counters", "none", "--db", url, "--spool", spool])
        #expect([0, 2].contains(r.status), "exit \(r.status)\n\(r.stdout)\n\(r.stderr)")
        #expect(r.stderr.contains("kept in \(spool); push it later with"), "\(r.stderr)")
        #expect(r.stderr.contains("gate: warning: the runs were not pushed"), "\(r.stderr)")
        #expect(try sampleCounts(spool).count == 2)  // base and head
        let baseline = try CLI.run(["gate", suite.path, "--baseline", "main", "--quick", "--quiet", "--db", url, "--spool", spool])
        #expect(baseline.status == 3 && baseline.stderr.contains("error:"), "\(baseline.stderr)")
    }
}
