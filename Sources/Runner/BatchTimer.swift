import BenchModel
import CPerfEvent
import Counters
import Kernels

/// Result of timing one batch.
struct BatchMeasurement {
    var wallNs: UInt64
    var cpuNs: UInt64
    var counters: [CounterValue]
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
        var values: [CounterValue] = []
        if let b = before {
            let after = try counters!.read(group: group)
            values = counters!.deltas(group: group, from: b, to: after)
        }
        // Keep the result observable so the optimizer cannot drop the work.
        let out = instance.output()
        fb_black_hole(out.baseAddress)
        return BatchMeasurement(wallNs: t1 &- t0, cpuNs: c1 &- c0, counters: values)
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
