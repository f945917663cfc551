// The simulated-counter cache table (`sim_cache`, migration v15-sim-cache): entries read back
// exactly, replace on the same key, and are never served for another binary hash.
import Foundation
import Testing
import BenchModel
@testable import Store

@Suite struct SimCacheStoreTests {
    static func entry(key: String = "k1", hash: String = "00000000000000aa", instructions: UInt64 = 142_484) -> SimCacheEntry {
        SimCacheEntry(key: key, binaryHash: hash, benchmark: BenchmarkKey(suite: "core", op: "br", variant: "optimized"), iterations: 4,
                      wallNs: 1.5e9,
                      counters: [CounterValue(event: "instructions", value: Double(instructions), raw: instructions, timeEnabled: 0,
                                              timeRunning: 0, backend: .sim)],
                      functionProfile: SimFunctionsStoreTests.profile, caches: ["D1 cache: 32768 B, 64 B, 8-way associative"],
                      sourceRunID: 7)
    }

    @Test func roundTripReplaceAndBinaryHash() throws {
        let store = try ResultStore.inMemory()
        #expect(Schema.migrations.contains { $0.identifier == "v15-sim-cache" })
        #expect(try store.simCacheEntry(key: "k1", binaryHash: "00000000000000aa") == nil)
        try store.storeSimCacheEntry(Self.entry())
        #expect(try store.simCacheEntry(key: "k1", binaryHash: "00000000000000aa") == Self.entry())
        // Another binary never gets it, even under the same key text.
        #expect(try store.simCacheEntry(key: "k1", binaryHash: "00000000000000bb") == nil)
        #expect(try store.simCacheEntry(key: "k2", binaryHash: "00000000000000aa") == nil)
        // Same key: replaced, not duplicated.
        try store.storeSimCacheEntry(Self.entry(instructions: 5))
        #expect(try store.simCacheEntry(key: "k1", binaryHash: "00000000000000aa")?.counters.first?.raw == 5)
        #expect(try store.simCacheCount() == 1)
        // Exact UInt64 counts and a profile-less entry survive.
        var big = Self.entry(key: "k3", instructions: UInt64(Int64.max) + 9)
        big.functionProfile = nil
        try store.storeSimCacheEntry(big)
        #expect(try store.simCacheEntry(key: "k3", binaryHash: "00000000000000aa") == big)
    }
}
