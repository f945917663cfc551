// GEMV: y[n] = A[n×k] · x[k], A row-major — the batch-1 inference case (a linear layer applied to
// one token). Every element of A is used exactly once, so the kernel is bound by how fast A
// streams from wherever it lives (L2, L3 or DRAM), not by arithmetic.
//
// `reference` is the obvious double loop. `optimized` streams A once, four rows at a time: each
// V-wide chunk of x is loaded once and multiplied into the four rows' two accumulators each (eight
// independent FMA chains hide the FMA latency, four load streams keep the prefetchers busy); then
// one horizontal sum per row. Leftover rows run the same loop one at a time; the k % width tail of
// each row is scalar.
import BenchModel

/// `gemv`: y[n] = A[n×k]·x[k], A row-major. Shape keys `n`, `k`.
public struct GEMVFactory: KernelFactory {
    /// Creates the factory.
    public init() {}
    /// `gemv`.
    public var kind: String { "gemv" }
    /// One-line description.
    public var summary: String { "matrix-vector y[n] = A[n×k]·x[k], A row-major (batch-1 linear)" }
    /// `n`, `k`.
    public var shapeKeys: [String] { ["n", "k"] }
    /// `reference` (double loop) and `optimized` (four rows per pass, SIMD over k).
    public var variants: [String] { ["reference", "optimized"] }
    /// `f32`.
    public var dtypes: [String] { ["f32"] }

    /// Checks dtype, positive `n` and `k`, no other key, and the element limit of A.
    public func validate(shape: Shape, dtype: String) throws {
        try validate(shape, dtype, dimensions)
    }

    /// 2·n·k.
    public func flops(shape: Shape) -> Double { 2 * Double(shape["n"] ?? 0) * Double(shape["k"] ?? 0) }

    /// 4·(n·k + k + n): A and x read once, y written once (A dominates: the kernel's roofline is bandwidth).
    public func bytes(shape: Shape, dtype: String) -> Double {
        let n = Double(shape["n"] ?? 0), k = Double(shape["k"] ?? 0)
        return 4 * (n * k + k + n)
    }

    /// The GEMM band for depth k: `abs 1e-4·√k, rel 1e-4, cosine 0.99999` (see `GEMMFactory`):
    /// each output is a k-term dot product of values in [−1, 1), summed in a different order.
    public func defaultTolerance(shape: Shape, dtype: String) -> Tolerance {
        GEMMFactory().defaultTolerance(shape: ["k": shape["k"] ?? 1], dtype: dtype)
    }

    /// A `GEMVInstance` for `variant` with A then x from one `SeededGenerator(seed:)` sequence.
    public func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        let (n, k) = try checkedDimensions(variant: variant, shape: shape, dtype: dtype, dimensions)
        return GEMVInstance(n: n, k: k, seed: seed, path: variant == "optimized" ? .current : nil)
    }

    private func dimensions(_ shape: Shape) throws -> (Int, Int) {
        let n = try dimension(shape, "n"), k = try dimension(shape, "k")
        try rejectUnknownKeys(shape)
        try requireElements(n, k, "A (n×k)")
        return (n, k)
    }
}

/// One GEMV problem: owns A, x and y.
public final class GEMVInstance: KernelInstance {
    /// Rows of A, length of y.
    public let n: Int
    /// Columns of A, length of x.
    public let k: Int
    /// SIMD path of the optimized variant; nil for the reference.
    public let path: GEMMKernelPath?
    private let a: UnsafeMutablePointer<Float>
    private let x: UnsafeMutablePointer<Float>
    private let y: UnsafeMutablePointer<Float>

    /// Creates the problem with A (n×k) then x (k) from `SeededGenerator(seed:)`.
    public init(n: Int, k: Int, seed: UInt64, path: GEMMKernelPath?) {
        precondition(n > 0 && k > 0, "GEMV dimensions must be positive")
        self.n = n
        self.k = k
        self.path = path
        var g = SeededGenerator(seed: seed)
        a = g.filledFloats(n * k)
        x = g.filledFloats(k)
        y = allocateFloats(n)
    }

    deinit {
        freeFloats(a)
        freeFloats(x)
        freeFloats(y)
    }

    /// A (n×k, row-major).
    public var inputA: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: a, count: n * k) }
    /// x (k).
    public var inputX: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: x, count: k) }

    /// Computes y once.
    public func run() {
        if let path {
            gemv(path: path, n: n, k: k, a: a, lda: k, x: x, bias: nil, y: y)
        } else {
            gemvReference(n: n, k: k, a: a, x: x, y: y)
        }
    }

    /// y (n) from the last `run()`.
    public func output() -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: y, count: n) }
}

/// y[i] = Σ_p A[i, p]·x[p], in order.
func gemvReference(n: Int, k: Int, a: UnsafePointer<Float>, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    for i in 0..<n {
        var acc: Float = 0
        for p in 0..<k { acc += a[i * k + p] * x[p] }
        y[i] = acc
    }
}

/// Optimized y[i] = (bias?[i] ?? 0) + Σ_p A[i, p]·x[p] with A row stride `lda`, on `path`'s vector width.
func gemv(path: GEMMKernelPath, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>,
          bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
    switch path {
    case .avx512: gemvSIMD(SIMD16<Float>.self, n: n, k: k, a: a, lda: lda, x: x, bias: bias, y: y)
    case .avx2: gemvSIMD(SIMD8<Float>.self, n: n, k: k, a: a, lda: lda, x: x, bias: bias, y: y)
    case .sse: gemvSIMD(SIMD4<Float>.self, n: n, k: k, a: a, lda: lda, x: x, bias: bias, y: y)
    }
}

/// The four-rows-at-a-time streaming loop (see the file header).
@inline(__always)
func gemvSIMD<V: FloatVector>(_: V.Type, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>,
                              bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
    let w = V.scalarCount
    let kv = k - k % (2 * w)
    var i = 0
    while i + 4 <= n {
        let r0 = a + i * lda, r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda
        var a0 = V(), b0 = V(), a1 = V(), b1 = V(), a2 = V(), b2 = V(), a3 = V(), b3 = V()
        var p = 0
        while p < kv {
            let x0: V = vload(x, p), x1: V = vload(x, p + w)
            a0 = a0.addingProduct(vload(r0, p), x0); b0 = b0.addingProduct(vload(r0, p + w), x1)
            a1 = a1.addingProduct(vload(r1, p), x0); b1 = b1.addingProduct(vload(r1, p + w), x1)
            a2 = a2.addingProduct(vload(r2, p), x0); b2 = b2.addingProduct(vload(r2, p + w), x1)
            a3 = a3.addingProduct(vload(r3, p), x0); b3 = b3.addingProduct(vload(r3, p + w), x1)
            p += 2 * w
        }
        var s0 = (a0 + b0).sum(), s1 = (a1 + b1).sum(), s2 = (a2 + b2).sum(), s3 = (a3 + b3).sum()
        while p < k {
            let xp = x[p]
            s0 = s0.addingProduct(r0[p], xp)
            s1 = s1.addingProduct(r1[p], xp)
            s2 = s2.addingProduct(r2[p], xp)
            s3 = s3.addingProduct(r3[p], xp)
            p += 1
        }
        if let bias {
            s0 += bias[i]; s1 += bias[i + 1]; s2 += bias[i + 2]; s3 += bias[i + 3]
        }
        y[i] = s0; y[i + 1] = s1; y[i + 2] = s2; y[i + 3] = s3
        i += 4
    }
    while i < n {
        let r0 = a + i * lda
        var a0 = V(), b0 = V()
        var p = 0
        while p < kv {
            a0 = a0.addingProduct(vload(r0, p), vload(x, p))
            b0 = b0.addingProduct(vload(r0, p + w), vload(x, p + w))
            p += 2 * w
        }
        var s0 = (a0 + b0).sum()
        while p < k {
            s0 = s0.addingProduct(r0[p], x[p])
            p += 1
        }
        y[i] = s0 + (bias?[i] ?? 0)
        i += 1
    }
}
