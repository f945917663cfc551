// Machine peak figures as plain values (measured by `MachinePeak` in Kernels, stored with a run,
// read by Report), the kernel code path they were measured on, and the one rule that maps a
// working set to the bandwidth of the memory level serving it. The rule is used by the run
// report's roofline column and by the fusion planner's cost model alike.

/// The optimized code path of the kernels: the widest vector registers both the build and the CPU
/// have. Raw values are the strings stored in run metadata (`isa.kernel_path`) and peak figures.
public enum KernelPath: String, CaseIterable, Sendable, Codable {
    /// 16-lane float vectors (zmm). Needs AVX-512F.
    case avx512
    /// 8-lane float vectors (ymm) with FMA. Needs AVX2 + FMA.
    case avx2
    /// 4-lane float vectors (xmm), separate multiply and add.
    case sse
}

/// Bandwidth measured over one buffer size.
public struct BandwidthFigure: Codable, Sendable, Equatable {
    /// Cache level the buffer is sized for: `L1`, `L2`, `L3` or `DRAM`.
    public var level: String
    /// Buffer size in bytes.
    public var bufferBytes: Int
    /// Read bandwidth in GB/s (10⁹ bytes per second).
    public var readGBps: Double
    /// STREAM triad bandwidth in GB/s (2 reads + 1 write counted).
    public var triadGBps: Double

    /// Creates a figure.
    public init(level: String, bufferBytes: Int, readGBps: Double, triadGBps: Double) {
        self.level = level
        self.bufferBytes = bufferBytes
        self.readGBps = readGBps
        self.triadGBps = triadGBps
    }

    /// The bandwidth a kernel that both reads and writes can expect from this level: the better
    /// of the read and triad probes.
    public var bestGBps: Double { max(readGBps, triadGBps) }

    /// The bandwidth rule: a working set of `bytes` is served by the level it fits in — the
    /// smallest of `levels` (sorted smallest first) whose buffer is at least that large — and a
    /// working set larger than every level by the largest (memory). Nil when `levels` is empty.
    public static func level(forWorkingSet bytes: Double, in levels: [BandwidthFigure]) -> BandwidthFigure? {
        levels.first { Double($0.bufferBytes) >= bytes } ?? levels.last
    }
}

/// Peak compute and bandwidth of this machine, single-threaded, as measured by `MachinePeak.measure`.
public struct PeakFigures: Codable, Sendable, Equatable {
    /// FLOP/s of the register-only FMA loop (an FMA counts 2).
    public var flopsPerSecond: Double
    /// Floats per vector in the FMA loop (16 AVX-512, 8 AVX2, 4 SSE).
    public var vectorWidth: Int
    /// The kernel path the figures were measured on.
    public var kernelPath: KernelPath
    /// Bandwidth per buffer size, smallest first.
    public var bandwidth: [BandwidthFigure]
    /// Wall time spent measuring, in seconds.
    public var secondsSpent: Double

    /// Creates the figures.
    public init(flopsPerSecond: Double, vectorWidth: Int, kernelPath: KernelPath, bandwidth: [BandwidthFigure],
                secondsSpent: Double) {
        self.flopsPerSecond = flopsPerSecond
        self.vectorWidth = vectorWidth
        self.kernelPath = kernelPath
        self.bandwidth = bandwidth
        self.secondsSpent = secondsSpent
    }

    /// The figure of the level a working set of `bytes` fits in (`BandwidthFigure.level(forWorkingSet:in:)`).
    public func bandwidth(forWorkingSet bytes: Double) -> BandwidthFigure? {
        BandwidthFigure.level(forWorkingSet: bytes, in: bandwidth)
    }

    /// Bandwidth in GB/s for a working set of `bytes`: the best probe of the level it fits in.
    public func bandwidthGBps(forWorkingSet bytes: Double) -> Double? {
        bandwidth(forWorkingSet: bytes)?.bestGBps
    }

    /// Roofline bound in FLOP/s for a kernel of `flops` over a working set of `bytes`:
    /// min(peak FLOP/s, intensity × bandwidth of the level the working set fits in).
    public func roofline(flops: Double, bytes: Double) -> Double {
        guard bytes > 0, let bw = bandwidthGBps(forWorkingSet: bytes) else { return flopsPerSecond }
        return min(flopsPerSecond, flops / bytes * bw * 1e9)
    }
}
