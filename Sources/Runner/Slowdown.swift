import BenchModel
import CPerfEvent
import Kernels

/// Testing aid for `--inject-slowdown OP=PCT`: wraps a kernel and, after each iteration, performs
/// real arithmetic work lasting about `fraction` × the kernel's own time. Runs that use it are
/// labelled in their metadata and their samples carry `SampleFlags.injectedSlowdown`.
final class SlowdownInstance: KernelInstance {
    let base: KernelInstance
    let spins: Int
    private var sink: Float = 1

    /// `spins` units of `SpinWork` are added per iteration.
    init(base: KernelInstance, spins: Int) {
        self.base = base
        self.spins = spins
    }

    func run() {
        base.run()
        sink = SpinWork.spin(spins, seed: sink)
    }

    func output() -> UnsafeBufferPointer<Float> { base.output() }
}

/// A dependent floating-point chain whose cost per unit is measured once per run.
enum SpinWork {
    @inline(never)
    static func spin(_ n: Int, seed: Float) -> Float {
        var x = seed
        for _ in 0..<n { x = x * 0.999_999 + 1e-7 }
        fb_black_hole_f32(x)
        return x
    }

    /// Spin units that cost `fraction` of one iteration of `instance` (whose iteration takes about
    /// `iterationNs`), from `rounds` alternations of ~2 ms of the kernel and ~2 ms of spinning: the
    /// median of their per-round ratios. Both sides of each ratio are timed in the same window, so a
    /// machine-speed step (up to ±18% within a second on the shared Zen 1 VM) while sizing cannot
    /// mis-size the slowdown, as it could when the spin was timed once per process and the kernel
    /// once per variant. `spinNs` (``nanosecondsPerSpin()``) sizes the spin rounds.
    static func units(costing fraction: Double, of instance: KernelInstance, iterationNs: Double, spinNs: Double,
                      rounds: Int = 7) -> Int {
        let window = 2_000_000.0
        let iterations = max(1, Int((window / max(iterationNs, 1)).rounded(.up)))
        let spins = max(1_000, Int(window / max(spinNs, 0.01)))
        var seed: Float = 1
        var unitsPerIteration: [Double] = []
        // A kernel of more than 20 ms per iteration is its own window: three rounds bound the cost.
        for _ in 0..<(iterationNs > 20_000_000 ? min(rounds, 3) : rounds) {
            let t0 = Clock.wall()
            for _ in 0..<iterations { instance.run() }
            let kernel = Double(Clock.wall() &- t0) / Double(iterations)
            let t1 = Clock.wall()
            seed = spin(spins, seed: seed)
            let unit = Double(Clock.wall() &- t1) / Double(spins)
            if kernel > 0, unit > 0 { unitsPerIteration.append(kernel / unit) }
        }
        let perIteration = unitsPerIteration.isEmpty ? iterationNs / max(spinNs, 0.01) : Median.of(unitsPerIteration)
        return max(1, Int((perIteration * fraction).rounded()))
    }

    /// Nanoseconds per spin unit on this machine (median of a few timings).
    static func nanosecondsPerSpin() -> Double {
        var rates: [Double] = []
        let n = 2_000_000
        for _ in 0..<5 {
            let t0 = Clock.wall()
            _ = spin(n, seed: 1)
            rates.append(Double(Clock.wall() &- t0) / Double(n))
        }
        return Median.of(rates)
    }
}
