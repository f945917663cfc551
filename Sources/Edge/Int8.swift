// int8 post-training quantization: per-output-channel symmetric int8 weights, per-tensor symmetric
// int8 activations (scale from a calibration method), the int8×int8→int32 GEMM (reference loops,
// or the VNNI kernel on pre-packed weights), and the dequantize + bias + ReLU + requantize epilogue.
//
// The int8 GEMM itself (`Int8GEMM`, `PackedInt8Weights`) lives in Kernels (op kind `gemm_int8`).
// Layout: C[m×n] = A[m×k] · Wᵀ with W [n×k] row-major (row = output channel), so both operands
// are read along k, contiguously.
import Kernels

/// Symmetric int8 quantization helpers (range [-127, 127]; -128 is never produced).
public enum Quant {
    /// round(x / scale) clamped to [-127, 127] (round half to even, as the vector conversion does).
    @inline(__always)
    public static func quantize(_ x: Float, scale: Float) -> Int8 {
        let q = (x / scale).rounded(.toNearestOrEven)
        return Int8(max(-127, min(127, q)))
    }

    /// q · scale.
    @inline(__always)
    public static func dequantize(_ q: Int8, scale: Float) -> Float { Float(q) * scale }

    /// Per-row (output channel) scales max|w|/127 and the quantized [rows × cols] weights.
    public static func perChannel(_ w: [Float], rows: Int, cols: Int) -> (q: [Int8], scales: [Float]) {
        var q = [Int8](repeating: 0, count: rows * cols)
        var scales = [Float](repeating: 1, count: rows)
        for r in 0..<rows {
            var m: Float = 0
            for c in 0..<cols { m = max(m, abs(w[r * cols + c])) }
            let s = m > 0 ? m / 127 : 1
            scales[r] = s
            for c in 0..<cols { q[r * cols + c] = quantize(w[r * cols + c], scale: s) }
        }
        return (q, scales)
    }
}

/// How a per-tensor activation scale is chosen from calibration values.
public enum CalibrationMethod: String, CaseIterable, Sendable {
    /// max |x| / 127.
    case minmax
    /// 99.99th percentile of |x| / 127 (clips the rare outliers).
    case percentile
    /// The clip value c (searched over 200 steps in (0, max|x|]) minimizing Σ(x − dq(q(x)))², / 127.
    case mse

    /// The scale for `values` (positive; 1 when all values are zero).
    public func scale(for values: [Float]) -> Float {
        let mags = values.map { abs($0) }
        guard let maxAbs = mags.max(), maxAbs > 0 else { return 1 }
        switch self {
        case .minmax:
            return maxAbs / 127
        case .percentile:
            let sorted = mags.sorted()
            let idx = min(sorted.count - 1, Int((0.9999 * Double(sorted.count - 1)).rounded(.up)))
            return max(sorted[idx], maxAbs * 1e-3) / 127
        case .mse:
            var best = maxAbs / 127, bestErr = Double.infinity
            for step in 1...200 {
                let s = maxAbs * Float(step) / 200 / 127
                var err = 0.0
                for x in values {
                    let d = Double(x - Quant.dequantize(Quant.quantize(x, scale: s), scale: s))
                    err += d * d
                }
                if err < bestErr { bestErr = err; best = s }
            }
            return best
        }
    }
}

/// The MLP with int8 weights and activations; every layer's int32 accumulators are dequantized
/// (scale_in · scale_w[channel]), biased, ReLU'd and requantized to the next layer's input scale in
/// one pass per output row (the fused epilogue); the last layer writes float logits.
public final class Int8MLP {
    /// Images per forward pass.
    public let batch: Int
    /// Input activation scale of each layer (from calibration).
    public let activationScales: [Float]
    let layers: [DenseLayer]
    let qWeights: [[Int8]]
    let packed: [PackedInt8Weights]
    /// Per layer and output channel: scale_in · scale_w (the dequantization factor of the accumulator).
    var combinedScales: [[Float]] = []
    let wScales: [[Float]]
    let inputScale: Float
    /// Whether to use the SIMD GEMM (else the reference loops).
    public let optimized: Bool
    private var qActs: [UnsafeMutablePointer<Int8>] = []
    private let acc: UnsafeMutablePointer<Int32>
    private let logits: UnsafeMutablePointer<Float>

    /// Quantizes `model`'s weights per channel; activation scales from `calibration` by `method`.
    public init(model: MLPModel, calibration: DigitsSplit, method: CalibrationMethod, batch: Int, optimized: Bool = true) {
        self.batch = batch
        self.layers = model.layers
        self.inputScale = model.inputScale
        self.optimized = optimized
        var qw: [[Int8]] = [], ws: [[Float]] = []
        for l in model.layers {
            let (q, s) = Quant.perChannel(l.weight, rows: l.outputs, cols: l.inputs)
            qw.append(q)
            ws.append(s)
        }
        qWeights = qw
        wScales = ws
        packed = zip(qw, model.layers).map { q, l in q.withUnsafeBufferPointer { PackedInt8Weights($0.baseAddress!, n: l.outputs, k: l.inputs) } }
        // Calibration: the fp32 model's input to every layer on the calibration split.
        let fp = FP32MLP(model: model, batch: calibration.count)
        fp.setInput(calibration.pixels, start: 0)
        fp.forward()
        var scales: [Float] = [method.scale(for: Array(UnsafeBufferPointer(start: fp.input, count: calibration.count * DigitsData.features)))]
        for l in 0..<(model.layers.count - 1) { scales.append(method.scale(for: Array(fp.activations(layer: l)))) }
        activationScales = scales
        combinedScales = (0..<model.layers.count).map { l in ws[l].map { $0 * scales[l] } }
        for l in model.layers { qActs.append(.allocate(capacity: batch * l.inputs)) }
        let widest = model.layers.map(\.outputs).max()!
        acc = .allocate(capacity: batch * widest)
        logits = .allocate(capacity: batch * 10)
    }

    deinit {
        for p in qActs { p.deallocate() }
        acc.deallocate()
        logits.deallocate()
    }

    /// Quantizes `batch` raw-pixel images starting at image `start`.
    public func setInput(_ pixels: [Float], start: Int) {
        let s = activationScales[0], scale = inputScale
        for i in 0..<(batch * DigitsData.features) {
            qActs[0][i] = Quant.quantize(pixels[start * DigitsData.features + i] * scale, scale: s)
        }
    }

    /// One forward pass; returns the logits [batch × 10].
    @discardableResult
    public func forward() -> UnsafeBufferPointer<Float> {
        for (l, layer) in layers.enumerated() {
            let n = layer.outputs, k = layer.inputs
            let last = l == layers.count - 1
            qWeights[l].withUnsafeBufferPointer { w in
                    layer.bias.withUnsafeBufferPointer { bias in
                        let sOutInv = last ? 0 : 1 / activationScales[l + 1]
                        if optimized {
                            packed[l].multiply(a: qActs[l], m: batch, c: acc)
                        } else {
                            Int8GEMM.reference(a: qActs[l], w: w.baseAddress!, c: acc, m: batch, n: n, k: k)
                        }
                        // Epilogue (a second pass over the int32 accumulators, row by row while
                        // they are in cache): dequantize, bias, ReLU, requantize — or write logits.
                        combinedScales[l].withUnsafeBufferPointer { cs in
                            let relu = layer.relu
                            for i in 0..<batch {
                                let row = acc + i * n
                                if last {
                                    let out = logits + i * 10
                                    for j in 0..<n { out[j] = Float(row[j]) * cs[j] + bias[j] }
                                } else {
                                    let out = qActs[l + 1] + i * n
                                    for j in 0..<n {
                                        var y = Float(row[j]) * cs[j] + bias[j]
                                        if relu { y = max(y, 0) }
                                        let q = min(max((y * sOutInv).rounded(.toNearestOrEven), -127), 127)
                                        out[j] = Int8(truncatingIfNeeded: Int32(q))
                                    }
                                }
                            }
                        }
                    }
            }
        }
        return UnsafeBufferPointer(start: logits, count: batch * 10)
    }

    /// Predicted class of each image of the last forward pass.
    public func predictions() -> [Int] { (0..<batch).map { argmax(logits + $0 * 10, 10) } }
}
