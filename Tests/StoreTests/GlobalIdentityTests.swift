// Schema v16's global identity: run UUIDs (new runs and runs stored before v16) and machine
// fingerprint ids (filled in when a store is opened read-write).
import Foundation
import GRDB
import Testing
import BenchModel
@testable import Store

private func identityMachine(_ cpu: String) -> MachineFingerprint {
    MachineFingerprint(cpuModel: cpu, logicalCPUs: 2, isaHost: ["avx2"], caches: [], kernel: "6.8", governor: "performance",
                       perfEventParanoid: 2, virtualization: "none", pmuAvailable: false)
}

private func identityRun(_ cpu: String, uuid: String = "") -> RunInfo {
    RunInfo(startedAt: Date(timeIntervalSince1970: 1_700_000_000), status: .running, label: "identity", suites: ["s"],
            suiteHash: "h", gitCommit: nil, gitBranch: nil, gitDirty: nil, harnessVersion: Harness.version,
            machine: identityMachine(cpu), isaBuilt: [], counterMode: .none, counterNote: "", calibration: nil,
            configJSON: "{}", pid: getpid(), uuid: uuid)
}

/// A lower-case version-4 UUID: 8-4-4-4-12 hex digits, version nibble 4, variant 8/9/a/b.
private func isVersion4(_ text: String) -> Bool {
    let parts = text.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
    guard parts.map(\.count) == [8, 4, 4, 4, 12] else { return false }
    guard text.allSatisfy({ $0 == "-" || ("0"..."9").contains($0) || ("a"..."f").contains($0) }) else { return false }
    return parts[2].hasPrefix("4") && "89ab".contains(parts[3].prefix(1))
}

@Test func newRunsGetDistinctUUIDsAndAreFoundByThem() throws {
    let store = try ResultStore.inMemory()
    let first = try store.beginRun(identityRun("A"))
    let second = try store.beginRun(identityRun("A"))
    let given = try store.beginRun(identityRun("B", uuid: "0d6c1b9e-2f4a-4b8c-9d0e-1f2a3b4c5d6e"))
    let uuids = try [first, second, given].map { try #require(try store.run(id: $0)).uuid }
    #expect(uuids.allSatisfy(isVersion4))
    #expect(Set(uuids).count == 3)
    #expect(uuids[2] == "0d6c1b9e-2f4a-4b8c-9d0e-1f2a3b4c5d6e")
    #expect(try store.runID(uuid: uuids[1].uppercased()) == second)
    #expect(try store.runID(uuid: "00000000-0000-4000-8000-000000000000") == nil)
    #expect(try store.runUUIDs().map(\.uuid) == uuids)
    // A UUID is unique in a database: storing a run under a taken one fails.
    #expect(throws: StoreError.self) { try store.beginRun(identityRun("B", uuid: uuids[0])) }
}

@Test func newMachinesGetTheirFingerprintID() throws {
    let store = try ResultStore.inMemory()
    _ = try store.beginRun(identityRun("A"))
    let row = try #require(try store.engine.read { db in try db.fetchOne(sql: "SELECT fingerprint, fingerprint_id FROM machines") })
    let fingerprint: String = try row.get("fingerprint")
    let id: String = try row.get("fingerprint_id")
    #expect(id == ResultStore.fingerprintID(fingerprint))
    #expect(id.count == 16)
    #expect(id == ContentHash.fnv1a64Hex(Data(fingerprint.utf8)))
}

/// A file written before v16 (no uuid / fingerprint_id columns) is migrated: every run gets a
/// distinct version-4 UUID, and the read-write open fills in the machines' fingerprint ids.
@Test func v15FileGetsRunUUIDsAndFingerprintIDs() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-identity-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("v15.sqlite").path
    do {
        let store = try ResultStore(path: path)
        for cpu in ["A", "B", "A", "C"] {
            let id = try store.beginRun(identityRun(cpu))
            try store.finishRun(id: id, status: .complete)
        }
    }
    let queue = try DatabaseQueue(path: path)
    try queue.writeWithoutTransaction { db in
        try db.execute(sql: """
            DROP INDEX runs_uuid; ALTER TABLE runs DROP COLUMN uuid;
            DROP INDEX machines_fingerprint_id; ALTER TABLE machines DROP COLUMN fingerprint_id;
            DELETE FROM grdb_migrations WHERE identifier = 'v16-global-identity';
            PRAGMA user_version = \(Schema.knownVersion - 1);
            """)
    }
    try queue.close()

    let store = try ResultStore(path: path)
    #expect(try store.schemaVersion() == Schema.knownVersion)
    let uuids = try store.runUUIDs().map(\.uuid)
    #expect(uuids.count == 4 && Set(uuids).count == 4)
    #expect(uuids.allSatisfy(isVersion4))
    let machines = try store.engine.read { db in try db.fetchAll(sql: "SELECT fingerprint, fingerprint_id FROM machines") }
    #expect(machines.count == 3)
    for row in machines {
        #expect(try row.get("fingerprint_id", as: String.self) == ResultStore.fingerprintID(try row.get("fingerprint")))
    }
}

/// A read-only open of a migrated file whose fingerprint ids are missing writes nothing.
@Test func readOnlyOpenLeavesFingerprintIDsAlone() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-identity-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("ro.sqlite").path
    do {
        let store = try ResultStore(path: path)
        _ = try store.beginRun(identityRun("A"))
        _ = try store.engine.write { db in try db.execute(sql: "UPDATE machines SET fingerprint_id = ''") }
    }
    let reader = try ResultStore(path: path, access: .readOnly)
    #expect(try reader.engine.read { db in try db.fetchOne(String.self, sql: "SELECT fingerprint_id FROM machines") } == "")
    let writer = try ResultStore(path: path)
    #expect(try writer.engine.read { db in try db.fetchOne(String.self, sql: "SELECT fingerprint_id FROM machines") }?.count == 16)
}
