// Row-wise normalizations over a rows×cols row-major matrix: `layernorm`, `rmsnorm`, `softmax`.
//
// `reference` is the definition, accumulated in Double (so the accuracy band measures the
// optimized variant's float32 error alone) with libm `exp`. `optimized` works on one row at a time
// (a BERT row of 768 floats is 3 KiB, so the later passes hit L1): SIMD reductions with four
// independent vector accumulators, then one fused SIMD pass writing the row.
//
// Inputs: x[r, c] = spread·u + offset·v_r with u, v uniform in [−1, 1) (per row: v_r first, then
// the row's u values, from one `SeededGenerator(seed:)`). The per-row offset makes the mean of a
// row non-zero (a one-pass E[x²] − E[x]² variance would lose digits) and, for softmax, pushes whole
// rows beyond e^±88 so that a kernel without the max subtraction overflows and is rejected.
// gamma = 1 + 0.5·u, beta = 0.5·u follow x in the same sequence.
import BenchModel
import Foundation

/// Which row-wise normalization a `RowNormFactory` provides.
public enum RowNorm: String, CaseIterable, Sendable {
    /// y = (x − mean)/√(var + ε)·γ + β per row, biased variance, ε = 1e-5.
    case layernorm
    /// y = x/√(mean(x²) + ε)·γ per row, ε = 1e-5.
    case rmsnorm
    /// y = e^(x − max)/Σ e^(x − max) per row.
    case softmax

    /// (spread, offset) of the generated inputs (see the file header).
    var inputScale: (spread: Float, offset: Float) {
        switch self {
        case .layernorm, .rmsnorm: (1, 2)
        case .softmax: (10, 100)
        }
    }
}

/// The ε of layernorm and RMSNorm.
let normEpsilon: Float = 1e-5

/// Row-wise `layernorm`, `rmsnorm` or `softmax` over a rows×cols row-major matrix. Shape keys `rows`, `cols`.
public struct RowNormFactory: KernelFactory {
    /// The normalization.
    public let norm: RowNorm
    /// Creates the factory for `norm`.
    public init(_ norm: RowNorm) { self.norm = norm }
    /// `layernorm`, `rmsnorm` or `softmax`.
    public var kind: String { norm.rawValue }
    /// One-line description.
    public var summary: String {
        switch norm {
        case .layernorm: "row-wise layer normalization with gamma/beta over rows×cols"
        case .rmsnorm: "row-wise RMS normalization with gamma over rows×cols"
        case .softmax: "row-wise numerically stable softmax over rows×cols"
        }
    }
    /// `rows`, `cols`.
    public var shapeKeys: [String] { ["rows", "cols"] }
    /// `reference` (Double accumulation) and `optimized` (SIMD passes per row).
    public var variants: [String] { ["reference", "optimized"] }
    /// `f32`.
    public var dtypes: [String] { ["f32"] }

    /// Checks dtype, that `rows` and `cols` are present and positive, and that no other key is present.
    public func validate(shape: Shape, dtype: String) throws {
        try validate(shape, dtype, rowsColsDimensions)
    }

    /// Per element: layernorm 8 (sum; subtract, square, add; subtract, multiply, fma),
    /// rmsnorm 4 (square-add; two multiplies), softmax 5 (max, subtract, exp, add, multiply).
    public func flops(shape: Shape) -> Double {
        let perElement: Double = switch norm {
        case .layernorm: 8
        case .rmsnorm: 4
        case .softmax: 5
        }
        return perElement * Double(shape["rows"] ?? 0) * Double(shape["cols"] ?? 0)
    }

    /// 4·(2·rows·cols + p·cols): x read and y written once, plus p parameter vectors (2 for layernorm, 1 for rmsnorm, 0 for softmax).
    public func bytes(shape: Shape, dtype: String) -> Double {
        let r = Double(shape["rows"] ?? 0), c = Double(shape["cols"] ?? 0)
        let params: Double = switch norm {
        case .layernorm: 2
        case .rmsnorm: 1
        case .softmax: 0
        }
        return 4 * (2 * r * c + params * c)
    }

    /// layernorm/rmsnorm: `abs 2e-5, rel 1e-5, cosine 0.999999`; softmax: `abs 1e-9, rel 2e-5, cosine 0.99999`.
    ///
    /// Justification. The reference is (nearly) exact, so the band is the optimized float32 error.
    /// layernorm/rmsnorm: outputs are O(1) (|x − mean|·rstd ≤ √3·(spread)/σ ≈ 1.7 for uniform rows,
    /// times |γ| ≤ 1.5); the float mean of a row with offset 2 is off by ~ε·2·(cols/64)^½ (64 partial
    /// sums), each x − mean rounds by ε·3, and rstd by a few ε, so |y| errors are ~1e-6; measured
    /// max 7.2e-7 (layernorm) and 4.8e-7 (rmsnorm) at 128×768 on Zen 5. 2e-5 absolute plus 1e-5 relative leaves ≥ 10×, while the classic
    /// bugs are far outside: an unbiased (n − 1) variance changes y by 1/(2·cols) relative
    /// (6.5e-4 at 768), a missing γ or β by O(1), the mean of the wrong row by O(offset).
    /// softmax: outputs are e^(x − max)/Σ with x − max in [−220, 0]. In float32, x − max rounds by
    /// ½ulp(x) ≤ 3.8e-6 (|x| < 110), which is a relative error of the same size in e^(x − max);
    /// the fast exp adds < 3e-7 and the row sum (cols ≤ 4096 terms in 64 partial sums) ~1e-6.
    /// Hence rel 2e-5 (≥ 4×; measured max relative 1.4e-6 at 128×512 and 1536×128); the 1e-9 absolute floor only covers outputs below 1e-9 (terms
    /// more than ~20 below the row max, which do not matter to any consumer, and x − max < −86
    /// where the fast exp returns 0). A missing max subtraction gives inf/NaN rows (offset up to
    /// ±100), normalizing by the wrong sum is an O(1) relative error everywhere.
    public func defaultTolerance(shape: Shape, dtype: String) -> Tolerance {
        switch norm {
        case .layernorm, .rmsnorm: Tolerance(abs: 2e-5, rel: 1e-5, minCosine: 0.999999)
        case .softmax: Tolerance(abs: 1e-9, rel: 2e-5, minCosine: 0.99999)
        }
    }

    /// A `RowNormInstance` for `variant` (inputs described in the file header).
    public func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        let (rows, cols) = try checkedDimensions(variant: variant, shape: shape, dtype: dtype, rowsColsDimensions)
        return RowNormInstance(norm: norm, rows: rows, cols: cols, seed: seed,
                               path: variant == "optimized" ? .current : nil)
    }

}

/// One row-normalization problem: owns x, gamma, beta and y.
public final class RowNormInstance: KernelInstance {
    /// The normalization.
    public let norm: RowNorm
    /// Rows of x and y.
    public let rows: Int
    /// Columns of x and y; length of gamma and beta.
    public let cols: Int
    /// SIMD path of the optimized variant; nil for the Double reference.
    public let path: GEMMKernelPath?
    private let x: UnsafeMutablePointer<Float>
    private let gamma: UnsafeMutablePointer<Float>
    private let beta: UnsafeMutablePointer<Float>
    private let y: UnsafeMutablePointer<Float>

    /// Creates the problem with inputs generated as described in the file header.
    public init(norm: RowNorm, rows: Int, cols: Int, seed: UInt64, path: GEMMKernelPath?) {
        precondition(rows > 0 && cols > 0, "row normalization dimensions must be positive")
        self.norm = norm
        self.rows = rows
        self.cols = cols
        self.path = path
        x = allocateFloats(rows * cols)
        gamma = allocateFloats(cols)
        beta = allocateFloats(cols)
        y = allocateFloats(rows * cols)
        var g = SeededGenerator(seed: seed)
        let (spread, offset) = norm.inputScale
        for r in 0..<rows {
            let rowOffset = offset * g.nextUnitFloat()
            for c in 0..<cols { x[r * cols + c] = spread * g.nextUnitFloat() + rowOffset }
        }
        for c in 0..<cols { gamma[c] = 1 + 0.5 * g.nextUnitFloat() }
        for c in 0..<cols { beta[c] = 0.5 * g.nextUnitFloat() }
    }

    deinit {
        freeFloats(x)
        freeFloats(gamma)
        freeFloats(beta)
        freeFloats(y)
    }

    /// x (rows×cols, row-major).
    public var input: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: x, count: rows * cols) }
    /// gamma (cols); unused by softmax.
    public var inputGamma: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: gamma, count: cols) }
    /// beta (cols); used by layernorm only.
    public var inputBeta: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: beta, count: cols) }

    /// Computes y once.
    public func run() {
        guard let path else {
            rowNormReference(norm, rows: rows, cols: cols, x: x, gamma: gamma, beta: beta, y: y)
            return
        }
        switch path {
        case .avx512: rowNormSIMD(SIMD16<Float>.self, norm, rows, cols, x, gamma, beta, y)
        case .avx2: rowNormSIMD(SIMD8<Float>.self, norm, rows, cols, x, gamma, beta, y)
        case .sse: rowNormSIMD(SIMD4<Float>.self, norm, rows, cols, x, gamma, beta, y)
        }
    }

    /// y (rows×cols, row-major) from the last `run()`.
    public func output() -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: y, count: rows * cols) }
}

// MARK: - Reference (definitions, Double accumulation)

/// The `reference` variant over all rows (also fusebench's reference for a user's kernel of this
/// kind, `RowNormBufferReference`): layernorm reads `gamma` and `beta`, rmsnorm `gamma`, softmax
/// neither (they may be nil only where unused).
func rowNormReference(_ norm: RowNorm, rows: Int, cols: Int, x: UnsafePointer<Float>, gamma: UnsafePointer<Float>?,
                      beta: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let xr = x + r * cols, yr = y + r * cols
        switch norm {
        case .layernorm:
            guard let gamma, let beta else { preconditionFailure("layernorm reference needs gamma and beta") }
            layerNormReference(cols, xr, gamma, beta, yr)
        case .rmsnorm:
            guard let gamma else { preconditionFailure("rmsnorm reference needs gamma") }
            rmsNormReference(cols, xr, gamma, yr)
        case .softmax: softmaxReference(cols, xr, yr)
        }
    }
}

/// One row of layernorm: mean, biased variance, then (x − mean)/√(var + ε)·γ + β.
func layerNormReference(_ n: Int, _ x: UnsafePointer<Float>, _ gamma: UnsafePointer<Float>,
                        _ beta: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    var sum = 0.0
    for c in 0..<n { sum += Double(x[c]) }
    let mean = sum / Double(n)
    var squares = 0.0
    for c in 0..<n { squares += (Double(x[c]) - mean) * (Double(x[c]) - mean) }
    let rstd = 1 / (squares / Double(n) + Double(normEpsilon)).squareRoot()
    for c in 0..<n { y[c] = Float((Double(x[c]) - mean) * rstd * Double(gamma[c]) + Double(beta[c])) }
}

/// One row of RMSNorm: x/√(mean(x²) + ε)·γ.
func rmsNormReference(_ n: Int, _ x: UnsafePointer<Float>, _ gamma: UnsafePointer<Float>,
                      _ y: UnsafeMutablePointer<Float>) {
    var squares = 0.0
    for c in 0..<n { squares += Double(x[c]) * Double(x[c]) }
    let rrms = 1 / (squares / Double(n) + Double(normEpsilon)).squareRoot()
    for c in 0..<n { y[c] = Float(Double(x[c]) * rrms * Double(gamma[c])) }
}

/// One row of softmax: e^(x − max) / Σ e^(x − max).
func softmaxReference(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    var maximum = x[0]
    for c in 1..<max(1, n) where x[c] > maximum { maximum = x[c] }
    var sum = 0.0
    for c in 0..<n { sum += Foundation.exp(Double(x[c]) - Double(maximum)) }
    for c in 0..<n { y[c] = Float(Foundation.exp(Double(x[c]) - Double(maximum)) / sum) }
}

// MARK: - Optimized (SIMD per row)

/// All rows with V-wide SIMD.
@inline(__always)
func rowNormSIMD<V: FloatVector>(_: V.Type, _ norm: RowNorm, _ rows: Int, _ cols: Int, _ x: UnsafePointer<Float>,
                                 _ gamma: UnsafePointer<Float>, _ beta: UnsafePointer<Float>,
                                 _ y: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let xr = x + r * cols, yr = y + r * cols
        switch norm {
        case .layernorm: layerNormRow(V.self, cols, xr, gamma, beta, yr)
        case .rmsnorm: rmsNormRow(V.self, cols, xr, gamma, yr)
        case .softmax: softmaxRow(V.self, cols, xr, yr)
        }
    }
}

/// Σ f(x[c]) over a row with four V accumulators, then a scalar tail; `f` is a vector map and its scalar twin.
@inline(__always)
func rowSum<V: FloatVector>(_: V.Type, _ n: Int, _ x: UnsafePointer<Float>, _ f: (V) -> V, _ fs: (Float) -> Float) -> Float {
    let w = V.scalarCount
    var a0 = V(), a1 = V(), a2 = V(), a3 = V()
    var c = 0
    while c + 4 * w <= n {
        a0 += f(vload(x, c))
        a1 += f(vload(x, c + w))
        a2 += f(vload(x, c + 2 * w))
        a3 += f(vload(x, c + 3 * w))
        c += 4 * w
    }
    while c + w <= n {
        a0 += f(vload(x, c))
        c += w
    }
    var s = ((a0 + a1) + (a2 + a3)).sum()
    while c < n {
        s += fs(x[c])
        c += 1
    }
    return s
}

/// One row of layernorm: SIMD mean, SIMD Σ(x − mean)², then y = (x − mean)·rstd·γ + β.
@inline(__always)
func layerNormRow<V: FloatVector>(_: V.Type, _ n: Int, _ x: UnsafePointer<Float>, _ gamma: UnsafePointer<Float>,
                                  _ beta: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    let w = V.scalarCount
    let mean = rowSum(V.self, n, x, { $0 }, { $0 }) / Float(n)
    let mv = V(repeating: mean)
    let squares = rowSum(V.self, n, x, { let d = $0 - mv; return d * d }, { let d = $0 - mean; return d * d })
    let rstd = 1 / (squares / Float(n) + normEpsilon).squareRoot()
    let rv = V(repeating: rstd)
    var c = 0
    while c + w <= n {
        let d = ((vload(x, c) as V) - mv) * rv
        vstore((vload(beta, c) as V).addingProduct(d, vload(gamma, c)), y, c)
        c += w
    }
    while c < n {
        y[c] = beta[c].addingProduct((x[c] - mean) * rstd, gamma[c])
        c += 1
    }
}

/// One row of RMSNorm: SIMD Σx², then y = x·rrms·γ.
@inline(__always)
func rmsNormRow<V: FloatVector>(_: V.Type, _ n: Int, _ x: UnsafePointer<Float>, _ gamma: UnsafePointer<Float>,
                                _ y: UnsafeMutablePointer<Float>) {
    let w = V.scalarCount
    let squares = rowSum(V.self, n, x, { $0 * $0 }, { $0 * $0 })
    let rrms = 1 / (squares / Float(n) + normEpsilon).squareRoot()
    let rv = V(repeating: rrms)
    var c = 0
    while c + w <= n {
        vstore((vload(x, c) as V) * rv * (vload(gamma, c) as V), y, c)
        c += w
    }
    while c < n {
        y[c] = x[c] * rrms * gamma[c]
        c += 1
    }
}

/// One row of softmax: SIMD max; e = fastExp(x − max) stored into y while summing; y *= 1/Σ.
@inline(__always)
func softmaxRow<V: FloatVector>(_: V.Type, _ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    let w = V.scalarCount
    // Max with four vector accumulators.
    var m0 = V(repeating: -.infinity), m1 = m0, m2 = m0, m3 = m0
    var c = 0
    while c + 4 * w <= n {
        m0 = vmax(m0, vload(x, c))
        m1 = vmax(m1, vload(x, c + w))
        m2 = vmax(m2, vload(x, c + 2 * w))
        m3 = vmax(m3, vload(x, c + 3 * w))
        c += 4 * w
    }
    while c + w <= n {
        m0 = vmax(m0, vload(x, c))
        c += w
    }
    var maximum = vmax(vmax(m0, m1), vmax(m2, m3)).max()
    while c < n {
        if x[c] > maximum { maximum = x[c] }
        c += 1
    }
    // Exponentials and their sum.
    let mv = V(repeating: maximum)
    var s0 = V(), s1 = V()
    c = 0
    while c + 2 * w <= n {
        let e0 = fastExp((vload(x, c) as V) - mv), e1 = fastExp((vload(x, c + w) as V) - mv)
        vstore(e0, y, c)
        vstore(e1, y, c + w)
        s0 += e0
        s1 += e1
        c += 2 * w
    }
    while c + w <= n {
        let e0 = fastExp((vload(x, c) as V) - mv)
        vstore(e0, y, c)
        s0 += e0
        c += w
    }
    if c < n {
        var lanes = V(repeating: -.infinity)
        for l in 0..<(n - c) { lanes[l] = x[c + l] }
        let e = V.select(lanes, below: V(repeating: -.greatestFiniteMagnitude), V(), fastExp(lanes - mv))
        for l in 0..<(n - c) { y[c + l] = e[l] }
        s1 += e
    }
    // Normalize.
    let inv = V(repeating: 1 / (s0 + s1).sum())
    c = 0
    while c + w <= n {
        vstore((vload(y, c) as V) * inv, y, c)
        c += w
    }
    while c < n {
        y[c] *= inv[0]
        c += 1
    }
}
