// Kernels owns the compute: tensors, seeded inputs, reference and optimized kernels, the
// accuracy comparison between them, and the registry that maps a suite's op `kind` to a factory.
// The runner only sees `KernelFactory` and `KernelInstance`.
import BenchModel

/// Shape parameters of an op, by name (`m`, `n`, `k`, ...).
public typealias Shape = [String: Int]

/// Error in an op's description (shape, dtype, variant); the suite loader adds file:line.
public struct KernelSpecError: Error, CustomStringConvertible, Sendable {
    /// Key at fault (`shape.k`, `dtype`, `variants`), for locating it in the suite file.
    public var key: String
    /// Human-readable explanation, naming the kind and key (`gemm: shape.k must be positive, got 0`).
    public var message: String
    /// Creates the error for `key` with `message`.
    public init(key: String, _ message: String) {
        self.key = key
        self.message = message
    }
    /// The message.
    public var description: String { message }
}

/// One prepared, runnable kernel: inputs allocated and filled, output buffer ready.
///
/// `run()` executes exactly one iteration and must be safe to call repeatedly; `output()`
/// returns the result of the last `run()` for verification and black-holing.
public protocol KernelInstance: AnyObject {
    /// Executes one iteration.
    func run()
    /// Result of the most recent `run()` (flattened, row-major).
    func output() -> UnsafeBufferPointer<Float>
}

/// Opt-in for per-iteration latencies: the runner times every iteration of an instance that
/// conforms (reading the clock between iterations, on top of the batch's own timing) and records,
/// per iteration, its wall time and `lastIterationLabel`. Meant for kernels whose iteration is one
/// request (one image of an edge model), where the distribution over requests matters.
public protocol IterationLabeled: KernelInstance {
    /// A small integer describing the iteration that just ran (e.g. the early-exit head an image
    /// left at); 0 when there is nothing to say. Read right after `run()`, inside the timed loop,
    /// so it must be cheap (a stored property).
    var lastIterationLabel: Int32 { get }
}

/// Describes and creates one kind of kernel. Register custom ones in `KernelRegistry`.
public protocol KernelFactory: Sendable {
    /// Kind name used in suite files (`gemm`, `bias_relu`, ...).
    var kind: String { get }
    /// One-line description for `fusebench list ops`.
    var summary: String { get }
    /// Shape keys this kind requires, in display order.
    var shapeKeys: [String] { get }
    /// Variants this kind provides; the first is the reference every other variant is checked against.
    var variants: [String] { get }
    /// Supported dtypes (`f32`).
    var dtypes: [String] { get }
    /// Validates a shape; throws `KernelSpecError` naming the key at fault.
    func validate(shape: Shape, dtype: String) throws
    /// Floating-point operations of one iteration.
    func flops(shape: Shape) -> Double
    /// Compulsory bytes moved by one iteration (inputs read once, outputs written once).
    func bytes(shape: Shape, dtype: String) -> Double
    /// Bytes one instance allocates for `shape` (inputs, weights, outputs, packed copies, scratch):
    /// an estimate the suite loader multiplies by the instances alive at once and compares with
    /// the machine's memory before anything is allocated. Must not trap for any validated shape
    /// (compute in `Double`). Default: `bytes(shape:dtype:)` — a kernel's compulsory traffic is
    /// its input and output buffers; a factory that allocates more (packed copies, per-layer
    /// buffers) overrides it.
    func allocationBytes(shape: Shape, dtype: String) -> Double
    /// Default accuracy band for the optimized variants (justified at the implementation).
    func defaultTolerance(shape: Shape, dtype: String) -> Tolerance
    /// Creates a ready-to-run instance with inputs generated from `seed`.
    func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance
}

extension KernelFactory {
    /// The reference variant (first in `variants`).
    public var referenceVariant: String { variants[0] }

    /// Default: the compulsory bytes (see `KernelFactory.allocationBytes(shape:dtype:)`).
    public func allocationBytes(shape: Shape, dtype: String) -> Double { bytes(shape: shape, dtype: dtype) }

    /// Looks up a required shape key, throwing a located error when missing or not positive.
    public func dimension(_ shape: Shape, _ key: String) throws -> Int {
        guard let v = shape[key] else { throw KernelSpecError(key: "shape", "\(kind): shape is missing '\(key)'") }
        guard v > 0 else { throw KernelSpecError(key: "shape.\(key)", "\(kind): shape.\(key) must be positive, got \(v)") }
        return v
    }
}

/// A factory whose variants are judged by a task metric (e.g. top-1 accuracy on a test split)
/// instead of elementwise closeness to the reference's output. The runner rejects a variant (and
/// does not time it) when its metric drops more than `accuracyBand` below the reference variant's.
public protocol TaskAccuracySource: Sendable {
    /// Largest allowed drop of the metric below the reference's (same unit as the metric: a
    /// fraction for top-1, so 0.01 = 1 point).
    var accuracyBand: Double { get }
    /// The metric of `variant` (name, value; higher is better).
    func taskAccuracy(variant: String, seed: UInt64) throws -> (metric: String, value: Double)
}

/// Task-accuracy verification of one variant against the reference's metric.
public enum TaskAccuracy {
    /// Passed when `reference − candidate ≤ band` (plus 1e-12 for rounding). `maxAbsError` is the
    /// drop (negative when the candidate is better), `maxRelError` the drop relative to the
    /// reference, `cosine` the candidate's metric; the tolerance records the band in `abs`.
    public static func check(op: String, variant: String, referenceVariant: String, metric: String,
                             reference: Double, candidate: Double, band: Double) -> AccuracyCheck {
        let drop = reference - candidate
        let passed = drop <= band + 1e-12
        func pts(_ x: Double) -> String { "\((x * 1000).rounded() / 10)" }
        func pct(_ x: Double) -> String { pts(x) + "%" }
        let reason = passed ? nil
            : "\(metric) \(pct(candidate)) vs \(referenceVariant) \(pct(reference)) (−\(pts(drop)) points > band \(pts(band)))"
        return AccuracyCheck(op: op, variant: variant, referenceVariant: referenceVariant, maxAbsError: drop,
                             maxRelError: reference > 0 ? drop / reference : 0, cosine: candidate,
                             tolerance: Tolerance(abs: band, rel: 0, minCosine: 0), passed: passed, reason: reason,
                             normalizedError: drop, normalization: .taskMetric)
    }
}
