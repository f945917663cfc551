// The database under faults: refused files stay byte-identical, a locked database never loses
// measured results, reading works without writing, and run owners are identified reliably.
import Foundation
import GRDB
import TestSupport
import Testing
import BenchModel
@testable import Store

private func freshDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-safety-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

private let machine = MachineFingerprint(cpuModel: "Test CPU", logicalCPUs: 4, isaHost: ["avx2"], caches: [], kernel: "6.8",
                                         governor: "performance", perfEventParanoid: 2, virtualization: "none", pmuAvailable: false)

private func info(pid: Int32 = getpid()) -> RunInfo {
    RunInfo(startedAt: Date(), status: .running, label: "safety", suites: ["s"], suiteHash: "h", gitCommit: nil, gitBranch: nil,
            gitDirty: nil, harnessVersion: Harness.version, machine: machine, isaBuilt: [], counterMode: .none,
            counterNote: "", calibration: nil, configJSON: "{}", pid: pid)
}

private func op(_ name: String) -> OpRecord {
    OpRecord(suite: "s", name: name, kind: "gemm", shape: ["m": 4], dtype: "f32", flops: 1, bytes: 1, threshold: 0.05)
}

private func samples(_ op: String, _ count: Int, from start: Int = 0) -> [Sample] {
    (0..<count).map { Sample(key: BenchmarkKey(suite: "s", op: op, variant: "reference"), sequence: start + $0, iterations: 2, wallNs: 100, cpuNs: 90, overheadNs: 1) }
}

/// The bytes of every file in `dir` (name → SHA-free digest: the bytes themselves are compared).
private func snapshot(_ dir: URL) throws -> [String: Data] {
    var files: [String: Data] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) {
        files[name] = try Data(contentsOf: dir.appendingPathComponent(name))
    }
    return files
}

// MARK: - Refusing changes nothing

/// The three kinds of refusal, each in rollback and in WAL journal mode: the file's bytes and the
/// directory listing are the same afterwards (no journal-mode switch, no -wal/-shm left behind),
/// whether a writing or a reading command opened it.
@Test(arguments: ["newer-version", "unknown-migration", "other-program"], ["delete", "wal"])
func refusedDatabaseIsLeftByteIdentical(kind: String, journal: String) throws {
    let dir = try freshDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("refused.sqlite").path
    if kind != "other-program" {
        _ = try ResultStore(path: path)
    }
    let setup = try DatabaseQueue(path: path)
    try setup.writeWithoutTransaction { db in
        switch kind {
        case "newer-version": try db.execute(sql: "PRAGMA user_version = 99")
        case "unknown-migration": try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')")
        default: try db.execute(sql: "CREATE TABLE players (id INTEGER PRIMARY KEY); INSERT INTO players VALUES (7)")
        }
        _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = \(journal)")
    }
    try setup.close()
    let before = try snapshot(dir)
    #expect(before.keys.sorted() == ["refused.sqlite"])

    for access in [ResultStore.Access.readWrite, .readOnly] {
        #expect(throws: StoreError.self) { try ResultStore(path: path, access: access) }
        let after = try snapshot(dir)
        #expect(after.keys.sorted() == before.keys.sorted(), "\(kind)/\(journal)/\(access): files \(after.keys.sorted())")
        #expect(after == before, "\(kind)/\(journal)/\(access): the refused file changed")
    }
}

// MARK: - Concurrent creation

/// Many connections creating the same new database at once: all succeed, the schema is migrated
/// exactly once (threads here; the CLI test does it with processes).
@Test func concurrentOpensOfANewDatabaseAllSucceed() throws {
    let dir = try freshDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("new.sqlite").path
    let errors = ErrorList()
    DispatchQueue.concurrentPerform(iterations: 16) { i in
        do {
            let store = try ResultStore(path: path, access: i % 2 == 0 ? .readWrite : .readOnly)
            _ = try store.runs()
        } catch {
            errors.append("\(error)")
        }
    }
    #expect(errors.all.isEmpty)
    let store = try ResultStore(path: path)
    #expect(try store.schemaVersion() == Schema.knownVersion)
    #expect(try store.journalMode() == "wal")
    let applied = try store.sqliteRead { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid") }
    #expect(applied == Schema.migrations.map(\.identifier))
}

private final class ErrorList: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func append(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}

// MARK: - Busy timeout and locked databases

@Test func busyTimeoutIsConfigurableAndValidated() throws {
    #expect(try ResultStore.busyTimeout(environment: [:]) == nil)
    #expect(try ResultStore.busyTimeout(environment: ["FUSEBENCH_DB_BUSY_TIMEOUT": "0.25"]) == 0.25)
    for bad in ["", "-1", "nan", "inf", "1e9", "five"] {
        #expect(throws: StoreError.self) { try ResultStore.busyTimeout(environment: ["FUSEBENCH_DB_BUSY_TIMEOUT": bad]) }
    }
    let dir = try freshDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("busy.sqlite").path
    let store = try ResultStore(path: path, busyTimeout: 0.2)
    let holder = try DatabaseWriteLock(path: path)
    let error = #expect(throws: StoreError.self) { try store.beginRun(info()) }
    #expect(error == .locked(path: path, seconds: 0.2))
    #expect(error?.description.contains("more than 0.2 s") == true)
    try holder.release()
    _ = try store.beginRun(info())
}

/// While another connection holds the write lock past the busy timeout, an op's results are kept
/// in memory (the op fails with a message) and stored with the next op once the lock is gone.
@Test func lockedDatabaseKeepsResultsAndStoresThemLater() throws {
    let dir = try freshDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("locked.sqlite").path
    let store = try ResultStore(path: path, busyTimeout: 0.1)
    let runID = try store.beginRun(info())
    let spool = OpResultSpool(store: store)

    let holder = try DatabaseWriteLock(path: path)
    let first = OpResults(runID: runID, op: op("a"), samples: samples("a", 5),
                          telemetry: [TelemetryRow(sampleSequence: 0, kind: "temperature", label: "cpu", value: 50, unit: "C")])
    let line = try #require(try spool.store(first))
    #expect(line.contains("s/a: not stored") && line.contains("locked") && line.contains("kept in memory"))
    #expect(spool.pending == [first])
    try holder.release()

    let second = OpResults(runID: runID, op: op("b"), samples: samples("b", 3, from: 5))
    let late = try #require(try spool.store(second))
    #expect(late.contains("stored the results of s/a late"))
    #expect(spool.pending.isEmpty)
    #expect(try spool.finish() == nil)
    #expect(try store.samples(runID: runID).count == 8)
    #expect(try store.ops(runID: runID).map(\.name) == ["a", "b"])
    #expect(try store.telemetry(runID: runID).count == 1)
}

/// An op's decision log and run notes are part of its results: kept while the database is
/// locked, stored with them (in the same transaction) once it is free.
@Test func lockedDatabaseKeepsDecisionsAndRunNotes() throws {
    let dir = try freshDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("locked-decisions.sqlite").path
    let store = try ResultStore(path: path, busyTimeout: 0.05)
    let runID = try store.beginRun(info())
    let spool = OpResultSpool(store: store)
    let decision = FusionDecision(suite: "s", model: "m", group: ["fc", "relu"], rule: "gemm-epilogue", outcome: .accepted, reason: "ok")
    let key = RunMetaKey.fusionBytes(BenchmarkKey(suite: "s", op: "m", variant: "fused"))
    let holder = try DatabaseWriteLock(path: path)
    let results = OpResults(runID: runID, op: op("m"), samples: samples("m", 2), fusionDecisions: [decision], runMeta: [key: "1024.0"])
    let line = try #require(try spool.store(results))
    #expect(line.contains("s/m: not stored"))
    try holder.release()
    #expect(try store.fusionDecisions(runID: runID).isEmpty)
    #expect(try spool.finish() == "stored the results of s/m late, once the database was free again")
    #expect(try store.fusionDecisions(runID: runID) == [decision])
    #expect(try store.runMeta(runID: runID)[key] == "1024.0")
    // A side file written by an older build (no decisions, no notes) still decodes.
    var old = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(results)) as? [String: Any])
    old["fusionDecisions"] = nil
    old["runMeta"] = nil
    let decoded = try JSONDecoder().decode(OpResults.self, from: JSONSerialization.data(withJSONObject: old))
    #expect(decoded.fusionDecisions.isEmpty && decoded.runMeta.isEmpty && decoded.samples == results.samples)
}

/// A database locked until the end of the run: the results go to a side file named in the error.
@Test func databaseLockedToTheEndWritesASideFile() throws {
    let dir = try freshDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("stuck.sqlite").path
    let store = try ResultStore(path: path, busyTimeout: 0.05)
    let runID = try store.beginRun(info())
    let spool = OpResultSpool(store: store)
    let holder = try DatabaseWriteLock(path: path)
    defer { try? holder.release() }
    let results = OpResults(runID: runID, op: op("a"), samples: samples("a", 4))
    _ = try spool.store(results)
    let error = #expect(throws: StoreError.self) { try spool.finish() }
    guard case let .keptInSideFile(errorPath, sideFile, count, reason) = error else {
        Issue.record("expected keptInSideFile, got \(String(describing: error))")
        return
    }
    #expect(errorPath == path && count == 4 && reason.contains("locked"))
    #expect(error?.description.contains(sideFile) == true)
    let kept = try JSONDecoder().decode([OpResults].self, from: Data(contentsOf: URL(fileURLWithPath: sideFile)))
    #expect(kept == [results])
    #expect(spool.pending.isEmpty)
}

// MARK: - Reading without writing

/// A reading open of an up-to-date database changes nothing, leaves no -wal/-shm, and refuses writes.
@Test func readingOpenWritesNothing() throws {
    let dir = try freshDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("r.sqlite").path
    do {
        let store = try ResultStore(path: path)
        let id = try store.beginRun(info())
        try store.finishRun(id: id, status: .complete)
    }
    // Rollback journal mode: a writing open would switch it to WAL.
    let setup = try DatabaseQueue(path: path)
    try setup.writeWithoutTransaction { db in _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = DELETE") }
    try setup.close()
    let before = try snapshot(dir)
    do {
        let reader = try ResultStore(path: path, access: .readOnly)
        #expect(reader.isReadOnly)
        #expect(try reader.runs().count == 1)
        #expect(throws: StoreError.self) { try reader.beginRun(info()) }
    }
    #expect(try snapshot(dir) == before)
}

/// A reading open of a file written by an older fusebench migrates it when it can (it is writable).
@Test func readingOpenMigratesAnOutdatedWritableFile() throws {
    let dir = try freshDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("old.sqlite").path
    _ = try ResultStore(path: path)
    let setup = try DatabaseQueue(path: path)
    try setup.writeWithoutTransaction { db in
        try db.execute(sql: """
            DELETE FROM grdb_migrations WHERE identifier = '\(Schema.migrations[3].identifier)';
            ALTER TABLE runs DROP COLUMN owner_lock; ALTER TABLE runs DROP COLUMN pid_start; ALTER TABLE runs DROP COLUMN boot_id;
            PRAGMA user_version = 3;
            """)
    }
    try setup.close()
    let reader = try ResultStore(path: path, access: .readOnly)
    #expect(try reader.schemaVersion() == Schema.knownVersion)
    #expect(try reader.runs().isEmpty)
}

// MARK: - Run owners

/// A run whose recorded pid is alive but belongs to another process (its start time differs) is
/// stale; so is one from another boot; the real owner's identity is alive.
@Test func ownerIdentityUsesStartTimeAndBootID() throws {
    let store = try ResultStore.inMemory()
    let me = getpid()
    let start = try #require(ProcessIdentity.startTicks(pid: me))
    let boot = try #require(ProcessIdentity.bootID())
    #expect(store.ownerAlive(RunOwner(pid: me, bootID: boot, startTicks: start)))
    #expect(!store.ownerAlive(RunOwner(pid: me, bootID: boot, startTicks: start + 1)))   // pid reused
    #expect(!store.ownerAlive(RunOwner(pid: me, bootID: "another-boot", startTicks: start)))
    #expect(!store.ownerAlive(RunOwner(pid: Int32.max, bootID: boot, startTicks: start)))
    #expect(store.ownerAlive(RunOwner(pid: me)))  // before v4: the pid alone

    let id = try store.beginRun(info(pid: me))
    let owner = try #require(try store.runOwner(id: id))
    #expect(owner.startTicks == start && owner.bootID == boot && owner.lockOffset == nil)  // in memory: no lock
    try store.sqliteWrite { db in try db.execute(sql: "UPDATE runs SET pid_start = pid_start + 1 WHERE id = ?", arguments: [id]) }
    #expect(try store.markStaleRuns() == [id])
}

/// `/proc` entries are read through `BoundedFile`: a FIFO in their place is refused (not read as
/// an empty identity) and never blocks.
@Test func processIdentityReadsOnlyRegularFiles() throws {
    let dir = try freshDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let fifo = dir.appendingPathComponent("stat").path
    #expect(mkfifo(fifo, 0o600) == 0)
    #expect(ProcessIdentity.readSmallFile(fifo) == nil)
    let file = dir.appendingPathComponent("boot_id").path
    try String(repeating: "x", count: 5000).write(toFile: file, atomically: true, encoding: .utf8)
    #expect(ProcessIdentity.readSmallFile(file)?.count == 4096)
}

/// A file run's owner lock is what counts: held (here by another store of this process) means alive
/// even when the recorded pid means nothing; released (finishRun) means gone.
@Test func ownerLockDecidesLiveness() throws {
    let dir = try freshDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("owners.sqlite").path
    let owner = try ResultStore(path: path)
    let id = try owner.beginRun(info(pid: 999_999_999))  // no such pid here
    let recorded = try #require(try owner.runOwner(id: id))
    #expect(recorded.lockOffset == RunLockFile.base + id)
    let checker = try ResultStore(path: path)
    #expect(try checker.markStaleRuns() == [])
    #expect(try checker.run(id: id)?.status == .running)
    // The lock is released with the run; a run still marked running without its lock is stale.
    try owner.finishRun(id: id, status: .complete)
    try owner.sqliteWrite { db in try db.execute(sql: "UPDATE runs SET status = 'running' WHERE id = ?", arguments: [id]) }
    #expect(try checker.markStaleRuns() == [id])
}
