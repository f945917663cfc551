// fp32 forward pass of the MLP on a fixed batch, through the optimized packed GEMM with bias + ReLU
// fused into its per-tile epilogue.
import Kernels

/// Index of the largest value in `row` (first one on ties, like numpy's argmax).
@inline(__always)
func argmax(_ row: UnsafePointer<Float>, _ n: Int) -> Int {
    var best = 0
    for j in 1..<n where row[j] > row[best] { best = j }
    return best
}

/// Runs an `MLPModel` on batches of `batch` images. Not thread-safe.
public final class FP32MLP {
    /// Images per forward pass.
    public let batch: Int
    let model: MLPModel
    private var workspaces: [GEMMWorkspace] = []
    /// Transposed weights [in × out] per layer (GEMM B operand).
    private var weightsT: [UnsafeMutablePointer<Float>] = []
    private var biases: [UnsafeMutablePointer<Float>] = []
    /// Activations: [0] = scaled input, [l + 1] = output of layer l.
    private var acts: [UnsafeMutablePointer<Float>] = []

    /// Prepares workspaces and transposed weights for `batch` images.
    public init(model: MLPModel, batch: Int) {
        precondition(batch > 0)
        self.model = model
        self.batch = batch
        acts.append(.allocate(capacity: batch * model.layers[0].inputs))
        for l in model.layers {
            workspaces.append(GEMMWorkspace(m: batch, n: l.outputs, k: l.inputs))
            let wt = UnsafeMutablePointer<Float>.allocate(capacity: l.inputs * l.outputs)
            for o in 0..<l.outputs { for i in 0..<l.inputs { wt[i * l.outputs + o] = l.weight[o * l.inputs + i] } }
            weightsT.append(wt)
            let b = UnsafeMutablePointer<Float>.allocate(capacity: l.outputs)
            b.initialize(from: l.bias, count: l.outputs)
            biases.append(b)
            acts.append(.allocate(capacity: batch * l.outputs))
        }
    }

    deinit {
        for p in weightsT + biases + acts { p.deallocate() }
    }

    /// Copies `batch` images of raw pixels (0–16) starting at image `start` of `pixels`, scaled.
    public func setInput(_ pixels: [Float], start: Int) {
        precondition(model.layers[0].inputs == DigitsData.features)
        let n = batch * DigitsData.features
        let scale = model.inputScale
        pixels.withUnsafeBufferPointer { p in
            for i in 0..<n { acts[0][i] = p[start * DigitsData.features + i] * scale }
        }
    }

    /// Copies `rows` × `width` features (already scaled) as the input; `width` must equal the first layer's inputs.
    public func setFeatures(_ p: UnsafePointer<Float>, rows: Int, width: Int) {
        precondition(rows == batch && width == model.layers[0].inputs)
        acts[0].update(from: p, count: rows * width)
    }

    /// Copies `width` features (already scaled) as input row `row` (gathering a sub-batch).
    public func setFeatureRow(_ row: Int, from p: UnsafePointer<Float>, width: Int) {
        precondition(row < batch && width == model.layers[0].inputs)
        (acts[0] + row * width).update(from: p, count: width)
    }

    /// The scaled input (for quantized variants that share it).
    public var input: UnsafePointer<Float> { UnsafePointer(acts[0]) }

    /// One forward pass of the current input; returns the logits [batch × 10].
    @discardableResult
    public func forward() -> UnsafeBufferPointer<Float> {
        for (l, layer) in model.layers.enumerated() {
            let bias = biases[l]
            let relu = layer.relu
            workspaces[l].multiply(a: acts[l], b: weightsT[l], c: acts[l + 1]) { tile, ldc, _, col, rows, cols in
                for r in 0..<rows {
                    let row = tile + r * ldc
                    for c in 0..<cols {
                        let v = row[c] + bias[col + c]
                        row[c] = relu ? max(v, 0) : v
                    }
                }
            }
        }
        return UnsafeBufferPointer(start: acts[model.layers.count], count: batch * 10)
    }

    /// Hidden activations of layer `l` (0-based) from the last forward pass, [batch × outputs].
    public func activations(layer l: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: acts[l + 1], count: batch * model.layers[l].outputs)
    }

    /// Predicted class of each image of the last forward pass.
    public func predictions() -> [Int] {
        let logits = acts[model.layers.count]
        return (0..<batch).map { argmax(logits + $0 * 10, 10) }
    }
}

/// Top-1 accuracy helpers.
public enum TopOne {
    /// Correct predictions of the fp32 model over all of `split` (batched; the last batch is partial).
    public static func fp32Correct(model: MLPModel, split: DigitsSplit) -> Int {
        let runtime = FP32MLP(model: model, batch: split.count)
        runtime.setInput(split.pixels, start: 0)
        runtime.forward()
        return zip(runtime.predictions(), split.labels).filter { $0 == $1 }.count
    }
}
