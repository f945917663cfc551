// The roofline column and the machine peak share one bandwidth rule: a working set is served by
// the level it fits in (the smallest probed buffer at least as large), never the level below.
import BenchModel
import Foundation
import Report
import Store
import TestSupport
import Testing

@Suite struct RooflineTests {
    /// L1 2 KiB at 1 GB/s, L2 4 KiB at 10 GB/s, DRAM 1 MiB at 100 GB/s; FMA peak far above.
    let peak = PeakFigures(flopsPerSecond: 1e15, vectorWidth: 8, kernelPath: .avx2, bandwidth: [
        BandwidthFigure(level: "L1", bufferBytes: 2048, readGBps: 1, triadGBps: 0.5),
        BandwidthFigure(level: "L2", bufferBytes: 4096, readGBps: 10, triadGBps: 5),
        BandwidthFigure(level: "DRAM", bufferBytes: 1 << 20, readGBps: 100, triadGBps: 50),
    ], secondsSpent: 0)

    @Test func peakFiguresPickTheLevelTheWorkingSetFitsIn() {
        #expect(peak.bandwidth(forWorkingSet: 2048)?.level == "L1")
        #expect(peak.bandwidth(forWorkingSet: 3072)?.level == "L2")
        #expect(peak.bandwidth(forWorkingSet: 1e9)?.level == "DRAM")
        #expect(peak.bandwidthGBps(forWorkingSet: 3072) == 10)
        #expect(peak.roofline(flops: 3072, bytes: 3072) == 10e9)
    }

    /// The synthetic op moves 3072 bytes: it fits in L2 (4 KiB), so its bound uses 10 GB/s. The old
    /// run report took the level below (L1, 1 GB/s) and showed 10× the share of peak.
    @Test func runReportRooflineUsesTheSameRule() throws {
        let store = try ResultStore.inMemory()
        let id = try Synthetic.run(store, ops: [Synthetic.op("gemm_16", median: 1000, seed: 1)])
        let json = String(decoding: try JSONEncoder().encode(peak), as: UTF8.self)
        try store.setRunMeta(runID: id, key: "peak", value: json)
        let report = try RunReport(store: store, runID: id)
        let row = try #require(report.rows.first { $0.variant == "reference" })
        let op = try #require(report.op(row.op))
        #expect(op.bytes == 3072)
        let r = report.roofline(row)
        let achieved = op.flops / row.time.p50 * 1e9
        let bound = op.flops / op.bytes * 10e9
        let percent = try #require(r.percentOfPeak)
        #expect(abs(percent - achieved / bound * 100) < 1e-9 * percent)
    }
}
