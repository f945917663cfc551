// `ModelFactory`: a whole model as one benchmark op. `unfused` (the reference) runs every layer
// as its own vectorised pass with its own output buffer; `fused` runs the plan the runtime planner
// adopted at load time; `fused_autotuned` additionally times each candidate and keeps only
// fusions measured faster. The runner verifies `fused*` against `unfused` before timing them.
import BenchModel
import Kernels

/// `model`: one `[[model]]` of a suite as a benchmark op (shape fixed by the graph).
public struct ModelFactory: FusionDecisionSource {
    /// The model as declared (kept so the input shape can be changed and the model re-planned).
    public let spec: ModelSpec
    /// The validated graph for `spec`'s input shape.
    public let graph: ModelGraph
    /// Planner options for the `fused` variant (`fused_autotuned` forces `autotune`).
    public let options: PlannerOptions

    /// Validates `spec`; throws `ModelError`.
    public init(spec: ModelSpec, options: PlannerOptions = PlannerOptions()) throws {
        self.spec = spec
        graph = try ModelGraph.build(spec)
        self.options = options
    }

    /// `model`.
    public var kind: String { "model" }
    /// One line naming the model and its layers.
    public var summary: String { "model '\(graph.name)': \(graph.layers.map(\.op.name).joined(separator: " → "))" }
    /// None: the graph fixes every shape. (`make` accepts the model input's keys to re-plan for another input shape.)
    public var shapeKeys: [String] { [] }
    /// `unfused` (reference), `fused`, `fused_autotuned`.
    public var variants: [String] { ["unfused", "fused", "fused_autotuned"] }
    /// `f32`.
    public var dtypes: [String] { ["f32"] }

    /// Accepts an empty shape, or the model input's keys (re-validating the graph with them).
    public func validate(shape: Shape, dtype: String) throws {
        guard dtype == "f32" else { throw KernelSpecError(key: "dtype", "model: dtype '\(dtype)' is not supported (supported: f32)") }
        _ = try graph(for: shape)
    }

    /// Sum over layers.
    public func flops(shape: Shape) -> Double {
        let g = (try? graph(for: shape)) ?? graph
        return g.layers.reduce(0) { $0 + CostModel.flops($1, g) }
    }

    /// Compulsory bytes of the unfused plan (declared for every variant, so throughput figures compare).
    public func bytes(shape: Shape, dtype: String) -> Double {
        let g = (try? graph(for: shape)) ?? graph
        return g.layers.reduce(0) { $0 + CostModel.bytes($1, g, nil) }
    }

    /// See `FusionDecisionSource.bytesMoved(variant:)`.
    public func bytesMoved(variant: String) -> Double {
        let groups = variant == "unfused" ? FusionPlanner.unfusedGroups(graph) : FusionPlanner.allCandidatesPlan(graph)
        return groups.reduce(0) { $0 + CostModel.groupBytes($1, graph, nil) }
    }

    /// Model output of `fused*` vs `unfused`.
    ///
    /// Without attention every adopted fusion is bit-identical to the unfused layers (see
    /// `FusionRule.tolerance`), so the model band is the same tight one (abs 1e-6, rel 1e-6).
    /// With attention the streaming softmax's ~1e-6 differences pass through the following
    /// layers: linear layers with 1/√fan_in weights keep them at that size, layernorm divides by a
    /// row std of O(1), so abs 1e-4 + rel 1e-3 leaves ≥ 10× margin (measured on the BERT-sized
    /// encoder: see the Fusion README); a wrong head or a missing mask is an O(0.1) change.
    public func defaultTolerance(shape: Shape, dtype: String) -> Tolerance {
        let attention = graph.layers.contains { if case .attnScores = $0.op { true } else { false } }
        return attention ? Tolerance(abs: 1e-4, rel: 1e-3, minCosine: 0.9999) : Tolerance(abs: 1e-6, rel: 1e-6, minCosine: 0.999999)
    }

    /// A `ModelInstance`: input and weights from `seed`; for `fused*` the planner runs now.
    public func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        try makeModel(variant: variant, shape: shape, seed: seed)
    }

    /// `make`, typed.
    public func makeModel(variant: String, shape: Shape = [:], seed: UInt64) throws -> ModelInstance {
        guard variants.contains(variant) else {
            throw KernelSpecError(key: "variants", "model: unknown variant '\(variant)' (available: \(variants.joined(separator: ", ")))")
        }
        var o = options
        if variant == "fused_autotuned" { o.autotune = true }
        return ModelInstance(graph: try graph(for: shape), variant: variant, seed: seed, options: o)
    }

    /// See `FusionDecisionSource.decisions(variant:seed:)`.
    public func decisions(variant: String = "fused", seed: UInt64) throws -> [FusionDecision] {
        try makeModel(variant: variant, seed: seed).fusionDecisions
    }

    /// See `FusionDecisionSource.layerInstances(seed:)`.
    public func layerInstances(seed: UInt64) throws -> [(name: String, instance: KernelInstance)] {
        let weights = WeightCache.shared.weights(graph: graph, seed: seed)
        let exec = Executor(graph: graph, weights: weights, groups: FusionPlanner.unfusedGroups(graph))
        exec.run()
        return exec.groups.enumerated().map { i, g in
            let l = graph.layers[g.layers[0]]
            return (l.name, LayerInstance(executor: exec, weights: weights, kernel: exec.kernels[i], output: exec.buffers[l.name]!, count: l.count))
        }
    }

    /// See `FusionDecisionSource.fusedGroupInstances(seed:)`.
    public func fusedGroupInstances(seed: UInt64) throws -> [(name: String, instance: KernelInstance)] {
        let plan = FusionPlanner.allCandidatesPlan(graph)
        guard plan.contains(where: { $0.layers.count > 1 }) else { return [] }
        let weights = WeightCache.shared.weights(graph: graph, seed: seed)
        let exec = Executor(graph: graph, weights: weights, groups: plan)
        exec.run()
        // Layer names have no `+` (ModelGraph.build), so a joined name cannot be a layer's.
        return exec.groups.enumerated().compactMap { i, g in
            guard g.layers.count > 1, let lastIndex = g.layers.last,
                  let output = exec.buffers[graph.layers[lastIndex].name] else { return nil }
            let name = g.layers.map { graph.layers[$0].name }.joined(separator: "+")
            return (name, LayerInstance(executor: exec, weights: weights, kernel: exec.kernels[i], output: output,
                                        count: graph.layers[lastIndex].count))
        }
    }

    /// The graph for a shape override (empty: the declared one).
    func graph(for shape: Shape) throws -> ModelGraph {
        if shape.isEmpty || shape == spec.input { return graph }
        for k in shape.keys.sorted() where spec.input[k] == nil {
            throw KernelSpecError(key: "shape.\(k)", "model '\(spec.name)': unknown shape key '\(k)' (the input has \(spec.input.keys.sorted().joined(separator: ", ")))")
        }
        var s = spec
        s.input.merge(shape) { _, new in new }
        do {
            return try ModelGraph.build(s)
        } catch let e as ModelError {
            throw KernelSpecError(key: "shape", e.message)
        }
    }
}

/// A model ready to run one variant's plan.
public final class ModelInstance: KernelInstance {
    /// `unfused`, `fused` or `fused_autotuned`.
    public let variant: String
    /// The graph (with the shapes this instance was planned for).
    public let graph: ModelGraph
    /// Every decision the planner made for this instance (empty for `unfused`).
    public let fusionDecisions: [FusionDecision]
    private let weights: ModelWeights
    private let executor: Executor

    init(graph: ModelGraph, variant: String, seed: UInt64, options: PlannerOptions) {
        self.graph = graph
        self.variant = variant
        weights = WeightCache.shared.weights(graph: graph, seed: seed)
        if variant == "unfused" {
            fusionDecisions = []
            executor = Executor(graph: graph, weights: weights, groups: FusionPlanner.unfusedGroups(graph))
        } else {
            let planner = FusionPlanner(graph: graph, weights: weights, options: options)
            let groups = planner.plan()
            fusionDecisions = planner.decisions
            executor = Executor(graph: graph, weights: weights, groups: groups, faultyRule: options.faultyRule)
        }
    }

    /// The plan's groups in execution order: rule and layer names.
    public var plan: [(rule: FusionRule, layers: [String])] {
        executor.groups.map { ($0.rule, $0.layers.map { graph.layers[$0].name }) }
    }

    /// Compulsory bytes per inference of the adopted plan.
    public var bytesMoved: Double {
        executor.groups.reduce(0) { $0 + CostModel.groupBytes($1, graph, weights) }
    }

    /// Kernel passes per inference.
    public var passes: Int { executor.kernels.count }

    /// Runs the whole model once.
    public func run() { executor.run() }

    /// The model outputs (concatenated when there are several), from the last `run()`.
    public func output() -> UnsafeBufferPointer<Float> { executor.output }
}

/// One layer of an unfused plan; keeps the whole plan alive.
final class LayerInstance: KernelInstance {
    let executor: Executor
    let weights: ModelWeights
    let kernel: ExecKernel
    let out: UnsafeMutablePointer<Float>
    let count: Int

    init(executor: Executor, weights: ModelWeights, kernel: ExecKernel, output: UnsafeMutablePointer<Float>, count: Int) {
        self.executor = executor
        self.weights = weights
        self.kernel = kernel
        out = output
        self.count = count
    }

    func run() { kernel.run() }
    func output() -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: out, count: count) }
}
