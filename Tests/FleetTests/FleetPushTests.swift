// Push between engines with a real PostgreSQL server: SQLite → PostgreSQL → SQLite loses nothing,
// pushing twice changes nothing, and 8 processes running and pushing into one server at once lose
// nothing (run counts and sample counts checked against their spools).
#if Fleet
import Foundation
import XCTest
import BenchModel
import Store
import StorePostgres
import TestSupport

final class FleetPushTests: XCTestCase {
    static let slot = PostgresServerSlot()

    override class func tearDown() {
        slot.stop()
        super.tearDown()
    }

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-fleet-push-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A SQLite store with `runs` finished runs (two ops, counters, latencies, a telemetry reading, a baseline).
    private func makeSource(_ path: String, runs: Int) throws -> ResultStore {
        let store = try ResultStore(path: path)
        let machine = MachineFingerprint(cpuModel: "Fleet CPU", logicalCPUs: 2, isaHost: ["avx2"], caches: [], kernel: "6.8",
                                         governor: "performance", perfEventParanoid: 2, virtualization: "none", pmuAvailable: false)
        for r in 0..<runs {
            let id = try store.beginRun(RunInfo(startedAt: Date(timeIntervalSince1970: 1_700_000_000 + Double(r)), status: .running,
                                                label: "fleet", suites: ["s"], suiteHash: "h", gitCommit: "abc", gitBranch: "main",
                                                gitDirty: false, harnessVersion: Harness.version, machine: machine, isaBuilt: ["avx2"],
                                                counterMode: .none, counterNote: "", calibration: nil, configJSON: "{}", pid: getpid()))
            try store.setRunMeta(runID: id, key: "note", value: "run \(r)")
            try store.setRunTags(runID: id, tags: ["host": "h\(r)"])
            for name in ["gemm", "relu"] {
                let opID = try store.recordOp(runID: id, op: OpRecord(suite: "s", name: name, kind: "gemm", shape: ["m": 4], dtype: "f32",
                                                                      flops: 8, bytes: 16, threshold: 0.05))
                try store.insertSamples(runID: id, opID: opID, samples: (0..<10).map { i in
                    Sample(key: BenchmarkKey(suite: "s", op: name, variant: i % 2 == 0 ? "reference" : "optimized"), sequence: i,
                           iterations: 2, wallNs: 100 + Double(i), cpuNs: 90, overheadNs: 1,
                           counters: [CounterValue(event: "instructions", value: 1000, raw: 1000, timeEnabled: 10, timeRunning: 10, backend: .hw)],
                           iterationLatencies: i == 0 ? IterationLatencies(ns: [40, 60], labels: [0, 1], overheadNs: 2) : nil)
                })
            }
            try store.insertTelemetry(runID: id, rows: [TelemetryRow(sampleSequence: 1, kind: "temperature", label: "cpu", value: 50, unit: "C")])
            try store.finishRun(id: id, status: .complete)
            if r == 0 { try store.setBaseline(name: "main", runID: id) }
        }
        return store
    }

    /// Per run UUID: samples (variant, sequence, wall) with their counters, as read through the store API.
    private func contents(_ store: ResultStore) throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        for (id, uuid) in try store.runUUIDs() {
            out[uuid] = try store.samples(runID: id).map { s in
                "\(s.key) #\(s.sequence) \(s.wallNs) \(s.counters.map { "\($0.event)=\($0.value)" }.joined(separator: ","))"
            }.sorted() + (try store.runMeta(runID: id)).map { "meta \($0.key)=\($0.value)" }.sorted()
        }
        return out
    }

    func testSQLiteToPostgresToSQLiteLosesNothingAndPushingTwiceChangesNothing() throws {
        let (server, name) = try Self.slot.freshDatabase(self)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = try makeSource(dir.appendingPathComponent("source.sqlite").path, runs: 3)
        let postgres = try ResultStore(engine: PostgresEngine.open(url: server.url(database: name), access: .readWrite, timeout: 5))
        let ids = try source.runUUIDs().map(\.id)
        let first = try source.copyRuns(ids, to: postgres)
        XCTAssertEqual(first.map(\.line).filter { $0.hasSuffix("pushed 20 samples") }.count, 3, "\(first)")
        let again = try source.copyRuns(ids, to: postgres)
        XCTAssertTrue(again.allSatisfy { if case .alreadyPresent = $0.outcome { return true } else { return false } })
        XCTAssertEqual(try contents(postgres), try contents(source))
        // Baselines copy too (merge's path), and a second push into PostgreSQL adds ids after the first.
        XCTAssertEqual(try RunTransfer(from: source, to: postgres).copyBaselines().copied, 1)
        // And back: PostgreSQL → a new SQLite file.
        let back = try ResultStore(path: dir.appendingPathComponent("back.sqlite").path)
        let pgIDs = try postgres.runUUIDs().map(\.id)
        _ = try postgres.copyRuns(pgIDs, to: back)
        XCTAssertEqual(try contents(back), try contents(source))
        for (id, uuid) in try source.runUUIDs() {
            var info = try XCTUnwrap(try back.run(id: XCTUnwrap(try back.runID(uuid: uuid))))
            info.id = id
            XCTAssertEqual(info, try source.run(id: id))
        }
    }

    /// 8 processes `fusebench run ... --db postgres://... --spool OWN` at once: 8 runs arrive, with
    /// exactly the samples their spools hold, and every process exits 0.
    func testEightProcessesRunAndPushIntoOneServerAtOnce() throws {
        let (server, name) = try Self.slot.freshDatabase(self)
        let url = server.url(database: name)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = try XCTUnwrap(Self.binary, "fusebench executable not found next to the test bundle")
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let spools = (0..<8).map { dir.appendingPathComponent("spool\($0).sqlite").path }
        var processes: [(Process, Pipe, Pipe)] = []
        for spool in spools {
            let p = Process()
            p.executableURL = binary
            p.arguments = ["run", root.appendingPathComponent("suites/smoke.toml").path, "--filter", "smoke/bias_relu_64k", "--quick",
                           "--quiet", "--counters", "none", "--db", url, "--spool", spool]
            p.currentDirectoryURL = root
            var env = ProcessInfo.processInfo.environment
            env["FUSEBENCH_NO_COUNTERS"] = "1"
            p.environment = env
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            processes.append((p, out, err))
        }
        for (i, (p, out, err)) in processes.enumerated() {
            _ = out.fileHandleForReading.readDataToEndOfFile()
            let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, "process \(i): \(e)")
        }
        var expected: [String: Int] = [:]
        for spool in spools {
            let store = try ResultStore(path: spool, access: .readOnly)
            for (id, uuid) in try store.runUUIDs() { expected[uuid] = try store.samples(runID: id).count }
        }
        XCTAssertEqual(expected.count, 8)
        let postgres = try ResultStore(engine: PostgresEngine.open(url: url, access: .readOnly, timeout: 5))
        var found: [String: Int] = [:]
        for (id, uuid) in try postgres.runUUIDs() { found[uuid] = try postgres.samples(runID: id).count }
        XCTAssertEqual(found, expected)
        XCTAssertEqual(found.values.reduce(0, +), expected.values.reduce(0, +))
    }

    /// The `fusebench` executable SwiftPM built for the tests.
    static var binary: URL? { BuiltExecutable.fusebench }
}
#endif
