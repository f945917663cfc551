import BenchModel
import Counters

/// Measures the harness's own costs once per run, so they can be stored and subtracted.
enum Calibrator {
    /// Calibrates clocks, counter reads, the empty batch and the per-iteration loop cost.
    static func calibrate(timer: BatchTimer, targetBatchNs: Double) throws -> Calibration {
        // Clock pair.
        var pairs: [Double] = []
        pairs.reserveCapacity(2001)
        for _ in 0...2000 {
            let a = Clock.wall()
            let b = Clock.wall()
            pairs.append(Double(b &- a))
        }
        let clockPair = median(pairs)

        // Counter read cost (enabled group), only when counting.
        var readCost = 0.0
        if let c = timer.counters, c.groupCount > 0 {
            try timer.select(group: 0)
            let measured = ReadCost.measure(session: c, group: 0, trials: 200)
            readCost = measured.isFinite ? measured : 0
        }

        // Empty batch (0 iterations): clocks, counter reads outside the window do not count.
        let empty = EmptyInstance()
        var emptyBatches: [Double] = []
        for _ in 0..<500 {
            emptyBatches.append(Double(try timer.measure(empty, iterations: 0).wallNs))
        }
        let emptyBatch = median(emptyBatches)

        // Per-iteration overhead of the loop and the dynamic call.
        let n = 100_000
        var perIter: [Double] = []
        for _ in 0..<15 {
            let m = try timer.measure(empty, iterations: n)
            perIter.append(max(0, Double(m.wallNs) - emptyBatch) / Double(n))
        }
        // Per-iteration overhead when every iteration is timed (clock read + label + stores).
        let labeled = EmptyLabeledInstance()
        let timedN = 20_000
        var perTimed: [Double] = []
        for _ in 0..<15 {
            let m = try timer.measureTimed(labeled, iterations: timedN)
            perTimed.append(max(0, Double(m.wallNs) - emptyBatch) / Double(timedN))
        }
        timer.stop()
        var c = Calibration(clockPairNs: clockPair, counterReadNs: readCost, emptyBatchNs: emptyBatch,
                            perIterationNs: median(perIter), targetBatchNs: targetBatchNs)
        c.perTimedIterationNs = median(perTimed)
        return c
    }

    static func median(_ v: [Double]) -> Double { Median.of(v) }
}
