// Stored series points (SeriesPoints.swift, schema v17): written when a run ends, read by
// `seriesPoints` instead of the samples, identical to what the samples give, filled in for runs
// that lack them, and copied by push.
import Foundation
import GRDB
import Testing
import BenchModel
import TestSupport
@testable import Store

private func gemmOp(_ median: Double, seed: UInt64) -> Synthetic.Op {
    Synthetic.op("gemm", median: median, processes: 2, samples: 3, seed: seed)
}

private func pointRows(_ store: ResultStore) throws -> Int64 {
    try store.engine.read { db in try db.fetchOne(Int64.self, sql: "SELECT COUNT(*) FROM series_points") ?? 0 }
}

@Test func storedPointEncodingRoundTripsAndRefusesAPartialBatch() throws {
    let samples = [1.5, .pi, 1e-300, 123_456_789.25], processes = [0, 3, 0, 2_000_000]
    let data = try #require(StoredPoint.encode((samples, processes)))
    #expect(data.count == 4 * StoredPoint.stride)
    let back = try #require(try StoredPoint.decode(data, location: "test.sqlite"))
    #expect(back.samples == samples && back.processes == processes)
    #expect(StoredPoint.encode(nil) == nil && StoredPoint.encode(([], [])) == nil)
    #expect(try StoredPoint.decode(nil, location: "x") == nil)
    #expect(throws: StoreError.self) { try StoredPoint.decode(data.dropLast(), location: "test.sqlite") }
}

@Test func endedRunsStoreTheirPointsAndReadingThemEqualsReadingTheSamples() throws {
    let store = try ResultStore.inMemory()
    // Per-iteration-timed batches next to plain ones (left out), a simulated and a below-overhead
    // batch (left out), simulated instruction counts, one run whose batches are all simulated (no point).
    let instructions = { (variant: String, ns: Double, iterations: Int) -> [CounterValue] in
        [CounterValue(event: "instructions", value: Double(iterations) * ns * 3, raw: 0, timeEnabled: 1, timeRunning: 1, backend: .sim)]
    }
    for i in 0..<6 {
        try Synthetic.run(store, ops: [gemmOp(1000 + Double(i), seed: UInt64(i))], flags: { _, index in
            if i == 4 { return [.simulated] }
            return index % 6 == 1 ? [.simulated] : index % 6 == 2 ? [.belowOverhead] : []
        }, latencies: { _, _, ns, iterations in
            i == 2 ? IterationLatencies(ns: Array(repeating: UInt32(ns), count: iterations), labels: [], overheadNs: 0) : nil
        }, counters: instructions, info: { $0.counterMode = .sim })
    }
    let running = try Synthetic.run(store, ops: [gemmOp(1000, seed: 9)], status: .running)
    // 6 ended runs × 2 variants have points; the running run has none.
    #expect(try pointRows(store) == 12)
    #expect(try store.missingPointCount() == 0)
    let keys = try store.series(matching: "tiny/gemm", branch: nil, machine: nil)
    #expect(keys.count == 2)
    let fromPoints = try keys.map { try store.seriesPoints($0, branch: nil, last: nil) }
    #expect(fromPoints.allSatisfy { $0.count == 5 && !$0.contains { $0.runID == running } })
    #expect(fromPoints.allSatisfy { $0.allSatisfy { $0.instructionsPerOp != nil } })
    // Without the stored points the same history comes from the samples.
    _ = try store.engine.write { db in try db.execute(sql: "DELETE FROM series_points") }
    #expect(try store.missingPointCount() == 12)
    let fromSamples = try keys.map { try store.seriesPoints($0, branch: nil, last: nil) }
    #expect(fromSamples == fromPoints)
    // Filling them in restores the rows, and reading is unchanged.
    let filled = try store.indexMissingPoints(perTransaction: 4)
    #expect(filled.runs == 6 && filled.points == 12)
    #expect(try store.missingPointCount() == 0)
    #expect(try keys.map { try store.seriesPoints($0, branch: nil, last: nil) } == fromPoints)
    // Some runs with points, some without: one history, in order.
    _ = try store.engine.write { db in
        try db.execute(sql: "DELETE FROM series_points WHERE op_id IN (SELECT id FROM ops WHERE run_id IN (2, 5))")
    }
    #expect(try keys.map { try store.seriesPoints($0, branch: nil, last: nil) } == fromPoints)
    #expect(try keys.map { try store.seriesPoints($0, branch: nil, last: 3, chunk: 2) } == fromPoints.map { Array($0.suffix(3)) })
}

@Test func staleRunsGetTheirPointsAndReadWriteOpensFillMissingOnes() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-points-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("points.sqlite").path
    do {
        let store = try ResultStore(path: path)
        try Synthetic.run(store, ops: [gemmOp(1000, seed: 1)])
        let left = try Synthetic.run(store, ops: [gemmOp(1000, seed: 2)], status: .running)
        #expect(try store.markStaleRuns(isAlive: { _ in false }) == [left])
        #expect(try pointRows(store) == 4)
        // As a database written by a fusebench before schema v17 (or a tool) would be: no points.
        _ = try store.engine.write { db in try db.execute(sql: "DELETE FROM series_points") }
    }
    // A reading open writes nothing; reading still works (from the samples).
    let reader = try ResultStore(path: path, access: .readOnly)
    #expect(try pointRows(reader) == 0)
    #expect(try reader.missingPointCount() == 4)
    let key = try #require(try reader.series(matching: "reference", branch: nil, machine: nil).first)
    let expected = try reader.seriesPoints(key, branch: nil, last: nil)
    #expect(expected.count == 2)
    // A read-write open fills them in.
    let writer = try ResultStore(path: path)
    #expect(try pointRows(writer) == 4)
    #expect(try writer.seriesPoints(key, branch: nil, last: nil) == expected)
}

@Test func pushCopiesPointsAndDerivesThemWhenTheSourceHasNone() throws {
    let source = try ResultStore.inMemory()
    try Synthetic.run(source, ops: [gemmOp(1000, seed: 1)])
    try Synthetic.run(source, ops: [gemmOp(1100, seed: 2)])
    // Run 2's points are missing in the source (an older fusebench's file).
    _ = try source.engine.write { db in
        try db.execute(sql: "DELETE FROM series_points WHERE op_id IN (SELECT id FROM ops WHERE run_id = 2)")
    }
    let target = try ResultStore.inMemory()
    try Synthetic.run(target, ops: [gemmOp(900, seed: 3)])  // target ids differ from the source's
    try source.copyRuns([1, 2], to: target)
    #expect(try pointRows(target) == 6)
    let key = try #require(try target.series(matching: "reference", branch: nil, machine: nil).first)
    let pushed = try target.seriesPoints(key, branch: nil, last: nil)
    #expect(pushed.count == 3)
    let sourceKey = try #require(try source.series(matching: "reference", branch: nil, machine: nil).first)
    let original = try source.seriesPoints(sourceKey, branch: nil, last: nil)
    #expect(pushed.prefix(2).map(\.samples) == original.map(\.samples))   // started before the target's own run
    #expect(pushed.prefix(2).map(\.processes) == original.map(\.processes))
}
