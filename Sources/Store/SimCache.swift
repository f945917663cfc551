// The simulated-counter cache (`sim_cache`): callgrind's counts are deterministic for a given
// executable, op, variant, seed, iteration count and simulator, so a run reuses what an earlier
// run counted instead of running callgrind again. The key text is built by the runner
// (`SimCacheKey`); this file only stores and finds entries.
import Foundation
import GRDB
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
        try sqliteRead { db in
            let exists = try Bool.fetchOne(db, sql: """
                SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sim_cache')
                """) ?? false
            guard exists, let row = try Row.fetchOne(db, sql: """
                SELECT binary_hash, benchmark, iterations, wall_ns, counters_json, profile_json, caches, source_run_id
                FROM sim_cache WHERE key = ? AND binary_hash = ?
                """, arguments: [key, binaryHash]) else { return nil }
            let decoder = JSONDecoder()
            guard let benchmark = BenchmarkKey.parse(row[1] as String),
                  let counters = try? decoder.decode([CounterValue].self, from: Data((row[4] as String).utf8)) else { return nil }
            var profile: FunctionProfile?
            if let text = row[5] as String? {
                guard let p = try? decoder.decode(FunctionProfile.self, from: Data(text.utf8)) else { return nil }
                profile = p
            }
            guard let caches = try? decoder.decode([String].self, from: Data((row[6] as String).utf8)) else { return nil }
            return SimCacheEntry(key: key, binaryHash: row[0], benchmark: benchmark, iterations: row[2], wallNs: row[3],
                                 counters: counters, functionProfile: profile, caches: caches, sourceRunID: row[7])
        }
    }

    /// Stores `entry`, replacing an entry of the same key.
    public func storeSimCacheEntry(_ entry: SimCacheEntry) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let counters = String(decoding: try encoder.encode(entry.counters), as: UTF8.self)
        let profile = try entry.functionProfile.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let caches = String(decoding: try encoder.encode(entry.caches), as: UTF8.self)
        try sqliteWrite { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO sim_cache
                    (key, binary_hash, benchmark, iterations, wall_ns, counters_json, profile_json, caches, source_run_id, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [entry.key, entry.binaryHash, entry.benchmark.description, entry.iterations, entry.wallNs,
                                 counters, profile, caches, entry.sourceRunID,
                                 Date().timeIntervalSince1970])
        }
    }

    /// Number of cached simulated samples (all binaries).
    public func simCacheCount() throws -> Int {
        try sqliteRead { db in
            let exists = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sim_cache')") ?? false
            return exists ? try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sim_cache") ?? 0 : 0
        }
    }
}
