// The op-family seam: what a family of ops (fused models, edge models, ...) may add to a run
// beyond the samples every op produces. The runner asks these protocols and knows no family:
// adding a family means conforming its factory and instances here, not editing the runner.
// See docs/architecture.md, "Op families".
import BenchModel

/// A factory whose ops carry more than samples: per-variant traffic figures and extra parts timed
/// separately. Every requirement has a default that adds nothing.
public protocol OpFamilyExtras: KernelFactory {
    /// Compulsory bytes per iteration of `variant` when they differ between variants (a fused
    /// plan moves less than the unfused one); nil to use the op's `bytes`. The runner stores the
    /// figure with the run and the roofline uses it.
    func variantBytes(_ variant: String) -> Double?

    /// Parts of the op timed separately after its variants — e.g. each layer of an unfused model
    /// — as (name, instance); the runner stores their samples as variants `layer:NAME`, timing
    /// the parts round-robin (one batch of each in turn) so they can be compared batch by batch.
    /// Runs in the measuring process only.
    func extraTimedParts(seed: UInt64) throws -> [(name: String, instance: KernelInstance)]

    /// Whether the instances time every iteration (`IterationLabeled`), so the run reports
    /// per-iteration latencies and their calibrated cost.
    var instancesTimeIterations: Bool { get }

    /// Whether the op must be measured in a worker process even with `--processes 1` (kernels
    /// fusebench cannot vouch for, e.g. C plug-ins: a crash or hang then fails the op, not the run).
    var requiresIsolation: Bool { get }

    /// Notes stored with the run for this op (e.g. `plugin.library`, `plugin.hash`); the runner
    /// stores each as `KEY.SUITE/OP`.
    var runNotes: [String: String] { get }
}

extension OpFamilyExtras {
    /// No per-variant figure.
    public func variantBytes(_ variant: String) -> Double? { nil }
    /// No extra parts.
    public func extraTimedParts(seed: UInt64) throws -> [(name: String, instance: KernelInstance)] { [] }
    /// Instances time batches only.
    public var instancesTimeIterations: Bool { false }
    /// Measured wherever the run's `--processes` puts it.
    public var requiresIsolation: Bool { false }
    /// No notes.
    public var runNotes: [String: String] { [:] }
}

/// An instance that made decisions while it was built (e.g. which layers the fusion planner
/// fused); the runner stores them with the run.
public protocol DecisionLogSource: KernelInstance {
    /// The decisions behind this instance, in the order they were made.
    var decisionLog: [FusionDecision] { get }
}
