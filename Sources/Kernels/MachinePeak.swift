// Machine peak figures for roofline metrics: the FLOP/s a register-only FMA loop reaches on the
// widest vector this build and CPU both support, and the bandwidth of a STREAM-like read and
// triad over buffers sized for L1, L2, L3 and DRAM. Measured, because the clock frequency is not
// always readable (no cpufreq in this VM) and a VM's turbo/boost state is unknown.
//
// Method (single thread, the thread the caller runs on):
// - FMA: 12 independent accumulator chains of `acc = acc·m + a` on V-wide vectors (12 chains
//   cover 2 FMA pipes × 4-cycle latency with room to spare); FLOPs = 2·lanes·chains per step.
// - read: Σ over the buffer with 8 vector accumulators (bytes = buffer size per pass).
// - triad: a[i] = b[i] + s·c[i] over three thirds of the buffer (STREAM convention: bytes =
//   3 × third per pass, the write-allocate read of a is not counted).
// Every figure is the best of several timed trials (the least disturbed by neighbours), each
// trial long enough (≥ ~1 ms) that the clock is not what is measured. Buffers: 16 KiB (L1),
// 256 KiB (L2), 8 MiB (L3), 128 MiB (DRAM, 4× the largest L3 of these machines).
import BenchModel
import Foundation

/// Measures `PeakFigures` on this machine.
public enum MachinePeak {
    /// Buffer sizes probed, with their level names.
    public static let levels: [(level: String, bytes: Int)] = [
        ("L1", 16 << 10), ("L2", 256 << 10), ("L3", 8 << 20), ("DRAM", 128 << 20),
    ]

    /// Measures peak FMA throughput and per-level bandwidth within about `budgetSeconds`
    /// (default 0.5 s; the DRAM buffer's first touch is part of the budget). A smaller budget
    /// takes fewer trials — less robust against a noisy neighbour, same method.
    public static func measure(budgetSeconds: Double = 0.5) -> PeakFigures {
        let start = now()
        let path = GEMMKernelPath.current
        // ~25% of the budget is left for allocating and first-touching the buffers (mostly the DRAM one).
        let share = max(0.01, budgetSeconds) * 0.75 / Double(1 + 2 * levels.count)
        let flops: Double = switch path {
        case .avx512: fmaPeak(SIMD16<Float>.self, seconds: share)
        case .avx2: fmaPeak(SIMD8<Float>.self, seconds: share)
        case .sse: fmaPeak(SIMD4<Float>.self, seconds: share)
        }
        var figures: [BandwidthFigure] = []
        for (level, bytes) in levels {
            let count = bytes / MemoryLayout<Float>.stride
            let buffer = allocateFloats(count)
            defer { freeFloats(buffer) }
            let read: Double, triad: Double
            switch path {
            case .avx512:
                read = readBandwidth(SIMD16<Float>.self, buffer, count, seconds: share)
                triad = triadBandwidth(SIMD16<Float>.self, buffer, count, seconds: share)
            case .avx2:
                read = readBandwidth(SIMD8<Float>.self, buffer, count, seconds: share)
                triad = triadBandwidth(SIMD8<Float>.self, buffer, count, seconds: share)
            case .sse:
                read = readBandwidth(SIMD4<Float>.self, buffer, count, seconds: share)
                triad = triadBandwidth(SIMD4<Float>.self, buffer, count, seconds: share)
            }
            figures.append(BandwidthFigure(level: level, bufferBytes: bytes, readGBps: read / 1e9, triadGBps: triad / 1e9))
        }
        return PeakFigures(flopsPerSecond: flops, vectorWidth: path.vectorWidth, kernelPath: path,
                           bandwidth: figures, secondsSpent: Double(now() - start) / 1e9)
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Runs `body(reps)` in trials of about a fifth of `seconds` (at least 1 ms): doubles `reps`
    /// until one trial is that long, then repeats trials until `seconds` are spent, and returns
    /// the best rate in units per second (`units` per rep).
    static func bestRate(seconds: Double, units: Double, _ body: (Int) -> Void) -> Double {
        let deadline = now() + UInt64(seconds * 1e9)
        let trialNs = max(1e6, seconds * 1e9 / 5)
        func trial(_ reps: Int) -> Double {
            let t0 = now()
            body(reps)
            return max(1, Double(now() - t0))
        }
        var reps = 1
        var dt = trial(reps)
        while dt < trialNs && now() < deadline {
            reps *= 2
            dt = trial(reps)
        }
        var best = units * Double(reps) / dt * 1e9
        while now() < deadline {
            best = max(best, units * Double(reps) / trial(reps) * 1e9)
        }
        return best
    }
}

/// Keeps a value alive so the loop that computed it is not removed.
@inline(never)
func blackHole(_ x: Float) {
    if x == 0x1p-149 { print("", terminator: "") }
}

/// FLOP/s of 12 independent FMA chains on V.
///
/// The chains start from and end in memory (full-width loads and stores): built from
/// `V(repeating:)` and reduced with `sum()`, LLVM scalarizes them and re-vectorizes at 256 bits.
@inline(never)
func fmaPeak<V: FloatVector>(_: V.Type, seconds: Double) -> Double {
    let steps = 4096
    let w = V.scalarCount
    let state = allocateFloats(14 * w)
    defer { freeFloats(state) }
    for i in 0..<12 * w { state[i] = 1 }
    for i in 12 * w..<13 * w { state[i] = 0.999_999 + Float(MachinePeak.now() & 1) * 1e-9 }
    for i in 13 * w..<14 * w { state[i] = 1e-6 }
    let units = Double(steps * 12 * w * 2)
    return MachinePeak.bestRate(seconds: seconds, units: units) { reps in
        let mul: V = vload(state, 12 * w), add: V = vload(state, 13 * w)
        var a0: V = vload(state), a1: V = vload(state, w), a2: V = vload(state, 2 * w), a3: V = vload(state, 3 * w)
        var a4: V = vload(state, 4 * w), a5: V = vload(state, 5 * w), a6: V = vload(state, 6 * w)
        var a7: V = vload(state, 7 * w), a8: V = vload(state, 8 * w), a9: V = vload(state, 9 * w)
        var a10: V = vload(state, 10 * w), a11: V = vload(state, 11 * w)
        for _ in 0..<reps * steps {
            a0 = V.fma(add, a0, mul); a1 = V.fma(add, a1, mul)
            a2 = V.fma(add, a2, mul); a3 = V.fma(add, a3, mul)
            a4 = V.fma(add, a4, mul); a5 = V.fma(add, a5, mul)
            a6 = V.fma(add, a6, mul); a7 = V.fma(add, a7, mul)
            a8 = V.fma(add, a8, mul); a9 = V.fma(add, a9, mul)
            a10 = V.fma(add, a10, mul); a11 = V.fma(add, a11, mul)
        }
        vstore(a0, state); vstore(a1, state, w); vstore(a2, state, 2 * w); vstore(a3, state, 3 * w)
        vstore(a4, state, 4 * w); vstore(a5, state, 5 * w); vstore(a6, state, 6 * w); vstore(a7, state, 7 * w)
        vstore(a8, state, 8 * w); vstore(a9, state, 9 * w); vstore(a10, state, 10 * w); vstore(a11, state, 11 * w)
        blackHole(state[0])
    }
}

/// Bytes/s of summing `count` floats with 8 vector accumulators.
@inline(never)
func readBandwidth<V: FloatVector>(_: V.Type, _ buffer: UnsafeMutablePointer<Float>, _ count: Int, seconds: Double) -> Double {
    let w = V.scalarCount, step = 8 * w
    let n = count / step * step
    let sums = allocateFloats(8 * w)
    defer { freeFloats(sums) }
    return MachinePeak.bestRate(seconds: seconds, units: Double(n * 4)) { reps in
        // Accumulators from and to memory, so they stay full-width vectors (see `fmaPeak`).
        var s0: V = vload(sums), s1: V = vload(sums, w), s2: V = vload(sums, 2 * w), s3: V = vload(sums, 3 * w)
        var s4: V = vload(sums, 4 * w), s5: V = vload(sums, 5 * w), s6: V = vload(sums, 6 * w), s7: V = vload(sums, 7 * w)
        for _ in 0..<reps {
            var i = 0
            while i < n {
                s0 += vload(buffer, i); s1 += vload(buffer, i + w)
                s2 += vload(buffer, i + 2 * w); s3 += vload(buffer, i + 3 * w)
                s4 += vload(buffer, i + 4 * w); s5 += vload(buffer, i + 5 * w)
                s6 += vload(buffer, i + 6 * w); s7 += vload(buffer, i + 7 * w)
                i += step
            }
        }
        vstore(s0, sums); vstore(s1, sums, w); vstore(s2, sums, 2 * w); vstore(s3, sums, 3 * w)
        vstore(s4, sums, 4 * w); vstore(s5, sums, 5 * w); vstore(s6, sums, 6 * w); vstore(s7, sums, 7 * w)
        blackHole(sums[0])
    }
}

/// Bytes/s of the STREAM triad a = b + s·c over three thirds of the buffer.
@inline(never)
func triadBandwidth<V: FloatVector>(_: V.Type, _ buffer: UnsafeMutablePointer<Float>, _ count: Int, seconds: Double) -> Double {
    let w = V.scalarCount
    let third = count / 3 / (2 * w) * (2 * w)
    let a = buffer, b = buffer + third, c = buffer + 2 * third
    let s = V(repeating: 0.5)
    return MachinePeak.bestRate(seconds: seconds, units: Double(3 * third * 4)) { reps in
        for _ in 0..<reps {
            var i = 0
            while i < third {
                vstore((vload(b, i) as V).addingProduct(s, vload(c, i)), a, i)
                vstore((vload(b, i + w) as V).addingProduct(s, vload(c, i + w)), a, i + w)
                i += 2 * w
            }
        }
        blackHole(a[0])
    }
}
