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
