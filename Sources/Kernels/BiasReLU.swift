// bias_relu: y[r, c] = relu(x[r, c] + bias[c]), row-major f32 — the classic epilogue that a
// fusing compiler folds into the preceding GEMM. `reference` does it in two passes through a
// temporary (as an unfused graph would); `optimized` is one fused SIMD pass.
//
// ReLU here is `v < 0 ? 0 : v` in both variants: NaN propagates (like PyTorch) and -0 stays -0,
// so the two variants are bit-identical on every input.
import BenchModel

/// `bias_relu`: y = relu(x + bias[col]) over a rows×cols row-major matrix. Shape keys `rows`, `cols`.
public struct BiasReLUFactory: KernelFactory {
    /// Creates the factory.
    public init() {}
    /// `bias_relu`.
    public var kind: String { "bias_relu" }
    /// One-line description.
    public var summary: String { "y = relu(x + bias[col]) over rows×cols, row-major" }
    /// `rows`, `cols`.
    public var shapeKeys: [String] { ["rows", "cols"] }
    /// `reference` (two passes through a temporary) and `optimized` (one fused SIMD pass).
    public var variants: [String] { ["reference", "optimized"] }
    /// `f32`.
    public var dtypes: [String] { ["f32"] }

    /// Checks dtype, that `rows` and `cols` are present and positive, and that no other key is present.
    public func validate(shape: Shape, dtype: String) throws {
        try validate(shape, dtype, rowsColsDimensions)
    }

    /// 2·rows·cols (one add and one max per element).
    public func flops(shape: Shape) -> Double {
        2 * Double(shape["rows"] ?? 0) * Double(shape["cols"] ?? 0)
    }

    /// 4·(2·rows·cols + cols): x read and y written once, bias read once.
    public func bytes(shape: Shape, dtype: String) -> Double {
        let r = Double(shape["rows"] ?? 0), c = Double(shape["cols"] ?? 0)
        return 4 * (2 * r * c + c)
    }

    /// `abs = 0`, `rel = 1e-7`, `minCosine = 0.999999`.
    ///
    /// Both variants perform the same single IEEE add and the same comparison per element, so the
    /// outputs are bit-identical; the band only leaves room for a variant that rounds an
    /// intermediate differently by one ulp (rel 1e-7 ≈ ε). Any real mistake (wrong bias column,
    /// missing ReLU, skipped element) is an O(1) error on inputs in [-1, 1).
    public func defaultTolerance(shape: Shape, dtype: String) -> Tolerance {
        Tolerance(abs: 0, rel: 1e-7, minCosine: 0.999999)
    }

    /// A `BiasReLUInstance` for `variant` with x then bias filled from one `SeededGenerator(seed:)` sequence.
    public func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        let (rows, cols) = try checkedDimensions(variant: variant, shape: shape, dtype: dtype, rowsColsDimensions)
        return BiasReLUInstance(rows: rows, cols: cols, seed: seed, fused: variant == "optimized")
    }

}

/// One bias+ReLU problem: owns x, bias, y and (for the reference) the temporary.
public final class BiasReLUInstance: KernelInstance {
    /// Rows of x and y.
    public let rows: Int
    /// Columns of x and y, length of bias.
    public let cols: Int
    /// True for the one-pass SIMD variant, false for the two-pass reference.
    public let fused: Bool

    private let x: UnsafeMutablePointer<Float>
    private let bias: UnsafeMutablePointer<Float>
    private let y: UnsafeMutablePointer<Float>
    private let temporary: UnsafeMutablePointer<Float>?

    /// Creates the problem with x (rows×cols) and then bias (cols) drawn from `SeededGenerator(seed:)`.
    public init(rows: Int, cols: Int, seed: UInt64, fused: Bool) {
        precondition(rows > 0 && cols > 0, "bias_relu dimensions must be positive")
        self.rows = rows
        self.cols = cols
        self.fused = fused
        var g = SeededGenerator(seed: seed)
        x = g.filledFloats(rows * cols)
        bias = g.filledFloats(cols)
        y = allocateFloats(rows * cols)
        temporary = fused ? nil : allocateFloats(rows * cols)
    }

    deinit {
        freeFloats(x)
        freeFloats(bias)
        freeFloats(y)
        if let temporary { freeFloats(temporary) }
    }

    /// x (rows×cols, row-major).
    public var inputX: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: x, count: rows * cols) }
    /// bias (cols).
    public var inputBias: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: bias, count: cols) }

    /// Computes y once.
    public func run() {
        if let temporary {
            biasReLUReference(rows: rows, cols: cols, x: x, bias: bias, temporary: temporary, y: y)
        } else {
            biasReLUFused(rows: rows, cols: cols, x: x, bias: bias, y: y)
        }
    }

    /// y (rows×cols, row-major) from the last `run()`.
    public func output() -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: y, count: rows * cols) }
}

/// Two passes: t = x + bias (broadcast over rows), then y = relu(t).
func biasReLUReference(rows: Int, cols: Int, x: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                       temporary t: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        for c in 0..<cols {
            t[r * cols + c] = x[r * cols + c] + bias[c]
        }
    }
    for i in 0..<rows * cols {
        let v = t[i]
        y[i] = v < 0 ? 0 : v
    }
}

/// One pass: y = relu(x + bias), 16 lanes at a time, scalar tail per row.
func biasReLUFused(rows: Int, cols: Int, x: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                   y: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    let w = V.scalarCount
    let vectorCols = cols - cols % w
    let zero = V()
    let biasRaw = UnsafeRawPointer(bias)
    for r in 0..<rows {
        let xr = UnsafeRawPointer(x + r * cols)
        let yr = UnsafeMutableRawPointer(y + r * cols)
        var c = 0
        while c < vectorCols {
            let offset = c * MemoryLayout<Float>.stride
            let v = xr.loadUnaligned(fromByteOffset: offset, as: V.self)
                + biasRaw.loadUnaligned(fromByteOffset: offset, as: V.self)
            yr.storeBytes(of: v.replacing(with: zero, where: v .< zero), toByteOffset: offset, as: V.self)
            c += w
        }
        let xs = x + r * cols, ys = y + r * cols
        while c < cols {
            let v = xs[c] + bias[c]
            ys[c] = v < 0 ? 0 : v
            c += 1
        }
    }
}
