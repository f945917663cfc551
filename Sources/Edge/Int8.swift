// This file owns int8 post-training quantization of the edge MLP: per-output-channel symmetric int8
// weights, per-tensor symmetric int8 activations (scale from a calibration method), and the int8
// model's forward pass. Optimized: one C kernel call per layer (GEMM with the dequantize + bias +
// ReLU + requantize epilogue fused into its register tiles, `PackedInt8Weights.multiplyFused`) and a
// vectorized C input quantizer. Reference (`optimized == false`): `Int8GEMM.reference` loops, then the
// Swift epilogue pass (`Int8Epilogue.reference`) and the Swift quantizer; both give bit-identical
// logits.
//
// The int8 GEMM itself (`Int8GEMM`, `PackedInt8Weights`, `Int8Epilogue`) lives in Kernels (op kind
// `gemm_int8`), the C kernels in CKernels/qgemm.c.
// Layout: C[m×n] = A[m×k] · Wᵀ with W [n×k] row-major (row = output channel), so both operands
// are read along k, contiguously.
import CKernels
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
/// (scale_in · scale_w[channel]), biased, ReLU'd and requantized to the next layer's input scale by
/// the fused epilogue of the C kernel (in registers, per tile); the last layer writes float logits.
/// Works for any batch, including 1 (per-image inference). Not thread-safe.
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
    /// Whether to use the C kernels (else the reference loops and the Swift epilogue).
    public let optimized: Bool
    private var qActs: [UnsafeMutablePointer<Int8>] = []
    /// Per layer: the epilogue's scales and biases (stable pointers for the kernel).
    private var epilogues: [Int8Epilogue] = []
    private var epilogueStorage: [UnsafeMutablePointer<Float>] = []
    private let acc: UnsafeMutablePointer<Int32>
    private let logits: UnsafeMutablePointer<Float>

    /// Quantizes `model`'s weights per channel; activation scales from `calibration` by `method`.
    public init(model: MLPModel, calibration: DigitsSplit, method: CalibrationMethod, batch: Int, optimized: Bool = true) {
        precondition(batch > 0)
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
        for (l, layer) in model.layers.enumerated() {
            let cs = UnsafeMutablePointer<Float>.allocate(capacity: layer.outputs)
            cs.initialize(from: combinedScales[l], count: layer.outputs)
            let b = UnsafeMutablePointer<Float>.allocate(capacity: layer.outputs)
            b.initialize(from: layer.bias, count: layer.outputs)
            epilogueStorage += [cs, b]
            let last = l == model.layers.count - 1
            epilogues.append(Int8Epilogue(scale: cs, bias: b, relu: layer.relu, outScaleInv: last ? 0 : 1 / scales[l + 1]))
        }
        let widest = model.layers.map(\.outputs).max()!
        acc = .allocate(capacity: batch * widest)
        logits = .allocate(capacity: batch * 10)
    }

    deinit {
        for p in qActs { p.deallocate() }
        for p in epilogueStorage { p.deallocate() }
        acc.deallocate()
        logits.deallocate()
    }

    /// Quantizes `batch` raw-pixel images starting at image `start`: q = clamp(roundHalfEven(
    /// (pixel · inputScale) / scale₀), -127, 127). Optimized: one vectorized C loop (cheap enough to
    /// sit inside a timed per-image iteration); reference: `Quant.quantize` per value. Identical results.
    public func setInput(_ pixels: [Float], start: Int) {
        let count = batch * DigitsData.features, first = start * DigitsData.features
        precondition(first >= 0 && first + count <= pixels.count, "setInput: images \(start)..<\(start + batch) out of range")
        let s = activationScales[0], scale = inputScale
        if optimized {
            pixels.withUnsafeBufferPointer { p in fb_quantize_i8(p.baseAddress! + first, Int64(count), scale, s, qActs[0]) }
        } else {
            for i in 0..<count { qActs[0][i] = Quant.quantize(pixels[first + i] * scale, scale: s) }
        }
    }

    /// The quantized input of the current batch [batch × 64].
    public var quantizedInput: UnsafeBufferPointer<Int8> { UnsafeBufferPointer(start: qActs[0], count: batch * DigitsData.features) }

    /// One forward pass; returns the logits [batch × 10].
    @discardableResult
    public func forward() -> UnsafeBufferPointer<Float> {
        for l in 0..<layers.count {
            let output: Int8EpilogueOutput = l == layers.count - 1 ? .float(logits) : .int8(qActs[l + 1])
            if optimized {
                packed[l].multiplyFused(a: qActs[l], m: batch, epilogue: epilogues[l], output: output)
            } else {
                let layer = layers[l]
                qWeights[l].withUnsafeBufferPointer { w in
                    Int8GEMM.reference(a: qActs[l], w: w.baseAddress!, c: acc, m: batch, n: layer.outputs, k: layer.inputs)
                }
                // The reference epilogue: a second pass over the int32 accumulators.
                epilogues[l].reference(acc: acc, m: batch, n: layer.outputs, output: output)
            }
        }
        return UnsafeBufferPointer(start: logits, count: batch * 10)
    }

    /// Predicted class of each image of the last forward pass.
    public func predictions() -> [Int] { (0..<batch).map { argmax(logits + $0 * 10, 10) } }
}
