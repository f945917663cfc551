// Width-generic SIMD helpers shared by the non-GEMM optimized kernels: loads and stores, the
// vector-width dispatch from `GEMMKernelPath`, and vectorized exp / sigmoid / erfc approximations.
//
// Every optimized kernel below is written once, generic over `V: FloatVector`, and instantiated
// for `SIMD16<Float>` (AVX-512: one zmm), `SIMD8<Float>` (AVX2: one ymm) and `SIMD4<Float>`
// (SSE: one xmm). The generic functions are `@inline(__always)` or called with concrete types
// inside this module, so the optimizer specializes them; the dispatch picks the width from
// `ISA.kernelPath` (build ∩ host), and tests force the other widths.
//
// Accuracy of the approximations (float32, measured against libm in `VectorMathTests`):
// - `fastExp`: Cephes `expf` scheme — x = n·ln2 + r, |r| ≤ ln2/2, degree-6 polynomial for e^r,
//   2ⁿ added to the exponent bits. Max relative error ≈ 2 ulp (< 3e-7) for x in [−86, 88.72];
//   x > 88.72 gives +inf, x < −86 gives 0 (the true value is below 4.5e-38, so the absolute error
//   is below 4.5e-38), NaN gives NaN.
// - `geluExp`: the tanh-GELU's own exp (degree-5 polynomial, one-step range reduction), ≈ 1e-7
//   relative before rounding, over the range the GELU feeds it only; `fastGeluTanh` states the
//   GELU's bound (6e-7·|GELU| + 2e-8, `GELUEpilogueTests`).
// - `fastSigmoid(x)` = 1/(1 + fastExp(−x)): relative error < 5e-7 where the result is normal.
// - `fastErfc(|z|)`: Abramowitz & Stegun 7.1.26, t = 1/(1 + p·|z|), erfc = t·poly(t)·e^(−z²);
//   absolute error ≤ 1.5e-7 (the published bound) plus float32 rounding, which dominates where
//   erfc ≈ 1: measured max 3.6e-7 (near |z| = 0.04), so GELU's 0.5·x·erfc error is ≤ 2.2e-7
//   (x is small exactly where the erfc error is largest). Used as erfc directly for z < 0, so
//   GELU's left tail has no 1 + erf cancellation.

/// A float32 SIMD vector the optimized kernels are generic over (`SIMD16/8/4<Float>`), with the
/// same-width Int32 vector used for exponent-bit manipulation.
///
/// The compare-and-blend operations are protocol requirements implemented per concrete type:
/// inside generic code, `.<` and `replacing(with:where:)` resolve to the `SIMD` protocol's
/// lane-by-lane fallbacks (measured 10× slower than a scalar loop for ReLU), while in the
/// concrete `SIMD16<Float>` context they are a single vector compare and blend.
@usableFromInline
protocol FloatVector: SIMD & BitwiseCopyable where Scalar == Float {
    /// Int32 vector with the same lane count (same size in bytes).
    associatedtype Bits: SIMD & BitwiseCopyable where Bits.Scalar == Int32
    /// Lane-wise `probe < threshold ? ifBelow : otherwise` (false for NaN lanes).
    static func select(_ probe: Self, below threshold: Self, _ ifBelow: Self, _ otherwise: Self) -> Self
    /// Lane-wise `probe.isNaN ? ifNaN : otherwise`.
    static func selectNaN(_ probe: Self, _ ifNaN: Self, _ otherwise: Self) -> Self
    /// Lane-wise fused `acc + a·b` through the concrete type's `addingProduct` (one vfmadd on the
    /// full register; the generic lane loop can be split into half-width instructions).
    static func fma(_ acc: Self, _ a: Self, _ b: Self) -> Self
}

extension SIMD16: FloatVector where Scalar == Float {
    @usableFromInline typealias Bits = SIMD16<Int32>
    @inlinable @inline(__always)
    static func select(_ probe: Self, below threshold: Self, _ ifBelow: Self, _ otherwise: Self) -> Self {
        otherwise.replacing(with: ifBelow, where: probe .< threshold)
    }
    @inlinable @inline(__always)
    static func selectNaN(_ probe: Self, _ ifNaN: Self, _ otherwise: Self) -> Self {
        otherwise.replacing(with: ifNaN, where: probe .!= probe)
    }
    @inlinable @inline(__always)
    static func fma(_ acc: Self, _ a: Self, _ b: Self) -> Self { acc.addingProduct(a, b) }
}

extension SIMD8: FloatVector where Scalar == Float {
    @usableFromInline typealias Bits = SIMD8<Int32>
    @inlinable @inline(__always)
    static func select(_ probe: Self, below threshold: Self, _ ifBelow: Self, _ otherwise: Self) -> Self {
        otherwise.replacing(with: ifBelow, where: probe .< threshold)
    }
    @inlinable @inline(__always)
    static func selectNaN(_ probe: Self, _ ifNaN: Self, _ otherwise: Self) -> Self {
        otherwise.replacing(with: ifNaN, where: probe .!= probe)
    }
    @inlinable @inline(__always)
    static func fma(_ acc: Self, _ a: Self, _ b: Self) -> Self { acc.addingProduct(a, b) }
}

extension SIMD4: FloatVector where Scalar == Float {
    @usableFromInline typealias Bits = SIMD4<Int32>
    @inlinable @inline(__always)
    static func select(_ probe: Self, below threshold: Self, _ ifBelow: Self, _ otherwise: Self) -> Self {
        otherwise.replacing(with: ifBelow, where: probe .< threshold)
    }
    @inlinable @inline(__always)
    static func selectNaN(_ probe: Self, _ ifNaN: Self, _ otherwise: Self) -> Self {
        otherwise.replacing(with: ifNaN, where: probe .!= probe)
    }
    @inlinable @inline(__always)
    static func fma(_ acc: Self, _ a: Self, _ b: Self) -> Self { acc.addingProduct(a, b) }
}

extension GEMMKernelPath {
    /// Floats per vector register on this path: 16 (zmm), 8 (ymm), 4 (xmm).
    public var vectorWidth: Int {
        switch self {
        case .avx512: 16
        case .avx2: 8
        case .sse: 4
        }
    }
}

/// Loads a vector from `p + i` (no alignment needed).
@inline(__always)
func vload<V: FloatVector>(_ p: UnsafePointer<Float>, _ i: Int = 0) -> V {
    UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
}

/// Loads a vector from `p + i` (no alignment needed).
@inline(__always)
func vload<V: FloatVector>(_ p: UnsafeMutablePointer<Float>, _ i: Int = 0) -> V {
    UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
}

/// Stores `v` to `p + i` (no alignment needed).
@inline(__always)
func vstore<V: FloatVector>(_ v: V, _ p: UnsafeMutablePointer<Float>, _ i: Int = 0) {
    UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: V.self)
}

/// Lane-wise maximum by compare-and-blend (`vmaxps`-like; a NaN in `b` is not propagated).
@inlinable @_transparent
func vmax<V: FloatVector>(_ a: V, _ b: V) -> V {
    V.select(a, below: b, b, a)
}

/// Lane-wise minimum by compare-and-blend.
@inlinable @_transparent
func vmin<V: FloatVector>(_ a: V, _ b: V) -> V {
    V.select(b, below: a, b, a)
}

/// Largest input of `fastExp` that gives a finite result (e^88.72283 ≈ 3.40e38 ≈ Float.greatestFiniteMagnitude).
@usableFromInline let fastExpMaxInput: Float = 88.72283
/// Inputs below this give 0 from `fastExp` (keeps 2ⁿ a normal number).
@usableFromInline let fastExpMinInput: Float = -86

/// e^x lane-wise (see the file header for the accuracy). The one vectorized exp of fusebench:
/// the fusion executors reach it through `VectorMath.exp`.
@inlinable @_transparent
func fastExp<V: FloatVector>(_ x: V) -> V {
    let hi = V(repeating: fastExpMaxInput), lo = V(repeating: fastExpMinInput)
    var result = fastExpInRange(vmax(vmin(x, hi), lo))
    result = V.select(x, below: lo, V(), result)
    result = V.select(hi, below: x, V(repeating: .infinity), result)
    return V.selectNaN(x, x, result)
}

/// e^x for x already in [`fastExpMinInput`, `fastExpMaxInput`] (a NaN gives an unspecified value):
/// `fastExp`'s polynomial without its special cases. In that range the result is `fastExp`'s, bit
/// for bit.
@inlinable @_transparent
func fastExpInRange<V: FloatVector>(_ xc: V) -> V {
    let (t, n) = expExponent(xc)
    // r = x − n·ln2 in two steps (Cody–Waite: ln2 = 0.693359375 − 2.12194440e-4), |r| ≤ ln2/2.
    var r = xc.addingProduct(n, V(repeating: -0.693_359_375))
    r = r.addingProduct(n, V(repeating: 2.121_944_40e-4))
    // Cephes expf: e^r ≈ 1 + r + r²·P(r), P of degree 5 (Horner with FMAs).
    var p = V(repeating: 1.398_199_950_7e-3).addingProduct(V(repeating: 1.987_569_150_0e-4), r)
    p = V(repeating: 8.333_451_907_3e-3).addingProduct(p, r)
    p = V(repeating: 4.166_579_589_4e-2).addingProduct(p, r)
    p = V(repeating: 1.666_666_545_9e-1).addingProduct(p, r)
    p = V(repeating: 5.000_000_120_1e-1).addingProduct(p, r)
    return expScale(r.addingProduct(p, r * r) + V(repeating: 1), t)
}

/// The exponent step of the exps: n = x·log2(e) rounded to the nearest integer, as t = x·log2(e) +
/// 1.5·2²³ (the addition does the rounding; n then sits in the low mantissa bits of t, |n| < 2²²)
/// and n = t − 1.5·2²³ as a float.
@inlinable @_transparent
func expExponent<V: FloatVector>(_ x: V) -> (t: V, n: V) {
    let magic = V(repeating: 12_582_912)
    let t = magic.addingProduct(x, V(repeating: 1.442_695_04))
    return (t, t - magic)
}

/// e^r · 2ⁿ for the t of `expExponent`: adds n (= bits(t) − bits(1.5·2²³)) to the exponent field.
@inlinable @_transparent
func expScale<V: FloatVector>(_ er: V, _ t: V) -> V {
    let nBits = unsafeBitCast(t, to: V.Bits.self) &- V.Bits(repeating: 0x4B40_0000)
    return unsafeBitCast(unsafeBitCast(er, to: V.Bits.self) &+ (nBits &<< 23), to: V.self)
}

/// The vector math the kernels use, for op families built on top of them (one copy of each
/// approximation, so every family rounds the same way).
public enum VectorMath {
    /// e^x on 16 lanes (`fastExp`): about 2 ulp for x in [−86, 88.72]; +inf above, 0 below
    /// (so a −inf mask gives 0), NaN stays NaN.
    @inlinable @inline(__always)
    public static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> { fastExp(x) }

    /// tanh-GELU on 16 lanes (`fastGeluTanh`): the same operations as the GEMM micro-kernels'
    /// GELU epilogue, so fused and unfused GELU agree bit for bit. Within
    /// 6e-7·|GELU(x)| + 2e-8 of the exact tanh-GELU.
    @inlinable @inline(__always)
    public static func geluTanh(_ x: SIMD16<Float>) -> SIMD16<Float> { fastGeluTanh(x) }

    /// `geluTanh` on 8 lanes (one ymm): lane for lane the same result as the 16-lane form.
    @inlinable @inline(__always)
    public static func geluTanh(_ x: SIMD8<Float>) -> SIMD8<Float> { fastGeluTanh(x) }
}

/// tanh-GELU lane-wise, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) evaluated as x / (1 + e^(−2u)),
/// u = √(2/π)·(x + 0.044715·x³): −2u = x·(a + b·x²) (two multiplies and one FMA), `geluExp`
/// (a degree-5 polynomial after a one-step range reduction) and one division — no tanh and no
/// 1 + tanh cancellation for negative x.
///
/// The operations, in this order, are the fusion runtime's GELU (`VMath.gelu` calls this) and the
/// GEMM's epilogue (`GEMMTileEpilogue`), so a GELU fused into a GEMM
/// is bit-identical to the unfused GELU layer at every vector width (each step is one IEEE
/// operation per lane). Error against the exact tanh-GELU (Double), over [−12, 12] on a 2⁻¹² grid
/// plus ±[12, 1e4] (tested in `GELUEpilogueTests`): |f(x) − GELU(x)| ≤ 6e-7·|GELU(x)| + 2e-8.
/// Measured: relative ≤ 2.3e-7 for x ≥ −1 (tested ≤ 3e-7); on the left tail the float rounding of
/// −2u (amplified by e^(−2u)) gives up to 1e-5 relative near x ≈ −9, but there |GELU(x)| < 1e-27,
/// so the absolute error stays ≤ 4.5e-8 for every x < 0 (≤ 5.2e-7 overall: one ulp of the large
/// positive x). x is clamped at −10 (e^(−2u) ≤ 8.3e37, inside the exp's range), so every x ≤ −10,
/// −∞ included, gives −10 / (1 + e^87.3) ≈ −1.2e-37 (true value below 1e-37 in magnitude); NaN stays
/// NaN. This is inside the `gelu_tanh` op's band (abs 1e-6 + rel 1e-5).
///
/// Cost, per lane group: 10 multiplies/FMAs (they share the FMA pipes with the GEMM it is fused
/// into), 2 clamps, 3 adds, 3 integer operations and one division — 4 multiplies/FMAs and one
/// clamp fewer than the Cephes exp's form (docs/results.md, issue 18).
@inlinable @_transparent
func fastGeluTanh<V: FloatVector>(_ x: V) -> V {
    let xc = vmax(x, V(repeating: -10))
    // −2u = x·(−2√(2/π) − 2√(2/π)·0.044715·x²).
    let x2 = xc * xc
    let m2u = xc * V(repeating: -2 * 0.797_884_560_802_865_4)
        .addingProduct(V(repeating: -2 * 0.797_884_560_802_865_4 * 0.044715), x2)
    let e = geluExp(vmax(m2u, V(repeating: fastExpMinInput)))
    return xc / (V(repeating: 1) + e)
}

/// e^x for x in [`fastExpMinInput`, 87.4] (the range `fastGeluTanh` feeds it), to ≈ 1e-7 relative
/// with 6 multiplies/FMAs: one-step range reduction r = x − n·ln2 (one FMA; ln2's float rounding
/// adds ≤ |n|·1.9e-9 ≤ 2.4e-7 to the relative error at the ends of the range) and
/// e^r ≈ 1 + r + r²·(c₂ + c₃r + c₄r² + c₅r³), |r| ≤ ln2/2, coefficients fitted for relative error
/// (1.05e-7 in exact arithmetic). Not for general use: `fastExp` is the accurate one.
@inlinable @_transparent
func geluExp<V: FloatVector>(_ xc: V) -> V {
    let (t, n) = expExponent(xc)
    let r = xc.addingProduct(n, V(repeating: -0.693_147_180_56))
    var p = V(repeating: 0.041_890_166_37).addingProduct(V(repeating: 0.008_312_690_108), r)
    p = V(repeating: 0.166_671_127_0).addingProduct(p, r)
    p = V(repeating: 0.499_992_312_3).addingProduct(p, r)
    return expScale(r.addingProduct(p, r * r) + V(repeating: 1), t)
}

/// 1 / (1 + e^(−x)) lane-wise; 0 for x < −88.7 and 1 for x > 86 (see the file header).
@inline(__always)
func fastSigmoid<V: FloatVector>(_ x: V) -> V {
    V(repeating: 1) / (V(repeating: 1) + fastExp(-x))
}

/// erfc(a) for a ≥ 0 lane-wise (Abramowitz & Stegun 7.1.26; absolute error < 5e-7 in float32, see the file header).
@inline(__always)
func fastErfcNonNegative<V: FloatVector>(_ a: V) -> V {
    let t = V(repeating: 1) / V(repeating: 1).addingProduct(V(repeating: 0.327_591_1), a)
    var poly = V(repeating: -1.453_152_027).addingProduct(V(repeating: 1.061_405_429), t)
    poly = V(repeating: 1.421_413_741).addingProduct(poly, t)
    poly = V(repeating: -0.284_496_736).addingProduct(poly, t)
    poly = V(repeating: 0.254_829_592).addingProduct(poly, t)
    return poly * t * fastExp(-(a * a))
}

/// Horizontal sum of a vector in a fixed order (pairwise halves), for reproducible reductions.
@inline(__always)
func hsum<V: FloatVector>(_ v: V) -> Float {
    v.sum()
}

/// Horizontal maximum of a vector.
@inline(__always)
func hmax<V: FloatVector>(_ v: V) -> Float {
    v.max()
}
