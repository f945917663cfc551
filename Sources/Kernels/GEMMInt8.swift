// int8 GEMM: C[m×n] (Int32) = A[m×k] · Wᵀ with A and W [n×k] int8, row-major (both operands read
// along k, like a linear layer's x·Wᵀ). `reference` is plain loops; `optimized` is the AVX-512
// VNNI micro-kernel on pre-packed W (CPerfEvent/qgemm.c, `PackedInt8Weights`); `dot` is one
// LLVM-vectorized dot product per output (see README "Edge-inference variants" for the instructions
// LLVM emits). Used by the edge-inference int8 model (module Edge).
import BenchModel
import CPerfEvent

/// `gemm_int8`: C[m×n] = A[m×k]·Wᵀ (W [n×k]), int8 inputs in [-127, 127], int32 accumulation.
/// Outputs are exact integers; `output()` returns them as Float (exact below 2²⁴ in magnitude,
/// i.e. k ≤ 1040 at full-scale inputs; larger k is compared as rounded floats, still deterministic).
public struct Int8GEMMFactory: KernelFactory {
    public init() {}
    public var kind: String { "gemm_int8" }
    public var summary: String { "int8×int8→int32 matrix multiply C[m×n] = A[m×k]·W[n×k]ᵀ" }
    public var shapeKeys: [String] { ["m", "n", "k"] }
    /// `reference` (plain loops), `optimized` (VNNI `vpdpbusd` micro-kernel on pre-packed W when
    /// the build has AVX-512 VNNI, else the LLVM-vectorized dot products), `dot` (always the
    /// LLVM-vectorized dot products: `vpmovsxbw` + `vpmaddwd`).
    public var variants: [String] { ["reference", "optimized", "dot"] }
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
        return Int8GEMMInstance(m: m, n: n, k: k, seed: seed, variant: variant)
    }
}

/// W [n×k] int8 pre-packed for the AVX-512 VNNI micro-kernel (`vpdpbusd`, CPerfEvent/qgemm.c):
/// 32-channel panels, k in groups of 4, plus the per-channel correction for the unsigned-A trick.
/// Weights are constant during inference, so they are packed once (like pre-packed weights in
/// inference runtimes); A is used as is. Falls back to `Int8GEMM.optimized` when the build has no VNNI.
public final class PackedInt8Weights {
    /// Whether this build has the VNNI kernel (and the CPU was checked to have the built ISA at start-up).
    public static var vnniAvailable: Bool { fb_qgemm_available() != 0 }
    public let n: Int
    public let k: Int
    let packed: UnsafeMutablePointer<Int8>?
    let corr: UnsafeMutablePointer<Int32>?
    let raw: UnsafeMutablePointer<Int8>

    /// Copies and (when VNNI is available) packs `w` [n×k].
    public init(_ w: UnsafePointer<Int8>, n: Int, k: Int) {
        self.n = n
        self.k = k
        raw = .allocate(capacity: n * k)
        raw.update(from: w, count: n * k)
        if Self.vnniAvailable {
            let size = Int(fb_qgemm_packed_size(Int64(n), Int64(k)))
            let p = UnsafeMutablePointer<Int8>.allocate(capacity: size)
            let c = UnsafeMutablePointer<Int32>.allocate(capacity: n)
            fb_qgemm_pack(w, Int64(n), Int64(k), p, c)
            packed = p
            corr = c
        } else {
            packed = nil
            corr = nil
        }
    }

    deinit {
        raw.deallocate()
        packed?.deallocate()
        corr?.deallocate()
    }

    /// C[m×n] = A[m×k]·Wᵀ, exact in Int32.
    public func multiply(a: UnsafePointer<Int8>, m: Int, c: UnsafeMutablePointer<Int32>) {
        if let packed, let corr {
            fb_qgemm(a, Int64(m), Int64(k), packed, corr, Int64(n), c)
        } else {
            Int8GEMM.optimized(a: a, w: raw, c: c, m: m, n: n, k: k)
        }
    }
}

/// A prepared `gemm_int8` problem with seeded inputs in [-127, 127].
public final class Int8GEMMInstance: KernelInstance {
    let m: Int, n: Int, k: Int, variant: String
    var packedW: PackedInt8Weights?
    let a: UnsafeMutablePointer<Int8>, w: UnsafeMutablePointer<Int8>
    let c: UnsafeMutablePointer<Int32>
    let out: UnsafeMutablePointer<Float>

    init(m: Int, n: Int, k: Int, seed: UInt64, variant: String) {
        (self.m, self.n, self.k, self.variant) = (m, n, k, variant)
        var g = SeededGenerator(seed: seed)
        a = .allocate(capacity: m * k)
        w = .allocate(capacity: n * k)
        for i in 0..<(m * k) { a[i] = Int8(Int(g.next() % 255) - 127) }
        for i in 0..<(n * k) { w[i] = Int8(Int(g.next() % 255) - 127) }
        c = .allocate(capacity: m * n)
        c.initialize(repeating: 0, count: m * n)
        out = .allocate(capacity: m * n)
        if variant == "optimized" { packedW = PackedInt8Weights(w, n: n, k: k) }
    }

    deinit {
        a.deallocate(); w.deallocate(); c.deallocate(); out.deallocate()
    }

    public func run() {
        if let packedW {
            packedW.multiply(a: a, m: m, c: c)
        } else if variant == "dot" {
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

    /// Vectorized by LLVM: each output is one dot product along k written as a widening Int32
    /// reduction (`dot`), which LLVM turns into `vpmovsxbw` + `vpmaddwd` + `vpaddd` on AVX-512 (see
    /// README "Edge-inference variants"). An explicit SIMD32<Int32> formulation (four channels at a time) was 10×
    /// slower: Swift's SIMD widening conversions are not lowered to vector sign-extends.
    public static func optimized(a: UnsafePointer<Int8>, w: UnsafePointer<Int8>, c: UnsafeMutablePointer<Int32>, m: Int, n: Int, k: Int) {
        for i in 0..<m {
            rowKernel(a: a + i * k, w: w, out: c + i * n, n: n, k: k)
        }
    }

    /// Σ_p a[p]·w[p] in wrapping Int32 (exact for k < 2¹⁷ at |values| ≤ 127).
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Int8>, _ w: UnsafePointer<Int8>, _ k: Int) -> Int32 {
        var s: Int32 = 0
        for p in 0..<k { s &+= Int32(a[p]) &* Int32(w[p]) }
        return s
    }

    /// One row of A against all n rows of W.
    @inline(__always)
    public static func rowKernel(a: UnsafePointer<Int8>, w: UnsafePointer<Int8>, out: UnsafeMutablePointer<Int32>, n: Int, k: Int) {
        for j in 0..<n { out[j] = dot(a, w + j * k, k) }
    }
}
