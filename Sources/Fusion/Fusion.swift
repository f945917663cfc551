// Fusion owns runtime layer fusion: op graphs (`ModelGraph`, declared in suite `[[model]]`
// tables), fusion rules (elementwise chains, GEMM/conv + epilogue, layernorm + epilogue,
// streaming attention), the runtime planner that validates every candidate fused group against
// the unfused execution on the actual inputs before adopting it, the fused and unfused executors,
// and the decision log (`FusionDecision`, stored by the runner in `fusion_decisions`).
//
// Entry points for the rest of fusebench:
//   - `ModelFactory` — a `KernelFactory` per model, variants `unfused` (reference), `fused` and
//     `fused_autotuned` (also times each candidate and rejects fusions measured slower).
//   - `FusionDecisionSource` — what the runner calls on the factory to get the decision log, the
//     per-layer instances of the unfused plan and the bytes each plan moves.
//   - `ModelInstance.fusionDecisions` — the decisions behind the plan an instance actually runs.
import BenchModel
import Kernels

/// A factory whose instances run a model with runtime fusion; the runner asks it for the fusion
/// decision log and for per-layer timing instances.
public protocol FusionDecisionSource: KernelFactory {
    /// Plans `variant` at load time (exactly as `make` does) and returns every decision, in order:
    /// refusals found while growing candidate groups (illegal), then one per candidate group
    /// (accepted / no gain / accuracy / measured slower). Empty for the `unfused` variant.
    func decisions(variant: String, seed: UInt64) throws -> [FusionDecision]
    /// One instance per layer of the unfused plan, in execution order, sharing one set of buffers
    /// (filled by one full unfused run when created): `run()` runs only that layer, `output()` is
    /// its output tensor.
    func layerInstances(seed: UInt64) throws -> [(name: String, instance: KernelInstance)]
    /// Compulsory bytes per inference of a variant's plan as the candidate rules propose it
    /// (`unfused`: every layer reads its inputs and writes its output; `fused*`: every legal
    /// candidate fused). The bytes of the plan an instance adopted are `ModelInstance.bytesMoved`.
    func bytesMoved(variant: String) -> Double
}
