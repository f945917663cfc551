import BenchModel
@testable import Fusion
import Kernels

/// A layer description for tests: `L("fc", "linear", ["out": .int(8)])`.
struct L {
    var name: String
    var op: String
    var inputs: [String]?
    var attrs: [String: AttributeValue]
    init(_ name: String, _ op: String, _ attrs: [String: AttributeValue] = [:], inputs: [String]? = nil) {
        self.name = name
        self.op = op
        self.attrs = attrs
        self.inputs = inputs
    }
}

func spec(_ name: String = "m", input: [String: Int], outputs: [String]? = nil, _ layers: [L]) -> ModelSpec {
    ModelSpec(name: name, input: input, outputs: outputs,
              layers: layers.enumerated().map { i, l in
                  LayerSpec(name: l.name, op: l.op, inputs: l.inputs, attributes: l.attrs, key: "model[0].layer[\(i)]")
              }, key: "model[0]")
}

/// The seed case: mul, add, mul, sub, relu, residual add.
func sixOpChain(elements: Int) -> ModelSpec {
    spec("chain", input: ["elements": elements], [
        L("m1", "mul", ["value": .double(1.5)]),
        L("a1", "add", ["value": .double(0.25)]),
        L("m2", "mul", ["value": .double(0.75)]),
        L("s1", "sub", ["value": .double(0.125)]),
        L("r", "relu"),
        L("res", "add", inputs: ["r", "x"]),
    ])
}

/// Planner options for tests of the rules' outputs: speed measured briefly (2 ms per candidate) but
/// not rejecting, so a loaded machine (or a debug build) cannot change which groups are fused.
let outputTestOptions = PlannerOptions(rejectSlower: false, speedBudgetNs: 2_000_000)

/// Runs unfused and fused instances and compares their outputs with the model's tolerance.
func compareVariants(_ s: ModelSpec, options: PlannerOptions = outputTestOptions, variant: String = "fused",
                     seed: UInt64 = 7) throws -> (check: AccuracyCheck, fused: ModelInstance, unfused: ModelInstance) {
    let f = try ModelFactory(spec: s, options: options)
    let u = try f.makeModel(variant: "unfused", seed: seed)
    let x = try f.makeModel(variant: variant, seed: seed)
    u.run()
    x.run()
    let check = Accuracy.compare(reference: u.output(), candidate: x.output(), tolerance: f.defaultTolerance(shape: [:], dtype: "f32"),
                                 op: s.name, variant: variant, referenceVariant: "unfused")
    return (check, x, u)
}

func expectModelError(_ s: ModelSpec) -> ModelError? {
    do {
        _ = try ModelGraph.build(s)
        return nil
    } catch let e as ModelError {
        return e
    } catch {
        return nil
    }
}
