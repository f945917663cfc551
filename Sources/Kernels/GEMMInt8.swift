// int8 GEMM: C[m×n] (Int32) = A[m×k] · Wᵀ with A and W [n×k] int8, row-major (both operands read
// along k, like a linear layer's x·Wᵀ). `reference` is plain loops; `optimized` sign-extends 32
// int8 lanes to Int32 and multiply-accumulates in 32-bit lanes (see README "int8 GEMM" for the
// instructions LLVM emits). Used by the edge-inference int8 model (module Edge).
import BenchModel

/// `gemm_int8`: C[m×n] = A[m×k]·Wᵀ (W [n×k]), int8 inputs in [-127, 127], int32 accumulation.
/// Outputs are exact integers; `output()` returns them as Float (exact below 2²⁴ in magnitude,
/// i.e. k ≤ 1040 at full-scale inputs; larger k is compared as rounded floats, still deterministic).
public struct Int8GEMMFactory: KernelFactory {
    public init() {}
    public var kind: String { "gemm_int8" }
    public var summary: String { "int8×int8→int32 matrix multiply C[m×n] = A[m×k]·W[n×k]ᵀ" }
    public var shapeKeys: [String] { ["m", "n", "k"] }
    public var variants: [String] { ["reference", "optimized"] }
    public var dtypes: [String] { ["i8"] }

    func dimensions(_ shape: Shape) throws -> (Int, Int, Int) {
        let m = try dimension(shape, "m"), n = try dimension(shape, "n"), k = try dimension(shape, "k")
        try rejectUnknownKeys(shape)
        try requireElements(m, k, "A (m×k)")
        try requireElements(n, k, "W (n×k)")
        try requireElements(m, n, "C (m×n)")
        return (m, n, k)
    }

    public func validate(shape: Shape, dtype: String) throws { try validate(shape, dtype, dimensions) }
    /// 2·m·n·k integer operations.
    public func flops(shape: Shape) -> Double { 2 * Double(shape["m"] ?? 0) * Double(shape["n"] ?? 0) * Double(shape["k"] ?? 0) }
    /// m·k + n·k bytes in, 4·m·n out.
    public func bytes(shape: Shape, dtype: String) -> Double {
        let m = Double(shape["m"] ?? 0), n = Double(shape["n"] ?? 0), k = Double(shape["k"] ?? 0)
        return m * k + n * k + 4 * m * n
    }
    /// Exact: integer arithmetic in both variants.
    public func defaultTolerance(shape: Shape, dtype: String) -> Tolerance { Tolerance(abs: 0, rel: 0, minCosine: 0.999999) }

    public func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        let (m, n, k) = try checkedDimensions(variant: variant, shape: shape, dtype: dtype, dimensions)
        return Int8GEMMInstance(m: m, n: n, k: k, seed: seed, optimized: variant == "optimized")
    }
}

/// A prepared `gemm_int8` problem with seeded inputs in [-127, 127].
public final class Int8GEMMInstance: KernelInstance {
    let m: Int, n: Int, k: Int, optimized: Bool
    let a: UnsafeMutablePointer<Int8>, w: UnsafeMutablePointer<Int8>
    let c: UnsafeMutablePointer<Int32>
    let out: UnsafeMutablePointer<Float>

    init(m: Int, n: Int, k: Int, seed: UInt64, optimized: Bool) {
        (self.m, self.n, self.k, self.optimized) = (m, n, k, optimized)
        var g = SeededGenerator(seed: seed)
        a = .allocate(capacity: m * k)
        w = .allocate(capacity: n * k)
        for i in 0..<(m * k) { a[i] = Int8(Int(g.next() % 255) - 127) }
        for i in 0..<(n * k) { w[i] = Int8(Int(g.next() % 255) - 127) }
        c = .allocate(capacity: m * n)
        c.initialize(repeating: 0, count: m * n)
        out = .allocate(capacity: m * n)
    }

    deinit {
        a.deallocate(); w.deallocate(); c.deallocate(); out.deallocate()
    }

    public func run() {
        if optimized {
            Int8GEMM.optimized(a: a, w: w, c: c, m: m, n: n, k: k)
        } else {
            Int8GEMM.reference(a: a, w: w, c: c, m: m, n: n, k: k)
        }
    }

    public func output() -> UnsafeBufferPointer<Float> {
        for i in 0..<(m * n) { out[i] = Float(c[i]) }
        return UnsafeBufferPointer(start: out, count: m * n)
    }
}

/// int8×int8→int32 GEMM: C[m×n] = A[m×k]·Wᵀ, W [n×k].
public enum Int8GEMM {
    /// Plain loops (the verification reference).
    public static func reference(a: UnsafePointer<Int8>, w: UnsafePointer<Int8>, c: UnsafeMutablePointer<Int32>, m: Int, n: Int, k: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var s: Int32 = 0
                for p in 0..<k { s &+= Int32(a[i * k + p]) &* Int32(w[j * k + p]) }
                c[i * n + j] = s
            }
        }
    }

    /// SIMD widen-multiply-accumulate: 32 int8 lanes of A and of four W rows (output channels) are
    /// sign-extended to Int32, multiplied and accumulated in 32-bit lanes; horizontal sums at the
    /// end, scalar tail for k mod 32. Exact (wrapping Int32, as the reference).
    public static func optimized(a: UnsafePointer<Int8>, w: UnsafePointer<Int8>, c: UnsafeMutablePointer<Int32>, m: Int, n: Int, k: Int) {
        for i in 0..<m {
            rowKernel(a: a + i * k, w: w, out: c + i * n, n: n, k: k)
        }
    }

    @inline(__always)
    public static func load32(_ p: UnsafePointer<Int8>) -> SIMD32<Int32> {
        SIMD32<Int32>(truncatingIfNeeded: UnsafeRawPointer(p).loadUnaligned(as: SIMD32<Int8>.self))
    }

    /// One row of A against all n rows of W.
    @inline(__always)
    public static func rowKernel(a: UnsafePointer<Int8>, w: UnsafePointer<Int8>, out: UnsafeMutablePointer<Int32>, n: Int, k: Int) {
        let kv = k & ~31
        var j = 0
        while j + 4 <= n {
            var s0 = SIMD32<Int32>(), s1 = SIMD32<Int32>(), s2 = SIMD32<Int32>(), s3 = SIMD32<Int32>()
            let w0 = w + j * k, w1 = w0 + k, w2 = w1 + k, w3 = w2 + k
            var p = 0
            while p < kv {
                let av = load32(a + p)
                s0 &+= av &* load32(w0 + p)
                s1 &+= av &* load32(w1 + p)
                s2 &+= av &* load32(w2 + p)
                s3 &+= av &* load32(w3 + p)
                p += 32
            }
            var r0 = s0.wrappedSum(), r1 = s1.wrappedSum(), r2 = s2.wrappedSum(), r3 = s3.wrappedSum()
            while p < k {
                let x = Int32(a[p])
                r0 &+= x &* Int32(w0[p]); r1 &+= x &* Int32(w1[p]); r2 &+= x &* Int32(w2[p]); r3 &+= x &* Int32(w3[p])
                p += 1
            }
            out[j] = r0; out[j + 1] = r1; out[j + 2] = r2; out[j + 3] = r3
            j += 4
        }
        while j < n {
            let wj = w + j * k
            var s = SIMD32<Int32>()
            var p = 0
            while p < kv { s &+= load32(a + p) &* load32(wj + p); p += 32 }
            var r = s.wrappedSum()
            while p < k { r &+= Int32(a[p]) &* Int32(wj[p]); p += 1 }
            out[j] = r
            j += 1
        }
    }
}

