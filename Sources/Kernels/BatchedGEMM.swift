// batched_gemm: C[b] = A[b] · B[b] for b in 0..<batch, every matrix row-major and the batch
// contiguous (A [batch, m, k], B [batch, k, n], C [batch, m, n]) — e.g. per-head attention
// products. `reference` is the triple loop per batch entry; `optimized` runs the `gemm` kernel's
// optimized path (packed, blocked, ISA-selected micro-kernel) per batch entry, reusing one set of
// packing buffers.
import BenchModel

/// `batched_gemm`: C[b] = A[b]·B[b]. Shape keys `batch`, `m`, `n`, `k`.
public struct BatchedGEMMFactory: KernelFactory {
    /// Creates the factory.
    public init() {}
    /// `batched_gemm`.
    public var kind: String { "batched_gemm" }
    /// One-line description.
    public var summary: String { "batch of independent GEMMs C[b] = A[b]·B[b], contiguous row-major" }
    /// `batch`, `m`, `n`, `k`.
    public var shapeKeys: [String] { ["batch", "m", "n", "k"] }
    /// `reference` (triple loop per entry) and `optimized` (blocked GEMM per entry).
    public var variants: [String] { ["reference", "optimized"] }
    /// `f32`.
    public var dtypes: [String] { ["f32"] }

    /// Checks dtype, positive dimensions, no other key, and the element limits of the batched buffers.
    public func validate(shape: Shape, dtype: String) throws {
        try validate(shape, dtype, dimensions)
    }

    /// 2·batch·m·n·k.
    public func flops(shape: Shape) -> Double {
        2 * Double(shape["batch"] ?? 0) * Double(shape["m"] ?? 0) * Double(shape["n"] ?? 0) * Double(shape["k"] ?? 0)
    }

    /// 4·batch·(m·k + k·n + m·n).
    public func bytes(shape: Shape, dtype: String) -> Double {
        let b = Double(shape["batch"] ?? 0), m = Double(shape["m"] ?? 0)
        let n = Double(shape["n"] ?? 0), k = Double(shape["k"] ?? 0)
        return 4 * b * (m * k + k * n + m * n)
    }

    /// The GEMM band for depth k (see `GEMMFactory`): each entry is an independent GEMM.
    public func defaultTolerance(shape: Shape, dtype: String) -> Tolerance {
        GEMMFactory().defaultTolerance(shape: ["k": shape["k"] ?? 1], dtype: dtype)
    }

    /// A `BatchedGEMMInstance` for `variant` with A then B from one `SeededGenerator(seed:)` sequence.
    public func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        let (batch, m, n, k) = try checkedDimensions(variant: variant, shape: shape, dtype: dtype, dimensions)
        return BatchedGEMMInstance(batch: batch, m: m, n: n, k: k, seed: seed,
                                   path: variant == "optimized" ? .current : nil)
    }

    private func dimensions(_ shape: Shape) throws -> (Int, Int, Int, Int) {
        let batch = try dimension(shape, "batch")
        let m = try dimension(shape, "m"), n = try dimension(shape, "n"), k = try dimension(shape, "k")
        try rejectUnknownKeys(shape)
        try requireElements(m, k, "A (m×k)")
        try requireElements(k, n, "B (k×n)")
        try requireElements(m, n, "C (m×n)")
        try requireElements(batch, max(m * k, k * n, m * n), "the batched operands")
        return (batch, m, n, k)
    }
}

/// One batched GEMM problem: owns A, B, C and (optimized) one set of packing buffers.
public final class BatchedGEMMInstance: KernelInstance {
    /// Number of independent products.
    public let batch: Int
    /// Rows of each A and C.
    public let m: Int
    /// Columns of each B and C.
    public let n: Int
    /// Columns of each A, rows of each B.
    public let k: Int
    /// Micro-kernel path of the optimized variant; nil for the reference.
    public let path: GEMMKernelPath?
    private let a: UnsafeMutablePointer<Float>
    private let b: UnsafeMutablePointer<Float>
    private let c: UnsafeMutablePointer<Float>
    /// Packing buffers and blocked product of the optimized variant (one set, reused by every entry); nil for the reference.
    private let workspace: GEMMWorkspace?

    /// Creates the problem with all A then all B from `SeededGenerator(seed:)`.
    public init(batch: Int, m: Int, n: Int, k: Int, seed: UInt64, path: GEMMKernelPath?) {
        precondition(batch > 0 && m > 0 && n > 0 && k > 0, "batched GEMM dimensions must be positive")
        self.batch = batch
        self.m = m
        self.n = n
        self.k = k
        self.path = path
        var g = SeededGenerator(seed: seed)
        a = g.filledFloats(batch * m * k)
        b = g.filledFloats(batch * k * n)
        c = allocateFloats(batch * m * n)
        workspace = path.map { GEMMWorkspace(m: m, n: n, k: k, path: $0) }
    }

    deinit {
        freeFloats(a)
        freeFloats(b)
        freeFloats(c)
    }

    /// All A matrices ([batch, m, k]).
    public var inputA: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: a, count: batch * m * k) }
    /// All B matrices ([batch, k, n]).
    public var inputB: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: b, count: batch * k * n) }

    /// Computes every C once.
    public func run() {
        for e in 0..<batch {
            let ae = a + e * m * k, be = b + e * k * n, ce = c + e * m * n
            if let workspace {
                workspace.multiply(a: ae, b: be, c: ce)
            } else {
                gemmReference(m: m, n: n, k: k, a: ae, b: be, c: ce)
            }
        }
    }

    /// All C matrices ([batch, m, n]) from the last `run()`.
    public func output() -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: c, count: batch * m * n) }
}
