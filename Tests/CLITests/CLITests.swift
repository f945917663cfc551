import Foundation
import Testing
import TestSupport
@testable import FuseBench

/// Runs the built `fusebench` executable (SwiftPM builds it next to the test bundle).
struct CLI {
    static let packageRoot = BuiltExecutable.packageRoot

    static var binary: URL? { BuiltExecutable.fusebench }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Starts fusebench with `args` in the package root.
    static func start(_ args: [String], env: [String: String] = [:]) throws -> (Process, Pipe, Pipe) {
        let bin = try #require(binary, "fusebench executable not found next to the test bundle")
        let p = Process()
        p.executableURL = bin
        p.arguments = args
        p.currentDirectoryURL = packageRoot
        var e = ProcessInfo.processInfo.environment
        e["FUSEBENCH_NO_COUNTERS"] = "1"   // deterministic: tests must pass with and without a PMU
        for (k, v) in env { e[k] = v }
        p.environment = e
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        return (p, out, err)
    }

    static func run(_ args: [String], env: [String: String] = [:]) throws -> Result {
        let (p, out, err) = try start(args, env: env)
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// A scratch directory removed when the test process exits (`Scratch`).
    static func tempDir() throws -> URL {
        try Scratch.directory("cli")
    }
}

/// A tiny suite so CLI tests take seconds even in a debug build.
let tinySuite = """
[suite]
name = "tiny"

[defaults]
batch_ms = 0.5
samples = 4
warmup_ms = 5

[[op]]
name = "gemm_16"
kind = "gemm"
shape = { m = 16, n = 16, k = 16 }

[[op]]
name = "bias_relu_small"
kind = "bias_relu"
shape = { rows = 4, cols = 100 }
"""

@Suite(.serialized) struct CLITests {
    @Test func runStoresCompleteRunAndExports() throws {
        let dir = try CLI.tempDir()
        let suite = dir.appendingPathComponent("tiny.toml")
        try tinySuite.write(to: suite, atomically: true, encoding: .utf8)
        let db = dir.appendingPathComponent("x.sqlite").path
        let r = try CLI.run(["run", suite.path, "--db", db, "--quiet", "--label", "cli-test"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("tiny/gemm_16/optimized"))
        #expect(r.stdout.contains("tiny/bias_relu_small/reference"))
        #expect(r.stdout.contains("timing-only"))
        #expect(r.stdout.contains("harness overhead per sample"))

        let store = try ResultStore(path: db)
        let id = try store.resolveRun("latest")
        let info = try #require(try store.run(id: id))
        #expect(info.status == .complete)
        #expect(info.label == "cli-test")
        #expect(info.counterMode == .none)
        #expect(info.calibration != nil)
        let samples = try store.samples(runID: id)
        #expect(samples.filter { $0.op == "gemm_16" && $0.variant == "reference" }.count == 4)
        #expect(samples.filter { $0.op == "gemm_16" && $0.variant == "optimized" }.count == 4)
        #expect(try store.accuracyChecks(runID: id).allSatisfy(\.passed))
        #expect(try store.runMeta(runID: id)["overhead.share_of_1ms"] != nil)

        let gb = try CLI.run(["export", "latest", "--format", "gbench", "--db", db])
        #expect(gb.status == 0, "\(gb.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(gb.stdout.utf8)) as? [String: Any])
        let benchmarks = try #require(json["benchmarks"] as? [[String: Any]])
        #expect(json["context"] is [String: Any])
        let iterations = benchmarks.filter { $0["run_type"] as? String == "iteration" }
        #expect(iterations.count == 16)
        for b in benchmarks {
            for key in ["name", "run_type", "iterations", "real_time", "cpu_time", "time_unit", "repetitions", "threads"] {
                #expect(b[key] != nil, "missing \(key)")
            }
        }
        #expect(benchmarks.contains { $0["name"] as? String == "tiny/gemm_16/optimized_median" && $0["aggregate_name"] as? String == "median" })

        let csv = try CLI.run(["export", String(id), "--format", "csv", "--db", db])
        #expect(csv.status == 0)
        let lines = csv.stdout.split(separator: "\n")
        #expect(lines.count == 1 + 16)
        #expect(lines[0].hasPrefix("run_id,benchmark,suite,op,variant,sequence"))
    }

    @Test func badEdgeThresholdExitsThreeWithLocation() throws {
        let dir = try CLI.tempDir()
        let suite = dir.appendingPathComponent("edge.toml")
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = """
        [suite]
        name = "e"
        [[edge]]
        name = "digits"
        model = "\(root.path)/data/digits/mlp.json"
        data = "\(root.path)/data/digits/digits.csv"
        exit_threshold = 1.2
        """
        try text.write(to: suite, atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", suite.path, "--db", dir.appendingPathComponent("x.sqlite").path, "--quiet"])
        #expect(r.status == 3)
        #expect(r.stderr.hasPrefix("error: \(suite.path):7:"), "\(r.stderr)")
        #expect(r.stderr.contains("exit_threshold must be in [0, 1]"))
    }

    /// The bad edge inputs through the CLI: a NaN weight in the model, an empty calibration
    /// split and a calibration row of the wrong shape each exit 3, naming the suite entry and the
    /// model or data file (with its line where the fault is on one line).
    @Test func badEdgeModelAndDataExitThreeNamingTheFile() throws {
        let dir = try CLI.tempDir()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let model = try String(contentsOf: root.appendingPathComponent("data/digits/mlp.json"), encoding: .utf8)
        let csv = try String(contentsOf: root.appendingPathComponent("data/digits/digits.csv"), encoding: .utf8)
        var csvLines = csv.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let calibrationLine = try #require(csvLines.firstIndex { $0.hasPrefix("calibration,") })
        // NaN written the way Python's json writes it, on line 1 of the one-line model file.
        let nanModel = model.replacingOccurrences(of: "\"bias\":[", with: "\"bias\":[NaN,", options: [], range: model.range(of: "\"bias\":["))
        let noCalibration = csvLines.filter { !$0.hasPrefix("calibration,") }.joined(separator: "\n")
        csvLines[calibrationLine] = String(csvLines[calibrationLine].dropLast(2))  // one pixel short
        let shortRow = csvLines.joined(separator: "\n")
        let cases: [(model: String, data: String, expect: String)] = [
            (nanModel, csv, "m.json:1: non-finite number 'NaN'"),
            (model, noCalibration, "d.csv: the calibration split is empty"),
            (model, shortRow, "d.csv:\(calibrationLine + 1): wrong shape: expected 66 columns"),
        ]
        for (i, c) in cases.enumerated() {
            let sub = dir.appendingPathComponent("case\(i)")
            try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
            try c.model.write(to: sub.appendingPathComponent("m.json"), atomically: true, encoding: .utf8)
            try c.data.write(to: sub.appendingPathComponent("d.csv"), atomically: true, encoding: .utf8)
            let suite = sub.appendingPathComponent("edge.toml")
            try "[suite]\nname = \"e\"\n[[edge]]\nname = \"digits\"\nmodel = \"m.json\"\ndata = \"d.csv\"\n"
                .write(to: suite, atomically: true, encoding: .utf8)
            let r = try CLI.run(["run", suite.path, "--db", sub.appendingPathComponent("x.sqlite").path, "--quiet"])
            #expect(r.status == 3, "case \(i): \(r.stderr)")
            #expect(r.stderr.hasPrefix("error: \(suite.path):"), "case \(i): \(r.stderr)")
            #expect(r.stderr.contains(sub.appendingPathComponent(c.expect).path), "case \(i): \(r.stderr)")
            #expect(!r.stderr.contains("Fatal error"))
        }
    }

    @Test func badSuiteExitsThreeWithLocation() throws {
        let dir = try CLI.tempDir()
        let suite = dir.appendingPathComponent("bad.toml")
        try tinySuite.replacingOccurrences(of: "k = 16", with: "k = -4").write(to: suite, atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", suite.path, "--db", dir.appendingPathComponent("x.sqlite").path, "--quiet"])
        #expect(r.status == 3)
        #expect(r.stderr.hasPrefix("error: \(suite.path):12:27: "), "\(r.stderr)")
        #expect(r.stderr.contains("shape.k"))
        #expect(!r.stderr.contains("Fatal error"))
    }

    @Test func usageErrorsExitThree() throws {
        let dir = try CLI.tempDir()
        let db = dir.appendingPathComponent("x.sqlite").path
        #expect(try CLI.run(["run", "no-such-suite", "--db", db]).status == 3)
        #expect(try CLI.run(["export", "latest", "--format", "gbench", "--db", db]).status == 3)
        #expect(try CLI.run(["export", "latest", "--format", "xml", "--db", db]).status == 3)
        #expect(try CLI.run(["run", "--counters", "bogus", "--db", db]).status == 3)
        #expect(try CLI.run(["nosuchcommand"]).status == 3)
        #expect(try CLI.run(["--help"]).status == 0)
    }

    @Test func garbageDatabaseExitsThree() throws {
        let dir = try CLI.tempDir()
        let db = dir.appendingPathComponent("garbage.sqlite")
        try Data(repeating: 0x41, count: 4096).write(to: db)
        let r = try CLI.run(["runs", "--db", db.path])
        #expect(r.status == 3)
        #expect(r.stderr.contains(db.path))
    }

    @Test func sigintKeepsCompletedSamplesAndMarksInterrupted() throws {
        let dir = try CLI.tempDir()
        let suite = dir.appendingPathComponent("long.toml")
        // Each op takes ~1 s (40 samples × 2 variants × ≥ 10 ms); the run is interrupted early on.
        try """
        [suite]
        name = "long"
        [defaults]
        batch_ms = 10
        samples = 40
        warmup_ms = 5
        [[op]]
        name = "a"
        kind = "bias_relu"
        shape = { rows = 8, cols = 256 }
        [[op]]
        name = "b"
        kind = "bias_relu"
        shape = { rows = 8, cols = 512 }
        [[op]]
        name = "c"
        kind = "bias_relu"
        shape = { rows = 8, cols = 1024 }
        [[op]]
        name = "d"
        kind = "bias_relu"
        shape = { rows = 8, cols = 2048 }
        [[op]]
        name = "e"
        kind = "bias_relu"
        shape = { rows = 16, cols = 2048 }
        [[op]]
        name = "f"
        kind = "bias_relu"
        shape = { rows = 32, cols = 2048 }
        """.write(to: suite, atomically: true, encoding: .utf8)
        let db = dir.appendingPathComponent("x.sqlite").path
        let (p, out, _) = try CLI.start(["run", suite.path, "--db", db, "--quiet"])
        // Wait until op "a" is stored (samples are written when an op completes).
        let store = try ResultStore(path: db)
        let deadline = Date().addingTimeInterval(60)
        var stored = 0
        while Date() < deadline {
            if let id = try? store.runs(limit: 1).first?.id, let s = try? store.samples(runID: id) { stored = s.count }
            if stored > 0 { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(stored >= 80, "op a should be complete before the signal")
        kill(p.processIdentifier, SIGINT)
        _ = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 130)
        let id = try #require(try store.runs(limit: 1).first?.id)
        #expect(try store.run(id: id)?.status == .interrupted)
        let samples = try store.samples(runID: id)
        #expect(samples.filter { $0.op == "a" }.count == 80)
        // Six ops of ~1 s each: the signal lands long before the last one.
        #expect(!samples.contains { $0.op == "f" })
    }
}
