// Identities that mean the same in every database (schema v16): a run's UUID and a machine's
// fingerprint id. Row ids (`runs.id`, `machines.id`, ...) stay local to one database; `push` and
// `merge` (RunTransfer.swift) match runs by UUID and machines by fingerprint.
import Foundation
import BenchModel

extension ResultStore {
    /// A new run identity: a random (version 4) UUID in lower case, e.g.
    /// `3f2c9a4e-8b1d-4c6f-9e2a-0b7d5c3e1f48`.
    public static func newRunUUID() -> String {
        UUID().uuidString.lowercased()
    }

    /// A machine's fingerprint id: the FNV-1a 64 content hash (`ContentHash.fnv1a64Hex`, 16 hex
    /// digits) of its fingerprint JSON text as stored in `machines.fingerprint` (sorted keys).
    /// `ContentHash` offers no SHA-256; a 64-bit hash is ample for telling machines apart.
    public static func fingerprintID(_ fingerprintJSON: String) -> String {
        ContentHash.fnv1a64Hex(Data(fingerprintJSON.utf8))
    }

    /// Fills in `machines.fingerprint_id` of rows stored before schema v16 (SQL migrations cannot
    /// hash), inside the caller's write transaction. One UPDATE per machine row still at '' (a
    /// tiny table); nothing is written when every row has its id. Returns the rows filled.
    @discardableResult
    static func fillFingerprintIDs(_ db: any StoreDatabase) throws -> Int {
        let pending = try db.fetchAll(sql: "SELECT id, fingerprint FROM machines WHERE fingerprint_id = ''")
        for row in pending {
            let id: Int64 = try row.get("id")
            let fingerprint: String = try row.get("fingerprint")
            try db.execute(sql: "UPDATE machines SET fingerprint_id = ? WHERE id = ?",
                           arguments: [fingerprintID(fingerprint), id])
        }
        return pending.count
    }

    /// Fills in missing fingerprint ids (see `fillFingerprintIDs(_:)`) when a read shows some;
    /// a store whose rows all have theirs is not written to. Called by read-write opens.
    func fillFingerprintIDsIfNeeded() throws {
        let pending = try engine.read { db in
            try db.fetchOne(Int64.self, sql: "SELECT COUNT(*) FROM machines WHERE fingerprint_id = ''") ?? 0
        }
        if pending > 0 {
            _ = try engine.write { db in try Self.fillFingerprintIDs(db) }
        }
    }

    /// Run id and UUID pairs, for callers that match runs across databases.
    public func runUUIDs() throws -> [(id: Int64, uuid: String)] {
        try engine.read { db in
            try db.fetchAll(sql: "SELECT id, uuid FROM runs ORDER BY id").map { row in
                (try row.get("id", as: Int64.self), try row.get("uuid", as: String.self))
            }
        }
    }

    /// The id of the run whose UUID is `uuid` (case-insensitive), or nil.
    public func runID(uuid: String) throws -> Int64? {
        try engine.read { db in
            try db.fetchOne(Int64.self, sql: "SELECT id FROM runs WHERE uuid = ?", arguments: [uuid.lowercased()])
        }
    }
}
