// The change_points table (ChangePointStore.swift): idempotent inserts, triage states, unknown ids.
import Foundation
import Testing
import BenchModel
import TestSupport
@testable import Store

@Suite struct ChangePointStoreTests {
    /// A store with 4 runs of one op and the candidate step between runs 2 and 3 of its optimized series.
    private func storeWithCandidate() throws -> (ResultStore, ChangePointCandidate) {
        let store = try ResultStore.inMemory()
        var ids: [Int64] = []
        for i in 0..<4 {
            ids.append(try Synthetic.run(store, ops: [Synthetic.op("gemm", median: i < 2 ? 1000 : 1100, seed: UInt64(i))], info: {
                $0.gitCommit = String(repeating: "\(i)", count: 40)
            }))
        }
        let key = try #require(store.series(matching: "optimized", branch: nil, machine: nil).first)
        let candidate = ChangePointCandidate(series: key, branch: nil, runBefore: ids[1], runAfter: ids[2],
                                             commitBefore: String(repeating: "1", count: 40), commitAfter: String(repeating: "2", count: 40),
                                             ratio: 1.1, lower: 1.08, upper: 1.12, p: 0.005)
        return (store, candidate)
    }

    @Test func insertIsIdempotentAndKeepsTheState() throws {
        let (store, candidate) = try storeWithCandidate()
        let first = try store.insertChangePoints([candidate])
        #expect(first.count == 1)
        // The same step again (even with other figures) inserts nothing.
        var again = candidate
        again.ratio = 1.2
        #expect(try store.insertChangePoints([again, candidate]).isEmpty)
        let stored = try store.changePoints(series: candidate.series, branch: nil)
        #expect(stored.count == 1)
        #expect(stored.first?.candidate == candidate)
        #expect(stored.first?.state == .new)
        #expect(stored.first?.triagedAt == nil)

        try store.triageChangePoint(id: first[0], state: .accepted, note: "new compiler")
        #expect(try store.insertChangePoints([candidate]).isEmpty)
        let accepted = try store.changePoints(series: candidate.series, branch: nil)
        #expect(accepted.map(\.state) == [.accepted])
        #expect(accepted.first?.note == "new compiler")
        #expect(accepted.first?.triagedAt != nil)
        #expect(try store.changePoints(series: nil, branch: nil, states: [.new]).isEmpty)
        // A later state change without a note keeps the note.
        try store.triageChangePoint(id: first[0], state: .acknowledged, note: nil)
        #expect(try store.changePoints(series: nil, branch: nil).first?.note == "new compiler")
    }

    @Test func branchFilterIsPartOfTheIdentity() throws {
        let (store, candidate) = try storeWithCandidate()
        var onMain = candidate
        onMain.branch = "main"
        #expect(try store.insertChangePoints([candidate, onMain]).count == 2)
        #expect(try store.changePoints(series: nil, branch: "main").map(\.candidate) == [onMain])
        #expect(try store.changePoints(series: nil, branch: nil).map(\.candidate) == [candidate])
    }

    @Test func unknownIdIsAnError() throws {
        let (store, candidate) = try storeWithCandidate()
        try store.insertChangePoints([candidate])
        #expect(throws: StoreError.self) { try store.triageChangePoint(id: 99, state: .accepted, note: nil) }
        #expect(try store.changePoints(series: nil, branch: nil).map(\.state) == [.new])
    }

    @Test func deletingARunDeletesItsChangePoints() throws {
        let (store, candidate) = try storeWithCandidate()
        try store.insertChangePoints([candidate])
        try store.sqliteWrite { db in try db.execute(sql: "DELETE FROM runs WHERE id = ?", arguments: [candidate.runAfter]) }
        #expect(try store.changePoints(series: nil, branch: nil).isEmpty)
    }
}
