// Fusion owns runtime layer fusion: op graphs (`ModelGraph`, declared in suite `[[model]]`
// tables), fusion rules (elementwise chains, GEMM/conv + epilogue, layernorm + epilogue,
// streaming attention), the runtime planner that validates every candidate fused group against
// the unfused execution on the actual inputs before adopting it, the fused and unfused executors,
// and the decision log (`FusionDecision`, stored by the runner in `fusion_decisions`).
//
// Entry points for the rest of fusebench:
//   - `ModelFactory` — a `KernelFactory` per model, variants `unfused` (reference), `fused` and
//     `fused_autotuned` (also times each candidate and rejects fusions measured slower).
//   - `FusionDecisionSource` — the decision log, the per-layer instances of the unfused plan and
//     the bytes each plan moves. The runner reaches them only through the op-family seam of
//     Kernels: `ModelFactory` is an `OpFamilyExtras` (bytes per variant, layers as extra timed
//     parts) and `ModelInstance` a `DecisionLogSource`.
//   - `ModelInstance.fusionDecisions` — the decisions behind the plan an instance actually runs.
import BenchModel
import Kernels

/// A factory whose instances run a model with runtime fusion: its fusion decision log and
/// per-layer timing instances.
public protocol FusionDecisionSource: KernelFactory {
    /// Plans `variant` at load time (exactly as `make` does) and returns every decision, in order:
    /// refusals found while growing candidate groups (illegal), then one per candidate group
    /// (accepted / no gain / accuracy / measured slower). Empty for the `unfused` variant.
    func decisions(variant: String, seed: UInt64) throws -> [FusionDecision]
    /// One instance per layer of the unfused plan, in execution order, sharing one set of buffers
    /// (filled by one full unfused run when created): `run()` runs only that layer, `output()` is
    /// its output tensor.
    func layerInstances(seed: UInt64) throws -> [(name: String, instance: KernelInstance)]
    /// One instance per legal candidate group of two or more layers (every candidate the rules
    /// propose, adopted or not), named by its layers joined with `+` (`fc+bias+gelu`), sharing the
    /// buffers of one run of the all-candidates plan: `run()` runs only that fused group. Timed
    /// next to `layerInstances`, it gives what a fused group costs against its own layers alone —
    /// e.g. a GEMM with its bias and GELU epilogue against the same GEMM without one.
    func fusedGroupInstances(seed: UInt64) throws -> [(name: String, instance: KernelInstance)]
    /// Compulsory bytes per inference of a variant's plan as the candidate rules propose it
    /// (`unfused`: every layer reads its inputs and writes its output; `fused*`: every legal
    /// candidate fused). The bytes of the plan an instance adopted are `ModelInstance.bytesMoved`.
    func bytesMoved(variant: String) -> Double
}

/// The op-family seam: what the runner stores for a fused model beyond its samples.
extension ModelFactory: OpFamilyExtras {
    /// The bytes of `variant`'s plan (`bytesMoved(variant:)`).
    public func variantBytes(_ variant: String) -> Double? { bytesMoved(variant: variant) }

    /// The layers of the unfused plan (`layerInstances(seed:)`), then every candidate fused group
    /// (`fusedGroupInstances(seed:)`, named `LAYER+LAYER…`), timed as `layer:NAME`.
    public func extraTimedParts(seed: UInt64) throws -> [(name: String, instance: KernelInstance)] {
        try layerInstances(seed: seed) + fusedGroupInstances(seed: seed)
    }
}

/// The op-family seam: the fusion decisions behind the plan an instance runs.
extension ModelInstance: DecisionLogSource {
    /// `fusionDecisions`.
    public var decisionLog: [FusionDecision] { fusionDecisions }
}
