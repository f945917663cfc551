// depthwise_conv: 3×3 depthwise convolution (one filter per channel, MobileNet style), NHWC, no bias.
//
//   input x [n, h, w, c], weights W [3, 3, c], output y [n, oh, ow, c]
//   oh = (h + 2·pad − 3)/stride + 1, ow likewise
//   y[b, oy, ox, ch] = Σ_{ky, kx} x[b, oy·stride − pad + ky, ox·stride − pad + kx, ch] · W[ky, kx, ch]
//
// Shape keys `n, h, w, c` and optional `stride` (default 1) and `pad` (default 0); the kernel is
// always 3×3. `reference` is the direct loop with a bounds test per tap; `optimized` runs SIMD
// over channels: per output pixel the valid tap range is computed once (all nine taps in the
// interior), and each V-wide channel block accumulates its taps with FMAs; scalar channel tail.
import BenchModel

/// `depthwise_conv`: 3×3 depthwise convolution, NHWC, weights [3, 3, c]. Shape keys `n, h, w, c, stride, pad`.
public struct DepthwiseConvFactory: KernelFactory {
    /// Creates the factory.
    public init() {}
    /// `depthwise_conv`.
    public var kind: String { "depthwise_conv" }
    /// One-line description.
    public var summary: String { "3×3 depthwise convolution, NHWC, weights [3,3,c], stride, zero padding" }
    /// `n, h, w, c, stride, pad` (stride default 1, pad default 0).
    public var shapeKeys: [String] { ["n", "h", "w", "c", "stride", "pad"] }
    /// `reference` (direct loops) and `optimized` (SIMD over channels).
    public var variants: [String] { ["reference", "optimized"] }
    /// `f32`.
    public var dtypes: [String] { ["f32"] }

    /// Checks dtype, positive sizes, stride > 0, pad ≥ 0, that 3×3 fits the padded input, element limits.
    public func validate(shape: Shape, dtype: String) throws {
        try validate(shape, dtype, geometry)
    }

    /// 2·9·n·oh·ow·c.
    public func flops(shape: Shape) -> Double {
        guard let g = try? geometry(shape) else { return 0 }
        return 18 * Double(g.pixels) * Double(g.c)
    }

    /// 4·(n·h·w·c + 9·c + n·oh·ow·c).
    public func bytes(shape: Shape, dtype: String) -> Double {
        guard let g = try? geometry(shape) else { return 0 }
        return 4 * (Double(g.n * g.h * g.w * g.c) + 9 * Double(g.c) + Double(g.pixels * g.c))
    }

    /// `abs 1e-5, rel 1e-5, cosine 0.999999`: each output is a sum of ≤ 9 products of values in
    /// [−1, 1) (|y| ≤ 9); FMA versus separate multiply-add and a different summation order differ
    /// by a few ulp of the partial sums, ≤ ~9·ε·9 ≈ 1e-5 in the worst case and ~1e-6 typically.
    /// A wrong tap (off by one row/column, swapped weights) changes an output by a full product, ~0.25.
    public func defaultTolerance(shape: Shape, dtype: String) -> Tolerance {
        Tolerance(abs: 1e-5, rel: 1e-5, minCosine: 0.999999)
    }

    /// A `DepthwiseConvInstance` for `variant` with x then W from one `SeededGenerator(seed:)` sequence.
    public func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        let g = try checkedDimensions(variant: variant, shape: shape, dtype: dtype, geometry)
        return DepthwiseConvInstance(geometry: g, seed: seed,
                                     path: variant == "optimized" ? .current : nil)
    }

    func geometry(_ shape: Shape) throws -> DepthwiseGeometry {
        let n = try dimension(shape, "n"), h = try dimension(shape, "h"), w = try dimension(shape, "w")
        let c = try dimension(shape, "c")
        let (stride, pad) = try strideAndPad(shape)
        try rejectUnknownKeys(shape)
        guard 3 <= h + 2 * pad else {
            throw KernelSpecError(key: "shape.h", "\(kind): the 3×3 kernel is larger than the padded input height h + 2·pad = \(h + 2 * pad)")
        }
        guard 3 <= w + 2 * pad else {
            throw KernelSpecError(key: "shape.w", "\(kind): the 3×3 kernel is larger than the padded input width w + 2·pad = \(w + 2 * pad)")
        }
        try requireElements4(n, h, w, c, "input (n·h·w·c)")
        let g = DepthwiseGeometry(n: n, h: h, w: w, c: c, stride: stride, pad: pad)
        try requireElements4(n, g.oh, g.ow, c, "output (n·oh·ow·c)")
        return g
    }
}

/// Geometry of a depthwise convolution (validated).
struct DepthwiseGeometry: Equatable {
    let n: Int, h: Int, w: Int, c: Int, stride: Int, pad: Int
    var oh: Int { (h + 2 * pad - 3) / stride + 1 }
    var ow: Int { (w + 2 * pad - 3) / stride + 1 }
    var pixels: Int { n * oh * ow }
}

/// One depthwise-convolution problem: owns x, W and y.
public final class DepthwiseConvInstance: KernelInstance {
    let g: DepthwiseGeometry
    /// SIMD path of the optimized variant; nil for the reference.
    public let path: GEMMKernelPath?
    private let x: UnsafeMutablePointer<Float>
    private let weights: UnsafeMutablePointer<Float>
    private let y: UnsafeMutablePointer<Float>

    init(geometry: DepthwiseGeometry, seed: UInt64, path: GEMMKernelPath?) {
        g = geometry
        self.path = path
        var gen = SeededGenerator(seed: seed)
        x = gen.filledFloats(g.n * g.h * g.w * g.c)
        weights = gen.filledFloats(9 * g.c)
        y = allocateFloats(g.pixels * g.c)
    }

    deinit {
        freeFloats(x)
        freeFloats(weights)
        freeFloats(y)
    }

    /// Input [n, h, w, c].
    public var input: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: x, count: g.n * g.h * g.w * g.c) }

    /// Computes y once.
    public func run() {
        guard let path else {
            depthwiseReference(g, x, weights, y)
            return
        }
        switch path {
        case .avx512: depthwiseSIMD(SIMD16<Float>.self, g, x, weights, y)
        case .avx2: depthwiseSIMD(SIMD8<Float>.self, g, x, weights, y)
        case .sse: depthwiseSIMD(SIMD4<Float>.self, g, x, weights, y)
        }
    }

    /// Output [n, oh, ow, c] from the last `run()`.
    public func output() -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: y, count: g.pixels * g.c) }
}

/// The definition, one tap at a time with a bounds test.
func depthwiseReference(_ g: DepthwiseGeometry, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                        _ y: UnsafeMutablePointer<Float>) {
    for b in 0..<g.n {
        for oy in 0..<g.oh {
            for ox in 0..<g.ow {
                for ch in 0..<g.c {
                    var acc: Float = 0
                    for ky in 0..<3 {
                        for kx in 0..<3 {
                            let iy = oy * g.stride - g.pad + ky, ix = ox * g.stride - g.pad + kx
                            if iy >= 0 && iy < g.h && ix >= 0 && ix < g.w {
                                acc += x[((b * g.h + iy) * g.w + ix) * g.c + ch] * w[(ky * 3 + kx) * g.c + ch]
                            }
                        }
                    }
                    y[((b * g.oh + oy) * g.ow + ox) * g.c + ch] = acc
                }
            }
        }
    }
}

/// SIMD over channels with the valid tap range computed once per output pixel.
@inline(__always)
func depthwiseSIMD<V: FloatVector>(_: V.Type, _ g: DepthwiseGeometry, _ x: UnsafePointer<Float>,
                                   _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    let vw = V.scalarCount
    let c = g.c
    for b in 0..<g.n {
        for oy in 0..<g.oh {
            let iy0 = oy * g.stride - g.pad
            let ky0 = max(0, -iy0), ky1 = min(3, g.h - iy0)
            for ox in 0..<g.ow {
                let ix0 = ox * g.stride - g.pad
                let kx0 = max(0, -ix0), kx1 = min(3, g.w - ix0)
                let out = y + ((b * g.oh + oy) * g.ow + ox) * c
                // Element (ky, kx, ch) of the window: base[(ky·w + kx)·c + ch] (only valid taps are read).
                let base = x + (b * g.h * g.w + iy0 * g.w + ix0) * c
                if ky0 == 0 && ky1 == 3 && kx0 == 0 && kx1 == 3 {
                    let r0 = base, r1 = base + g.w * c, r2 = base + 2 * g.w * c
                    var ch = 0
                    while ch + vw <= c {
                        var acc = (vload(r0, ch) as V) * (vload(w, ch) as V)
                        acc = acc.addingProduct(vload(r0, c + ch), vload(w, c + ch))
                        acc = acc.addingProduct(vload(r0, 2 * c + ch), vload(w, 2 * c + ch))
                        acc = acc.addingProduct(vload(r1, ch), vload(w, 3 * c + ch))
                        acc = acc.addingProduct(vload(r1, c + ch), vload(w, 4 * c + ch))
                        acc = acc.addingProduct(vload(r1, 2 * c + ch), vload(w, 5 * c + ch))
                        acc = acc.addingProduct(vload(r2, ch), vload(w, 6 * c + ch))
                        acc = acc.addingProduct(vload(r2, c + ch), vload(w, 7 * c + ch))
                        acc = acc.addingProduct(vload(r2, 2 * c + ch), vload(w, 8 * c + ch))
                        vstore(acc, out, ch)
                        ch += vw
                    }
                    depthwiseTail(ch, c, base, g.w, w, out, 0, 3, 0, 3)
                } else {
                    var ch = 0
                    while ch + vw <= c {
                        var acc = V()
                        for ky in ky0..<max(ky0, ky1) {
                            for kx in kx0..<max(kx0, kx1) {
                                acc = acc.addingProduct(vload(base, (ky * g.w + kx) * c + ch), vload(w, (ky * 3 + kx) * c + ch))
                            }
                        }
                        vstore(acc, out, ch)
                        ch += vw
                    }
                    depthwiseTail(ch, c, base, g.w, w, out, ky0, ky1, kx0, kx1)
                }
            }
        }
    }
}

/// Scalar channels from..<c of one output pixel over the tap window ky0..<ky1 × kx0..<kx1.
@inline(__always)
func depthwiseTail(_ from: Int, _ c: Int, _ base: UnsafePointer<Float>, _ width: Int, _ w: UnsafePointer<Float>,
                   _ out: UnsafeMutablePointer<Float>, _ ky0: Int, _ ky1: Int, _ kx0: Int, _ kx1: Int) {
    var ch = from
    while ch < c {
        var acc: Float = 0
        for ky in ky0..<max(ky0, ky1) {
            for kx in kx0..<max(kx0, kx1) {
                acc = acc.addingProduct(base[(ky * width + kx) * c + ch], w[(ky * 3 + kx) * c + ch])
            }
        }
        out[ch] = acc
        ch += 1
    }
}
