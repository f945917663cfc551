// This file owns the int8 GEMM op (`gemm_int8`) and the Swift side of the int8 kernels:
// C[m×n] (Int32) = A[m×k] · Wᵀ with A and W [n×k] int8, row-major (both operands read along k, like
// a linear layer's x·Wᵀ). `reference` is plain loops; `optimized` is the C kernel on pre-packed W
// (CKernels/qgemm.c: AVX-512 VNNI or AVX2, chosen at run time, `PackedInt8Weights`,
// `Int8KernelPath`); `dot` is one LLVM-vectorized dot product per output (see README
// "Edge-inference variants" for the instructions LLVM emits). Also the quantized-layer epilogue
// (`Int8Epilogue`: its Swift reference and the fused C form). Used by the edge int8 model (module Edge).
import BenchModel
import CKernels

/// `gemm_int8`: C[m×n] = A[m×k]·Wᵀ (W [n×k]), int8 inputs in [-127, 127], int32 accumulation.
/// Shape key `a_nonnegative = 1` draws A from [0, 127] instead, like a layer's post-ReLU or pixel
/// activations: the AVX2 kernel then skips its sign step (the digits model's layers take that path).
/// Outputs are exact integers; `output()` returns them as Float (exact below 2²⁴ in magnitude,
/// i.e. k ≤ 1040 at full-scale inputs; larger k is compared as rounded floats, still deterministic).
public struct Int8GEMMFactory: KernelFactory {
    public init() {}
    public var kind: String { "gemm_int8" }
    public var summary: String { "int8×int8→int32 matrix multiply C[m×n] = A[m×k]·W[n×k]ᵀ" }
    public var shapeKeys: [String] { ["m", "n", "k", "a_nonnegative"] }
    /// `reference` (plain loops), `optimized` (the C kernel on pre-packed W: `vpdpbusd` with AVX-512
    /// VNNI, `vpmaddubsw` + `vpmaddwd` with AVX2, else the LLVM-vectorized dot products), `dot`
    /// (always the LLVM-vectorized dot products: `vpmovsxbw` + `vpmaddwd`).
    public var variants: [String] { ["reference", "optimized", "dot"] }
    public var dtypes: [String] { ["i8"] }

    func dimensions(_ shape: Shape) throws -> (Int, Int, Int) {
        let m = try dimension(shape, "m"), n = try dimension(shape, "n"), k = try dimension(shape, "k")
        try rejectUnknownKeys(shape)
        _ = try nonnegativeA(shape)
        try requireElements(m, k, "A (m×k)")
        try requireElements(n, k, "W (n×k)")
        try requireElements(m, n, "C (m×n)")
        return (m, n, k)
    }

    /// `a_nonnegative`: 0 (default, A in [-127, 127]) or 1 (A in [0, 127]).
    func nonnegativeA(_ shape: Shape) throws -> Bool {
        switch shape["a_nonnegative"] {
        case nil, 0: return false
        case 1: return true
        case let v?: throw KernelSpecError(key: "shape.a_nonnegative", "\(kind): shape.a_nonnegative must be 0 or 1, got \(v)")
        }
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
        return Int8GEMMInstance(m: m, n: n, k: k, seed: seed, variant: variant, nonnegativeA: try nonnegativeA(shape))
    }
}

/// The int8 GEMM code paths of CKernels/qgemm.c (raw values are the C `FB_QGEMM_*` constants).
public enum Int8KernelPath: Int32, CaseIterable, Sendable, CustomStringConvertible {
    /// Portable C loops on the packed weights (always compiled).
    case scalar = 0
    /// `vpmaddubsw` + `vpmaddwd` with the sign trick (compiled on every x86-64 build, `target("avx2")`).
    case avx2 = 1
    /// `vpdpbusd` (compiled only when the build targets AVX-512 VNNI).
    case avx512vnni = 2

    /// The path the C entry points dispatch to: the best compiled path the running CPU supports.
    public static var selected: Int8KernelPath { Int8KernelPath(rawValue: fb_qgemm_available()) ?? .scalar }
    /// Whether this binary contains the path.
    public var isCompiled: Bool { fb_qgemm_path_compiled(rawValue) != 0 }
    /// Whether the path is compiled in and the running CPU has its instructions.
    public var isUsable: Bool { fb_qgemm_path_usable(rawValue) != 0 }
    /// `scalar`, `avx2` or `avx512vnni` (what runs record as the int8 kernel ISA).
    public var description: String { String(cString: fb_qgemm_path_name(rawValue)) }
}

/// What the fused int8 epilogue writes per output: int8 for the next layer, or float (logits).
public enum Int8EpilogueOutput {
    /// clamp(roundHalfEven(y · outScaleInv), -127, 127) into an [m×n] int8 buffer.
    case int8(UnsafeMutablePointer<Int8>)
    /// y into an [m×n] float buffer.
    case float(UnsafeMutablePointer<Float>)
}

/// The epilogue of a quantized linear layer applied to int32 accumulators:
/// y = Float(acc) · scale[j] + bias[j] (two roundings, no FMA), ReLU as `max(y, 0)`, then the
/// output (`Int8EpilogueOutput`). The C fused kernel reproduces `reference` bit for bit.
public struct Int8Epilogue {
    /// Per output channel: dequantization factor scale_in · scale_w[j] (n values).
    public var scale: UnsafePointer<Float>
    /// Per output channel bias (n values).
    public var bias: UnsafePointer<Float>
    /// Whether to apply ReLU.
    public var relu: Bool
    /// 1 / the next layer's input scale (used by `.int8` outputs only).
    public var outScaleInv: Float

    /// Creates an epilogue description; the pointers must stay valid while it is used.
    public init(scale: UnsafePointer<Float>, bias: UnsafePointer<Float>, relu: Bool, outScaleInv: Float) {
        self.scale = scale
        self.bias = bias
        self.relu = relu
        self.outScaleInv = outScaleInv
    }

    /// The reference epilogue: a separate pass over acc [m×n].
    public func reference(acc: UnsafePointer<Int32>, m: Int, n: Int, output: Int8EpilogueOutput) {
        for i in 0..<m {
            let row = acc + i * n
            for j in 0..<n {
                var y = Float(row[j]) * scale[j] + bias[j]
                if relu { y = max(y, 0) }
                switch output {
                case .float(let out):
                    out[i * n + j] = y
                case .int8(let out):
                    let q = min(max((y * outScaleInv).rounded(.toNearestOrEven), -127), 127)
                    out[i * n + j] = Int8(truncatingIfNeeded: Int32(q))
                }
            }
        }
    }
}

/// W [n×k] int8 pre-packed for the C kernels (CKernels/qgemm.c): 32-channel panels, k in groups
/// of 4, plus the per-channel correction of the VNNI unsigned-A trick. Weights are constant during
/// inference, so they are packed once (like pre-packed weights in inference runtimes); A is used as
/// is. The C kernel runs on `Int8KernelPath.selected`; when that is `scalar` (no SIMD path for this
/// CPU), `multiply` uses Swift's `Int8GEMM.optimized` and `multiplyFused` adds the Swift epilogue.
/// Not thread-safe (the Swift fallback keeps a scratch buffer).
public final class PackedInt8Weights {
    /// Whether the C kernel runs (a SIMD path exists for this build and CPU).
    public static var usesCKernel: Bool { Int8KernelPath.selected != .scalar }
    /// Output channels.
    public let n: Int
    /// Reduction length.
    public let k: Int
    let packed: UnsafeMutablePointer<Int8>
    let corr: UnsafeMutablePointer<Int32>
    let raw: UnsafeMutablePointer<Int8>
    private var scratch: UnsafeMutablePointer<Int32>?
    private var scratchCount = 0

    /// Copies and packs `w` [n×k] (values in [-127, 127]: the AVX2 kernel's sign trick cannot
    /// negate -128, so it is refused rather than computed wrong on one path).
    public init(_ w: UnsafePointer<Int8>, n: Int, k: Int) {
        precondition(!UnsafeBufferPointer(start: w, count: n * k).contains(-128),
                     "PackedInt8Weights: weights must be in [-127, 127] (symmetric quantization never produces -128)")
        self.n = n
        self.k = k
        raw = .allocate(capacity: n * k)
        raw.update(from: w, count: n * k)
        packed = .allocate(capacity: Int(fb_qgemm_packed_size(Int64(n), Int64(k))))
        corr = .allocate(capacity: max(n, 1))
        fb_qgemm_pack(w, Int64(n), Int64(k), packed, corr)
    }

    deinit {
        raw.deallocate()
        packed.deallocate()
        corr.deallocate()
        scratch?.deallocate()
    }

    /// C[m×n] = A[m×k]·Wᵀ, exact in Int32.
    public func multiply(a: UnsafePointer<Int8>, m: Int, c: UnsafeMutablePointer<Int32>) {
        if Self.usesCKernel {
            fb_qgemm(a, Int64(m), Int64(k), packed, corr, Int64(n), c)
        } else {
            Int8GEMM.optimized(a: a, w: raw, c: c, m: m, n: n, k: k)
        }
    }

    /// `multiply` on an explicit C path; false (nothing written) when the path is not usable here.
    @discardableResult
    public func multiply(a: UnsafePointer<Int8>, m: Int, c: UnsafeMutablePointer<Int32>, path: Int8KernelPath) -> Bool {
        fb_qgemm_on(path.rawValue, a, Int64(m), Int64(k), packed, corr, Int64(n), c) == 0
    }

    /// GEMM with the epilogue fused into the kernel's register tiles (one pass, no int32 matrix).
    public func multiplyFused(a: UnsafePointer<Int8>, m: Int, epilogue e: Int8Epilogue, output: Int8EpilogueOutput) {
        if Self.usesCKernel {
            _ = multiplyFused(a: a, m: m, epilogue: e, output: output, path: Int8KernelPath.selected)
            return
        }
        if scratchCount < m * n {
            scratch?.deallocate()
            scratch = .allocate(capacity: m * n)
            scratchCount = m * n
        }
        let acc = scratch!
        Int8GEMM.optimized(a: a, w: raw, c: acc, m: m, n: n, k: k)
        e.reference(acc: acc, m: m, n: n, output: output)
    }

    /// `multiplyFused` on an explicit C path; false (nothing written) when the path is not usable here.
    @discardableResult
    public func multiplyFused(a: UnsafePointer<Int8>, m: Int, epilogue e: Int8Epilogue, output: Int8EpilogueOutput,
                              path: Int8KernelPath) -> Bool {
        let relu: Int32 = e.relu ? 1 : 0
        switch output {
        case .int8(let q):
            return fb_qgemm_fused_on(path.rawValue, a, Int64(m), Int64(k), packed, corr, Int64(n), e.scale, e.bias, relu,
                                     e.outScaleInv, q, nil) == 0
        case .float(let f):
            return fb_qgemm_fused_on(path.rawValue, a, Int64(m), Int64(k), packed, corr, Int64(n), e.scale, e.bias, relu,
                                     e.outScaleInv, nil, f) == 0
        }
    }
}

/// A prepared `gemm_int8` problem with seeded inputs in [-127, 127] (A in [0, 127] when `nonnegativeA`).
public final class Int8GEMMInstance: KernelInstance {
    let m: Int, n: Int, k: Int, variant: String
    var packedW: PackedInt8Weights?
    let a: UnsafeMutablePointer<Int8>, w: UnsafeMutablePointer<Int8>
    let c: UnsafeMutablePointer<Int32>
    let out: UnsafeMutablePointer<Float>

    init(m: Int, n: Int, k: Int, seed: UInt64, variant: String, nonnegativeA: Bool = false) {
        (self.m, self.n, self.k, self.variant) = (m, n, k, variant)
        var g = SeededGenerator(seed: seed)
        a = .allocate(capacity: m * k)
        w = .allocate(capacity: n * k)
        for i in 0..<(m * k) { a[i] = nonnegativeA ? Int8(g.next() % 128) : Int8(Int(g.next() % 255) - 127) }
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
