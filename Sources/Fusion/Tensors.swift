// Memory of a model instance: 64-byte aligned f32 buffers (one per materialized tensor), the
// deterministic model input and weights, and per-tensor quantization scales.
import Foundation
import Kernels

/// A set of named, owned buffers.
final class BufferSet {
    private(set) var pointers: [String: UnsafeMutablePointer<Float>] = [:]
    private(set) var counts: [String: Int] = [:]

    /// Allocates (zeroed) `name` with `count` floats unless it exists.
    @discardableResult
    func allocate(_ name: String, count: Int) -> UnsafeMutablePointer<Float> {
        if let p = pointers[name] { return p }
        let p = allocateFloats(count)
        pointers[name] = p
        counts[name] = count
        return p
    }

    subscript(name: String) -> UnsafeMutablePointer<Float>? { pointers[name] }

    /// Total floats owned.
    var totalCount: Int { counts.values.reduce(0, +) }

    deinit {
        for p in pointers.values { UnsafeMutableRawPointer(p).deallocate() }
    }
}

/// Model input and parameters, generated once per (graph, seed) and shared (read-only) by the
/// unfused and fused plans so both compute on identical data.
///
/// Input: uniform [-1, 1) from `SeededGenerator(seed)`. Each layer's parameters come from its own
/// generator (seed mixed with the layer index), scaled like a standard initialisation so
/// activations stay O(1) through deep stacks: weights · 1/√fan_in, biases · 0.1,
/// layernorm gamma = 1 + 0.1u, beta = 0.1u.
final class ModelWeights {
    let graph: ModelGraph
    let input: UnsafeMutablePointer<Float>
    /// Per layer: `w` (weights), `b` (bias), `gamma`, `beta`.
    private let params = BufferSet()
    /// Per quantize layer: its one-float scale cell.
    let scales = BufferSet()

    init(graph: ModelGraph, seed: UInt64) {
        self.graph = graph
        input = params.allocate("\u{0}input", count: graph.inputCount)
        var g = SeededGenerator(seed: seed)
        g.fill(UnsafeMutableBufferPointer(start: input, count: graph.inputCount))
        for l in graph.layers {
            var lg = SeededGenerator(seed: seed &+ UInt64(l.index + 1) &* 0x9E37_79B9_7F4A_7C15)
            func fill(_ suffix: String, _ count: Int, scale: Float, offset: Float = 0) {
                let p = params.allocate("\(l.name)\u{0}\(suffix)", count: count)
                for i in 0..<count { p[i] = offset + scale * lg.nextUnitFloat() }
            }
            let inCols = graph.shape(of: l.inputs[0])!.last!
            switch l.op {
            case .linear(let out, let bias):
                fill("w", inCols * out, scale: 1 / Float(inCols).squareRoot())
                if bias { fill("b", out, scale: 0.1) }
            case .biasAdd:
                fill("b", l.cols, scale: 0.1)
            case .layernorm:
                fill("gamma", l.cols, scale: 0.1, offset: 1)
                fill("beta", l.cols, scale: 0.1)
            case .conv2d(let out, let k, _, let depthwise, let bias):
                if depthwise {
                    fill("w", k * k * out, scale: 1 / Float(k * k).squareRoot())
                } else {
                    fill("w", k * k * inCols * out, scale: 1 / Float(k * k * inCols).squareRoot())
                }
                if bias { fill("b", out, scale: 0.1) }
            case .quantize:
                scales.allocate(l.name, count: 1)[0] = 1
            default:
                break
            }
        }
    }

    /// Parameter `suffix` (`w`, `b`, `gamma`, `beta`) of layer `layer`.
    func param(_ layer: String, _ suffix: String) -> UnsafeMutablePointer<Float>? {
        params["\(layer)\u{0}\(suffix)"]
    }

    /// Scale cell of quantize layer `layer`.
    func scale(_ layer: String) -> UnsafeMutablePointer<Float> {
        scales[layer]!
    }

    /// Bytes of all parameters of `layer`.
    func paramBytes(_ layer: String) -> Double {
        ["w", "b", "gamma", "beta"].reduce(0) { acc, s in
            acc + Double(params.counts["\(layer)\u{0}\(s)"] ?? 0) * 4
        }
    }
}

/// Process-wide cache of loaded model weights, keyed by (graph, seed): the unfused and fused
/// instances of one model share one copy of the input and parameters, as two execution plans of a
/// model loaded once would. (Otherwise the ABBA-interleaved variants would each bring their own
/// multi-MB weight matrices into the caches, and every switch would start cold.) Entries are weak:
/// the weights live as long as an instance uses them.
final class WeightCache: @unchecked Sendable {
    // @unchecked: `entries` is only touched while holding `lock`.
    private let lock = NSLock()
    private struct Key: Hashable {
        var graph: ModelGraph
        var seed: UInt64
    }
    private final class Weak {
        weak var value: ModelWeights?
        init(_ v: ModelWeights) { value = v }
    }
    private var entries: [Key: Weak] = [:]

    static let shared = WeightCache()

    /// The weights of `graph` for `seed`, generated on first use.
    func weights(graph: ModelGraph, seed: UInt64) -> ModelWeights {
        lock.withLock {
            let key = Key(graph: graph, seed: seed)
            if let w = entries[key]?.value { return w }
            entries = entries.filter { $0.value.value != nil }
            let w = ModelWeights(graph: graph, seed: seed)
            entries[key] = Weak(w)
            return w
        }
    }
}
