// linear: y[m×out] = x[m×in] · Wᵀ + b, with W stored [out, in] (PyTorch `nn.Linear` layout, i.e.
// a transposed-B GEMM) and bias b[out].
//
// `reference`: y[i, j] = Σ_p x[i, p]·W[j, p] in order, then + b[j]. `optimized` reuses the GEMM
// machinery: Wᵀ is packed into the micro-kernel's panels once per instance (the weights are
// constant, as in inference), y is pre-filled with the bias, and each run packs only x and
// accumulates x·Wᵀ into y. For m ≤ 4 (batch-1 decoding) it runs the GEMV kernel per row of x
// instead — W's rows are contiguous, so each output is one streamed dot product.
import BenchModel

/// `linear`: y = x·Wᵀ + b, x [m, in], W [out, in], b [out]. Shape keys `m`, `in`, `out`.
public struct LinearFactory: KernelFactory {
    /// Creates the factory.
    public init() {}
    /// `linear`.
    public var kind: String { "linear" }
    /// One-line description.
    public var summary: String { "fully connected y[m×out] = x[m×in]·Wᵀ + b, W stored [out, in]" }
    /// `m`, `in`, `out`.
    public var shapeKeys: [String] { ["m", "in", "out"] }
    /// `reference` (dot-product loops) and `optimized` (prepacked Wᵀ, blocked GEMM micro-kernels).
    public var variants: [String] { ["reference", "optimized"] }
    /// `f32`.
    public var dtypes: [String] { ["f32"] }

    /// Checks dtype, positive `m`, `in`, `out`, no other key, and the element limits of x, W, y.
    public func validate(shape: Shape, dtype: String) throws {
        try validate(shape, dtype, dimensions)
    }

    /// 2·m·in·out + m·out (multiply-adds and the bias add).
    public func flops(shape: Shape) -> Double {
        let m = Double(shape["m"] ?? 0), i = Double(shape["in"] ?? 0), o = Double(shape["out"] ?? 0)
        return 2 * m * i * o + m * o
    }

    /// 4·(m·in + out·in + out + m·out): x, W, b read once, y written once.
    public func bytes(shape: Shape, dtype: String) -> Double {
        let m = Double(shape["m"] ?? 0), i = Double(shape["in"] ?? 0), o = Double(shape["out"] ?? 0)
        return 4 * (m * i + o * i + o + m * o)
    }

    /// The GEMM band for depth `in` (`abs 1e-4·√in, rel 1e-4, cosine 0.99999`, see `GEMMFactory`):
    /// the bias adds one more rounding of a value in [−1, 1), far inside the band.
    public func defaultTolerance(shape: Shape, dtype: String) -> Tolerance {
        GEMMFactory().defaultTolerance(shape: ["k": shape["in"] ?? 1], dtype: dtype)
    }

    /// A `LinearInstance` for `variant` with x, W, b from one `SeededGenerator(seed:)` sequence.
    public func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        let (m, i, o) = try checkedDimensions(variant: variant, shape: shape, dtype: dtype, dimensions)
        return LinearInstance(m: m, inFeatures: i, outFeatures: o, seed: seed,
                              path: variant == "optimized" ? .current : nil)
    }

    private func dimensions(_ shape: Shape) throws -> (Int, Int, Int) {
        let m = try dimension(shape, "m"), i = try dimension(shape, "in"), o = try dimension(shape, "out")
        try rejectUnknownKeys(shape)
        try requireElements(m, i, "x (m×in)")
        try requireElements(o, i, "W (out×in)")
        try requireElements(m, o, "y (m×out)")
        return (m, i, o)
    }
}

/// One linear-layer problem: owns x, W, b, y and (optimized) the packed Wᵀ.
public final class LinearInstance: KernelInstance {
    /// Rows of x and y (tokens).
    public let m: Int
    /// Input features (columns of x and W).
    public let inFeatures: Int
    /// Output features (rows of W, columns of y).
    public let outFeatures: Int
    /// Micro-kernel path of the optimized variant; nil for the reference.
    public let path: GEMMKernelPath?
    private let x: UnsafeMutablePointer<Float>
    private let w: UnsafeMutablePointer<Float>
    private let b: UnsafeMutablePointer<Float>
    private let y: UnsafeMutablePointer<Float>
    private let packed: PackedB?
    private let scratch: GEMMScratch?

    /// Creates the problem with x (m×in), W (out×in), b (out) from `SeededGenerator(seed:)`, in that order.
    public init(m: Int, inFeatures: Int, outFeatures: Int, seed: UInt64, path: GEMMKernelPath?) {
        precondition(m > 0 && inFeatures > 0 && outFeatures > 0, "linear dimensions must be positive")
        self.m = m
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.path = path
        var g = SeededGenerator(seed: seed)
        x = g.filledFloats(m * inFeatures)
        w = g.filledFloats(outFeatures * inFeatures)
        b = g.filledFloats(outFeatures)
        y = allocateFloats(m * outFeatures)
        if let path, !LinearInstance.usesGEMV(m: m, path: path) {
            packed = PackedB(path: path, n: outFeatures, k: inFeatures, src: w, ld: inFeatures, transposed: true)
            scratch = GEMMScratch(path: path, maxM: m, n: outFeatures, k: inFeatures)
        } else {
            packed = nil
            scratch = nil
        }
    }

    deinit {
        freeFloats(x)
        freeFloats(w)
        freeFloats(b)
        freeFloats(y)
    }

    /// Whether the optimized variant takes the per-row GEMV route (m ≤ 4 on an FMA path).
    static func usesGEMV(m: Int, path: GEMMKernelPath) -> Bool { m <= smallM && path != .sse }

    /// x (m×in).
    public var inputX: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: x, count: m * inFeatures) }
    /// W (out×in).
    public var inputW: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: w, count: outFeatures * inFeatures) }
    /// b (out).
    public var inputBias: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: b, count: outFeatures) }

    /// Computes y once.
    public func run() {
        guard let path else {
            linearReference(m: m, inFeatures: inFeatures, outFeatures: outFeatures, x: x, w: w, b: b, y: y)
            return
        }
        guard let packed, let scratch else {
            for i in 0..<m {
                gemv(path: path, n: outFeatures, k: inFeatures, a: w, lda: inFeatures, x: x + i * inFeatures,
                     bias: b, y: y + i * outFeatures)
            }
            return
        }
        for i in 0..<m { (y + i * outFeatures).update(from: b, count: outFeatures) }
        gemmPrepacked(m: m, a: x, lda: inFeatures, b: packed, c: y, ldc: outFeatures, accumulate: true, scratch: scratch)
    }

    /// y (m×out) from the last `run()`.
    public func output() -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: y, count: m * outFeatures) }
}

/// y[i, j] = (Σ_p x[i, p]·W[j, p]) + b[j], the sum in order.
func linearReference(m: Int, inFeatures: Int, outFeatures: Int, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                     b: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    for i in 0..<m {
        for j in 0..<outFeatures {
            var acc: Float = 0
            for p in 0..<inFeatures { acc += x[i * inFeatures + p] * w[j * inFeatures + p] }
            y[i * outFeatures + j] = acc + b[j]
        }
    }
}
