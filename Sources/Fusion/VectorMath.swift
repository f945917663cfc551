// Vector math shared by the unfused per-layer kernels and the fused executors. Both plans call
// exactly these functions, lane by lane in the same order, so a fused group reproduces the unfused
// result bit for bit wherever it performs the same operations (elementwise chains, GEMM
// epilogues, layernorm epilogues); only the streaming attention reorders arithmetic.
//
// One concrete vector type, `SIMD16<Float>`: one zmm on AVX-512 builds, a pair of ymm on AVX2
// builds (correct on both; `ISA.kernelPath` only affects speed here). Concrete types matter: the
// standard library's fast SIMD operators are overloads for concrete `SIMDn<Float>`, while generic
// code over `SIMD` falls back to per-lane loops.
import Kernels

/// The vector type of all fusion kernels.
typealias FV = SIMD16<Float>
/// Lanes of `FV`.
let fvLanes = 16

/// Loads `count` (< 16) floats from `p` into the low lanes, zero elsewhere.
@inline(__always)
func loadPartial(_ p: UnsafePointer<Float>, _ count: Int) -> FV {
    var v = FV()
    for i in 0..<count { v[i] = p[i] }
    return v
}

/// Stores the low `count` lanes of `v` to `p`.
@inline(__always)
func storePartial(_ v: FV, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    for i in 0..<count { p[i] = v[i] }
}

/// Unaligned vector load at `p`.
@inline(__always)
func load(_ p: UnsafePointer<Float>) -> FV {
    UnsafeRawPointer(p).loadUnaligned(as: FV.self)
}

/// Unaligned vector store at `p`.
@inline(__always)
func store(_ v: FV, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: FV.self)
}

/// Vector math on `FV`. Constants are computed properties (folded into the code) rather than
/// `static let`s, whose lazy initialisation check would sit inside every interpreted step.
enum VMath {
    /// 1.5·2²³: adding it rounds a float of magnitude < 2²² to an integer held in the low mantissa bits.
    static var magic: FV { @inline(__always) get { FV(repeating: 12582912.0) } }
    static var one: FV { @inline(__always) get { FV(repeating: 1) } }
    static var zero: FV { @inline(__always) get { FV() } }

    /// e^x: the kernels' Cephes-style exp (`Kernels.VectorMath.exp`), about 2 ulp for x in
    /// [−86, 88.72]; +inf above, exactly 0 below (so a −∞ mask gives 0), NaN stays NaN.
    @_transparent
    static func exp(_ x: FV) -> FV {
        VectorMath.exp(x)
    }

    /// GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))) = x / (1 + e^(−2u)).
    /// The kernels' `VectorMath.geluTanh` — the very operations the GEMM applies to its output
    /// when a GELU is fused into its epilogue (`GEMMTileEpilogue`), so fused and unfused agree bit
    /// for bit.
    @_transparent
    static func gelu(_ x: FV) -> FV {
        VectorMath.geluTanh(x)
    }

    /// SiLU: x / (1 + e^(−x)).
    @_transparent
    static func silu(_ x: FV) -> FV {
        x / (one + exp(-x))
    }

    /// max(x, 0) as `x < 0 ? 0 : x` (NaN propagates, −0 stays −0).
    @_transparent
    static func relu(_ x: FV) -> FV {
        x.replacing(with: zero, where: x .< zero)
    }

    /// min(max(x, 0), 6).
    @_transparent
    static func relu6(_ x: FV) -> FV {
        let six = FV(repeating: 6)
        let r = x.replacing(with: zero, where: x .< zero)
        return r.replacing(with: six, where: r .> six)
    }

    /// Round half to even for |x| < 2²² (quantized values are clamped to ±127 first).
    @_transparent
    static func roundEven(_ x: FV) -> FV {
        (x + magic) - magic
    }
}

