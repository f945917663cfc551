// Structured pruning (whole hidden neurons by L1 norm → smaller dense layers), 2:4 semi-structured
// sparsity with a sparse kernel, and the early-exit runtime.
import Foundation
import Kernels

/// Pruning transformations of an `MLPModel`. No fine-tuning here: the `pruned25` / `pruned50`
/// variants show the raw accuracy cost; the fine-tuned copies (`FinetunedPruning`) come from
/// tools/train-digits-mlp, which applies the same neuron selection.
public enum Pruning {
    /// Indices of the neurons of layer `l` (rows of its weight) kept when removing `fraction` of
    /// them by smallest L1 norm of their incoming weights; ascending order.
    public static func keptNeurons(_ layer: DenseLayer, fraction: Double) -> [Int] {
        let keep = max(1, layer.outputs - Int((Double(layer.outputs) * fraction).rounded()))
        let norms = (0..<layer.outputs).map { o in (0..<layer.inputs).reduce(Float(0)) { $0 + abs(layer.weight[o * layer.inputs + $1]) } }
        let order = (0..<layer.outputs).sorted { norms[$0] != norms[$1] ? norms[$0] > norms[$1] : $0 < $1 }
        return Array(order.prefix(keep)).sorted()
    }

    /// Removes `fraction` of every hidden layer's neurons (all layers but the last): the layer
    /// loses those rows, the next layer (and an exit head reading it) those columns.
    public static func structured(_ model: MLPModel, fraction: Double) -> MLPModel {
        var m = model
        for l in 0..<(m.layers.count - 1) {
            let kept = keptNeurons(m.layers[l], fraction: fraction)
            m.layers[l] = selectRows(m.layers[l], kept)
            m.layers[l + 1] = selectColumns(m.layers[l + 1], kept)
            for h in m.exitHeads.indices where m.exitHeads[h].afterLayer == l + 1 {
                m.exitHeads[h].head = selectColumns(m.exitHeads[h].head, kept)
            }
        }
        return m
    }

    static func selectRows(_ d: DenseLayer, _ rows: [Int]) -> DenseLayer {
        DenseLayer(inputs: d.inputs, outputs: rows.count, relu: d.relu,
                   weight: rows.flatMap { d.weight[($0 * d.inputs)..<(($0 + 1) * d.inputs)] }, bias: rows.map { d.bias[$0] })
    }

    static func selectColumns(_ d: DenseLayer, _ cols: [Int]) -> DenseLayer {
        DenseLayer(inputs: cols.count, outputs: d.outputs, relu: d.relu,
                   weight: (0..<d.outputs).flatMap { o in cols.map { d.weight[o * d.inputs + $0] } }, bias: d.bias)
    }
}

/// A 2:4 sparse weight matrix [rows × cols] (cols a multiple of 4): of every 4 consecutive weights
/// of a row the 2 largest by magnitude are kept (`values`, 2 per group) with their 2-bit positions
/// packed in one byte per group (`indices`: low 2 bits = first kept, bits 2–3 = second).
public struct Sparse24: Sendable {
    public var rows: Int
    public var cols: Int
    /// [rows × cols/2].
    public var values: [Float]
    /// [rows × cols/4].
    public var indices: [UInt8]

    /// Prunes `w` to 2:4 (ties keep the earlier position).
    public init(_ w: [Float], rows: Int, cols: Int) {
        precondition(cols % 4 == 0, "2:4 sparsity needs cols divisible by 4")
        self.rows = rows
        self.cols = cols
        values = []
        indices = []
        values.reserveCapacity(rows * cols / 2)
        for r in 0..<rows {
            for g in 0..<(cols / 4) {
                let base = r * cols + g * 4
                let order = (0..<4).sorted { abs(w[base + $0]) != abs(w[base + $1]) ? abs(w[base + $0]) > abs(w[base + $1]) : $0 < $1 }
                let (i0, i1) = (min(order[0], order[1]), max(order[0], order[1]))
                values.append(w[base + i0])
                values.append(w[base + i1])
                indices.append(UInt8(i0 | (i1 << 2)))
            }
        }
    }

    /// The dense matrix with the pruned weights set to zero.
    public var dense: [Float] {
        var d = [Float](repeating: 0, count: rows * cols)
        for r in 0..<rows {
            for g in 0..<(cols / 4) {
                let b = indices[r * cols / 4 + g]
                d[r * cols + g * 4 + Int(b & 3)] = values[r * cols / 2 + 2 * g]
                d[r * cols + g * 4 + Int(b >> 2)] = values[r * cols / 2 + 2 * g + 1]
            }
        }
        return d
    }

    /// Yᵀ[rows × batch] = W · Xᵀ with Xᵀ [cols × batch] (feature-major activations), then bias and
    /// optional ReLU. Gather-free: each kept weight scales a whole contiguous row of Xᵀ (SIMD over
    /// the batch), selected by its 2-bit index; no per-lane gathers.
    public func multiply(xT: UnsafePointer<Float>, batch: Int, bias: [Float], relu: Bool, yT: UnsafeMutablePointer<Float>) {
        let groups = cols / 4
        let bv = batch & ~15
        values.withUnsafeBufferPointer { v in
            indices.withUnsafeBufferPointer { idx in
                for r in 0..<rows {
                    let y = yT + r * batch
                    var j = 0
                    while j < bv {
                        var acc = SIMD16<Float>(repeating: bias[r])
                        for g in 0..<groups {
                            let b = idx[r * groups + g]
                            let x0 = xT + (g * 4 + Int(b & 3)) * batch + j, x1 = xT + (g * 4 + Int(b >> 2)) * batch + j
                            acc = acc.addingProduct(SIMD16<Float>(repeating: v[r * cols / 2 + 2 * g]), UnsafeRawPointer(x0).loadUnaligned(as: SIMD16<Float>.self))
                            acc = acc.addingProduct(SIMD16<Float>(repeating: v[r * cols / 2 + 2 * g + 1]), UnsafeRawPointer(x1).loadUnaligned(as: SIMD16<Float>.self))
                        }
                        if relu { acc = acc.replacing(with: 0, where: acc .< 0) }
                        UnsafeMutableRawPointer(y + j).storeBytes(of: acc, as: SIMD16<Float>.self)
                        j += 16
                    }
                    while j < batch {
                        var s = bias[r]
                        for g in 0..<groups {
                            let b = idx[r * groups + g]
                            s += v[r * cols / 2 + 2 * g] * xT[(g * 4 + Int(b & 3)) * batch + j]
                            s += v[r * cols / 2 + 2 * g + 1] * xT[(g * 4 + Int(b >> 2)) * batch + j]
                        }
                        y[j] = relu ? max(s, 0) : s
                        j += 1
                    }
                }
            }
        }
    }
}

/// The MLP with every layer 2:4-sparse, run feature-major (activations transposed) by `Sparse24.multiply`.
public final class Sparse24MLP {
    public let batch: Int
    let layers: [(Sparse24, [Float], Bool)]
    let inputScale: Float
    private var acts: [UnsafeMutablePointer<Float>] = []

    /// Prunes every layer of `model` to 2:4.
    public init(model: MLPModel, batch: Int) {
        self.batch = batch
        inputScale = model.inputScale
        layers = model.layers.map { (Sparse24($0.weight, rows: $0.outputs, cols: $0.inputs), $0.bias, $0.relu) }
        acts.append(.allocate(capacity: batch * DigitsData.features))
        for l in model.layers { acts.append(.allocate(capacity: batch * l.outputs)) }
    }

    deinit { for p in acts { p.deallocate() } }

    /// Transposes and scales `batch` images starting at image `start`.
    public func setInput(_ pixels: [Float], start: Int) {
        for b in 0..<batch {
            for f in 0..<DigitsData.features { acts[0][f * batch + b] = pixels[(start + b) * DigitsData.features + f] * inputScale }
        }
    }

    /// One forward pass; returns the logits feature-major [10 × batch].
    @discardableResult
    public func forward() -> UnsafeBufferPointer<Float> {
        for (l, (w, bias, relu)) in layers.enumerated() {
            w.multiply(xT: acts[l], batch: batch, bias: bias, relu: relu, yT: acts[l + 1])
        }
        return UnsafeBufferPointer(start: acts[layers.count], count: 10 * batch)
    }

    public func predictions() -> [Int] {
        let out = acts[layers.count]
        return (0..<batch).map { b in
            var best = 0
            for c in 1..<10 where out[c * batch + b] > out[best * batch + b] { best = c }
            return best
        }
    }
}

/// Early exit: layer 1, then the exit head; images whose softmax maximum is ≥ `threshold` stop
/// there, the others continue through the remaining layers (compacted into a smaller batch).
public final class EarlyExitMLP {
    public let batch: Int
    public let threshold: Float
    let head: DenseLayer
    let rest: MLPModel
    let first: MLPModel
    private var restRuntimes: [Int: FP32MLP] = [:]
    private var headRuntime: FP32MLP
    private var firstRuntime: FP32MLP
    /// Predictions and, per image, the head it left at (1 = exit head, 2 = final layer).
    public private(set) var lastPredictions: [Int] = []
    public private(set) var lastExits: [Int] = []
    /// Images of the current batch that continue past the exit head (reused between calls).
    private var remaining: [Int] = []

    /// Uses the model's exit head after layer 1. `threshold` must be in [0, 1] (callers validate).
    public init(model: MLPModel, batch: Int, threshold: Double) throws {
        guard let h = model.exitHeads.first(where: { $0.afterLayer == 1 }) else {
            throw EdgeError(file: model.path, "the model has no exit head after layer 1 (exit_heads[].after_layer = 1)")
        }
        guard (0...1).contains(threshold) else {
            throw EdgeError(file: model.path, "exit threshold \(threshold) is outside [0, 1]")
        }
        self.batch = batch
        self.threshold = Float(threshold)
        head = h.head
        var f = model
        f.layers = [model.layers[0]]
        f.exitHeads = []
        first = f
        var r = model
        r.layers = Array(model.layers.dropFirst())
        r.exitHeads = []
        r.inputScale = 1
        rest = r
        firstRuntime = FP32MLP(model: f, batch: batch)
        var hm = model
        hm.layers = [DenseLayer(inputs: h.head.inputs, outputs: 10, relu: false, weight: h.head.weight, bias: h.head.bias)]
        hm.inputScale = 1
        hm.exitHeads = []
        headRuntime = FP32MLP(model: hm, batch: batch)
    }

    /// Scales `batch` images starting at image `start`.
    public func setInput(_ pixels: [Float], start: Int) {
        firstRuntime.setInput(pixels, start: start)
    }

    /// One forward pass with early exits. Allocation-free once every sub-batch size has been seen
    /// (at batch 1 every inference is timed, so per-call array allocations would show).
    public func forward() {
        firstRuntime.forward()
        let h1 = firstRuntime.activations(layer: 0).baseAddress!
        let width = first.layers[0].outputs
        headRuntime.setFeatures(h1, rows: batch, width: width)
        let hl = headRuntime.forward().baseAddress!
        if lastPredictions.count != batch {
            lastPredictions = Array(repeating: 0, count: batch)
            lastExits = Array(repeating: 2, count: batch)
        }
        remaining.removeAll(keepingCapacity: true)
        for b in 0..<batch {
            let row = hl + b * 10
            let best = argmax(row, 10)
            // Softmax maximum = 1 / Σ_c e^(row[c] − row[best]).
            var denom: Float = 0
            for c in 0..<10 { denom += Foundation.exp(row[c] - row[best]) }
            if 1 / denom >= threshold {
                lastPredictions[b] = best
                lastExits[b] = 1
            } else {
                lastExits[b] = 2
                remaining.append(b)
            }
        }
        guard !remaining.isEmpty else { return }
        let rt: FP32MLP
        if let r = restRuntimes[remaining.count] { rt = r } else {
            rt = FP32MLP(model: rest, batch: remaining.count)
            restRuntimes[remaining.count] = rt
        }
        if remaining.count == batch {
            rt.setFeatures(h1, rows: batch, width: width)
        } else {
            for (i, b) in remaining.enumerated() { rt.setFeatureRow(i, from: h1 + b * width, width: width) }
        }
        let logits = rt.forward().baseAddress!
        for (i, b) in remaining.enumerated() { lastPredictions[b] = argmax(logits + i * 10, 10) }
    }
}
