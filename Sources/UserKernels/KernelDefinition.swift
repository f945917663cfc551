// UserKernels: kernel kinds defined outside fusebench — the Swift definition API (`KernelDefinition`
// with its variants and reference), its adapter to the runner's seam (`DefinedKernelFactory`), the
// guarded, seeded buffers every such kernel runs on (`GuardedBuffer`), and registration
// (`UserKernelRegistry`). The C plug-in loader (module Plugins) builds `KernelDefinition`s too, so
// both paths share verification, guard pages and canaries. See docs/own-kernels.md.
import BenchModel
import Kernels

/// One variant of a user kernel: `prepare` runs once per instance (allocate scratch, pack weights)
/// and returns the function timed per iteration.
///
/// The returned function must compute the whole output from the inputs on every call (no state
/// carried between iterations) and give the same output for the same inputs.
public struct KernelVariant: Sendable {
    /// Variant name (unique within the kind; `reference` is reserved when the kind is verified
    /// against a built-in reference).
    public var name: String
    /// Called once per instance with its buffers; returns the per-iteration function. May throw
    /// (e.g. a shape the variant cannot handle): the run then stops with the error.
    public var prepare: @Sendable (KernelBuffers) throws -> @Sendable () -> Void

    /// Creates a variant with a preparation step. (Disfavored so that a trailing closure,
    /// `KernelVariant("x") { buffers in ... }`, means `run:`.)
    @_disfavoredOverload
    public init(_ name: String, prepare: @escaping @Sendable (KernelBuffers) throws -> @Sendable () -> Void) {
        self.name = name
        self.prepare = prepare
    }

    /// Convenience for a variant that needs no preparation.
    public init(_ name: String, run: @escaping @Sendable (KernelBuffers) -> Void) {
        self.name = name
        self.prepare = { buffers in { run(buffers) } }
    }
}

/// What a user's variants are verified against.
public enum KernelReference: Sendable {
    /// The user's own reference (listed first among the kind's variants, under its own name).
    case variant(KernelVariant)
    /// fusebench's `BufferReference` of that built-in kind (variant name `reference`).
    case builtin(String)
}

/// A kernel kind defined outside fusebench (Swift API; the C plug-in loader builds these too).
public struct KernelDefinition: Sendable {
    /// Kind name used in suites (`kind = "..."`); must not be a built-in kind.
    public var kind: String
    /// One-line description for `fusebench list ops`.
    public var summary: String
    /// Shape keys the kind reads, in display order (a suite shape with another key is refused).
    public var shapeKeys: [String]
    /// The tensors for a shape; throw `KernelSpecError(key: "shape.X", ...)` to refuse a shape.
    public var layout: @Sendable (Shape) throws -> TensorLayout
    /// Floating-point (or integer) operations of one iteration, for the roofline.
    public var flops: @Sendable (Shape) -> Double
    /// Compulsory bytes of one iteration; nil: the sum of the layout's tensor bytes.
    public var bytes: (@Sendable (Shape) -> Double)?
    /// What the variants are verified against.
    public var reference: KernelReference
    /// Measured variants (not the reference).
    public var variants: [KernelVariant]
    /// Accuracy band of the variants against the reference.
    public var tolerance: @Sendable (Shape) -> Tolerance
    /// True for C plug-ins: the runner measures the op in a worker process even with `--processes 1`.
    public var isolated: Bool
    /// Stored as run notes `KEY.SUITE/OP` (e.g. `plugin.library`, `plugin.hash`).
    public var provenance: [String: String]

    /// A kind with its own layout, FLOPs, reference and band (`isolated` false, no provenance).
    public init(kind: String, summary: String, shapeKeys: [String], layout: @escaping @Sendable (Shape) throws -> TensorLayout,
                flops: @escaping @Sendable (Shape) -> Double, bytes: (@Sendable (Shape) -> Double)? = nil,
                reference: KernelReference, variants: [KernelVariant], tolerance: @escaping @Sendable (Shape) -> Tolerance) {
        self.kind = kind
        self.summary = summary
        self.shapeKeys = shapeKeys
        self.layout = layout
        self.flops = flops
        self.bytes = bytes
        self.reference = reference
        self.variants = variants
        self.tolerance = tolerance
        self.isolated = false
        self.provenance = [:]
    }

    /// A kind verified against fusebench's built-in `builtin` reference: layout, FLOPs, shape keys
    /// and (unless `tolerance` is given) the accuracy band come from it (`BufferReferences`).
    /// Throws `KernelSpecError` (key `kind`) when `builtin` has no buffer reference.
    public init(kind: String, summary: String, verifiedAgainst builtin: String, variants: [KernelVariant],
                tolerance: Tolerance? = nil) throws {
        guard let ref = BufferReferences.named(builtin) else {
            let known = BufferReferences.all.map(\.kind).joined(separator: ", ")
            throw KernelSpecError(key: "kind", "\(kind): fusebench has no reference for kind '\(builtin)' (kinds with one: \(known))")
        }
        self.init(kind: kind, summary: summary, shapeKeys: ref.shapeKeys, layout: { try ref.layout(shape: $0) },
                  flops: { ref.flops(shape: $0) }, reference: .builtin(builtin), variants: variants,
                  tolerance: { tolerance ?? ref.defaultTolerance(shape: $0) })
    }

    /// Name of the reference variant: `reference` for a built-in reference, else the user's variant's name.
    public var referenceName: String {
        switch reference {
        case .builtin: "reference"
        case .variant(let v): v.name
        }
    }

    /// The reference's name, then the measured variants' names.
    public var variantNames: [String] { [referenceName] + variants.map(\.name) }

    /// Checks the definition itself (not a shape): a kind name, unique non-empty variant names, a
    /// known built-in reference. Throws `KernelSpecError` (key `kind` or `variants`).
    public func check() throws {
        guard !kind.isEmpty, !kind.contains(where: \.isWhitespace) else {
            throw KernelSpecError(key: "kind", "kernel kind '\(kind)' must be a non-empty name without spaces")
        }
        if case .builtin(let b) = reference, BufferReferences.named(b) == nil {
            throw KernelSpecError(key: "kind", "\(kind): fusebench has no reference for kind '\(b)'")
        }
        var seen: Set<String> = []
        for name in variantNames {
            guard !name.isEmpty else { throw KernelSpecError(key: "variants", "\(kind): a variant has an empty name") }
            guard seen.insert(name).inserted else {
                throw KernelSpecError(key: "variants", "\(kind): variant name '\(name)' is used twice (the reference is '\(referenceName)')")
            }
        }
    }
}

/// Registers user kernel kinds with the process-wide kernel registry.
public enum UserKernelRegistry {
    /// Registers each definition in `KernelRegistry.shared` (as a `DefinedKernelFactory`); throws
    /// `KernelSpecError` (key `kind`) on a taken kind — built-in, registered before, or twice in
    /// `definitions` — or an invalid definition. Nothing is registered when any definition fails.
    public static func register(_ definitions: [KernelDefinition]) throws {
        try register(definitions, in: KernelRegistry.shared)
    }

    /// Like `register(_:)`, into `registry` (tests use their own).
    public static func register(_ definitions: [KernelDefinition], in registry: KernelRegistry) throws {
        var kinds: Set<String> = []
        for d in definitions {
            try d.check()
            guard kinds.insert(d.kind).inserted else {
                throw KernelSpecError(key: "kind", "kernel kind '\(d.kind)' is defined twice")
            }
            if registry.factory(kind: d.kind) != nil {
                let builtIn = KernelRegistry.builtInFactories.contains { $0.kind == d.kind }
                throw KernelSpecError(key: "kind", "kernel kind '\(d.kind)' is already registered"
                                      + (builtIn ? " (a built-in kind; choose another name, e.g. 'my_\(d.kind)')" : ""))
            }
        }
        for d in definitions { try registry.register(DefinedKernelFactory(d)) }
    }
}
