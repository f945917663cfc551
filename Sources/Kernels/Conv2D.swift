// conv2d: 2-D convolution (cross-correlation, as in every ML framework), NHWC, no bias, f32.
//
//   input   x [n, h, w, cin]
//   weights W [kh, kw, cin, cout]            ("HWIO": for a fixed tap, a cin×cout matrix)
//   output  y [n, oh, ow, cout],  oh = (h + 2·pad − kh)/stride + 1,  ow likewise
//   y[b, oy, ox, co] = Σ_{ky, kx, ci} x[b, oy·stride − pad + ky, ox·stride − pad + kx, ci] · W[ky, kx, ci, co]
//   (taps outside the input read zero padding)
//
// Shape keys `n, h, w, cin, cout, kh, kw` and optional `stride` (default 1) and `pad` (default 0).
//
// Variants:
// - `reference`: the direct 7-deep loop (b, oy, ox, co, ky, kx, ci) with a bounds test per tap.
// - `optimized`: im2col + GEMM. The HWIO weights are exactly a row-major [kh·kw·cin, cout]
//   matrix B, packed once per instance (`PackedB`). Each run builds im2col rows
//   [pixel, (ky, kx, ci)] for a chunk of output pixels sized to stay in L2 (zeros for padding)
//   and multiplies them into y with the GEMM micro-kernels. A 1×1 stride-1 unpadded convolution
//   is a plain GEMM on x itself, without the copy.
// - `direct_nhwc`: direct convolution, SIMD over cout: a register tile of 6 output pixels (along
//   a row) × 2 vectors of output channels, accumulated over every tap and input channel; the
//   weights are repacked once with cout zero-padded to the tile width, out-of-image taps read a
//   zero row, and edge tiles go through a scratch tile.
import BenchModel

/// Geometry of a convolution problem (validated).
struct ConvGeometry: Equatable {
    let n: Int, h: Int, w: Int, cin: Int, cout: Int, kh: Int, kw: Int, stride: Int, pad: Int
    var oh: Int { (h + 2 * pad - kh) / stride + 1 }
    var ow: Int { (w + 2 * pad - kw) / stride + 1 }
    /// Depth of the implicit GEMM (kh·kw·cin).
    var depth: Int { kh * kw * cin }
    /// Output pixels (n·oh·ow), the implicit GEMM's m.
    var pixels: Int { n * oh * ow }
    /// Whether the convolution is a plain GEMM on the input (1×1, stride 1, no padding).
    var isPointwise: Bool { kh == 1 && kw == 1 && stride == 1 && pad == 0 }
}

/// Reads and checks the spatial keys shared by `conv2d` and `depthwise_conv`.
extension KernelFactory {
    /// stride (default 1, must be positive) and pad (default 0, must not be negative).
    func strideAndPad(_ shape: Shape) throws -> (stride: Int, pad: Int) {
        let stride = shape["stride"] == nil ? 1 : try dimension(shape, "stride")
        let pad = shape["pad"] ?? 0
        guard pad >= 0 else { throw KernelSpecError(key: "shape.pad", "\(kind): shape.pad must not be negative, got \(pad)") }
        guard pad <= 1 << 16 else { throw KernelSpecError(key: "shape.pad", "\(kind): shape.pad \(pad) is unreasonably large") }
        return (stride, pad)
    }

    /// Throws (key `shape.kh` / `shape.kw`) when the kernel is larger than the padded input.
    func requireKernelFits(kh: Int, kw: Int, h: Int, w: Int, pad: Int) throws {
        guard kh <= h + 2 * pad else {
            throw KernelSpecError(key: "shape.kh", "\(kind): kernel height kh = \(kh) is larger than the padded input height h + 2·pad = \(h + 2 * pad)")
        }
        guard kw <= w + 2 * pad else {
            throw KernelSpecError(key: "shape.kw", "\(kind): kernel width kw = \(kw) is larger than the padded input width w + 2·pad = \(w + 2 * pad)")
        }
    }

    /// Throws when n·a·b·c overflows or exceeds the element limit; `what` names the tensor.
    func requireElements4(_ n: Int, _ a: Int, _ b: Int, _ c: Int, _ what: String) throws {
        try requireElements(n, a, what)
        try requireElements(n * a, b, what)
        try requireElements(n * a * b, c, what)
    }
}

/// `conv2d`: NHWC convolution with HWIO weights. Shape keys `n, h, w, cin, cout, kh, kw, stride, pad`.
public struct Conv2DFactory: KernelFactory {
    /// Creates the factory.
    public init() {}
    /// `conv2d`.
    public var kind: String { "conv2d" }
    /// One-line description.
    public var summary: String { "2-D convolution, NHWC input, HWIO weights [kh,kw,cin,cout], stride, zero padding" }
    /// `n, h, w, cin, cout, kh, kw, stride, pad` (stride default 1, pad default 0).
    public var shapeKeys: [String] { ["n", "h", "w", "cin", "cout", "kh", "kw", "stride", "pad"] }
    /// `reference` (direct loops), `optimized` (im2col + packed GEMM), `direct_nhwc` (direct, SIMD over cout).
    public var variants: [String] { ["reference", "optimized", "direct_nhwc"] }
    /// `f32`.
    public var dtypes: [String] { ["f32"] }

    /// Checks dtype, positive sizes, stride > 0, pad ≥ 0, kernel ≤ padded input, element limits.
    public func validate(shape: Shape, dtype: String) throws {
        try validate(shape, dtype, geometry)
    }

    /// 2·n·oh·ow·cout·kh·kw·cin (every tap, padding included, as conventionally counted).
    public func flops(shape: Shape) -> Double {
        guard let g = try? geometry(shape) else { return 0 }
        return 2 * Double(g.pixels) * Double(g.cout) * Double(g.depth)
    }

    /// 4·(n·h·w·cin + kh·kw·cin·cout + n·oh·ow·cout): input, weights read once, output written once.
    public func bytes(shape: Shape, dtype: String) -> Double {
        guard let g = try? geometry(shape) else { return 0 }
        return 4 * (Double(g.n * g.h * g.w * g.cin) + Double(g.depth * g.cout) + Double(g.pixels * g.cout))
    }

    /// The GEMM band for the reduction depth kh·kw·cin (see `GEMMFactory`): every output is a
    /// dot product of that many input×weight terms in [−1, 1), summed in a different order.
    public func defaultTolerance(shape: Shape, dtype: String) -> Tolerance {
        let depth = (shape["kh"] ?? 1) * (shape["kw"] ?? 1) * (shape["cin"] ?? 1)
        return GEMMFactory().defaultTolerance(shape: ["k": max(1, depth)], dtype: dtype)
    }

    /// A `Conv2DInstance` for `variant` with x then W from one `SeededGenerator(seed:)` sequence.
    public func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        try validate(shape: shape, dtype: dtype)
        try requireVariant(variant)
        let method: Conv2DInstance.Method = switch variant {
        case "optimized": .im2col(.current)
        case "direct_nhwc": .direct(.current)
        default: .reference
        }
        return Conv2DInstance(geometry: try geometry(shape), seed: seed, method: method)
    }

    func geometry(_ shape: Shape) throws -> ConvGeometry {
        let n = try dimension(shape, "n"), h = try dimension(shape, "h"), w = try dimension(shape, "w")
        let cin = try dimension(shape, "cin"), cout = try dimension(shape, "cout")
        let kh = try dimension(shape, "kh"), kw = try dimension(shape, "kw")
        let (stride, pad) = try strideAndPad(shape)
        try rejectUnknownKeys(shape)
        try requireKernelFits(kh: kh, kw: kw, h: h, w: w, pad: pad)
        try requireElements4(n, h, w, cin, "input (n·h·w·cin)")
        try requireElements4(kh, kw, cin, cout, "weights (kh·kw·cin·cout)")
        let g = ConvGeometry(n: n, h: h, w: w, cin: cin, cout: cout, kh: kh, kw: kw, stride: stride, pad: pad)
        try requireElements4(n, g.oh, g.ow, cout, "output (n·oh·ow·cout)")
        return g
    }
}

/// One convolution problem: owns x, W, y and the chosen method's packed weights and scratch.
public final class Conv2DInstance: KernelInstance {
    /// How the convolution is computed.
    public enum Method: Equatable, Sendable {
        /// Direct 7-deep loop.
        case reference
        /// im2col + prepacked GEMM on a micro-kernel path.
        case im2col(GEMMKernelPath)
        /// Direct NHWC, SIMD over cout on a vector-width path.
        case direct(GEMMKernelPath)
    }

    let g: ConvGeometry
    /// The method.
    public let method: Method
    private let x: UnsafeMutablePointer<Float>
    private let weights: UnsafeMutablePointer<Float>
    private let y: UnsafeMutablePointer<Float>
    // im2col
    private let packed: PackedB?
    private let scratch: GEMMScratch?
    private let columns: UnsafeMutablePointer<Float>?
    private let chunkRows: Int
    // direct
    private let directWeights: UnsafeMutablePointer<Float>?
    private let zeroRow: UnsafeMutablePointer<Float>?
    private let tile: UnsafeMutablePointer<Float>?
    private let paddedCout: Int

    /// Floats of the im2col chunk buffer (384 KiB: stays in a 512 KiB or 1 MiB L2 next to the packed A block).
    static let columnChunkFloats = 96 * 1024

    init(geometry: ConvGeometry, seed: UInt64, method: Method) {
        g = geometry
        self.method = method
        let inputCount = g.n * g.h * g.w * g.cin
        var gen = SeededGenerator(seed: seed)
        x = gen.filledFloats(inputCount)
        weights = gen.filledFloats(g.depth * g.cout)
        y = allocateFloats(g.pixels * g.cout)
        var packed: PackedB?, scratch: GEMMScratch?, columns: UnsafeMutablePointer<Float>?, chunk = 0
        var directWeights: UnsafeMutablePointer<Float>?, zeroRow: UnsafeMutablePointer<Float>?
        var tile: UnsafeMutablePointer<Float>?, paddedCout = 0
        switch method {
        case .reference:
            break
        case .im2col(let path):
            packed = PackedB(path: path, n: g.cout, k: g.depth, src: weights, ld: g.cout, transposed: false)
            if g.isPointwise {
                chunk = g.pixels
            } else {
                let mr = path.tile.rows
                chunk = min(g.pixels, max(mr, Conv2DInstance.columnChunkFloats / g.depth / mr * mr))
                columns = allocateFloats(chunk * g.depth)
            }
            scratch = GEMMScratch(path: path, maxM: chunk, n: g.cout, k: g.depth)
        case .direct(let path):
            let block = 2 * path.vectorWidth
            paddedCout = (g.cout + block - 1) / block * block
            let dw = allocateFloats(g.depth * paddedCout)
            for t in 0..<g.depth {
                (dw + t * paddedCout).update(from: weights + t * g.cout, count: g.cout)
            }
            directWeights = dw
            zeroRow = allocateFloats(g.cin)
            tile = allocateFloats(directTileRows * block)
        }
        self.packed = packed
        self.scratch = scratch
        self.columns = columns
        chunkRows = chunk
        self.directWeights = directWeights
        self.zeroRow = zeroRow
        self.tile = tile
        self.paddedCout = paddedCout
    }

    deinit {
        freeFloats(x)
        freeFloats(weights)
        freeFloats(y)
        if let columns { freeFloats(columns) }
        if let directWeights { freeFloats(directWeights) }
        if let zeroRow { freeFloats(zeroRow) }
        if let tile { freeFloats(tile) }
    }

    /// Input [n, h, w, cin].
    public var input: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: x, count: g.n * g.h * g.w * g.cin) }
    /// Weights [kh, kw, cin, cout].
    public var inputWeights: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: weights, count: g.depth * g.cout) }

    /// Computes y once.
    public func run() {
        switch method {
        case .reference:
            conv2dReference(g, x, weights, y)
        case .im2col:
            guard let packed, let scratch else { return }
            if let columns {
                var r0 = 0
                while r0 < g.pixels {
                    let rows = min(chunkRows, g.pixels - r0)
                    im2col(g, x, firstPixel: r0, pixels: rows, columns)
                    gemmPrepacked(m: rows, a: columns, lda: g.depth, b: packed, c: y + r0 * g.cout, ldc: g.cout,
                                  accumulate: false, scratch: scratch)
                    r0 += rows
                }
            } else {
                gemmPrepacked(m: g.pixels, a: x, lda: g.cin, b: packed, c: y, ldc: g.cout, accumulate: false,
                              scratch: scratch)
            }
        case .direct(let path):
            guard let directWeights, let zeroRow, let tile else { return }
            let p = DirectConvPointers(x: x, w: directWeights, y: y, zero: zeroRow, tile: tile, paddedCout: paddedCout)
            switch path {
            case .avx512: conv2dDirect(SIMD16<Float>.self, g, p)
            case .avx2: conv2dDirect(SIMD8<Float>.self, g, p)
            case .sse: conv2dDirect(SIMD4<Float>.self, g, p)
            }
        }
    }

    /// Output [n, oh, ow, cout] from the last `run()`.
    public func output() -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: y, count: g.pixels * g.cout) }
}

/// The definition (file header), one tap at a time with a bounds test.
func conv2dReference(_ g: ConvGeometry, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    for b in 0..<g.n {
        for oy in 0..<g.oh {
            for ox in 0..<g.ow {
                for co in 0..<g.cout {
                    var acc: Float = 0
                    for ky in 0..<g.kh {
                        for kx in 0..<g.kw {
                            for ci in 0..<g.cin {
                                let iy = oy * g.stride - g.pad + ky, ix = ox * g.stride - g.pad + kx
                                if iy >= 0 && iy < g.h && ix >= 0 && ix < g.w {
                                    acc += x[((b * g.h + iy) * g.w + ix) * g.cin + ci] * w[((ky * g.kw + kx) * g.cin + ci) * g.cout + co]
                                }
                            }
                        }
                    }
                    y[((b * g.oh + oy) * g.ow + ox) * g.cout + co] = acc
                }
            }
        }
    }
}

/// Writes the im2col rows of output pixels firstPixel..<firstPixel+pixels: row r holds, for each
/// (ky, kx), the cin input values under that tap (zeros outside the image).
func im2col(_ g: ConvGeometry, _ x: UnsafePointer<Float>, firstPixel: Int, pixels: Int, _ out: UnsafeMutablePointer<Float>) {
    var b = firstPixel / (g.oh * g.ow)
    var oy = firstPixel / g.ow % g.oh
    var ox = firstPixel % g.ow
    for r in 0..<pixels {
        var dst = out + r * g.depth
        for ky in 0..<g.kh {
            let iy = oy * g.stride - g.pad + ky
            if iy < 0 || iy >= g.h {
                dst.update(repeating: 0, count: g.kw * g.cin)
                dst += g.kw * g.cin
                continue
            }
            let row = x + (b * g.h + iy) * g.w * g.cin
            for kx in 0..<g.kw {
                let ix = ox * g.stride - g.pad + kx
                if ix < 0 || ix >= g.w {
                    dst.update(repeating: 0, count: g.cin)
                } else {
                    dst.update(from: row + ix * g.cin, count: g.cin)
                }
                dst += g.cin
            }
        }
        ox += 1
        if ox == g.ow {
            ox = 0
            oy += 1
            if oy == g.oh {
                oy = 0
                b += 1
            }
        }
    }
}

/// Output pixels per register tile of the direct convolution.
let directTileRows = 6

/// Buffers of one direct-convolution run.
struct DirectConvPointers {
    let x: UnsafePointer<Float>
    /// Weights [kh, kw, cin, paddedCout], zero beyond cout.
    let w: UnsafePointer<Float>
    let y: UnsafeMutablePointer<Float>
    /// cin zeros, read by taps outside the image and by pixels past the row end.
    let zero: UnsafePointer<Float>
    /// directTileRows × 2·width scratch for edge tiles.
    let tile: UnsafeMutablePointer<Float>
    let paddedCout: Int
}

/// Direct convolution: for each output row, cout block of 2 vectors, and tile of 6 pixels, a
/// 6×2-vector register tile accumulated over every (ky, kx, ci).
@inline(__always)
func conv2dDirect<V: FloatVector>(_: V.Type, _ g: ConvGeometry, _ p: DirectConvPointers) {
    let w = V.scalarCount, block = 2 * w
    var src = [UnsafePointer<Float>](repeating: p.zero, count: directTileRows)
    src.withUnsafeMutableBufferPointer { src in
        for b in 0..<g.n {
            for oy in 0..<g.oh {
                var co = 0
                while co < g.cout {
                    let cols = min(block, g.cout - co)
                    var ox0 = 0
                    while ox0 < g.ow {
                        let valid = min(directTileRows, g.ow - ox0)
                        // 6×2-vector register tile, written out like attention's score tile (see there).
                        var c0 = V(), d0 = V(), c1 = V(), d1 = V(), c2 = V(), d2 = V()
                        var c3 = V(), d3 = V(), c4 = V(), d4 = V(), c5 = V(), d5 = V()
                        for ky in 0..<g.kh {
                            let iy = oy * g.stride - g.pad + ky
                            let rowOK = iy >= 0 && iy < g.h
                            for kx in 0..<g.kw {
                                for r in 0..<directTileRows {
                                    let ix = (ox0 + r) * g.stride - g.pad + kx
                                    src[r] = rowOK && r < valid && ix >= 0 && ix < g.w
                                        ? p.x + ((b * g.h + iy) * g.w + ix) * g.cin : p.zero
                                }
                                let s0 = src[0], s1 = src[1], s2 = src[2], s3 = src[3], s4 = src[4], s5 = src[5]
                                var wp = p.w + (ky * g.kw + kx) * g.cin * p.paddedCout + co
                                for ci in 0..<g.cin {
                                    let w0: V = vload(wp), w1: V = vload(wp, w)
                                    var v = V(repeating: s0[ci])
                                    c0 = c0.addingProduct(v, w0); d0 = d0.addingProduct(v, w1)
                                    v = V(repeating: s1[ci])
                                    c1 = c1.addingProduct(v, w0); d1 = d1.addingProduct(v, w1)
                                    v = V(repeating: s2[ci])
                                    c2 = c2.addingProduct(v, w0); d2 = d2.addingProduct(v, w1)
                                    v = V(repeating: s3[ci])
                                    c3 = c3.addingProduct(v, w0); d3 = d3.addingProduct(v, w1)
                                    v = V(repeating: s4[ci])
                                    c4 = c4.addingProduct(v, w0); d4 = d4.addingProduct(v, w1)
                                    v = V(repeating: s5[ci])
                                    c5 = c5.addingProduct(v, w0); d5 = d5.addingProduct(v, w1)
                                    wp += p.paddedCout
                                }
                            }
                        }
                        let outRow = p.y + ((b * g.oh + oy) * g.ow + ox0) * g.cout + co
                        let full = valid == directTileRows && cols == block
                        let dst = full ? outRow : p.tile
                        let ld = full ? g.cout : block
                        vstore(c0, dst); vstore(d0, dst, w)
                        vstore(c1, dst, ld); vstore(d1, dst, ld + w)
                        vstore(c2, dst, 2 * ld); vstore(d2, dst, 2 * ld + w)
                        vstore(c3, dst, 3 * ld); vstore(d3, dst, 3 * ld + w)
                        vstore(c4, dst, 4 * ld); vstore(d4, dst, 4 * ld + w)
                        vstore(c5, dst, 5 * ld); vstore(d5, dst, 5 * ld + w)
                        if !full {
                            for r in 0..<valid {
                                (outRow + r * g.cout).update(from: p.tile + r * block, count: cols)
                            }
                        }
                        ox0 += directTileRows
                    }
                    co += block
                }
            }
        }
    }
}
