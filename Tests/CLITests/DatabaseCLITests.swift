// The results database under concurrency and faults, end to end: many processes creating one
// database, reading commands on a read-only directory, a live run seen from another process, the
// busy timeout, and a run whose database is locked by another connection while it stores.
import Foundation
import GRDB
import TestSupport
import Testing
@testable import FuseBench

@Suite(.serialized) struct DatabaseCLITests {
    /// 24 processes open the same new database at once (`fusebench runs`): every one succeeds and
    /// the schema is migrated once, completely.
    @Test func concurrentProcessesCreateOneDatabase() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("new/fresh.sqlite").path
        let started = try (0..<24).map { _ in try CLI.start(["runs", "--db", db]) }
        for (i, (process, out, err)) in started.enumerated() {
            let o = out.fileHandleForReading.readDataToEndOfFile()
            let e = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "process \(i): \(String(decoding: e, as: UTF8.self))")
            #expect(String(decoding: o, as: UTF8.self).contains("status"))
        }
        let store = try ResultStore(path: db)
        let version = try store.schemaVersion()
        #expect(version >= 4)
        #expect(try store.journalMode() == "wal")
        let applied = try DatabaseQueue(path: db).read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
        #expect(applied.count == version && Set(applied).count == version)
    }

    /// Reading commands work on a database in a read-only directory (a read-only bind mount when
    /// running as root, where file modes do not stop anyone; else a mode-0555 directory, read as
    /// nobody when root),
    /// with no `-wal`/`-shm` present, and leave it unchanged.
    @Test func readingCommandsWorkOnAReadOnlyDirectory() throws {
        let dir = try CLI.tempDir()
        defer {
            chmod(dir.path, 0o755)
            try? FileManager.default.removeItem(at: dir)
        }
        let data = dir.appendingPathComponent("ro")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let db = data.appendingPathComponent("results.sqlite").path
        let runID: Int64
        do {
            let store = try ResultStore(path: db)
            runID = try store.beginRun(RunInfo(startedAt: Date(), status: .running, label: "ro-label", suites: ["s"], suiteHash: "h",
                                               gitCommit: nil, gitBranch: nil, gitDirty: nil, harnessVersion: Harness.version,
                                               machine: MachineProbe.fingerprint(isaHost: [], pmuAvailable: false), isaBuilt: [],
                                               counterMode: .none, counterNote: "", calibration: nil, configJSON: "{}", pid: getpid()))
            let opID = try store.recordOp(runID: runID, op: OpRecord(suite: "s", name: "g", kind: "gemm", shape: ["m": 4], dtype: "f32",
                                                                     flops: 128, bytes: 64, threshold: 0.05))
            try store.insertSamples(runID: runID, opID: opID, samples: (0..<4).map {
                Sample(key: BenchmarkKey(suite: "s", op: "g", variant: "reference"), sequence: $0, iterations: 10, wallNs: 1_000, cpuNs: 1_000, overheadNs: 10)
            })
            try store.finishRun(id: runID, status: .complete)
            try store.setBaseline(name: "main", runID: runID)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: data.path) == ["results.sqlite"])
        let before = try Data(contentsOf: URL(fileURLWithPath: db))
        let bin = try #require(CLI.binary).path
        // As root: a read-only bind mount (when mount namespaces are allowed) and a mode-0555
        // directory read as nobody; otherwise a mode-0555 directory.
        let modes = geteuid() != 0 ? ["chmod"] : (canUnshareMounts ? ["mount", "nobody"] : ["nobody"])
        for mode in modes {
            for args in [["runs"], ["baseline", "list"], ["export", "latest", "--format", "csv"], ["compare", "main", "latest"]] {
                let r: CLI.Result
                switch mode {
                case "mount":
                    // A private mount namespace: the read-only bind mount disappears with the process.
                    r = try runExecutable("/usr/bin/unshare", ["-m", "/bin/sh", "-c", "mount --bind -o ro \"$1\" \"$1\" && shift && exec \"$@\"",
                                                               "sh", data.path, bin] + args + ["--db", db])
                case "nobody":
                    chmod(data.path, 0o555)
                    r = try runExecutable("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", bin] + args + ["--db", db])
                    chmod(data.path, 0o755)
                default:
                    chmod(data.path, 0o555)
                    r = try CLI.run(args + ["--db", db])
                    chmod(data.path, 0o755)
                }
                #expect(r.status == 0, "\(mode) \(args): \(r.stderr)")
                if args == ["runs"] { #expect(r.stdout.contains("ro-label"), "\(mode)") }
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: data.path) == ["results.sqlite"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: db)) == before)
    }

    /// A live run is recognised by its owner lock from another process even when its recorded pid
    /// and start time mean nothing here (another PID namespace); once its process is killed, it is stale.
    @Test func liveRunInAnotherProcessIsNotStaleUntilKilled() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let suite = dir.appendingPathComponent("slow.toml")
        try """
        [suite]
        name = "slow"
        [defaults]
        batch_ms = 5
        samples = 400
        warmup_ms = 5
        [[op]]
        name = "gemm_32"
        kind = "gemm"
        shape = { m = 32, n = 32, k = 32 }
        """.write(to: suite, atomically: true, encoding: .utf8)
        let db = dir.appendingPathComponent("live.sqlite").path
        let (child, _, _) = try CLI.start(["run", suite.path, "--db", db, "--quiet", "--counters", "none"])
        defer { if child.isRunning { kill(child.processIdentifier, SIGKILL) } }
        var runID: Int64?
        let deadline = Date().addingTimeInterval(60)
        while runID == nil, Date() < deadline, child.isRunning {
            if FileManager.default.fileExists(atPath: db), let store = try? ResultStore(path: db, access: .readOnly),
               let run = try? store.runs().first(where: { $0.status == .running }) {
                runID = run.id
            } else {
                usleep(20_000)
            }
        }
        let id = try #require(runID, "the run never showed up as running")
        let store = try ResultStore(path: db)
        // As a process in another PID namespace would have recorded it: a pid that is not that process here.
        try DatabaseQueue(path: db).write { db in
            try db.execute(sql: "UPDATE runs SET pid = 999999999, pid_start = 1 WHERE id = ?", arguments: [id])
        }
        #expect(try store.markStaleRuns() == [])
        #expect(try store.run(id: id)?.status == .running)

        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        #expect(try store.markStaleRuns() == [id])
        #expect(try store.run(id: id)?.status == .stale)
    }

    /// The busy timeout comes from --db-busy-timeout or FUSEBENCH_DB_BUSY_TIMEOUT; a database that
    /// stays locked past it is an error naming the wait; a bad value is exit 3.
    @Test func busyTimeoutFlagAndVariable() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("busy.sqlite").path
        #expect(try CLI.run(["runs", "--db", db]).status == 0)
        let bad = try CLI.run(["runs", "--db", db, "--db-busy-timeout", "soon"])
        #expect(bad.status == 3 && bad.stderr.contains("--db-busy-timeout must be a number of seconds"), "\(bad.stderr)")
        let badEnv = try CLI.run(["runs", "--db", db], env: ["FUSEBENCH_DB_BUSY_TIMEOUT": "-2"])
        #expect(badEnv.status == 3 && badEnv.stderr.contains("FUSEBENCH_DB_BUSY_TIMEOUT"), "\(badEnv.stderr)")

        let lock = try DatabaseWriteLock(path: db)
        defer { try? lock.release() }
        // Reading is not blocked by a writer (WAL); writing waits the configured time, then says so.
        #expect(try CLI.run(["runs", "--db", db, "--db-busy-timeout", "0.2"]).status == 0)
        let flag = try CLI.run(["baseline", "rm", "nothing", "--db", db, "--db-busy-timeout", "0.2"])
        #expect(flag.status == 3 && flag.stderr.contains("locked by another process for more than 0.2 s"), "\(flag.stderr)")
        let env = try CLI.run(["baseline", "rm", "nothing", "--db", db], env: ["FUSEBENCH_DB_BUSY_TIMEOUT": "0.3"])
        #expect(env.status == 3 && env.stderr.contains("more than 0.3 s"), "\(env.stderr)")
    }

    /// Another connection holds the write lock while the run stores its first op: that op's samples
    /// are kept in memory (the op is reported, the run goes on) and stored with the next op once the
    /// lock is released. Nothing measured is lost and the run completes.
    @Test func runKeepsSamplesWhileTheDatabaseIsLocked() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("locked.sqlite").path
        let suite = try SuiteLoader.parse(text: tinySuite, path: dir.appendingPathComponent("tiny.toml").path)
        let plan = try BenchPlan(suites: [suite])
        var config = RunConfig()
        config.counterMode = .none
        config.quiet = true
        config.quick = true
        config.environment["FUSEBENCH_NO_COUNTERS"] = "1"
        let store = try ResultStore(path: db, busyTimeout: 0.1)
        let lines = LineLog()
        var lock: DatabaseWriteLock?
        let outcome = try BenchRunner(plan: plan, store: store, config: config) { line in
            lines.append(line)
            // Calibration is stored before it is announced: lock from then on, until an op is refused.
            if line.hasPrefix("harness overhead per sample"), lock == nil { lock = try? DatabaseWriteLock(path: db) }
            if line.contains(": not stored: ") { try? lock?.release() }
        }.run()
        #expect(lock != nil)
        #expect(outcome.status == .complete)
        let notStored = lines.all.filter { $0.contains(": not stored: ") }
        #expect(notStored.count == 1 && notStored.first?.contains("kept in memory") == true, "\(lines.all)")
        #expect(lines.all.contains { $0.contains("late, once the database was free again") }, "\(lines.all)")
        let samples = try store.samples(runID: outcome.runID)
        #expect(samples.count == 16)  // 2 ops × 2 variants × 4 samples
        #expect(Set(samples.map(\.op)) == ["gemm_16", "bias_relu_small"])
        #expect(try store.run(id: outcome.runID)?.status == .complete)
    }
}

/// Whether this process may create a mount namespace with a bind mount (root in most containers).
private let canUnshareMounts: Bool = {
    guard let r = try? runExecutable("/usr/bin/unshare", ["-m", "mount", "--bind", "/tmp", "/tmp"]) else {
        return false
    }
    return r.status == 0
}()

/// Runs `executable` with `args` (environment as `CLI.start` sets it) and collects its output.
private func runExecutable(_ executable: String, _ args: [String]) throws -> CLI.Result {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    p.currentDirectoryURL = CLI.packageRoot
    var e = ProcessInfo.processInfo.environment
    e["FUSEBENCH_NO_COUNTERS"] = "1"
    p.environment = e
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let r = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return CLI.Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: r, as: UTF8.self))
}

private final class LineLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}
