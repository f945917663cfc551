// End-to-end: output that cannot be written is exit 3; `export --output` never replaces what is not
// a regular file; unknown counter events and `--inject-slowdown` ops are errors; suite limits are
// reported with file:line.
import Foundation
import Testing
@testable import FuseBench
import TestSupport

/// Runs fusebench with one stream sent to `handle` (a file handle such as /dev/full) and the other
/// captured: `redirect == .stdout` captures stderr, `.stderr` captures stdout.
private enum Redirected { case stdout, stderr }
private func runRedirecting(_ redirect: Redirected, to handle: FileHandle, _ args: [String]) throws
    -> (status: Int32, exited: Bool, captured: String) {
    let bin = try #require(CLI.binary, "fusebench executable not found next to the test bundle")
    let p = Process()
    p.executableURL = bin
    p.arguments = args
    p.currentDirectoryURL = CLI.packageRoot
    var e = ProcessInfo.processInfo.environment
    e["FUSEBENCH_NO_COUNTERS"] = "1"
    p.environment = e
    let captured = Pipe()
    p.standardOutput = redirect == .stdout ? handle : captured
    p.standardError = redirect == .stderr ? handle : captured
    try p.run()
    let data = captured.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, p.terminationReason == .exit, String(decoding: data, as: UTF8.self))
}

/// Runs fusebench with stdout going to `stdout`; returns its exit status and stderr.
private func runWithStdout(_ args: [String], stdout: FileHandle) throws -> (status: Int32, stderr: String) {
    let r = try runRedirecting(.stdout, to: stdout, args)
    return (r.status, r.captured)
}

/// Runs fusebench with stderr going to `stderr`; returns how it ended and stdout.
private func runWithStderr(_ args: [String], stderr: FileHandle) throws -> (status: Int32, exited: Bool, stdout: String) {
    let r = try runRedirecting(.stderr, to: stderr, args)
    return (r.status, r.exited, r.captured)
}

/// A database with two synthetic runs (ids 1 and 2).
private func twoRuns() throws -> (dir: URL, db: String) {
    let dir = try CLI.tempDir()
    let db = dir.appendingPathComponent("x.sqlite").path
    let store = try ResultStore(path: db)
    _ = try Synthetic.run(store, ops: [Synthetic.op("gemm_16", median: 1000, seed: 1)], label: "a")
    _ = try Synthetic.run(store, ops: [Synthetic.op("gemm_16", median: 1000, seed: 2)], label: "b")
    return (dir, db)
}

/// Reads a FIFO to its end on a background thread (the export opens it for writing).
private final class FIFOReader: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var data: [UInt8] = []

    init(path: String) {
        Thread.detachNewThread { [self] in
            let fd = open(path, O_RDONLY)
            if fd >= 0 {
                var buf = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = read(fd, &buf, buf.count)
                    if n < 0, errno == EINTR { continue }
                    if n <= 0 { break }
                    data += buf[0..<n]
                }
                close(fd)
            }
            done.signal()
        }
    }

    /// What was read, or nil when the writer never came within `seconds`.
    func result(within seconds: Double) -> String? {
        guard done.wait(timeout: .now() + seconds) == .success else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}

private func fileType(_ path: String) -> mode_t {
    var st = stat()
    guard lstat(path, &st) == 0 else { return 0 }
    return st.st_mode & S_IFMT
}

@Suite(.serialized) struct OutputLimitsCLITests {
    @Test func writeErrorsOnStdoutExitThree() throws {
        let (_, db) = try twoRuns()
        let full = try #require(FileHandle(forWritingAtPath: "/dev/full"), "/dev/full is missing")
        for args in [["runs", "--db", db], ["export", "1", "--format", "csv", "--db", db], ["list", "ops"],
                     ["compare", "1", "2", "--db", db]] {
            let r = try runWithStdout(args, stdout: full)
            #expect(r.status == 3, "\(args): exit \(r.status), \(r.stderr)")
            #expect(r.stderr.contains("error: cannot write to standard output"), "\(args): \(r.stderr)")
        }
        // The same commands succeed when stdout can be written.
        let ok = try CLI.run(["export", "1", "--format", "csv", "--db", db])
        #expect(ok.status == 0, "\(ok.stderr)")
    }

    @Test func closedPipeIsNotAnError() throws {
        let (_, db) = try twoRuns()
        let pipe = Pipe()
        try pipe.fileHandleForReading.close()   // a reader that has gone (`| head` after its lines)
        let r = try runWithStdout(["export", "1", "--format", "csv", "--db", db], stdout: pipe.fileHandleForWriting)
        #expect(r.status != 3, "\(r.stderr)")
        #expect(!r.stderr.contains("error"), "\(r.stderr)")
    }

    @Test func exportWritesThroughAFIFO() throws {
        let (dir, db) = try twoRuns()
        let fifo = dir.appendingPathComponent("out.fifo").path
        #expect(mkfifo(fifo, 0o644) == 0)
        let reader = FIFOReader(path: fifo)
        let r = try CLI.run(["export", "1", "--format", "csv", "--db", db, "--output", fifo])
        #expect(r.status == 0, "\(r.stderr)")
        let got = try #require(reader.result(within: 10), "the export never opened the FIFO")
        let expected = try CLI.run(["export", "1", "--format", "csv", "--db", db]).stdout
        #expect(got == expected)
        #expect(fileType(fifo) == S_IFIFO, "the FIFO was replaced")
    }

    @Test func exportFollowsSymlinks() throws {
        let (dir, db) = try twoRuns()
        let real = dir.appendingPathComponent("real.csv").path
        try "old".write(toFile: real, atomically: true, encoding: .utf8)
        let link = dir.appendingPathComponent("link.csv").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "real.csv")
        let r = try CLI.run(["export", "1", "--format", "csv", "--db", db, "--output", link])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(fileType(link) == S_IFLNK, "the symlink was replaced")
        let expected = try CLI.run(["export", "1", "--format", "csv", "--db", db]).stdout
        #expect(try String(contentsOfFile: real, encoding: .utf8) == expected)
        // A dangling link: the file it names is created, the link stays.
        let dangling = dir.appendingPathComponent("dangling.csv").path
        try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: "new.csv")
        let d = try CLI.run(["export", "1", "--format", "csv", "--db", db, "--output", dangling])
        #expect(d.status == 0, "\(d.stderr)")
        #expect(fileType(dangling) == S_IFLNK)
        #expect(try String(contentsOfFile: dir.appendingPathComponent("new.csv").path, encoding: .utf8) == expected)
    }

    @Test func exportRefusesADirectoryAndLeavesItAlone() throws {
        let (dir, db) = try twoRuns()
        let target = dir.appendingPathComponent("adir")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        try "keep".write(to: target.appendingPathComponent("inside"), atomically: true, encoding: .utf8)
        let r = try CLI.run(["export", "1", "--format", "csv", "--db", db, "--output", target.path])
        #expect(r.status == 3)
        #expect(r.stderr.contains("is a directory"), "\(r.stderr)")
        #expect(fileType(target.path) == S_IFDIR)
        #expect(try String(contentsOf: target.appendingPathComponent("inside"), encoding: .utf8) == "keep")
        // No temporary file is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".fusebench-export") }.isEmpty)
    }

    /// Only as root (mknod needs it): a private copy of /dev/null's node stays a character device.
    @Test func exportWritesThroughACharacterDevice() throws {
        guard geteuid() == 0 else { return }
        let (dir, db) = try twoRuns()
        let node = dir.appendingPathComponent("null").path
        guard mknod(node, S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0 else { return }  // e.g. a nodev mount
        let r = try CLI.run(["export", "1", "--format", "csv", "--db", db, "--output", node])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(fileType(node) == S_IFCHR, "the device node was replaced by a regular file")
    }

    @Test func unknownCounterEventsAreErrorsInEveryMode() throws {
        let dir = try CLI.tempDir()
        let suite = dir.appendingPathComponent("ev.toml")
        try tinySuite.replacingOccurrences(of: "warmup_ms = 5", with: "warmup_ms = 5\ncounters = [\"instructions\", \"nosuchevent\"]")
            .write(to: suite, atomically: true, encoding: .utf8)
        for mode in ["none", "auto"] {
            let r = try CLI.run(["run", suite.path, "--db", dir.appendingPathComponent("x.sqlite").path, "--quiet", "--counters", mode])
            #expect(r.status == 3, "\(mode): \(r.stderr)")
            #expect(r.stderr.hasPrefix("error: \(suite.path):8:1: unknown counter event 'nosuchevent'"), "\(mode): \(r.stderr)")
        }
    }

    @Test func unknownSlowdownOpIsAnError() throws {
        let dir = try CLI.tempDir()
        let suite = dir.appendingPathComponent("tiny.toml")
        try tinySuite.write(to: suite, atomically: true, encoding: .utf8)
        let db = dir.appendingPathComponent("x.sqlite").path
        let r = try CLI.run(["run", suite.path, "--db", db, "--quiet", "--counters", "none", "--inject-slowdown", "nosuchop=5"])
        #expect(r.status == 3)
        #expect(r.stderr.contains("--inject-slowdown: no op 'nosuchop'"), "\(r.stderr)")
        #expect(r.stderr.contains("tiny/gemm_16"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: db), "the run started anyway")
    }

    @Test func absurdSettingsExitThreeWithLocation() throws {
        let dir = try CLI.tempDir()
        let suite = dir.appendingPathComponent("big.toml")
        try tinySuite.replacingOccurrences(of: "samples = 4", with: "samples = 9999999999999").write(to: suite, atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", suite.path, "--db", dir.appendingPathComponent("x.sqlite").path, "--quiet", "--counters", "none"])
        #expect(r.status == 3)
        #expect(r.stderr.hasPrefix("error: \(suite.path):6:1: 'samples' must be between 2 and 100000"), "\(r.stderr)")
    }
    /// Diagnostics on a stderr that cannot be written (`2>/dev/full`) are dropped: the command ends
    /// with the exit code it would have had (never a trap inside Foundation's FileHandle).
    @Test func unwritableStderrNeverCrashes() throws {
        let full = try #require(FileHandle(forWritingAtPath: "/dev/full"), "/dev/full is missing")
        let dir = try CLI.tempDir()
        let suite = dir.appendingPathComponent("tiny.toml")
        try tinySuite.write(to: suite, atomically: true, encoding: .utf8)
        let db = dir.appendingPathComponent("x.sqlite").path
        // Errors (printed on stderr, then exit 3).
        for args in [["run", dir.appendingPathComponent("nosuch.toml").path, "--db", db],
                     ["run", suite.path, "--db", db, "--processes", "0"],
                     ["runs", "--db", db, "--nosuchflag"]] {
            let r = try runWithStderr(args, stderr: full)
            #expect(r.exited && r.status == 3, "\(args): exit \(r.status), exited normally: \(r.exited)")
        }
        // A gate that measures prints its notes and progress on stderr: still a verdict, exit 0/1/2.
        let first = try CLI.run(["run", suite.path, "--db", db, "--quiet", "--counters", "none", "--quick"])
        #expect(first.status == 0, "\(first.stderr)")
        let gate = try runWithStderr(["gate", suite.path, "--baseline", "1", "--db", db, "--quiet", "--counters", "none", "--quick",
                                      "--processes", "1", "--format", "json"], stderr: full)
        #expect(gate.exited && [0, 1, 2].contains(gate.status), "gate: exit \(gate.status), exited normally: \(gate.exited)")
        let doc = try JSONSerialization.jsonObject(with: Data(gate.stdout.utf8)) as? [String: Any]
        #expect(doc?["verdict"] is String, "gate stdout: \(gate.stdout)")
    }

    /// Every numeric option has a documented range; out-of-range and non-finite values are exit 3
    /// naming the option, before anything is measured or created. (`--opt=VALUE`, so negative
    /// values reach the range check instead of the argument parser's "missing value".)
    @Test func numericOptionsOutOfRangeExitThree() throws {
        let (dir, db) = try twoRuns()
        let suite = dir.appendingPathComponent("tiny.toml")
        try tinySuite.write(to: suite, atomically: true, encoding: .utf8)
        let fresh = dir.appendingPathComponent("never.sqlite").path
        let run = ["run", suite.path, "--db", fresh, "--quiet", "--counters", "none"]
        let gate = ["gate", "--run", "2", "--baseline", "1", "--db", db]
        let compare = ["compare", "1", "2", "--db", db]
        var cases: [([String], String)] = []
        for v in ["inf", "nan", "-1", "86401", "1e300"] { cases.append((gate + ["--max-time=\(v)"], "--max-time")) }
        for v in ["0", "65", "-3"] {
            cases.append((gate + ["--processes=\(v)"], "--processes"))
            cases.append((run + ["--processes=\(v)"], "--processes"))
        }
        for v in ["-1", "1024", "99999999999"] { cases.append((run + ["--pin=\(v)"], "--pin")) }
        for v in ["inf", "nan", "-1", "3601"] { cases.append((run + ["--cooldown-s=\(v)"], "--cooldown-s")) }
        for v in ["inf", "nan", "0", "150", "-40"] { cases.append((run + ["--temperature-limit=\(v)"], "--temperature-limit")) }
        for v in ["infC", "nanC", "0C", "200C"] { cases.append((run + ["--cooldown-to=\(v)"], "--cooldown-to")) }
        for v in ["inf", "nan", "0", "1000", "-5"] {
            cases.append((compare + ["--threshold=\(v)"], "--threshold"))
            cases.append((gate + ["--instructions-threshold=\(v)"], "--instructions-threshold"))
        }
        for v in ["0", "-5", "1000001"] { cases.append((["runs", "--db", db, "--limit=\(v)"], "--limit")) }
        for v in ["inf", "nan", "-1"] { cases.append((["runs", "--db", db, "--db-busy-timeout=\(v)"], "--db-busy-timeout")) }
        cases.append((["exec", "smoke", "gemm_128", "reference", "--iterations=-1"], "--iterations"))
        for (args, option) in cases {
            let r = try CLI.run(args)
            #expect(r.status == 3, "\(args): exit \(r.status)")
            #expect(r.stderr.hasPrefix("error: ") && r.stderr.contains(option), "\(args): \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: fresh), "a run started despite a bad option")
    }
}
