// Elementwise activations over n floats: `relu`, `silu`, `gelu_tanh`, `gelu_erf`.
//
// `reference` applies the textbook formula per element with libm (`tanhf`, `expf`, `erff`);
// `optimized` runs one SIMD pass (16/8/4 lanes by `ISA.kernelPath`) with the vectorized
// approximations of `VectorMath.swift`; the n % width tail goes through the same vector formula
// on a zero-padded vector.
//
// Inputs are uniform in [−6, 6): wide enough to exercise both saturated tails of GELU/SiLU (where
// a wrong formula shows), narrow enough to be realistic pre-activation values.
import BenchModel
import Foundation

/// Which elementwise activation an `ActivationFactory` provides.
public enum Activation: String, CaseIterable, Sendable {
    /// max(x, 0); NaN propagates, −0 stays −0.
    case relu
    /// x·sigmoid(x) = x / (1 + e^(−x)).
    case silu
    /// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (the GPT-2/BERT approximation).
    case geluTanh = "gelu_tanh"
    /// 0.5·x·(1 + erf(x/√2)) (exact GELU).
    case geluErf = "gelu_erf"
}

/// Elementwise activation kernel `relu`, `silu`, `gelu_tanh` or `gelu_erf` over n floats. Shape key `n`.
public struct ActivationFactory: KernelFactory {
    /// The activation.
    public let activation: Activation
    /// Creates the factory for `activation`.
    public init(_ activation: Activation) { self.activation = activation }
    /// The activation's name (`relu`, `silu`, `gelu_tanh`, `gelu_erf`).
    public var kind: String { activation.rawValue }
    /// One-line description.
    public var summary: String {
        switch activation {
        case .relu: "y = max(x, 0) elementwise over n"
        case .silu: "y = x·sigmoid(x) elementwise over n"
        case .geluTanh: "y = GELU(x), tanh approximation, elementwise over n"
        case .geluErf: "y = GELU(x) = x·Φ(x) (erf), elementwise over n"
        }
    }
    /// `n`.
    public var shapeKeys: [String] { ["n"] }
    /// `reference` (libm per element) and `optimized` (SIMD with vectorized exp/erf).
    public var variants: [String] { ["reference", "optimized"] }
    /// `f32`.
    public var dtypes: [String] { ["f32"] }

    /// Checks dtype, that `n` is present, positive and within the element limit, and that no other key is present.
    public func validate(shape: Shape, dtype: String) throws {
        try validate(shape, dtype, count)
    }

    /// FLOPs per element × n, counting the formula's arithmetic as written (a transcendental as one):
    /// relu 1, silu 4 (neg, exp, add, div), gelu_tanh 9 (x³ as 2 mul, fma-add, scale, tanh, add, 2 mul),
    /// gelu_erf 5 (scale, erf, add, 2 mul).
    public func flops(shape: Shape) -> Double {
        let perElement: Double = switch activation {
        case .relu: 1
        case .silu: 4
        case .geluTanh: 9
        case .geluErf: 5
        }
        return perElement * Double(shape["n"] ?? 0)
    }

    /// 8·n: x read once, y written once.
    public func bytes(shape: Shape, dtype: String) -> Double { 8 * Double(shape["n"] ?? 0) }

    /// relu: `abs 0, rel 0` (both variants are one exact comparison). Others: `abs 1e-6, rel 1e-5, cosine 0.999999`.
    ///
    /// Justification. The optimized exp is within ~2 ulp (< 3e-7 relative), so silu and gelu_tanh
    /// (written as x / (1 + e^(−2u))) are within ~5e-7 relative of the exact value. The erf
    /// approximation is within 1.5e-7 absolute plus float rounding (< 5e-7 measured, largest
    /// near x ≈ 0), so gelu_erf = 0.5·x·erfc(·) is within 2.2e-7 absolute (measured over [0, 8.5)). The *reference* is the larger error source on the negative side:
    /// 0.5·x·(1 + tanh(...)) and 0.5·x·(1 + erf(...)) cancel catastrophically as the bracket
    /// approaches 0, leaving an absolute error of about 0.5·|x|·ε ≈ 3.6e-7 for |x| ≤ 6 and an
    /// unbounded relative one — hence an absolute floor of 1e-6 (≈ 3× either source) with a 1e-5
    /// relative term for the large positive outputs. Real mistakes are orders of magnitude larger:
    /// tanh instead of the GELU bracket, a missing 0.5, erf(x) instead of erf(x/√2) or a
    /// sign-flipped exponent give errors ≥ 1e-2 on most elements of [−6, 6).
    public func defaultTolerance(shape: Shape, dtype: String) -> Tolerance {
        activation == .relu ? Tolerance(abs: 0, rel: 0, minCosine: 0.999999)
            : Tolerance(abs: 1e-6, rel: 1e-5, minCosine: 0.999999)
    }

    /// An `ActivationInstance` for `variant` with x drawn from `SeededGenerator(seed:)` and scaled to [−6, 6).
    public func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        let n = try checkedDimensions(variant: variant, shape: shape, dtype: dtype, count)
        return ActivationInstance(activation: activation, n: n, seed: seed,
                                  path: variant == "optimized" ? .current : nil)
    }

    private func count(_ shape: Shape) throws -> Int {
        let n = try dimension(shape, "n")
        try rejectUnknownKeys(shape)
        try requireElements(n, 1, "x (n)")
        return n
    }
}

/// One activation problem: owns x and y.
public final class ActivationInstance: KernelInstance {
    /// The activation computed.
    public let activation: Activation
    /// Element count.
    public let n: Int
    /// SIMD path of the optimized variant; nil for the per-element libm reference.
    public let path: GEMMKernelPath?
    private let x: UnsafeMutablePointer<Float>
    private let y: UnsafeMutablePointer<Float>

    /// Creates the problem with x uniform in [−6, 6) from `SeededGenerator(seed:)`.
    public init(activation: Activation, n: Int, seed: UInt64, path: GEMMKernelPath?) {
        precondition(n > 0, "activation length must be positive")
        self.activation = activation
        self.n = n
        self.path = path
        x = allocateFloats(n)
        y = allocateFloats(n)
        var g = SeededGenerator(seed: seed)
        for i in 0..<n { x[i] = 6 * g.nextUnitFloat() }
    }

    deinit {
        freeFloats(x)
        freeFloats(y)
    }

    /// x (n).
    public var input: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: x, count: n) }

    /// Computes y once.
    public func run() {
        guard let path else {
            activationReference(activation, n: n, x: x, y: y)
            return
        }
        switch path {
        case .avx512: activationSIMD(SIMD16<Float>.self, activation, n: n, x: x, y: y)
        case .avx2: activationSIMD(SIMD8<Float>.self, activation, n: n, x: x, y: y)
        case .sse: activationSIMD(SIMD4<Float>.self, activation, n: n, x: x, y: y)
        }
    }

    /// y (n) from the last `run()`.
    public func output() -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: y, count: n) }
}

/// √(2/π), the GELU tanh-approximation scale.
let geluTanhScale: Float = 0.797_884_560_8
/// 1/√2.
let inverseSqrt2: Float = 0.707_106_781_2

/// The textbook formula for one element (libm transcendental functions).
@inline(__always)
func activationScalar(_ a: Activation, _ v: Float) -> Float {
    switch a {
    case .relu: return v < 0 ? 0 : v
    case .silu: return v / (1 + Foundation.exp(-v))
    case .geluTanh: return 0.5 * v * (1 + Foundation.tanh(geluTanhScale * (v + 0.044715 * v * v * v)))
    case .geluErf: return 0.5 * v * (1 + Foundation.erf(v * inverseSqrt2))
    }
}

/// Reference: `activationScalar` per element.
func activationReference(_ a: Activation, n: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    for i in 0..<n { y[i] = activationScalar(a, x[i]) }
}

/// One SIMD lane group of the optimized activation.
@inline(__always)
func activationVector<V: FloatVector>(_ a: Activation, _ v: V) -> V {
    switch a {
    case .relu:
        return V.select(v, below: V(), V(), v)
    case .silu:
        return v * fastSigmoid(v)
    case .geluTanh:
        // 0.5·x·(1 + tanh(u)) = x / (1 + e^(−2u)): no cancellation for negative x.
        let u = geluTanhScale * v.addingProduct(V(repeating: 0.044715) * v, v * v)
        return v / (V(repeating: 1) + fastExp(-2 * u))
    case .geluErf:
        // 0.5·x·(1 + erf(z)) with z = x/√2: for z < 0 this is 0.5·x·erfc(|z|) directly.
        let z = v * inverseSqrt2
        let q = fastErfcNonNegative(V.select(z, below: V(), -z, z))
        let bracket = V.select(z, below: V(), q, V(repeating: 2) - q)
        return V(repeating: 0.5) * v * bracket
    }
}

/// Optimized: one pass, V-wide, four vectors per iteration, then single vectors, then the scalar tail.
@inline(__always)
func activationSIMD<V: FloatVector>(_: V.Type, _ a: Activation, n: Int, x: UnsafePointer<Float>,
                                    y: UnsafeMutablePointer<Float>) {
    var i = 0
    switch a {
    // Specialize the loop per activation so the switch is outside it.
    case .relu: activationLoop(V.self, .relu, n: n, x: x, y: y, i: &i)
    case .silu: activationLoop(V.self, .silu, n: n, x: x, y: y, i: &i)
    case .geluTanh: activationLoop(V.self, .geluTanh, n: n, x: x, y: y, i: &i)
    case .geluErf: activationLoop(V.self, .geluErf, n: n, x: x, y: y, i: &i)
    }
    while i < n {
        // Tail: the same vector formula on a zero-padded vector keeps the tail bit-identical in
        // method to the body (a scalar libm tail would differ from the body by the approximation).
        var lanes = V()
        let rest = n - i
        for l in 0..<rest { lanes[l] = x[i + l] }
        let r = activationVector(a, lanes)
        for l in 0..<rest { y[i + l] = r[l] }
        i += rest
    }
}

/// The vector body of `activationSIMD` for one activation (the switch inside is constant-folded).
@inline(__always)
func activationLoop<V: FloatVector>(_: V.Type, _ a: Activation, n: Int, x: UnsafePointer<Float>,
                                    y: UnsafeMutablePointer<Float>, i: inout Int) {
    let w = V.scalarCount
    while i + 4 * w <= n {
        let v0: V = vload(x, i), v1: V = vload(x, i + w), v2: V = vload(x, i + 2 * w), v3: V = vload(x, i + 3 * w)
        vstore(activationVector(a, v0), y, i)
        vstore(activationVector(a, v1), y, i + w)
        vstore(activationVector(a, v2), y, i + 2 * w)
        vstore(activationVector(a, v3), y, i + 3 * w)
        i += 4 * w
    }
    while i + w <= n {
        vstore(activationVector(a, vload(x, i) as V), y, i)
        i += w
    }
}
