import BenchModel
import CPerfEvent
import Counters
import Kernels

/// Result of timing one batch.
struct BatchMeasurement {
    var wallNs: UInt64
    var cpuNs: UInt64
    var counters: [CounterValue]
    /// Per-iteration wall times (raw, ns) and labels, for `IterationLabeled` instances.
    var iterationNs: [UInt32]? = nil
    var labels: [Int32]? = nil
}

/// Times batches of a kernel instance, reading one counter group around the timed window.
///
/// Counters are read *outside* the clock window (read → clock → loop → clock → read), so the
/// ~µs cost of `read()` never lands in the wall time; the clock pair and the loop itself do, and
/// are removed by calibration.
final class BatchTimer {
    let counters: CounterSession?
    /// Group currently enabled (-1 when none).
    private(set) var enabledGroup = -1

    init(counters: CounterSession?) {
        self.counters = counters
    }

    /// Switches the enabled counter group (outside any timed window).
    func select(group: Int) throws {
        guard let c = counters, group != enabledGroup else { return }
        if enabledGroup >= 0 { try c.disable(group: enabledGroup) }
        try c.enable(group: group)
        enabledGroup = group
    }

    /// Disables the enabled group.
    func stop() {
        if let c = counters, enabledGroup >= 0 { try? c.disable(group: enabledGroup) }
        enabledGroup = -1
    }

    /// Runs `iterations` iterations of `instance` and measures them.
    @inline(never)
    func measure(_ instance: KernelInstance, iterations: Int) throws -> BatchMeasurement {
        let group = enabledGroup
        let before = group >= 0 ? try counters!.read(group: group) : nil
        let c0 = Clock.cpu()
        let t0 = Clock.wall()
        var i = 0
        while i < iterations {
            instance.run()
            i &+= 1
        }
        let t1 = Clock.wall()
        let c1 = Clock.cpu()
        let values = try finish(instance, group: group, before: before)
        return BatchMeasurement(wallNs: t1 &- t0, cpuNs: c1 &- c0, counters: values)
    }

    /// After a batch's timed window: the counter deltas since `before` (none without counters),
    /// and the instance's output made observable so the optimizer cannot drop the work.
    private func finish(_ instance: KernelInstance, group: Int, before: GroupRead?) throws -> [CounterValue] {
        var values: [CounterValue] = []
        if let b = before {
            let after = try counters!.read(group: group)
            values = counters!.deltas(group: group, from: b, to: after)
        }
        let out = instance.output()
        fb_black_hole(out.baseAddress)
        return values
    }
}

extension BatchTimer {
    /// Like `measure`, and also times every iteration: the clock is read after each `run()` (one
    /// read per iteration, the batch's start and end reads are shared), so iteration i's time is
    /// the distance between consecutive reads, and its label is read right after it. The batch's
    /// wall/CPU time and counters are taken exactly as in `measure`; the per-iteration clock read,
    /// label read and stores add a per-iteration cost, calibrated as `perTimedIterationNs`.
    /// Buffers are allocated before the timed window.
    @inline(never)
    func measureTimed(_ instance: any IterationLabeled, iterations: Int) throws -> BatchMeasurement {
        let n = max(0, iterations)
        let stamps = UnsafeMutablePointer<UInt64>.allocate(capacity: n + 1)
        let labels = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, n))
        defer {
            stamps.deallocate()
            labels.deallocate()
        }
        // Touch the buffers so their first-use page faults stay out of the timed window.
        stamps.initialize(repeating: 0, count: n + 1)
        labels.initialize(repeating: 0, count: max(1, n))
        let group = enabledGroup
        let before = group >= 0 ? try counters!.read(group: group) : nil
        let c0 = Clock.cpu()
        let t0 = Clock.wall()
        stamps[0] = t0
        var i = 0
        while i < n {
            instance.run()
            i &+= 1
            stamps[i] = Clock.wall()
            labels[i &- 1] = instance.lastIterationLabel
        }
        let t1 = n > 0 ? stamps[n] : Clock.wall()
        let c1 = Clock.cpu()
        let values = try finish(instance, group: group, before: before)
        var ns = [UInt32](repeating: 0, count: n)
        for k in 0..<n { ns[k] = UInt32(clamping: stamps[k + 1] &- stamps[k]) }
        return BatchMeasurement(wallNs: t1 &- t0, cpuNs: c1 &- c0, counters: values, iterationNs: ns,
                                labels: Array(UnsafeBufferPointer(start: labels, count: n)))
    }

    /// `measureTimed` for labeled instances, `measure` for the others.
    func measureAny(_ instance: KernelInstance, iterations: Int) throws -> BatchMeasurement {
        if let labeled = instance as? any IterationLabeled {
            return try measureTimed(labeled, iterations: iterations)
        }
        return try measure(instance, iterations: iterations)
    }
}

/// An `EmptyInstance` that opts in to per-iteration timing: calibrates `measureTimed`'s loop.
final class EmptyLabeledInstance: IterationLabeled {
    private var value: Float = 0
    let lastIterationLabel: Int32 = 0
    @inline(never) func run() { fb_black_hole_f32(value) }
    func output() -> UnsafeBufferPointer<Float> {
        withUnsafeMutablePointer(to: &value) { UnsafeBufferPointer(start: $0, count: 1) }
    }
}

/// A kernel that does nothing: measures the loop and call overhead during calibration.
final class EmptyInstance: KernelInstance {
    private var value: Float = 0
    @inline(never) func run() { fb_black_hole_f32(value) }
    func output() -> UnsafeBufferPointer<Float> {
        withUnsafeMutablePointer(to: &value) { UnsafeBufferPointer(start: $0, count: 1) }
    }
}
