// fp32 forward passes of the digits CNN in four layout variants — NCHW or NHWC activations, weights
// as stored (OIHW) or repacked once at load — with one API (`FP32CNN`, shaped like `FP32MLP`).
// Each image runs through all layers in per-image scratch buffers that stay in L1; activation
// buffers carry a zero halo (written once) so no convolution tap needs a bounds check.
import Kernels

/// Memory layout of a `FP32CNN`'s activations and convolution weights.
public enum CNNLayout: String, CaseIterable, Sendable {
    /// Textbook reference: NCHW activations, OIHW weights as stored. Direct convolution, one output
    /// channel at a time: the 8×8 output plane lives in 8 SIMD8 row registers and every weight
    /// (read in stored order) is broadcast against 8 shifted input rows.
    case nchw
    /// NHWC activations, OIHW weights read with strides: register tiles of 8 pixels × 1 vector of
    /// output channels, or 4 pixels × 2 vectors when Cout allows (SIMD16 with AVX-512, else
    /// SIMD8); each tap's weight vectors are gathered from OIHW (stride Cin·k²) and reused by the
    /// tile's pixels.
    case nhwc
    /// NCHW activations, weights repacked at load into GEMM panels [Cout/4][Cin·k²][4]: per image,
    /// im2col of the input (Cin·k² × 64) then 4-channel × 2-vector register tiles (8 accumulators)
    /// over k = Cin·k², the 4 weights of a k-step adjacent in the panel.
    case nchw_packed
    /// NHWC activations, weights repacked at load into [Cout/P][ky][kx][Cin][P] (HWIO in
    /// output-channel panels of the tile width P = 1 or 2 vectors): the same loops as `nhwc` with
    /// contiguous vector loads instead of gathers; the first dense layer's weights permuted to HWC.
    case nhwc_packed

    /// Whether activations are NHWC.
    public var isNHWC: Bool { self == .nhwc || self == .nhwc_packed }
}

/// Float vectors whose `fma` is one fused multiply-add and whose `max` is one compare + blend on
/// the concrete type (the stdlib's generic `pointwiseMax` stays an out-of-line lane loop: measured
/// with callgrind it was a quarter of all instructions of a forward pass).
protocol CNNVector: SIMD where Scalar == Float {
    static func fma(_ acc: Self, _ a: Self, _ b: Self) -> Self
    static func max(_ a: Self, _ b: Self) -> Self
}
extension SIMD8: CNNVector where Scalar == Float {
    @inline(__always) static func fma(_ acc: Self, _ a: Self, _ b: Self) -> Self { acc.addingProduct(a, b) }
    @inline(__always) static func max(_ a: Self, _ b: Self) -> Self { a.replacing(with: b, where: a .< b) }
}
extension SIMD16: CNNVector where Scalar == Float {
    @inline(__always) static func fma(_ acc: Self, _ a: Self, _ b: Self) -> Self { acc.addingProduct(a, b) }
    @inline(__always) static func max(_ a: Self, _ b: Self) -> Self { a.replacing(with: b, where: a .< b) }
}

/// How the NHWC kernels read a tap's weight vectors: contiguous from the packed panel, or
/// gathered from OIHW with strides. A type parameter, so the choice is made at specialization.
protocol TapWeights { static var packed: Bool { get } }
enum PackedTaps: TapWeights { static var packed: Bool { true } }
enum StridedTaps: TapWeights { static var packed: Bool { false } }

@inline(__always) func vload<V: SIMD>(_ p: UnsafePointer<Float>) -> V where V.Scalar == Float {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
}
@inline(__always) func vstore<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<Float>) where V.Scalar == Float {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
}

/// Runs a `CNNModel` on batches of `batch` images in one `CNNLayout`. Not thread-safe.
public final class FP32CNN {
    /// Images per forward pass.
    public let batch: Int
    /// Layout of activations and weights.
    public let layout: CNNLayout
    let model: CNNModel
    static let side = CNNModel.side
    /// Whether the build targets AVX-512 (32 × 512-bit registers): picks the SIMD16 tiles.
    let wide: Bool
    /// Halo width of every activation buffer (largest padding of any conv).
    let halo: Int
    /// Padded row width = side + 2·halo.
    let pw: Int
    /// Scaled input [batch × 64] and logits [batch × 10].
    private let input: UnsafeMutablePointer<Float>
    private let logits: UnsafeMutablePointer<Float>
    /// Per-image activation buffers with zero halo: [0] = input (1 channel), [l + 1] = output of conv l.
    private var acts: [UnsafeMutablePointer<Float>] = []
    private var actCounts: [Int] = []
    /// Pooled features (CHW for NCHW layouts, HWC for NHWC) and dense-layer outputs.
    private let pooled: UnsafeMutablePointer<Float>
    private var denseOut: [UnsafeMutablePointer<Float>] = []
    /// Per conv: weights in the layout the variant's inner loop reads (OIHW when unpacked), biases.
    private var convWeights: [UnsafeMutablePointer<Float>] = []
    private var convBiases: [UnsafeMutablePointer<Float>] = []
    /// Per dense layer: [out × in] weights (the first one permuted to HWC for `nhwc_packed`), biases.
    private var denseWeights: [UnsafeMutablePointer<Float>] = []
    private var denseBiases: [UnsafeMutablePointer<Float>] = []
    /// im2col scratch (nchw_packed): [max Cin·k² × 64].
    private let col: UnsafeMutablePointer<Float>

    /// Prepares buffers (and, for the packed layouts, repacks the weights) for `batch` images.
    public convenience init(model: CNNModel, batch: Int, layout: CNNLayout = .nchw) {
        self.init(model: model, batch: batch, layout: layout, wide: ISA.built.contains(.avx512f))
    }

    /// `wide` picks the SIMD16 tiles (AVX-512) or the SIMD8 ones; tests run both on any CPU.
    init(model: CNNModel, batch: Int, layout: CNNLayout, wide: Bool) {
        precondition(batch > 0)
        precondition(model.convs.allSatisfy { $0.outChannels % 8 == 0 }, "CNNModel.parse guarantees out_channels % 8 == 0")
        self.model = model
        self.batch = batch
        self.layout = layout
        self.wide = wide
        halo = model.convs.map(\.padding).max() ?? 0
        pw = Self.side + 2 * halo
        input = .allocate(capacity: batch * 64)
        input.initialize(repeating: 0, count: batch * 64)
        logits = .allocate(capacity: batch * 10)
        logits.initialize(repeating: 0, count: batch * 10)
        let channels = [1] + model.convs.map(\.outChannels)
        for c in channels {
            let n = c * pw * pw
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            p.initialize(repeating: 0, count: n)
            acts.append(p)
            actCounts.append(n)
        }
        let flat = channels.last! * CNNModel.pooledSide * CNNModel.pooledSide
        pooled = .allocate(capacity: flat)
        pooled.initialize(repeating: 0, count: flat)
        var colSize = 1
        for conv in model.convs {
            let (cin, cout, k) = (conv.inChannels, conv.outChannels, conv.kernel)
            let kk = cin * k * k
            colSize = max(colSize, kk * 64)
            let w = UnsafeMutablePointer<Float>.allocate(capacity: cout * kk)
            switch layout {
            case .nchw, .nhwc:
                w.initialize(from: conv.weight, count: cout * kk)  // OIHW as stored
            case .nchw_packed:
                // [Cout/4][Cin·k²][4]: the 4 weights a GEMM k-step broadcasts are adjacent.
                for o in 0..<cout { for r in 0..<kk { w[((o / 4) * kk + r) * 4 + o % 4] = conv.weight[o * kk + r] } }
            case .nhwc_packed:
                // [Cout/P][ky][kx][Cin][P], P = the kernel's tile width (1 or 2 vectors of output
                // channels): the weights of one tap are P contiguous floats.
                let v = Self.panelWidth(cout, wide: wide)
                for o in 0..<cout {
                    for ci in 0..<cin {
                        for ky in 0..<k {
                            for kx in 0..<k {
                                w[((((o / v) * k + ky) * k + kx) * cin + ci) * v + o % v] = conv.weight[((o * cin + ci) * k + ky) * k + kx]
                            }
                        }
                    }
                }
            }
            convWeights.append(w)
            let b = UnsafeMutablePointer<Float>.allocate(capacity: cout)
            b.initialize(from: conv.bias, count: cout)
            convBiases.append(b)
        }
        col = .allocate(capacity: colSize)
        col.initialize(repeating: 0, count: colSize)
        let c = channels.last!, hw = CNNModel.pooledSide * CNNModel.pooledSide
        for (i, d) in model.dense.enumerated() {
            let w = UnsafeMutablePointer<Float>.allocate(capacity: d.outputs * d.inputs)
            if i == 0 && layout == .nhwc_packed {
                // Permute the CHW-flattened input index (ch·16 + p) to HWC (p·C + ch), once.
                for o in 0..<d.outputs { for ch in 0..<c { for p in 0..<hw { w[o * d.inputs + p * c + ch] = d.weight[o * d.inputs + ch * hw + p] } } }
            } else {
                w.initialize(from: d.weight, count: d.outputs * d.inputs)
            }
            denseWeights.append(w)
            let b = UnsafeMutablePointer<Float>.allocate(capacity: d.outputs)
            b.initialize(from: d.bias, count: d.outputs)
            denseBiases.append(b)
            let out = UnsafeMutablePointer<Float>.allocate(capacity: d.outputs)
            out.initialize(repeating: 0, count: d.outputs)
            denseOut.append(out)
        }
    }

    deinit {
        for p in [input, logits, pooled, col] + acts + denseOut + convWeights + convBiases + denseWeights + denseBiases { p.deallocate() }
    }

    /// Output-channel vector width of the NHWC kernels: 16 lanes (one zmm) when built for AVX-512
    /// and the channels allow, else 8 (one ymm: 8 pixel accumulators + weights fit 16 registers).
    static func vectorWidth(_ cout: Int, wide: Bool) -> Int { wide && cout % 16 == 0 ? 16 : 8 }

    /// Output channels per NHWC register tile: 2 vectors (× 4 pixels) when the channels allow, else
    /// 1 vector (× 8 pixels) — 8 accumulators either way.
    static func panelWidth(_ cout: Int, wide: Bool) -> Int {
        let v = vectorWidth(cout, wide: wide)
        return cout % (2 * v) == 0 ? 2 * v : v
    }

    /// Copies `batch` images of raw pixels (0–16) starting at image `start` of `pixels`, scaled.
    public func setInput(_ pixels: [Float], start: Int) {
        let n = batch * DigitsData.features
        precondition(start >= 0 && (start * DigitsData.features + n) <= pixels.count, "images \(start)..<\(start + batch) out of range")
        let scale = model.inputScale
        pixels.withUnsafeBufferPointer { p in
            for i in 0..<n { input[i] = p[start * DigitsData.features + i] * scale }
        }
    }

    /// One forward pass of the current input; returns the logits [batch × 10].
    @discardableResult
    public func forward() -> UnsafeBufferPointer<Float> {
        let side = Self.side
        for n in 0..<batch {
            // The 1-channel input is the same in NCHW and NHWC: copy into the halo-padded buffer.
            let src = input + n * 64
            for y in 0..<side { (acts[0] + (y + halo) * pw + halo).update(from: src + y * side, count: side) }
            for (l, conv) in model.convs.enumerated() {
                let x = UnsafePointer(acts[l]), y = acts[l + 1], w = UnsafePointer(convWeights[l]), b = UnsafePointer(convBiases[l])
                switch layout {
                case .nchw: convNCHW(conv, x, w, b, y)
                case .nchw_packed:
                    if wide { convNCHWPacked(SIMD16<Float>.self, conv, x, w, b, y) } else { convNCHWPacked(SIMD8<Float>.self, conv, x, w, b, y) }
                case .nhwc, .nhwc_packed:
                    if layout == .nhwc_packed {
                        convNHWCDispatch(PackedTaps.self, conv, x, w, b, y)
                    } else {
                        convNHWCDispatch(StridedTaps.self, conv, x, w, b, y)
                    }
                }
            }
            if layout.isNHWC { poolNHWC() } else { poolNCHW() }
            var features = UnsafePointer(pooled)
            for (i, d) in model.dense.enumerated() {
                let out = i == model.dense.count - 1 ? logits + n * 10 : denseOut[i]
                // Unpacked NHWC reads the CHW-ordered first dense layer with strides; the other
                // layouts read rows in order (CHW features, or HWC weights permuted at load).
                if i == 0 && layout == .nhwc {
                    denseHWCStrided(d, features, denseWeights[i], denseBiases[i], out)
                } else {
                    dense(d, features, denseWeights[i], denseBiases[i], out)
                }
                features = UnsafePointer(out)
            }
        }
        return UnsafeBufferPointer(start: logits, count: batch * 10)
    }

    /// Logits [batch × 10] of the last forward pass (zeros before the first).
    public var lastLogits: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: logits, count: batch * 10) }

    /// Predicted class of each image of the last forward pass.
    public func predictions() -> [Int] {
        (0..<batch).map { argmax(logits + $0 * 10, 10) }
    }

    // MARK: Convolutions

    /// `nchw`: per output channel, the 8×8 output plane in 8 SIMD8 rows; each OIHW weight (read in
    /// stored order) is broadcast and multiplied with 8 shifted input rows.
    @inline(__always)
    private func convNCHW(_ c: CNNConvLayer, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        typealias V = SIMD8<Float>
        let (cin, k, pw) = (c.inChannels, c.kernel, pw)
        let plane = pw * pw, origin = (halo - c.padding) * (pw + 1)
        var wp = w
        for o in 0..<c.outChannels {
            let bias = V(repeating: b[o])
            var a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias, a7 = bias
            for ci in 0..<cin {
                let xc = x + ci * plane + origin
                for ky in 0..<k {
                    for kx in 0..<k {
                        let s = xc + ky * pw + kx
                        let wv = V(repeating: wp.pointee)
                        wp += 1
                        a0 = V.fma(a0, vload(s), wv)
                        a1 = V.fma(a1, vload(s + pw), wv)
                        a2 = V.fma(a2, vload(s + 2 * pw), wv)
                        a3 = V.fma(a3, vload(s + 3 * pw), wv)
                        a4 = V.fma(a4, vload(s + 4 * pw), wv)
                        a5 = V.fma(a5, vload(s + 5 * pw), wv)
                        a6 = V.fma(a6, vload(s + 6 * pw), wv)
                        a7 = V.fma(a7, vload(s + 7 * pw), wv)
                    }
                }
            }
            if c.relu {
                let z = V()
                a0 = V.max(a0, z); a1 = V.max(a1, z); a2 = V.max(a2, z); a3 = V.max(a3, z)
                a4 = V.max(a4, z); a5 = V.max(a5, z); a6 = V.max(a6, z); a7 = V.max(a7, z)
            }
            let d = y + o * plane + halo * (pw + 1)
            vstore(a0, d); vstore(a1, d + pw); vstore(a2, d + 2 * pw); vstore(a3, d + 3 * pw)
            vstore(a4, d + 4 * pw); vstore(a5, d + 5 * pw); vstore(a6, d + 6 * pw); vstore(a7, d + 7 * pw)
        }
    }

    /// `nchw_packed`: im2col (Cin·k² rows × 64 pixels), then GEMM with the packed weight panel:
    /// per block of 4 output channels and chunk of 2 vectors of pixels, a 4 × 2-vector register
    /// tile (8 accumulators) over the Cin·k² rows — V = SIMD16 with AVX-512 (2 chunks of 32
    /// pixels), SIMD8 with AVX2 (4 chunks of 16 pixels, so the tile fits 16 ymm registers).
    @inline(__always)
    private func convNCHWPacked<V: CNNVector>(_: V.Type, _ c: CNNConvLayer, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                              _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        typealias H = SIMD8<Float>
        let (cin, k, pw) = (c.inChannels, c.kernel, pw)
        let plane = pw * pw, origin = (halo - c.padding) * (pw + 1)
        let kk = cin * k * k, lanes = V.scalarCount
        // im2col: row (ci, ky, kx) = the input plane shifted by (ky, kx), 8 rows of 8 pixels.
        var r = col
        for ci in 0..<cin {
            let xc = x + ci * plane + origin
            for ky in 0..<k {
                for kx in 0..<k {
                    let s = xc + ky * pw + kx
                    for row in 0..<8 { vstore(vload(s + row * pw) as H, r + row * 8) }
                    r += 64
                }
            }
        }
        let relu = c.relu
        /// Stores `v` (pixels p0 ..< p0 + lanes of channel ch) into the halo-padded output plane.
        @inline(__always) func put(_ v: V, _ ch: Int, _ p0: Int) {
            let out = relu ? V.max(v, V()) : v
            let d = y + ch * plane + halo * (pw + 1)
            for q in stride(from: 0, to: lanes, by: 8) {
                let p = p0 + q
                var h = H()
                for j in 0..<8 { h[j] = out[q + j] }
                vstore(h, d + (p / 8) * pw + p % 8)
            }
        }
        for ob in 0..<(c.outChannels / 4) {
            let o = ob * 4
            let b0 = V(repeating: b[o]), b1 = V(repeating: b[o + 1]), b2 = V(repeating: b[o + 2]), b3 = V(repeating: b[o + 3])
            let panel = w + ob * kk * 4
            for p0 in stride(from: 0, to: 64, by: 2 * lanes) {
                var c00 = b0, c01 = b0, c10 = b1, c11 = b1, c20 = b2, c21 = b2, c30 = b3, c31 = b3
                var cp = UnsafePointer(col) + p0
                var wp = panel
                for _ in 0..<kk {
                    let x0: V = vload(cp), x1: V = vload(cp + lanes)
                    cp += 64
                    var wv = V(repeating: wp[0])
                    c00 = V.fma(c00, x0, wv); c01 = V.fma(c01, x1, wv)
                    wv = V(repeating: wp[1])
                    c10 = V.fma(c10, x0, wv); c11 = V.fma(c11, x1, wv)
                    wv = V(repeating: wp[2])
                    c20 = V.fma(c20, x0, wv); c21 = V.fma(c21, x1, wv)
                    wv = V(repeating: wp[3])
                    c30 = V.fma(c30, x0, wv); c31 = V.fma(c31, x1, wv)
                    wp += 4
                }
                put(c00, o, p0); put(c01, o, p0 + lanes)
                put(c10, o + 1, p0); put(c11, o + 1, p0 + lanes)
                put(c20, o + 2, p0); put(c21, o + 2, p0 + lanes)
                put(c30, o + 3, p0); put(c31, o + 3, p0 + lanes)
            }
        }
    }

    /// Picks the NHWC tile (vector width, 1 or 2 vectors) for `c`; `T` says how weights are read,
    /// as a type so each specialization has no weight-layout branch in its inner loop.
    @inline(__always)
    private func convNHWCDispatch<T: TapWeights>(_: T.Type, _ c: CNNConvLayer, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                                 _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        let v = Self.vectorWidth(c.outChannels, wide: wide)
        switch (v, Self.panelWidth(c.outChannels, wide: wide) == 2 * v) {
        case (16, true): convNHWCPair(SIMD16<Float>.self, T.self, c, x, w, b, y)
        case (16, false): convNHWC(SIMD16<Float>.self, T.self, c, x, w, b, y)
        case (_, true): convNHWCPair(SIMD8<Float>.self, T.self, c, x, w, b, y)
        default: convNHWC(SIMD8<Float>.self, T.self, c, x, w, b, y)
        }
    }

    /// `nhwc` / `nhwc_packed`: per output row and block of V output channels, 8 pixel accumulators
    /// over every (ky, kx, ci) tap; the tap's weight vector is a contiguous load from the packed
    /// [Cout/V][ky][kx][Cin][V] panel, or gathered from OIHW (stride Cin·k²) when unpacked.
    @inline(__always)
    private func convNHWC<V: CNNVector, T: TapWeights>(_: V.Type, _: T.Type, _ c: CNNConvLayer, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                                       _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        let (cin, cout, k, pw) = (c.inChannels, c.outChannels, c.kernel, pw)
        let lanes = V.scalarCount
        let tapStride = cin * k * k  // OIHW distance between consecutive output channels
        for oy in 0..<Self.side {
            for ob in stride(from: 0, to: cout, by: lanes) {
                let bias: V = vload(b + ob)
                var a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias, a7 = bias
                var wp = w + ob * tapStride  // packed: panel ob / V starts at (ob / V)·k²·Cin·V = ob·Cin·k²
                for ky in 0..<k {
                    for kx in 0..<k {
                        // Input pixel (oy + ky − pad, kx − pad) in halo coordinates, channel 0.
                        let s = x + ((oy + ky + halo - c.padding) * pw + kx + halo - c.padding) * cin
                        for ci in 0..<cin {
                            let wv: V
                            if T.packed {
                                wv = vload(wp)
                                wp += lanes
                            } else {
                                var g = V()
                                let base = w + (ob * cin + ci) * k * k + ky * k + kx
                                for j in 0..<lanes { g[j] = base[j * tapStride] }
                                wv = g
                            }
                            let p = s + ci
                            a0 = V.fma(a0, V(repeating: p[0]), wv)
                            a1 = V.fma(a1, V(repeating: p[cin]), wv)
                            a2 = V.fma(a2, V(repeating: p[2 * cin]), wv)
                            a3 = V.fma(a3, V(repeating: p[3 * cin]), wv)
                            a4 = V.fma(a4, V(repeating: p[4 * cin]), wv)
                            a5 = V.fma(a5, V(repeating: p[5 * cin]), wv)
                            a6 = V.fma(a6, V(repeating: p[6 * cin]), wv)
                            a7 = V.fma(a7, V(repeating: p[7 * cin]), wv)
                        }
                    }
                }
                if c.relu {
                    let z = V()
                    a0 = V.max(a0, z); a1 = V.max(a1, z); a2 = V.max(a2, z); a3 = V.max(a3, z)
                    a4 = V.max(a4, z); a5 = V.max(a5, z); a6 = V.max(a6, z); a7 = V.max(a7, z)
                }
                let d = y + ((oy + halo) * pw + halo) * cout + ob
                vstore(a0, d); vstore(a1, d + cout); vstore(a2, d + 2 * cout); vstore(a3, d + 3 * cout)
                vstore(a4, d + 4 * cout); vstore(a5, d + 5 * cout); vstore(a6, d + 6 * cout); vstore(a7, d + 7 * cout)
            }
        }
    }

    /// `nhwc` / `nhwc_packed` when Cout is a multiple of 2 vectors: per output row, half row of 4
    /// pixels and pair of output-channel vectors, 4 × 2 accumulators over every (ky, kx, ci) tap —
    /// 2 weight vectors + 4 broadcasts per 8 FMAs (the 8 × 1 tile needs 1 + 8). Packed: the two
    /// vectors are adjacent in the [Cout/2V][ky][kx][Cin][2V] panel; unpacked: both gathered.
    @inline(__always)
    private func convNHWCPair<V: CNNVector, T: TapWeights>(_: V.Type, _: T.Type, _ c: CNNConvLayer, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                                           _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        let (cin, cout, k, pw) = (c.inChannels, c.outChannels, c.kernel, pw)
        let lanes = V.scalarCount
        let tapStride = cin * k * k
        for oy in 0..<Self.side {
            for ox in stride(from: 0, to: Self.side, by: 4) {
                for ob in stride(from: 0, to: cout, by: 2 * lanes) {
                    let bias0: V = vload(b + ob), bias1: V = vload(b + ob + lanes)
                    var a0 = bias0, a1 = bias0, a2 = bias0, a3 = bias0
                    var e0 = bias1, e1 = bias1, e2 = bias1, e3 = bias1
                    var wp = w + ob * tapStride
                    for ky in 0..<k {
                        for kx in 0..<k {
                            let s = x + ((oy + ky + halo - c.padding) * pw + ox + kx + halo - c.padding) * cin
                            for ci in 0..<cin {
                                let w0: V, w1: V
                                if T.packed {
                                    w0 = vload(wp)
                                    w1 = vload(wp + lanes)
                                    wp += 2 * lanes
                                } else {
                                    var g0 = V(), g1 = V()
                                    let base = w + (ob * cin + ci) * k * k + ky * k + kx
                                    for j in 0..<lanes { g0[j] = base[j * tapStride] }
                                    for j in 0..<lanes { g1[j] = base[(lanes + j) * tapStride] }
                                    w0 = g0
                                    w1 = g1
                                }
                                let p = s + ci
                                var v = V(repeating: p[0])
                                a0 = V.fma(a0, v, w0); e0 = V.fma(e0, v, w1)
                                v = V(repeating: p[cin])
                                a1 = V.fma(a1, v, w0); e1 = V.fma(e1, v, w1)
                                v = V(repeating: p[2 * cin])
                                a2 = V.fma(a2, v, w0); e2 = V.fma(e2, v, w1)
                                v = V(repeating: p[3 * cin])
                                a3 = V.fma(a3, v, w0); e3 = V.fma(e3, v, w1)
                            }
                        }
                    }
                    if c.relu {
                        let z = V()
                        a0 = V.max(a0, z); a1 = V.max(a1, z); a2 = V.max(a2, z); a3 = V.max(a3, z)
                        e0 = V.max(e0, z); e1 = V.max(e1, z); e2 = V.max(e2, z); e3 = V.max(e3, z)
                    }
                    let d = y + ((oy + halo) * pw + ox + halo) * cout + ob
                    vstore(a0, d); vstore(e0, d + lanes)
                    vstore(a1, d + cout); vstore(e1, d + cout + lanes)
                    vstore(a2, d + 2 * cout); vstore(e2, d + 2 * cout + lanes)
                    vstore(a3, d + 3 * cout); vstore(e3, d + 3 * cout + lanes)
                }
            }
        }
    }

    // MARK: Pool and dense

    /// 2×2 max-pool of the last conv's NCHW output → `pooled` in CHW order.
    private func poolNCHW() {
        let c = model.convs.last!.outChannels, plane = pw * pw, ps = CNNModel.pooledSide
        let src = UnsafePointer(acts[model.convs.count]) + halo * (pw + 1)
        for ch in 0..<c {
            let s = src + ch * plane
            for py in 0..<ps {
                let r0 = s + 2 * py * pw, r1 = r0 + pw
                for px in 0..<ps {
                    pooled[(ch * ps + py) * ps + px] = max(max(r0[2 * px], r0[2 * px + 1]), max(r1[2 * px], r1[2 * px + 1]))
                }
            }
        }
    }

    /// 2×2 max-pool of the last conv's NHWC output → `pooled` in HWC order, 8 channels at a time.
    private func poolNHWC() {
        typealias V = SIMD8<Float>
        let c = model.convs.last!.outChannels, ps = CNNModel.pooledSide
        let src = UnsafePointer(acts[model.convs.count])
        for py in 0..<ps {
            for px in 0..<ps {
                let p00 = src + ((2 * py + halo) * pw + 2 * px + halo) * c
                let p10 = p00 + pw * c
                for ch in stride(from: 0, to: c, by: 8) {
                    let m = V.max(V.max(vload(p00 + ch) as V, vload(p00 + c + ch) as V),
                                         V.max(vload(p10 + ch) as V, vload(p10 + c + ch) as V))
                    vstore(m, pooled + (py * ps + px) * c + ch)
                }
            }
        }
    }

    /// y = act(W·x + b) with W [out × in] rows read in order (SIMD16 dot products).
    private func dense(_ d: DenseLayer, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        typealias V = SIMD16<Float>
        let n = d.inputs, vec = n / 16 * 16
        for o in 0..<d.outputs {
            let row = w + o * n
            var acc = V()
            var i = 0
            while i < vec { acc = V.fma(acc, vload(row + i), vload(x + i)); i += 16 }
            var s = acc.sum()
            while i < n { s += row[i] * x[i]; i += 1 }
            s += b[o]
            y[o] = d.relu ? max(s, 0) : s
        }
    }

    /// The first dense layer on HWC-ordered features with its CHW-ordered weights as stored: the
    /// weight of feature (pixel p, channel ch) is read at ch·16 + p (stride 16 along the features).
    private func denseHWCStrided(_ d: DenseLayer, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        typealias V = SIMD8<Float>
        let c = model.convs.last!.outChannels, hw = CNNModel.pooledSide * CNNModel.pooledSide
        for o in 0..<d.outputs {
            let row = w + o * d.inputs
            var acc = V()
            for p in 0..<hw {
                let xp = x + p * c
                for ch in stride(from: 0, to: c, by: 8) {
                    var g = V()
                    for j in 0..<8 { g[j] = row[(ch + j) * hw + p] }
                    acc = V.fma(acc, vload(xp + ch), g)
                }
            }
            let s = acc.sum() + b[o]
            y[o] = d.relu ? max(s, 0) : s
        }
    }
}
