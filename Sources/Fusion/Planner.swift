// Execution plans and the runtime fusion planner.
//
// A plan is a list of groups in execution order; a group is one layer (`single`) or several
// layers run as one fused kernel under a rule. `PlanBuilder` turns groups into prepared kernels
// over buffers; the unfused plan is every layer on its own with its own output buffer (as a real
// unfused runtime would run it), the fused plan materializes only group outputs.
//
// `FusionPlanner.plan()` runs at load time (instance creation, i.e. again whenever the input shape
// changes): it runs the unfused plan once on the actual inputs, enumerates candidate groups with
// the rules below, checks legality, estimates the benefit with a small roofline cost model, runs
// each candidate fused on the same inputs the unfused layers saw and compares with
// `Accuracy.compare` against the unfused output of the group's last layer, times both (the speed
// check, `SpeedCheck`: a fusion measured slower beyond noise is rejected), and adopts it only if
// everything passed. Every candidate yields a `FusionDecision` with predicted and measured times.
import Analysis
import BenchModel
import CPerfEvent
import Kernels

/// A fusion rule (or `single`: one unfused layer).
public enum FusionRule: String, Sendable, Hashable, CaseIterable {
    case single
    /// Consecutive elementwise layers → one register-resident SIMD loop.
    case elementwiseChain = "elementwise-chain"
    /// linear / matmul + elementwise epilogue applied per GEMM output tile.
    case gemmEpilogue = "gemm-epilogue"
    /// conv2d + elementwise epilogue applied per output row (or per GEMM tile for 1×1).
    case convEpilogue = "conv-epilogue"
    /// layernorm + following elementwise layers applied per normalized row.
    case layernormEpilogue = "layernorm-epilogue"
    /// QKᵀ → scale → [causal mask] → softmax → ·V as one streaming kernel (online softmax).
    case streamingAttention = "streaming-attention"

    /// Accuracy band of the fused group's output against the unfused output of its last layer.
    ///
    /// - Chains and epilogues perform the same IEEE operations in the same order as the unfused
    ///   layers (same `VMath` functions, same GEMM blocking), so the outputs are bit-identical;
    ///   the band (abs 1e-6, rel 1e-6 ≈ 8 ulp) only tolerates a harmless re-association and
    ///   rejects any real mistake (a wrong operand or skipped step is an O(0.01–1) error).
    /// - Streaming attention re-associates the softmax (running max, rescaling by e^(m_old − m_new)
    ///   once per 16-key block) and divides at the end instead of normalizing P first: each output
    ///   is a convex combination of V rows, and the extra roundings are a few ε per block, so the
    ///   error is ≲ (blocks + 4)·ε·max|v| ≈ 1e-6·max|v| at seq 128. abs 2e-5 + rel 1e-4 gives ≥ 10×
    ///   margin for |v| ≲ 2 (measured max error at seq 128, 12 heads: see the README of Fusion).
    public var tolerance: Tolerance {
        switch self {
        case .streamingAttention: Tolerance(abs: 2e-5, rel: 1e-4, minCosine: 0.99999)
        default: Tolerance(abs: 1e-6, rel: 1e-6, minCosine: 0.999999)
        }
    }
}

/// A group of layers (indices into `ModelGraph.layers`, in execution order) run as one kernel.
struct PlanGroup: Hashable {
    var rule: FusionRule
    var layers: [Int]
}

/// Options of the runtime planner.
public struct PlannerOptions: Sendable, Hashable {
    /// Stricter speed check (`fused_autotuned`): also reject a fusion whose measured ratio is not
    /// below 1 when the interval cannot tell (within noise).
    public var autotune: Bool
    /// A candidate whose predicted saving is below this (ns per inference) is rejected as "no gain".
    public var minSavingNs: Double
    /// Time every candidate (legal ones fused and unfused, illegal ones unfused) so the decision
    /// log's measured column is filled. Default true.
    public var measureSpeed: Bool
    /// With `measureSpeed`: reject a fusion measured slower beyond noise (`SpeedCheck`). Default
    /// true; tests of the rules' outputs turn it off so a loaded machine cannot change the plan.
    public var rejectSlower: Bool
    /// Time budget of the speed check per candidate (ns; at least 6 batch pairs are taken).
    public var speedBudgetNs: Double
    /// Test hook: fused kernels of this rule get a deliberately wrong output (must be rejected for accuracy).
    var faultyRule: FusionRule?

    /// Creates options; defaults: no autotune, 50 ns minimum predicted saving, speed measured
    /// (50 ms per candidate) and fusions measured slower rejected.
    public init(autotune: Bool = false, minSavingNs: Double = 50, measureSpeed: Bool = true, rejectSlower: Bool = true,
                speedBudgetNs: Double = 50_000_000) {
        self.autotune = autotune
        self.minSavingNs = minSavingNs
        self.measureSpeed = measureSpeed
        self.rejectSlower = rejectSlower
        self.speedBudgetNs = speedBudgetNs
        faultyRule = nil
    }
}

// MARK: - Cost model

/// A deliberately simple roofline used to rank candidates and to predict times; the measured
/// times (autotune) are the ground truth. Bandwidth by working set (one core, Zen 3/Zen 5 class),
/// chosen by the same rule as the run report's roofline (`BandwidthFigure.level(forWorkingSet:in:)`:
/// the level the working set fits in): ≤ 1 MiB (L2) 100 GB/s, ≤ 32 MiB (L3) 50 GB/s, else 25 GB/s;
/// compute 100 GFLOP/s for GEMM-like layers, 40 GFLOP/s for vector passes; plus 100 ns per kernel
/// pass (dispatch, loop set-up).
enum CostModel {
    static let launchNs = 100.0

    /// Nominal bandwidth per level (GB/s), smallest level first.
    static let levels: [BandwidthFigure] = [
        BandwidthFigure(level: "L2", bufferBytes: 1 << 20, readGBps: 100, triadGBps: 100),
        BandwidthFigure(level: "L3", bufferBytes: 32 << 20, readGBps: 50, triadGBps: 50),
        BandwidthFigure(level: "DRAM", bufferBytes: 128 << 20, readGBps: 25, triadGBps: 25),
    ]

    /// Bandwidth in GB/s (= bytes per ns) for a working set of `bytes`.
    static func bandwidth(_ bytes: Double) -> Double {
        BandwidthFigure.level(forWorkingSet: bytes, in: levels)?.bestGBps ?? 25
    }

    static func predictNs(bytes: Double, flops: Double, gemmLike: Bool) -> Double {
        max(bytes / bandwidth(bytes), flops / (gemmLike ? 100 : 40)) + launchNs
    }

    static func isGemmLike(_ op: LayerOp) -> Bool {
        switch op {
        case .linear, .matmul, .conv2d, .attnScores, .attnContext, .attention: true
        default: false
        }
    }

    /// Floating-point operations of one layer.
    static func flops(_ l: Layer, _ g: ModelGraph) -> Double {
        let count = Double(l.count)
        let inShape = g.shape(of: l.inputs[0]) ?? l.shape
        switch l.op {
        case .linear(let out, _): return 2 * Double(l.rows) * Double(inShape.last!) * Double(out)
        case .matmul: return 2 * count * Double(inShape.last!)
        case .attnScores:
            return 2 * Double(inShape[0]) * Double(inShape[0]) * Double(inShape[1])
        case .attnContext:
            let seq = Double(g.shape(of: l.inputs[1])![0])
            return 2 * seq * seq * Double(l.cols)
        case .conv2d(_, let k, _, let dw, _):
            return 2 * count * Double(k * k) * (dw ? 1 : Double(inShape[3]))
        case .pool(_, let size, _, _): return count * Double(size * size)
        case .layernorm: return 8 * count
        case .softmax: return 25 * count
        case .quantize: return 7 * count
        case .gelu: return 24 * count
        case .silu: return 20 * count
        default: return count
        }
    }

    /// Compulsory bytes of one layer run alone: distinct inputs read, output written, parameters read.
    static func bytes(_ l: Layer, _ g: ModelGraph, _ w: ModelWeights?) -> Double {
        var b = Double(l.count) * 4
        for name in Set(l.inputs) { b += Double(g.shape(of: name)!.reduce(1, *)) * 4 }
        b += w?.paramBytes(l.name) ?? paramBytes(l, g)
        return b
    }

    /// Parameter bytes without a weights object.
    static func paramBytes(_ l: Layer, _ g: ModelGraph) -> Double {
        let inCols = Double(g.shape(of: l.inputs[0])!.last!)
        switch l.op {
        case .linear(let out, let bias): return 4 * (inCols * Double(out) + (bias ? Double(out) : 0))
        case .biasAdd: return 4 * Double(l.cols)
        case .layernorm: return 8 * Double(l.cols)
        case .conv2d(let out, let k, _, let dw, let bias):
            return 4 * (Double(k * k) * (dw ? 1 : inCols) * Double(out) + (bias ? Double(out) : 0))
        default: return 0
        }
    }

    /// Compulsory bytes of a group run as one kernel: distinct external inputs, the last output, parameters.
    static func groupBytes(_ group: PlanGroup, _ g: ModelGraph, _ w: ModelWeights?) -> Double {
        let names = Set(group.layers.map { g.layers[$0].name })
        var external: Set<String> = []
        var params = 0.0
        for i in group.layers {
            let l = g.layers[i]
            for input in l.inputs where !names.contains(input) { external.insert(input) }
            params += w?.paramBytes(l.name) ?? paramBytes(l, g)
        }
        let out = Double(g.layers[group.layers.last!].count) * 4
        return out + params + external.reduce(0) { $0 + Double(g.shape(of: $1)!.reduce(1, *)) * 4 }
    }

    static func groupPrediction(_ group: PlanGroup, _ g: ModelGraph, _ w: ModelWeights?) -> (unfused: Double, fused: Double, bytesSaved: Double) {
        var unfused = 0.0, unfusedBytes = 0.0, flops = 0.0
        var gemm = false
        for i in group.layers {
            let l = g.layers[i]
            let b = bytes(l, g, w), f = self.flops(l, g)
            unfused += predictNs(bytes: b, flops: f, gemmLike: isGemmLike(l.op))
            unfusedBytes += b
            flops += f
            gemm = gemm || isGemmLike(l.op)
        }
        let fb = groupBytes(group, g, w)
        // A fused group's vector work runs at the rate of its dominant (first) layer.
        let fused = predictNs(bytes: fb, flops: flops, gemmLike: gemm)
        return (unfused, min(fused, unfused), unfusedBytes - fb)
    }
}

// MARK: - Building kernels

/// Turns groups into prepared kernels over buffers.
final class PlanBuilder {
    let graph: ModelGraph
    let weights: ModelWeights
    /// Scratch owned by kernels of this builder's plans (transposed operands).
    let scratch = BufferSet()

    init(graph: ModelGraph, weights: ModelWeights) {
        self.graph = graph
        self.weights = weights
    }

    /// Elementwise steps of layer `l` whose running value is tensor `cv`; other operands via `ptr`.
    func steps(_ l: Layer, chainValue cv: String, ptr: (String) -> UnsafeMutablePointer<Float>) -> [EWStep] {
        switch l.op {
        case .biasAdd: return [.bias(weights.param(l.name, "b")!)]
        case .relu: return [.relu]
        case .relu6: return [.relu6]
        case .gelu: return [.gelu]
        case .silu: return [.silu]
        case .binary(let op, let c?):
            switch op {
            case .add: return [.addC(c)]
            case .mul: return [.mulC(c)]
            case .sub: return [.subC(c)]
            }
        case .binary(let op, nil):
            let chainIsFirst = l.inputs[0] == cv
            let other = UnsafePointer(ptr(chainIsFirst ? l.inputs[1] : l.inputs[0]))
            switch op {
            case .add: return [.addT(other)]
            case .mul: return [.mulT(other)]
            case .sub: return [chainIsFirst ? .subT(other) : .rsubT(other)]
            }
        case .causalMask(let seq): return [.causalMask(seq: seq)]
        case .dequantize: return [.dequantize(weights.scale(l.inputs[0]))]
        case .quantize: return [.quantize(weights.scale(l.name))]
        default: preconditionFailure("\(l.op.name) is not elementwise")
        }
    }

    /// The epilogue program of a producer `first` followed by elementwise `rest`.
    func epilogue(own: [EWStep], rest: ArraySlice<Int>, chainFrom: String, ptr: (String) -> UnsafeMutablePointer<Float>) -> EWProgram {
        var s = own
        var cv = chainFrom
        for i in rest {
            let l = graph.layers[i]
            s += steps(l, chainValue: cv, ptr: ptr)
            cv = l.name
        }
        return EWProgram(s)
    }

    /// A kernel for `group`; every tensor (inputs and the group's output) is resolved by `ptr`.
    func kernel(_ group: PlanGroup, ptr: (String) -> UnsafeMutablePointer<Float>) -> ExecKernel {
        let layers = group.layers.map { graph.layers[$0] }
        let first = layers[0], last = layers.last!
        let out = ptr(last.name)
        let rest = group.layers.dropFirst()
        let in0 = UnsafePointer(ptr(first.inputs[0]))
        switch first.op {
        case .linear(let n, let bias):
            let k = graph.shape(of: first.inputs[0])!.last!
            let own: [EWStep] = bias ? [.bias(weights.param(first.name, "b")!)] : []
            return GEMMKernel(m: first.rows, n: n, k: k, a: in0, b: weights.param(first.name, "w")!, c: out,
                              epilogue: epilogue(own: own, rest: rest, chainFrom: first.name, ptr: ptr))
        case .matmul(let tb):
            let a = graph.shape(of: first.inputs[0])!, bShape = graph.shape(of: first.inputs[1])!
            let (k, n) = tb ? (bShape[1], bShape[0]) : (bShape[0], bShape[1])
            let bSrc = UnsafePointer(ptr(first.inputs[1]))
            let b = tb ? UnsafePointer(scratch.allocate("\(first.name)\u{0}bt\u{0}\(scratch.totalCount)", count: k * n)) : bSrc
            return GEMMKernel(m: a[0], n: n, k: k, a: in0, b: b, c: out, transposeFrom: tb ? bSrc : nil,
                              epilogue: epilogue(own: [], rest: rest, chainFrom: first.name, ptr: ptr))
        case .conv2d(_, let kernel, let stride, let dw, let bias):
            let own: [EWStep] = bias ? [.bias(weights.param(first.name, "b")!)] : []
            return ConvKernel(src: in0, weights: weights.param(first.name, "w")!, dst: out, inShape: graph.shape(of: first.inputs[0])!,
                              outShape: first.shape, kernel: kernel, stride: stride, depthwise: dw,
                              epilogue: epilogue(own: own, rest: rest, chainFrom: first.name, ptr: ptr))
        case .layernorm(let eps):
            return LayerNormKernel(src: in0, dst: out, gamma: weights.param(first.name, "gamma")!, beta: weights.param(first.name, "beta")!,
                                   rows: first.rows, cols: first.cols, eps: eps,
                                   epilogue: epilogue(own: [], rest: rest, chainFrom: first.name, ptr: ptr))
        case .softmax:
            return SoftmaxKernel(src: in0, dst: out, rows: first.rows, cols: first.cols)
        case .attnScores(let heads):
            let q = graph.shape(of: first.inputs[0])!
            if group.rule == .streamingAttention {
                guard case .binary(.mul, let scale?) = layers[1].op else { preconditionFailure("attention pattern without scale") }
                let causal = layers.contains { if case .causalMask = $0.op { true } else { false } }
                return StreamingAttentionKernel(q: in0, k: ptr(first.inputs[1]), v: ptr(last.inputs[1]), out: out, seq: q[0],
                                                hidden: q[1], heads: heads, scale: scale, causal: causal)
            }
            return AttnScoresKernel(q: in0, k: ptr(first.inputs[1]), out: out, seq: q[0], hidden: q[1], heads: heads)
        case .attnContext(let heads):
            let v = graph.shape(of: first.inputs[1])!
            return AttnContextKernel(p: in0, v: ptr(first.inputs[1]), out: out, seq: v[0], hidden: v[1], heads: heads)
        case .pool(let kind, let size, let stride, let global):
            return PoolKernel(src: in0, dst: out, kind: kind, inShape: graph.shape(of: first.inputs[0])!, outShape: first.shape,
                              size: size, stride: stride, global: global)
        case .quantize, .biasAdd, .relu, .relu6, .gelu, .silu, .binary, .causalMask, .dequantize:
            // Elementwise chain (or one elementwise layer): the running value starts as input 0.
            var s: [EWStep] = []
            var cv = first.inputs[0]
            for l in layers {
                s += steps(l, chainValue: cv, ptr: ptr)
                cv = l.name
            }
            var prologue: UnsafeMutablePointer<Float>?
            if case .quantize = first.op { prologue = weights.scale(first.name) }
            return ChainKernel(program: EWProgram(s), src: in0, dst: out, rows: last.rows, cols: last.cols, prologueScale: prologue)
        case .attention:
            preconditionFailure("attention is lowered by ModelGraph.build")
        }
    }
}

/// A runnable plan: kernels in execution order over its own buffers.
final class Executor {
    let graph: ModelGraph
    let groups: [PlanGroup]
    let buffers = BufferSet()
    let builder: PlanBuilder
    private(set) var kernels: [ExecKernel] = []
    /// Output tensors of the model, in order.
    let outputPointers: [(UnsafeMutablePointer<Float>, Int)]
    /// Concatenation of the outputs when the model has several.
    let concatenated: UnsafeMutablePointer<Float>?
    let outputCount: Int

    init(graph: ModelGraph, weights: ModelWeights, groups: [PlanGroup], faultyRule: FusionRule? = nil) {
        self.graph = graph
        self.groups = groups.sorted { $0.layers.last! < $1.layers.last! }
        builder = PlanBuilder(graph: graph, weights: weights)
        for g in self.groups {
            let l = graph.layers[g.layers.last!]
            buffers.allocate(l.name, count: l.count)
        }
        let bufs = buffers
        let inputName = graph.inputName
        let ptr: (String) -> UnsafeMutablePointer<Float> = { name in
            name == inputName ? weights.input : bufs[name]!
        }
        for g in self.groups {
            var k = builder.kernel(g, ptr: ptr)
            if let faultyRule, g.rule == faultyRule {
                let l = graph.layers[g.layers.last!]
                k = FaultyKernel(base: k, output: ptr(l.name), count: l.count)
            }
            kernels.append(k)
        }
        outputPointers = graph.outputs.map { (bufs[$0]!, graph.layer($0)!.count) }
        outputCount = outputPointers.reduce(0) { $0 + $1.1 }
        concatenated = outputPointers.count > 1 ? allocateFloats(outputCount) : nil
    }

    deinit {
        if let concatenated { UnsafeMutableRawPointer(concatenated).deallocate() }
    }

    func run() {
        for k in kernels { k.run() }
        if let concatenated {
            var o = 0
            for (p, n) in outputPointers {
                (concatenated + o).update(from: p, count: n)
                o += n
            }
        }
    }

    var output: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: concatenated ?? outputPointers[0].0, count: outputCount)
    }
}

/// Test hook: runs a kernel, then corrupts one element of its output (a "buggy fused kernel").
final class FaultyKernel: ExecKernel {
    let base: ExecKernel
    let output: UnsafeMutablePointer<Float>
    let count: Int
    init(base: ExecKernel, output: UnsafeMutablePointer<Float>, count: Int) {
        self.base = base
        self.output = output
        self.count = count
    }
    func run() {
        base.run()
        output[count / 2] += 0.25
    }
}

// MARK: - Planner

/// Enumerates, checks, validates and adopts fusions for one graph on one set of inputs.
final class FusionPlanner {
    let graph: ModelGraph
    let weights: ModelWeights
    let options: PlannerOptions
    private(set) var decisions: [FusionDecision] = []

    init(graph: ModelGraph, weights: ModelWeights, options: PlannerOptions) {
        self.graph = graph
        self.weights = weights
        self.options = options
    }

    /// Every layer on its own.
    static func unfusedGroups(_ graph: ModelGraph) -> [PlanGroup] {
        graph.layers.indices.map { PlanGroup(rule: .single, layers: [$0]) }
    }

    /// Every legal candidate fused, every other layer on its own: the plan the candidate rules
    /// propose before any validation or timing.
    static func allCandidatesPlan(_ graph: ModelGraph) -> [PlanGroup] {
        completed(candidates(graph).groups, graph)
    }

    /// `fused` followed by every layer none of them covers, each on its own: a whole plan.
    static func completed(_ fused: [PlanGroup], _ graph: ModelGraph) -> [PlanGroup] {
        let covered = Set(fused.flatMap(\.layers))
        return fused + graph.layers.indices.filter { !covered.contains($0) }.map { PlanGroup(rule: .single, layers: [$0]) }
    }

    /// The rule that may start a group at layer `l`.
    static func startRule(_ l: Layer) -> FusionRule? {
        switch l.op {
        case .linear, .matmul: .gemmEpilogue
        case .conv2d: .convEpilogue
        case .layernorm: .layernormEpilogue
        case .attnScores: .streamingAttention
        case .quantize: .elementwiseChain
        default: l.op.isElementwise ? .elementwiseChain : nil
        }
    }

    /// Candidate groups (≥ 2 layers, legal) and the refusals found while growing them.
    static func candidates(_ graph: ModelGraph) -> (groups: [PlanGroup], illegal: [(group: [Int], rule: FusionRule, reason: String)]) {
        var consumers: [String: [Int]] = [:]
        for l in graph.layers { for i in Set(l.inputs) { consumers[i, default: []].append(l.index) } }
        let observed = Set(graph.outputs)
        var assigned: Set<Int> = []
        var groups: [PlanGroup] = []
        var illegal: [(group: [Int], rule: FusionRule, reason: String)] = []

        /// Why the value of layer `cur` cannot stay internal to a group, or nil.
        func escapes(_ cur: Layer, next: Int) -> String? {
            if observed.contains(cur.name) {
                return "intermediate '\(cur.name)' is a model output (observed), so it must be written to memory"
            }
            let others = (consumers[cur.name] ?? []).filter { $0 != next }
            if !others.isEmpty {
                let names = others.map { "'\(graph.layers[$0].name)'" }.joined(separator: ", ")
                return "intermediate '\(cur.name)' has another consumer (\(names) also reads it), so it must be materialized"
            }
            return nil
        }

        for l in graph.layers where !assigned.contains(l.index) {
            guard let rule = startRule(l) else { continue }
            var group = [l.index]
            if rule == .streamingAttention {
                // scores → scale → [mask] → softmax → context, each value used only by the next.
                var chain = [l.index]
                var cur = l
                var failure: String?
                let expected: [(Layer) -> Bool] = [
                    { if case .binary(.mul, _?) = $0.op { true } else { false } },
                    { if case .causalMask = $0.op { true } else { false } },
                    { $0.op == .softmax },
                    { if case .attnContext = $0.op { true } else { false } },
                ]
                var e = 0
                while e < expected.count {
                    let cons = consumers[cur.name] ?? []
                    guard let nextIndex = cons.first(where: { expected[e](graph.layers[$0]) }) else {
                        if e == 1 { e += 1; continue }   // the mask is optional
                        failure = cons.isEmpty ? nil : "'\(cur.name)' is not followed by the attention pattern (\(["scale", "mask", "softmax", "P·V"][e]) expected)"
                        break
                    }
                    let next = graph.layers[nextIndex]
                    if let why = escapes(cur, next: nextIndex) { failure = why; chain.append(nextIndex); break }
                    if case .attnContext = next.op, next.inputs[0] != cur.name {
                        failure = "'\(next.name)' does not take the softmax output as P"
                        break
                    }
                    chain.append(nextIndex)
                    cur = next
                    e += 1
                }
                if let failure {
                    illegal.append((chain, rule, failure))
                } else if case .attnContext = graph.layers[chain.last!].op {
                    groups.append(PlanGroup(rule: rule, layers: chain))
                    assigned.formUnion(chain)
                }
                continue
            }
            var cur = l
            while true {
                let cons = consumers[cur.name] ?? []
                guard !cons.isEmpty else { break }
                // The natural extension: an elementwise consumer that is not yet placed.
                let ew = cons.filter { graph.layers[$0].op.isElementwise && !assigned.contains($0) }
                if let q = cons.first(where: { if case .quantize = graph.layers[$0].op { true } else { false } }), ew.isEmpty {
                    illegal.append((group + [q], rule, "'\(graph.layers[q].name)' (quantize) needs the absmax of the whole of '\(cur.name)' before it can produce any element; it can only start a chain"))
                    break
                }
                guard let nextIndex = ew.first else { break }
                let next = graph.layers[nextIndex]
                if let why = escapes(cur, next: nextIndex) {
                    illegal.append((group + [nextIndex], rule, why))
                    break
                }
                // Other operands must come from outside the group (materialized) and match in shape/dtype.
                let groupNames = Set(group.map { graph.layers[$0].name })
                let operands = next.inputs.filter { $0 != cur.name }
                if next.inputs.filter({ $0 == cur.name }).count > 1 {
                    illegal.append((group + [nextIndex], rule, "'\(next.name)' reads '\(cur.name)' twice; the chain keeps one running value"))
                    break
                }
                if let inside = operands.first(where: { groupNames.contains($0) }) {
                    illegal.append((group + [nextIndex], rule, "'\(next.name)' also reads '\(inside)' from inside the group"))
                    break
                }
                if let bad = operands.first(where: { graph.shape(of: $0) != cur.shape }) {
                    illegal.append((group + [nextIndex], rule, "shapes incompatible: '\(bad)' is \(graph.shape(of: bad)!) but '\(cur.name)' is \(cur.shape)"))
                    break
                }
                if next.shape != cur.shape {
                    illegal.append((group + [nextIndex], rule, "shapes incompatible: '\(next.name)' is \(next.shape) but '\(cur.name)' is \(cur.shape)"))
                    break
                }
                group.append(nextIndex)
                cur = next
            }
            if group.count >= 2 {
                groups.append(PlanGroup(rule: rule, layers: group))
                assigned.formUnion(group)
            }
        }
        return (groups, illegal)
    }

    /// The adopted groups (fused and single) for the fused plan; fills `decisions`.
    func plan() -> [PlanGroup] {
        let (cands, illegal) = Self.candidates(graph)
        let names: ([Int]) -> [String] = { $0.map { self.graph.layers[$0].name } }
        // Reference: the unfused plan on the actual inputs, every intermediate kept (its layer
        // kernels, `unfused.kernels[i]` for layer i, also time the unfused side of each group).
        let unfused: Executor? = cands.isEmpty && (illegal.isEmpty || !options.measureSpeed) ? nil
            : Executor(graph: graph, weights: weights, groups: Self.unfusedGroups(graph))
        unfused?.run()
        for r in illegal {
            let pred = CostModel.groupPrediction(PlanGroup(rule: r.rule, layers: r.group), graph, weights)
            var d = FusionDecision(model: graph.name, group: names(r.group), rule: r.rule.rawValue, outcome: .rejectedIllegal,
                                   reason: r.reason, bytesSaved: pred.bytesSaved, launchesSaved: r.group.count - 1,
                                   predictedUnfusedNs: pred.unfused, predictedFusedNs: pred.fused)
            if options.measureSpeed, let unfused {
                // No fused kernel exists for an illegal group; its unfused time is still measured.
                let members = r.group.map { unfused.kernels[$0] }
                let t = SpeedCheck.measure(unfused: { for k in members { k.run() } }, fused: {}, budgetNs: options.speedBudgetNs / 4)
                d.measuredUnfusedNs = Stats.median(t.unfused)
            }
            decisions.append(d)
        }
        var adopted: [PlanGroup] = []
        if let unfused, !cands.isEmpty {
            let validator = PlanBuilder(graph: graph, weights: weights)
            for c in cands {
                let pred = CostModel.groupPrediction(c, graph, weights)
                var d = FusionDecision(model: graph.name, group: names(c.layers), rule: c.rule.rawValue, outcome: .accepted, reason: "",
                                       bytesSaved: pred.bytesSaved, launchesSaved: c.layers.count - 1,
                                       predictedUnfusedNs: pred.unfused, predictedFusedNs: pred.fused)
                defer { decisions.append(d) }
                // Validate: the fused group reads the unfused plan's inputs and writes a scratch output.
                let last = graph.layers[c.layers.last!]
                let scratch = allocateFloats(last.count)
                defer { UnsafeMutableRawPointer(scratch).deallocate() }
                var fused: ExecKernel = validator.kernel(c) { name in
                    name == self.graph.inputName ? self.weights.input : name == last.name ? scratch : unfused.buffers[name]!
                }
                if options.faultyRule == c.rule { fused = FaultyKernel(base: fused, output: scratch, count: last.count) }
                fused.run()
                let check = Accuracy.compare(reference: UnsafeBufferPointer(start: unfused.buffers[last.name]!, count: last.count),
                                             candidate: UnsafeBufferPointer(start: scratch, count: last.count),
                                             tolerance: c.rule.tolerance, op: graph.name, variant: c.rule.rawValue,
                                             referenceVariant: "unfused")
                d.maxAbsError = check.maxAbsError
                // Speed: the group's unfused layer kernels vs the fused kernel, same inputs.
                var speed: (adopt: Bool, note: String)?
                if options.measureSpeed {
                    let members = c.layers.map { i in unfused.kernels[i] }
                    let t = SpeedCheck.measure(unfused: { for k in members { k.run() } }, fused: { fused.run() },
                                               budgetNs: options.speedBudgetNs)
                    speed = SpeedCheck.apply(SpeedCheck.judge(unfusedNs: t.unfused, fusedNs: t.fused), to: &d,
                                             reject: options.rejectSlower, autotune: options.autotune)
                }
                let measured = speed.map { "; " + $0.note } ?? ""
                guard check.passed else {
                    d.outcome = .rejectedAccuracy
                    d.reason = "fused output differs from unfused: \(check.reason ?? "")" + measured
                    continue
                }
                let saving = pred.unfused - pred.fused
                if saving < options.minSavingNs {
                    d.outcome = .rejectedNoGain
                    d.reason = String(format: "predicted saving %.0f ns is below the %.0f ns threshold", saving, options.minSavingNs) + measured
                    continue
                }
                if let speed, !speed.adopt {
                    d.outcome = .rejectedSlower
                    d.reason = speed.note + "; the plan runs this group unfused"
                    continue
                }
                d.reason = String(format: "legal; saves %.0f bytes and %d pass(es), predicted %.0f → %.0f ns; output within tolerance (max abs error %.3g)",
                                  pred.bytesSaved, c.layers.count - 1, pred.unfused, pred.fused, check.maxAbsError) + measured
                adopted.append(c)
            }
        }
        return Self.completed(adopted, graph)
    }
}
