// The simulated-counter cache (`sim_cache`): callgrind's counts are deterministic for a given
// executable, op, variant, seed, iteration count and simulator, so a run reuses what an earlier
// run counted instead of running callgrind again. The key text is built by the runner
// (`SimCacheKey`); this file only stores and finds entries.
import Foundation
import BenchModel

/// What one callgrind run counted, as the cache keeps it.
public struct SimCacheEntry: Sendable, Hashable {
    /// The canonical key text; equal keys mean identical counts.
    public var key: String
    /// Content hash of the executable callgrind ran (also part of `key`); an entry is only ever
    /// served for this hash.
    public var binaryHash: String
    /// `SUITE/OP/VARIANT` it was counted for.
    public var benchmark: BenchmarkKey
    /// Iterations counted (the counters are totals over them).
    public var iterations: Int
    /// Wall time of the callgrind run (ns).
    public var wallNs: Double
    /// Counter totals (backend `.sim`).
    public var counters: [CounterValue]
    /// Per-function profile with demangled names, nil when it was not kept.
    public var functionProfile: FunctionProfile?
    /// The simulated cache hierarchy (`desc:` lines).
    public var caches: [String]
    /// The run that counted it, nil when unknown.
    public var sourceRunID: Int64?

    /// An entry of `key` for `benchmark`, counted over `iterations`.
    public init(key: String, binaryHash: String, benchmark: BenchmarkKey, iterations: Int, wallNs: Double, counters: [CounterValue],
                functionProfile: FunctionProfile?, caches: [String], sourceRunID: Int64?) {
        self.key = key
        self.binaryHash = binaryHash
        self.benchmark = benchmark
        self.iterations = iterations
        self.wallNs = wallNs
        self.counters = counters
        self.functionProfile = functionProfile
        self.caches = caches
        self.sourceRunID = sourceRunID
    }
}

extension ResultStore {
    /// The cached entry of `key` counted with the executable of content hash `binaryHash`, or nil.
    /// An entry whose stored hash differs (it cannot, the key contains it) is never returned; a
    /// row that cannot be decoded counts as absent.
    public func simCacheEntry(key: String, binaryHash: String) throws -> SimCacheEntry? {
        try read { db in
            guard try Self.tableExists(db, "sim_cache"), let row = try db.fetchOne(sql: """
                SELECT binary_hash, benchmark, iterations, wall_ns, counters_json, profile_json, caches, source_run_id
                FROM sim_cache WHERE key = ? AND binary_hash = ?
                """, arguments: [key, binaryHash]) else { return nil }
            let decoder = JSONDecoder()
            guard let benchmark = BenchmarkKey.parse(try row.get(at: 1) as String),
                  let counters = try? decoder.decode([CounterValue].self, from: Data((try row.get(at: 4) as String).utf8)) else { return nil }
            var profile: FunctionProfile?
            if let text = try row.get(at: 5) as String? {
                guard let p = try? decoder.decode(FunctionProfile.self, from: Data(text.utf8)) else { return nil }
                profile = p
            }
            guard let caches = try? decoder.decode([String].self, from: Data((try row.get(at: 6) as String).utf8)) else { return nil }
            return SimCacheEntry(key: key, binaryHash: try row.get(at: 0), benchmark: benchmark, iterations: try row.get(at: 2),
                                 wallNs: try row.get(at: 3), counters: counters, functionProfile: profile, caches: caches,
                                 sourceRunID: try row.get(at: 7))
        }
    }

    /// Stores `entry`, replacing an entry of the same key.
    public func storeSimCacheEntry(_ entry: SimCacheEntry) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let counters = String(decoding: try encoder.encode(entry.counters), as: UTF8.self)
        let profile = try entry.functionProfile.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let caches = String(decoding: try encoder.encode(entry.caches), as: UTF8.self)
        try write { db in
            try db.execute(sql: """
                INSERT INTO sim_cache
                    (key, binary_hash, benchmark, iterations, wall_ns, counters_json, profile_json, caches, source_run_id, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (key) DO UPDATE SET
                    binary_hash = excluded.binary_hash, benchmark = excluded.benchmark, iterations = excluded.iterations,
                    wall_ns = excluded.wall_ns, counters_json = excluded.counters_json, profile_json = excluded.profile_json,
                    caches = excluded.caches, source_run_id = excluded.source_run_id, created_at = excluded.created_at
                """, arguments: [entry.key, entry.binaryHash, entry.benchmark.description, entry.iterations, entry.wallNs,
                                 counters, profile, caches, entry.sourceRunID,
                                 Date().timeIntervalSince1970])
        }
    }

    /// Number of cached simulated samples (all binaries).
    public func simCacheCount() throws -> Int {
        try read { db in
            try Self.tableExists(db, "sim_cache") ? try db.fetchOne(Int.self, sql: "SELECT COUNT(*) FROM sim_cache") ?? 0 : 0
        }
    }
}
