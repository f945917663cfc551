// Op graphs: a model is a DAG of named layers (chains with residual edges) over f32 tensors.
// `ModelSpec` is the raw description (as written in a suite's `[[model]]` table); `ModelGraph.build`
// validates it — unknown ops and attributes, dangling inputs, cycles, mismatched shapes and
// dtypes — and produces the checked, topologically sorted graph with every tensor's shape.
// Errors are `ModelError`s whose `key` is a TOML path (`model[0].layer[3].inputs`) so the suite
// loader can turn them into FILE:LINE:COL.

/// A graph description error; `key` is the TOML path at fault (`model[0].layer[3].inputs`).
public struct ModelError: Error, CustomStringConvertible, Sendable, Hashable {
    /// TOML key path of the offending value, e.g. `model[0].layer[3].inputs`.
    public var key: String
    /// Human-readable explanation naming the model and layer.
    public var message: String
    /// Creates the error.
    public init(key: String, message: String) {
        self.key = key
        self.message = message
    }
    /// The message.
    public var description: String { message }
}

/// Element type of a tensor. Everything is stored as f32; `i8` marks a quantized tensor holding
/// integer values in [-127, 127] with a per-tensor scale (fake quantization).
public enum DType: String, Sendable, Hashable, Codable {
    case f32
    case i8
}

/// A scalar attribute value of a layer as written in the suite (`out = 3072`, `value = 0.5`).
public enum AttributeValue: Sendable, Hashable, CustomStringConvertible {
    case int(Int)
    case double(Double)
    case bool(Bool)
    case string(String)

    /// The value as written.
    public var description: String {
        switch self {
        case .int(let i): String(i)
        case .double(let d): String(d)
        case .bool(let b): String(b)
        case .string(let s): "\"\(s)\""
        }
    }
}

/// One layer as described in a suite file, before validation.
public struct LayerSpec: Sendable, Hashable {
    /// Unique layer name within the model.
    public var name: String
    /// Op name (`linear`, `gelu`, `add`, ...).
    public var op: String
    /// Explicit inputs (layer names or the model input's name); nil = the previous layer
    /// (or the model input for the first layer).
    public var inputs: [String]?
    /// Op attributes (`out`, `bias`, `value`, `heads`, `causal`, `kernel`, `stride`, ...).
    public var attributes: [String: AttributeValue]
    /// TOML path of the layer table (`model[0].layer[2]`), the prefix of every error key.
    public var key: String

    /// Creates a layer description.
    public init(name: String, op: String, inputs: [String]? = nil, attributes: [String: AttributeValue] = [:], key: String) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.attributes = attributes
        self.key = key
    }
}

/// A model as described in a suite file, before validation.
public struct ModelSpec: Sendable, Hashable {
    /// Model name (unique among the suite's ops and models).
    public var name: String
    /// Name by which layers refer to the model input (default `x`).
    public var inputName: String
    /// Input tensor shape keys: `{rows, cols}`, `{n, h, w, c}` (NHWC) or `{elements}`.
    public var input: [String: Int]
    /// Layers whose outputs the model returns (and which must therefore be materialized);
    /// nil = the last layer.
    public var outputs: [String]?
    /// Layers in file order.
    public var layers: [LayerSpec]
    /// TOML path of the model table (`model[0]`).
    public var key: String

    /// Creates a model description.
    public init(name: String, inputName: String = "x", input: [String: Int], outputs: [String]? = nil,
                layers: [LayerSpec], key: String) {
        self.name = name
        self.inputName = inputName
        self.input = input
        self.outputs = outputs
        self.layers = layers
        self.key = key
    }
}

/// Binary elementwise operator.
public enum BinaryOp: String, Sendable, Hashable {
    case add, mul, sub
}

/// Pooling reduction.
public enum PoolKind: String, Sendable, Hashable {
    case max, avg
}

/// A validated layer operation with its attributes.
public enum LayerOp: Sendable, Hashable {
    /// y = x·W (+ b), W is in×out; applied to the last dimension.
    case linear(out: Int, bias: Bool)
    /// y = x + b[col].
    case biasAdd
    case relu
    /// min(max(x, 0), 6).
    case relu6
    /// tanh-approximation GELU.
    case gelu
    /// x·sigmoid(x).
    case silu
    /// y = x ∘ c (constant) or x ∘ t (another tensor of the same shape). `swapped`: t ∘ x, i.e.
    /// the first listed input is the other tensor (only matters for `sub`).
    case binary(BinaryOp, constant: Float?)
    /// Per-row layer normalization over the last dimension with learned gamma/beta.
    case layernorm(eps: Float)
    /// Per-row softmax over the last dimension.
    case softmax
    /// a[m×k]·b[k×n], or a·bᵀ with b[n×k].
    case matmul(transposeB: Bool)
    /// Scaled dot-product attention (lowered into the five primitives below by `build`).
    case attention(heads: Int, causal: Bool)
    /// Per-head QKᵀ: q, k [seq×hidden] → scores [heads·seq × seq].
    case attnScores(heads: Int)
    /// Causal mask on [heads·seq × seq] scores: column j > row i (mod seq) becomes −∞.
    case causalMask(seq: Int)
    /// Per-head P·V: p [heads·seq × seq], v [seq×hidden] → [seq×hidden].
    case attnContext(heads: Int)
    /// NHWC convolution with "same" padding (k/2), weights k×k×cin×cout (or k×k×c depthwise).
    case conv2d(out: Int, kernel: Int, stride: Int, depthwise: Bool, bias: Bool)
    /// NHWC pooling without padding, or global (→ n×1×1×c).
    case pool(PoolKind, size: Int, stride: Int, global: Bool)
    /// Symmetric per-tensor int8 quantization: s = max|x|/127, q = clamp(round(x/s), ±127).
    case quantize
    /// x = q·s with the scale of the producing `quantize`.
    case dequantize

    /// Op name as written in suites.
    public var name: String {
        switch self {
        case .linear: "linear"
        case .biasAdd: "bias_add"
        case .relu: "relu"
        case .relu6: "relu6"
        case .gelu: "gelu"
        case .silu: "silu"
        case .binary(let b, _): b.rawValue
        case .layernorm: "layernorm"
        case .softmax: "softmax"
        case .matmul: "matmul"
        case .attention: "attention"
        case .attnScores: "attn_scores"
        case .causalMask: "causal_mask"
        case .attnContext: "attn_context"
        case .conv2d: "conv2d"
        case .pool: "pool"
        case .quantize: "quantize"
        case .dequantize: "dequantize"
        }
    }

    /// True for ops that map each output element from the same element of their inputs
    /// (plus per-column or per-position constants): they can join an elementwise chain or epilogue.
    var isElementwise: Bool {
        switch self {
        case .biasAdd, .relu, .relu6, .gelu, .silu, .binary, .causalMask, .dequantize: true
        default: false
        }
    }
}

/// One validated layer: op, resolved inputs, output shape and dtype.
public struct Layer: Sendable, Hashable {
    /// Unique name (lowered attention primitives are named `NAME.scores`, `NAME.scale`, ...;
    /// the last one keeps the attention layer's name).
    public var name: String
    public var op: LayerOp
    /// Input tensor names (layer names or the model input name).
    public var inputs: [String]
    /// Output shape (row-major; the last dimension is the "columns").
    public var shape: [Int]
    public var dtype: DType
    /// TOML path of the layer this came from.
    public var key: String
    /// Index in `ModelGraph.layers`.
    public var index: Int

    /// Elements of the output.
    public var count: Int { shape.reduce(1, *) }
    /// Last dimension.
    public var cols: Int { shape.last ?? 1 }
    /// Product of all but the last dimension.
    public var rows: Int { count / max(1, cols) }
}

/// A validated model: layers in a topological (execution) order, every shape known.
public struct ModelGraph: Sendable, Hashable {
    /// Model name.
    public var name: String
    /// Name of the model input tensor.
    public var inputName: String
    /// Shape of the model input.
    public var inputShape: [Int]
    /// Layers in execution order.
    public var layers: [Layer]
    /// Names of the layers whose outputs the model returns (observed; never fused away).
    public var outputs: [String]

    /// Op names accepted in suites.
    public static let knownOps = ["linear", "bias_add", "relu", "relu6", "gelu", "silu", "scale", "add", "mul", "sub",
                                  "layernorm", "softmax", "matmul", "attention", "conv2d", "pool", "quantize", "dequantize"]

    /// Largest element count of any one tensor (1 Gi floats).
    static let maxElements = 1 << 30

    /// Elements of the model input.
    public var inputCount: Int { inputShape.reduce(1, *) }

    /// The layer named `name`.
    public func layer(_ name: String) -> Layer? { layers.first { $0.name == name } }

    /// Shape of tensor `name` (a layer output or the model input).
    public func shape(of name: String) -> [Int]? {
        name == inputName ? inputShape : layer(name)?.shape
    }

    /// Layers that read tensor `name`.
    public func consumers(of name: String) -> [Layer] {
        layers.filter { $0.inputs.contains(name) }
    }

    /// Validates `spec` and builds the graph. Throws `ModelError` naming the key at fault.
    public static func build(_ spec: ModelSpec) throws -> ModelGraph {
        try GraphBuilder(spec: spec).build()
    }
}

/// Validation and lowering of a `ModelSpec`.
private struct GraphBuilder {
    let spec: ModelSpec

    func err(_ key: String, _ message: String) -> ModelError {
        ModelError(key: key, message: "model '\(spec.name)': \(message)")
    }

    func build() throws -> ModelGraph {
        let inputShape = try self.inputShape()
        guard !spec.layers.isEmpty else { throw err(spec.key, "has no layers ([[model.layer]])") }

        // 1. Names: unique, not the input's name.
        var indexOf: [String: Int] = [:]
        for (i, l) in spec.layers.enumerated() {
            guard !l.name.isEmpty, l.name.allSatisfy({ $0.isLetter || $0.isNumber || "_-.".contains($0) }) else {
                throw err("\(l.key).name", "layer name '\(l.name)' may contain only letters, digits, '_', '-' and '.'")
            }
            guard l.name != spec.inputName else {
                throw err("\(l.key).name", "layer name '\(l.name)' is the model input's name")
            }
            if indexOf[l.name] != nil { throw err("\(l.key).name", "duplicate layer name '\(l.name)'") }
            indexOf[l.name] = i
        }

        // 2. Resolve inputs (default: the previous layer) and reject dangling references.
        var inputs: [[String]] = []
        for (i, l) in spec.layers.enumerated() {
            if let explicit = l.inputs {
                guard !explicit.isEmpty else { throw err("\(l.key).inputs", "layer '\(l.name)': 'inputs' is empty") }
                for name in explicit where name != spec.inputName && indexOf[name] == nil {
                    throw err("\(l.key).inputs", "layer '\(l.name)': dangling input '\(name)' (no layer or model input of that name; the input is '\(spec.inputName)')")
                }
                for name in explicit where name == l.name {
                    throw err("\(l.key).inputs", "layer '\(l.name)': cycle: the layer reads its own output")
                }
                inputs.append(explicit)
            } else {
                inputs.append([i == 0 ? spec.inputName : spec.layers[i - 1].name])
            }
        }

        // 3. Topological order (Kahn, stable by file order); a leftover layer lies on a cycle.
        var indegree = inputs.map { $0.filter { $0 != spec.inputName }.count }
        var order: [Int] = []
        var ready = indegree.indices.filter { indegree[$0] == 0 }
        while !ready.isEmpty {
            let i = ready.removeFirst()
            order.append(i)
            for (j, ins) in inputs.enumerated() {
                let uses = ins.filter { $0 == spec.layers[i].name }.count
                guard uses > 0 else { continue }
                indegree[j] -= uses
                if indegree[j] == 0 {
                    ready.append(j)
                    ready.sort()
                }
            }
        }
        if order.count < spec.layers.count {
            let stuck = Set(spec.layers.indices).subtracting(order)
            let first = stuck.min()!
            let cycle = cyclePath(from: first, inputs: inputs, indexOf: indexOf)
            throw err("\(spec.layers[first].key).inputs", "cycle between layers: \(cycle.joined(separator: " → "))")
        }

        // 4. Ops, attributes, shapes and dtypes in execution order; lower attention.
        var shapes: [String: [Int]] = [spec.inputName: inputShape]
        var dtypes: [String: DType] = [spec.inputName: .f32]
        var layers: [Layer] = []
        for i in order {
            let l = spec.layers[i]
            for lowered in try self.layer(l, inputs: inputs[i], shapes: shapes, dtypes: dtypes) {
                guard shapes[lowered.name] == nil || lowered.name == l.name else {
                    throw err("\(l.key).name", "layer '\(l.name)': internal layer name '\(lowered.name)' collides with another layer")
                }
                // Overflow-checked: a layer attribute (e.g. a linear's `out`) can be any 64-bit integer.
                let (count, overflow) = lowered.shape.reduce((1, false)) { acc, d in
                    let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                    return (p, acc.1 || o)
                }
                guard lowered.shape.allSatisfy({ $0 > 0 }), !overflow, count <= ModelGraph.maxElements else {
                    throw err(l.key, "layer '\(l.name)': output shape \(lowered.shape) is empty or has more than \(ModelGraph.maxElements) elements")
                }
                var ll = lowered
                ll.index = layers.count
                layers.append(ll)
                shapes[ll.name] = ll.shape
                dtypes[ll.name] = ll.dtype
            }
        }
        // Internal names of lowered layers must not collide with user layers.
        var seen: Set<String> = [spec.inputName]
        for l in layers {
            guard seen.insert(l.name).inserted else {
                throw err("\(l.key).name", "layer name '\(l.name)' collides with an internal name of a lowered attention layer")
            }
        }

        // 5. Outputs.
        var outputs = spec.outputs ?? [spec.layers.last!.name]
        if spec.outputs != nil {
            guard !outputs.isEmpty else { throw err("\(spec.key).outputs", "'outputs' is empty") }
            for o in outputs where indexOf[o] == nil {
                throw err("\(spec.key).outputs", "output '\(o)' is not a layer of the model")
            }
            outputs = Array(NSOrderedSetLite(outputs))
        }
        return ModelGraph(name: spec.name, inputName: spec.inputName, inputShape: inputShape, layers: layers, outputs: outputs)
    }

    func inputShape() throws -> [Int] {
        let keys = Set(spec.input.keys)
        let shape: [Int]
        if keys == ["rows", "cols"] {
            shape = [spec.input["rows"]!, spec.input["cols"]!]
        } else if keys == ["elements"] {
            shape = [1, spec.input["elements"]!]
        } else if keys == ["h", "w", "c"] || keys == ["n", "h", "w", "c"] {
            shape = [spec.input["n"] ?? 1, spec.input["h"]!, spec.input["w"]!, spec.input["c"]!]
        } else {
            throw err("\(spec.key).input", "'input' must be { rows, cols }, { elements } or { n, h, w, c } (NHWC), got { \(spec.input.keys.sorted().joined(separator: ", ")) }")
        }
        for k in spec.input.keys.sorted() where spec.input[k]! <= 0 {
            throw err("\(spec.key).input.\(k)", "input.\(k) must be positive, got \(spec.input[k]!)")
        }
        let (count, overflow) = shape.reduce((1, false)) { acc, d in
            let (p, o) = acc.0.multipliedReportingOverflow(by: d)
            return (p, acc.1 || o)
        }
        guard !overflow, count <= ModelGraph.maxElements else {
            throw err("\(spec.key).input", "input has more than \(ModelGraph.maxElements) elements")
        }
        return shape
    }

    /// A path through the cycle containing layer `start` (names, first repeated at the end).
    func cyclePath(from start: Int, inputs: [[String]], indexOf: [String: Int]) -> [String] {
        var path: [Int] = [start]
        var visited: [Int: Int] = [start: 0]
        var current = start
        while true {
            guard let next = inputs[current].compactMap({ indexOf[$0] }).first(where: { _ in true }) else { break }
            // Prefer a predecessor that is itself still on a cycle.
            let candidates = inputs[current].compactMap { indexOf[$0] }
            let step = candidates.first { visited[$0] != nil } ?? next
            if let at = visited[step] {
                let cyc = Array(path[at...]) + [step]
                return cyc.reversed().map { spec.layers[$0].name }
            }
            visited[step] = path.count
            path.append(step)
            current = step
        }
        return [spec.layers[start].name]
    }

    // MARK: Attributes

    struct Attributes {
        let layer: LayerSpec
        let builder: GraphBuilder
        var used: Set<String> = []

        mutating func int(_ k: String, default d: Int? = nil, min: Int = 1) throws -> Int {
            used.insert(k)
            guard let v = layer.attributes[k] else {
                guard let d else { throw builder.err("\(layer.key)", "layer '\(layer.name)': op '\(layer.op)' needs '\(k)'") }
                return d
            }
            guard case .int(let i) = v else {
                throw builder.err("\(layer.key).\(k)", "layer '\(layer.name)': '\(k)' must be an integer, got \(v)")
            }
            guard i >= min else { throw builder.err("\(layer.key).\(k)", "layer '\(layer.name)': '\(k)' must be at least \(min), got \(i)") }
            return i
        }

        mutating func double(_ k: String) throws -> Double? {
            used.insert(k)
            guard let v = layer.attributes[k] else { return nil }
            switch v {
            case .int(let i): return Double(i)
            case .double(let d) where d.isFinite: return d
            default: throw builder.err("\(layer.key).\(k)", "layer '\(layer.name)': '\(k)' must be a finite number, got \(v)")
            }
        }

        mutating func bool(_ k: String, default d: Bool) throws -> Bool {
            used.insert(k)
            guard let v = layer.attributes[k] else { return d }
            guard case .bool(let b) = v else { throw builder.err("\(layer.key).\(k)", "layer '\(layer.name)': '\(k)' must be true or false, got \(v)") }
            return b
        }

        mutating func string(_ k: String, default d: String) throws -> String {
            used.insert(k)
            guard let v = layer.attributes[k] else { return d }
            guard case .string(let s) = v else { throw builder.err("\(layer.key).\(k)", "layer '\(layer.name)': '\(k)' must be a string, got \(v)") }
            return s
        }

        func finish() throws {
            for k in layer.attributes.keys.sorted() where !used.contains(k) {
                let known = used.sorted().joined(separator: ", ")
                throw builder.err("\(layer.key).\(k)", "layer '\(layer.name)': op '\(layer.op)' has no attribute '\(k)'\(known.isEmpty ? "" : " (it takes \(known))")")
            }
        }
    }

    // MARK: Per-op validation and shape inference

    func layer(_ l: LayerSpec, inputs: [String], shapes: [String: [Int]], dtypes: [String: DType]) throws -> [Layer] {
        var a = Attributes(layer: l, builder: self)
        let inKey = "\(l.key).\(l.inputs == nil ? "input" : "inputs")"
        func arity(_ n: ClosedRange<Int>) throws {
            guard n.contains(inputs.count) else {
                let want = n.lowerBound == n.upperBound ? "\(n.lowerBound)" : "\(n.lowerBound)–\(n.upperBound)"
                throw err(inKey, "layer '\(l.name)': op '\(l.op)' takes \(want) input(s), got \(inputs.count)")
            }
        }
        func requireF32() throws {
            for i in inputs where dtypes[i] != .f32 {
                throw err(inKey, "layer '\(l.name)': mismatched dtype: op '\(l.op)' needs f32 input but '\(i)' is \(dtypes[i]!.rawValue) (dequantize it first)")
            }
        }
        let s0 = shapes[inputs[0]]!
        func make(_ op: LayerOp, _ shape: [Int], _ dtype: DType = .f32, name: String? = nil, ins: [String]? = nil) -> Layer {
            Layer(name: name ?? l.name, op: op, inputs: ins ?? inputs, shape: shape, dtype: dtype, key: l.key, index: 0)
        }
        var result: [Layer]
        switch l.op {
        case "linear":
            try arity(1...1); try requireF32()
            let out = try a.int("out")
            let bias = try a.bool("bias", default: true)
            result = [make(.linear(out: out, bias: bias), Array(s0.dropLast()) + [out])]
        case "bias_add", "relu", "relu6", "gelu", "silu":
            try arity(1...1); try requireF32()
            let op: LayerOp = switch l.op {
            case "bias_add": .biasAdd
            case "relu": .relu
            case "relu6": .relu6
            case "gelu": .gelu
            default: .silu
            }
            result = [make(op, s0)]
        case "scale":
            try arity(1...1); try requireF32()
            guard let v = try a.double("value") else { throw err(l.key, "layer '\(l.name)': op 'scale' needs 'value'") }
            result = [make(.binary(.mul, constant: Float(v)), s0)]
        case "add", "mul", "sub":
            try requireF32()
            let op = BinaryOp(rawValue: l.op)!
            if let v = try a.double("value") {
                try arity(1...1)
                result = [make(.binary(op, constant: Float(v)), s0)]
            } else {
                try arity(2...2)
                let s1 = shapes[inputs[1]]!
                guard s0 == s1 else {
                    throw err(inKey, "layer '\(l.name)': mismatched shapes: '\(inputs[0])' is \(s0) but '\(inputs[1])' is \(s1)")
                }
                result = [make(.binary(op, constant: nil), s0)]
            }
        case "layernorm":
            try arity(1...1); try requireF32()
            let eps = try a.double("eps") ?? 1e-5
            guard eps > 0 else { throw err("\(l.key).eps", "layer '\(l.name)': 'eps' must be positive") }
            result = [make(.layernorm(eps: Float(eps)), s0)]
        case "softmax":
            try arity(1...1); try requireF32()
            result = [make(.softmax, s0)]
        case "matmul":
            try arity(2...2); try requireF32()
            let tb = try a.bool("transpose_b", default: false)
            let s1 = shapes[inputs[1]]!
            guard s0.count == 2, s1.count == 2 else {
                throw err(inKey, "layer '\(l.name)': matmul needs 2-D inputs, got \(s0) and \(s1)")
            }
            let (k1, n) = tb ? (s1[1], s1[0]) : (s1[0], s1[1])
            guard s0[1] == k1 else {
                throw err(inKey, "layer '\(l.name)': mismatched shapes for matmul\(tb ? " (b transposed)" : ""): \(s0) · \(tb ? "\(s1)ᵀ" : "\(s1)") — inner dimensions \(s0[1]) and \(k1) differ")
            }
            result = [make(.matmul(transposeB: tb), [s0[0], n])]
        case "attention":
            try arity(1...3); try requireF32()
            let heads = try a.int("heads", default: 1)
            let causal = try a.bool("causal", default: false)
            let qkv = inputs.count == 1 ? [inputs[0], inputs[0], inputs[0]] : inputs
            guard qkv.count == 3 else { throw err(inKey, "layer '\(l.name)': attention takes [q, k, v] (or one input for q = k = v)") }
            let sq = shapes[qkv[0]]!, sk = shapes[qkv[1]]!, sv = shapes[qkv[2]]!
            guard sq.count == 2, sq == sk, sk == sv else {
                throw err(inKey, "layer '\(l.name)': mismatched shapes: attention needs q, k, v of one 2-D shape [seq, hidden], got \(sq), \(sk), \(sv)")
            }
            guard sq[1] % heads == 0 else {
                throw err("\(l.key).heads", "layer '\(l.name)': hidden size \(sq[1]) is not divisible by heads = \(heads)")
            }
            let seq = sq[0]
            let scores = [heads * seq, seq]
            let n = l.name
            var chain: [Layer] = [
                make(.attnScores(heads: heads), scores, name: "\(n).scores", ins: [qkv[0], qkv[1]]),
                make(.binary(.mul, constant: Float(1 / Double(sq[1] / heads).squareRoot())), scores, name: "\(n).scale", ins: ["\(n).scores"]),
            ]
            if causal { chain.append(make(.causalMask(seq: seq), scores, name: "\(n).mask", ins: ["\(n).scale"])) }
            chain.append(make(.softmax, scores, name: "\(n).softmax", ins: [chain.last!.name]))
            chain.append(make(.attnContext(heads: heads), sq, name: n, ins: ["\(n).softmax", qkv[2]]))
            result = chain
        case "conv2d":
            try arity(1...1); try requireF32()
            guard s0.count == 4 else { throw err(inKey, "layer '\(l.name)': conv2d needs an NHWC input, got shape \(s0)") }
            let depthwise = try a.bool("depthwise", default: false)
            let kernel = try a.int("kernel", default: 3)
            let stride = try a.int("stride", default: 1)
            let out = depthwise ? try a.int("out", default: s0[3]) : try a.int("out")
            let bias = try a.bool("bias", default: true)
            guard kernel % 2 == 1, kernel <= 7 else { throw err("\(l.key).kernel", "layer '\(l.name)': kernel must be odd and at most 7, got \(kernel)") }
            guard stride <= 4 else { throw err("\(l.key).stride", "layer '\(l.name)': stride must be at most 4") }
            if depthwise && out != s0[3] {
                throw err("\(l.key).out", "layer '\(l.name)': mismatched shapes: a depthwise conv keeps the \(s0[3]) channels, got out = \(out)")
            }
            let pad = kernel / 2
            let oh = (s0[1] + 2 * pad - kernel) / stride + 1, ow = (s0[2] + 2 * pad - kernel) / stride + 1
            result = [make(.conv2d(out: out, kernel: kernel, stride: stride, depthwise: depthwise, bias: bias), [s0[0], oh, ow, out])]
        case "pool":
            try arity(1...1); try requireF32()
            guard s0.count == 4 else { throw err(inKey, "layer '\(l.name)': pool needs an NHWC input, got shape \(s0)") }
            let type = try a.string("type", default: "max")
            guard let kind = PoolKind(rawValue: type) else { throw err("\(l.key).type", "layer '\(l.name)': pool type must be \"max\" or \"avg\", got \"\(type)\"") }
            let global = try a.bool("global", default: false)
            let size = try a.int("size", default: 2)
            let stride = try a.int("stride", default: size)
            if global {
                result = [make(.pool(kind, size: s0[1], stride: 1, global: true), [s0[0], 1, 1, s0[3]])]
            } else {
                guard size <= s0[1], size <= s0[2] else {
                    throw err("\(l.key).size", "layer '\(l.name)': mismatched shapes: pool window \(size) is larger than the \(s0[1])×\(s0[2]) input")
                }
                result = [make(.pool(kind, size: size, stride: stride, global: false),
                               [s0[0], (s0[1] - size) / stride + 1, (s0[2] - size) / stride + 1, s0[3]])]
            }
        case "quantize":
            try arity(1...1); try requireF32()
            result = [make(.quantize, s0, .i8)]
        case "dequantize":
            try arity(1...1)
            guard dtypes[inputs[0]] == .i8 else {
                throw err(inKey, "layer '\(l.name)': mismatched dtype: dequantize needs an i8 input (a quantize layer), but '\(inputs[0])' is \(dtypes[inputs[0]]!.rawValue)")
            }
            result = [make(.dequantize, s0)]
        default:
            throw err("\(l.key).op", "layer '\(l.name)': unknown op '\(l.op)' (known: \(ModelGraph.knownOps.joined(separator: ", ")))")
        }
        try a.finish()
        return result
    }
}

/// Order-preserving de-duplication.
private func NSOrderedSetLite(_ names: [String]) -> [String] {
    var seen: Set<String> = []
    return names.filter { seen.insert($0).inserted }
}
