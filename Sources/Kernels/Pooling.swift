// `maxpool` / `avgpool`: k×k window, stride s, no padding, NHWC f32.
//
// Input [n, h, w, c], output [n, oh, ow, c] with oh = (h − k)/s + 1, ow = (w − k)/s + 1 (floor, as
// PyTorch's default `ceil_mode=False`). Shape keys `n, h, w, c, k` and optional `stride`
// (default k). Padding is not supported (average pooling over padding has two conventions).
//
// `reference` is the 6-deep loop; `optimized` runs SIMD over channels (16/8/4 lanes) per output
// pixel. Both visit the window in the same (ky, kx) order and avgpool divides the same Float sum
// by k², so the outputs are bit-identical.
import BenchModel

/// Which reduction a `PoolFactory` applies over the window.
public enum PoolMode: String, CaseIterable, Sendable {
    /// Maximum of the window.
    case max = "maxpool"
    /// Mean of the window (sum / k²).
    case avg = "avgpool"
}

/// Geometry of a pooling problem (validated).
struct PoolGeometry: Equatable {
    let n: Int, h: Int, w: Int, c: Int, k: Int, stride: Int
    var oh: Int { (h - k) / stride + 1 }
    var ow: Int { (w - k) / stride + 1 }
}

/// `maxpool` / `avgpool` over NHWC input. Shape keys `n`, `h`, `w`, `c`, `k`, `stride` (optional, default k).
public struct PoolFactory: KernelFactory {
    /// The reduction.
    public let mode: PoolMode
    /// Creates the factory for `mode`.
    public init(_ mode: PoolMode) { self.mode = mode }
    /// `maxpool` or `avgpool`.
    public var kind: String { mode.rawValue }
    /// One-line description.
    public var summary: String { "\(mode == .max ? "max" : "average") pooling k×k, stride s (default k), NHWC, no padding" }
    /// `n`, `h`, `w`, `c`, `k`, `stride`.
    public var shapeKeys: [String] { ["n", "h", "w", "c", "k", "stride"] }
    /// `reference` (nested loops) and `optimized` (SIMD over channels).
    public var variants: [String] { ["reference", "optimized"] }
    /// `f32`.
    public var dtypes: [String] { ["f32"] }

    /// Checks dtype, positive sizes, that the window fits the input (`shape.k`), and the element limits.
    public func validate(shape: Shape, dtype: String) throws {
        try validate(shape, dtype, geometry)
    }

    /// n·oh·ow·c·k² (one comparison or addition per window element; avgpool's divide is not counted).
    public func flops(shape: Shape) -> Double {
        guard let g = try? geometry(shape) else { return 0 }
        return Double(g.n * g.oh * g.ow * g.c) * Double(g.k * g.k)
    }

    /// 4·(n·h·w·c + n·oh·ow·c): input read once, output written once.
    public func bytes(shape: Shape, dtype: String) -> Double {
        guard let g = try? geometry(shape) else { return 0 }
        return 4 * (Double(g.n * g.h * g.w * g.c) + Double(g.n * g.oh * g.ow * g.c))
    }

    /// `abs 0, rel 1e-7, cosine 0.999999`: same comparisons / same summation order and divide in
    /// both variants, so outputs are bit-identical; a wrong window (off by one row or column,
    /// wrong stride) picks other inputs, an O(1) error.
    public func defaultTolerance(shape: Shape, dtype: String) -> Tolerance {
        Tolerance(abs: 0, rel: 1e-7, minCosine: 0.999999)
    }

    /// A `PoolInstance` for `variant` with the input from `SeededGenerator(seed:)`.
    public func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        let g = try checkedDimensions(variant: variant, shape: shape, dtype: dtype, geometry)
        return PoolInstance(mode: mode, geometry: g, seed: seed,
                            path: variant == "optimized" ? .current : nil)
    }

    func geometry(_ shape: Shape) throws -> PoolGeometry {
        let n = try dimension(shape, "n"), h = try dimension(shape, "h"), w = try dimension(shape, "w")
        let c = try dimension(shape, "c"), k = try dimension(shape, "k")
        let stride = shape["stride"] == nil ? k : try dimension(shape, "stride")
        try rejectUnknownKeys(shape)
        guard k <= h, k <= w else {
            throw KernelSpecError(key: "shape.k", "\(kind): window k = \(k) is larger than the input (h = \(h), w = \(w))")
        }
        try requireElements(n, h, "input (n·h)")
        try requireElements(n * h, w, "input (n·h·w)")
        try requireElements(n * h * w, c, "input (n·h·w·c)")
        return PoolGeometry(n: n, h: h, w: w, c: c, k: k, stride: stride)
    }
}

/// One pooling problem: owns input and output.
public final class PoolInstance: KernelInstance {
    /// The reduction.
    public let mode: PoolMode
    let g: PoolGeometry
    /// SIMD path of the optimized variant; nil for the reference loops.
    public let path: GEMMKernelPath?
    private let x: UnsafeMutablePointer<Float>
    private let y: UnsafeMutablePointer<Float>

    init(mode: PoolMode, geometry: PoolGeometry, seed: UInt64, path: GEMMKernelPath?) {
        self.mode = mode
        g = geometry
        self.path = path
        var gen = SeededGenerator(seed: seed)
        x = gen.filledFloats(g.n * g.h * g.w * g.c)
        y = allocateFloats(g.n * g.oh * g.ow * g.c)
    }

    deinit {
        freeFloats(x)
        freeFloats(y)
    }

    /// Input [n, h, w, c].
    public var input: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: x, count: g.n * g.h * g.w * g.c) }

    /// Computes the output once.
    public func run() {
        guard let path else {
            poolReference(mode, g, x, y)
            return
        }
        switch path {
        case .avx512: poolSIMD(SIMD16<Float>.self, mode, g, x, y)
        case .avx2: poolSIMD(SIMD8<Float>.self, mode, g, x, y)
        case .sse: poolSIMD(SIMD4<Float>.self, mode, g, x, y)
        }
    }

    /// Output [n, oh, ow, c] from the last `run()`.
    public func output() -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: y, count: g.n * g.oh * g.ow * g.c) }
}

/// The definition: for every output element, reduce the k×k window in (ky, kx) order.
func poolReference(_ mode: PoolMode, _ g: PoolGeometry, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    for b in 0..<g.n {
        for oy in 0..<g.oh {
            for ox in 0..<g.ow {
                for ch in 0..<g.c {
                    var acc: Float = mode == .max ? -.infinity : 0
                    for ky in 0..<g.k {
                        for kx in 0..<g.k {
                            let iy = oy * g.stride + ky, ix = ox * g.stride + kx
                            let v = x[((b * g.h + iy) * g.w + ix) * g.c + ch]
                            if mode == .max {
                                if v > acc { acc = v }
                            } else {
                                acc += v
                            }
                        }
                    }
                    y[((b * g.oh + oy) * g.ow + ox) * g.c + ch] = mode == .max ? acc : acc / Float(g.k * g.k)
                }
            }
        }
    }
}

/// SIMD over channels: per output pixel, V-wide channel blocks reduced over the window, scalar channel tail.
@inline(__always)
func poolSIMD<V: FloatVector>(_: V.Type, _ mode: PoolMode, _ g: PoolGeometry, _ x: UnsafePointer<Float>,
                              _ y: UnsafeMutablePointer<Float>) {
    let w = V.scalarCount
    let isMax = mode == .max
    let divisor = Float(g.k * g.k), dv = V(repeating: divisor)
    for b in 0..<g.n {
        for oy in 0..<g.oh {
            for ox in 0..<g.ow {
                let out = y + ((b * g.oh + oy) * g.ow + ox) * g.c
                let corner = x + ((b * g.h + oy * g.stride) * g.w + ox * g.stride) * g.c
                var ch = 0
                while ch + w <= g.c {
                    var acc = isMax ? V(repeating: -.infinity) : V()
                    for ky in 0..<g.k {
                        let row = corner + ky * g.w * g.c + ch
                        for kx in 0..<g.k {
                            let v: V = vload(row, kx * g.c)
                            acc = isMax ? vmax(acc, v) : acc + v
                        }
                    }
                    vstore(isMax ? acc : acc / dv, out, ch)
                    ch += w
                }
                while ch < g.c {
                    var acc: Float = isMax ? -.infinity : 0
                    for ky in 0..<g.k {
                        for kx in 0..<g.k {
                            let v = corner[(ky * g.w + kx) * g.c + ch]
                            if isMax {
                                if v > acc { acc = v }
                            } else {
                                acc += v
                            }
                        }
                    }
                    out[ch] = isMax ? acc : acc / divisor
                    ch += 1
                }
            }
        }
    }
}
