// HistoryReport: statistics per run, marks, escaping of hostile names, errors.
import BenchModel
import Foundation
@testable import Report
import Store
import TestSupport
import Testing

@Test func historyMarksAreBuiltInOneOrder() {
    let p = SeriesPoint(runID: 7, startedAt: Date(timeIntervalSince1970: 0), status: "interrupted", gitCommit: "abc", gitBranch: "main",
                        gitDirty: true, label: nil, tags: ["z": "1", "a": "2"], samples: [1, 2, 3], processes: [0, 0, 0],
                        instructionsPerOp: nil)
    #expect(HistoryReport.marks(p, baselines: ["rel", "main"], extra: ["change"]) ==
            ["interrupted", "dirty", "baseline:main", "baseline:rel", "a=2", "z=1", "change"])
    let entry = HistoryReport.entry(p, baselines: [])
    #expect(entry.medianNs == 2)
    #expect(entry.ciLowerNs <= 2 && entry.ciUpperNs >= 2)
    #expect(entry.startedAt == "1970-01-01T00:00:00Z")
    // The parallel path gives what the serial one gives.
    let many = (0..<50).map { i in
        SeriesPoint(runID: Int64(i), startedAt: Date(), status: "complete", gitCommit: nil, gitBranch: nil, gitDirty: nil, label: nil,
                    tags: [:], samples: (0..<9).map { Double($0 * i + 1) }, processes: (0..<9).map { $0 % 3 }, instructionsPerOp: nil)
    }
    #expect(HistoryReport.entries(many, baselines: [:]) == many.map { HistoryReport.entry($0, baselines: []) })
}

@Test func historyEscapesHostileNamesInMarkdownAndCSV() throws {
    let store = try ResultStore.inMemory()
    let name = "<script>alert(1)</script>|x,\"y\""
    try Synthetic.run(store, ops: [Synthetic.Op(name: name, values: ["reference": [[10, 11, 12]]])])
    try Synthetic.run(store, ops: [Synthetic.Op(name: name, values: ["reference": [[10, 11, 12]]])])
    let report = try HistoryReport(store: store, pattern: nil, branch: nil, machine: nil, last: nil)
    let md = report.render(.markdown)
    #expect(!md.contains("<script>"))
    #expect(md.contains("\\<script\\>alert(1)\\</script\\>\\|x"))
    let csv = report.render(.csv).split(separator: "\n")
    #expect(csv.count == 3)
    #expect(csv[1].hasPrefix("\"tiny/<script>alert(1)</script>|x,\"\"y\"\"/reference@m1/none/avx2+fma\","))
}

@Test func historyErrors() throws {
    let store = try ResultStore.inMemory()
    try Synthetic.run(store, ops: [Synthetic.op("gemm", median: 100, seed: 1)])
    #expect(throws: HistoryError.self) { try HistoryReport(store: store, pattern: "nope", branch: nil, machine: nil, last: nil) }
    #expect(throws: HistoryError.self) { try HistoryReport(store: store, pattern: nil, branch: nil, machine: "no-such", last: nil) }
    #expect(throws: HistoryError.self) { try HistoryReport(store: store, pattern: nil, branch: nil, machine: nil, last: 0) }
    #expect(throws: StoreError.self) { try HistoryReport(store: store, pattern: "(", branch: nil, machine: nil, last: nil) }
    let ok = try HistoryReport(store: store, pattern: "gemm/ref", branch: "test", machine: "synthetic cpu", last: 1)
    #expect(ok.series.count == 1)
    #expect(ok.render(.text).contains("one run only: no history yet"))
}
