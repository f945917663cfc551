// An unusable TMPDIR (missing, a file, not writable): a clear message naming it; `--counters sim`
// exits 3, `--counters auto` falls back to a timing-only run and says why in the run.
import Foundation
import Testing
@testable import FuseBench

@Suite(.enabled(if: SimEnvironment.usable, Comment(rawValue: SimEnvironment.reason)))
struct TemporaryDirectoryTests {
    /// Bad TMPDIR values for this test: a missing folder, a regular file and (when not root,
    /// who may write anywhere) a read-only folder.
    static func badDirectories(in dir: URL) throws -> [String] {
        let file = dir.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        var bad = [dir.appendingPathComponent("missing").path, file.path]
        if getuid() != 0 {
            let ro = dir.appendingPathComponent("read-only")
            try FileManager.default.createDirectory(at: ro, withIntermediateDirectories: true)
            chmod(ro.path, 0o500)
            bad.append(ro.path)
        }
        return bad
    }

    @Test func simCountersExitThreeNamingTheDirectory() throws {
        let dir = try CLI.tempDir()
        let db = dir.appendingPathComponent("x.sqlite").path
        let suite = dir.appendingPathComponent("tiny.toml")
        try tinySuite.write(to: suite, atomically: true, encoding: .utf8)
        var env = ["FUSEBENCH_NO_COUNTERS": "0"]
        if let w = SimEnvironment.worker { env["FUSEBENCH_SIM_EXECUTABLE"] = w }
        for bad in try Self.badDirectories(in: dir) {
            env["TMPDIR"] = bad
            let r = try CLI.run(["run", suite.path, "--quick", "--quiet", "--counters", "sim", "--db", db], env: env)
            #expect(r.status == 3, "TMPDIR=\(bad): exit \(r.status)\n\(r.stderr)")
            #expect(r.stderr.contains("TMPDIR \(bad) is not usable"), "\(r.stderr)")
            #expect(!r.stderr.contains("NSCocoaErrorDomain"))
        }
    }

    @Test func autoCountersFallBackToTimingOnlyWithANote() throws {
        let dir = try CLI.tempDir()
        let suite = dir.appendingPathComponent("tiny.toml")
        try tinySuite.write(to: suite, atomically: true, encoding: .utf8)
        let db = dir.appendingPathComponent("x.sqlite").path
        let bad = dir.appendingPathComponent("missing").path
        let r = try CLI.run(["run", suite.path, "--quick", "--quiet", "--db", db], env: ["FUSEBENCH_NO_COUNTERS": "0", "TMPDIR": bad])
        #expect(r.status == 0, "exit \(r.status)\n\(r.stderr)")
        let run = try #require(try ResultStore(path: db).runs(limit: 1).first)
        #expect(run.status == .complete)
        // A machine with a PMU uses hardware counters and never needs TMPDIR.
        if run.counterMode != .hw {
            #expect(run.counterMode == .none)
            #expect(run.counterNote.contains("TMPDIR \(bad) is not usable"), "\(run.counterNote)")
            #expect(r.stdout.contains("TMPDIR \(bad) is not usable"))
        }
    }
}

@Suite(.enabled(if: SimEnvironment.worker != nil, Comment(rawValue: SimEnvironment.reason)))
struct FailingCallgrindTests {
    /// A callgrind pass that fails (here: a `valgrind` that exits 1) fails the run with exit 3
    /// naming the op, but the op's timing samples, measured before, are stored.
    @Test func failedPassKeepsTheTimingSamples() throws {
        let dir = try CLI.tempDir()
        let bin = dir.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let fake = bin.appendingPathComponent("valgrind").path
        try "#!/bin/sh\necho 'valgrind: boom' >&2\nexit 1\n".write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let suite = dir.appendingPathComponent("tiny.toml")
        try tinySuite.write(to: suite, atomically: true, encoding: .utf8)
        let db = dir.appendingPathComponent("x.sqlite").path
        var env = ["PATH": "\(bin.path):/usr/bin:/bin", "TMPDIR": dir.path]
        if let w = SimEnvironment.worker { env["FUSEBENCH_SIM_EXECUTABLE"] = w }
        let r = try CLI.run(["run", suite.path, "--quiet", "--counters", "sim", "--db", db], env: env)
        #expect(r.status == 3, "exit \(r.status)\n\(r.stderr)")
        #expect(r.stderr.contains("tiny/gemm_16/reference: simulated counters failed"), "\(r.stderr)")
        #expect(r.stderr.contains("valgrind: boom"))
        let store = try ResultStore(path: db)
        let run = try #require(try store.runs(limit: 1).first)
        #expect(run.status == .failed)
        #expect(try store.samples(runID: run.id).filter { $0.op == "gemm_16" }.count == 8, "4 samples × 2 variants")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("fusebench-cg-") }.isEmpty)
    }
}
