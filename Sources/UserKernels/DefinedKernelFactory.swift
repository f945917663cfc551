// DefinedKernelFactory: adapts a `KernelDefinition` to the runner's seam (`KernelFactory`,
// `OpFamilyExtras`). Each instance owns guarded buffers (one mapping per tensor), filled from the
// op's seed; the variant's `prepare` runs once, its returned function once per iteration. Around a
// verification run the instance poisons its output and checks its canaries afterwards
// (`OutputIntegrityChecked`), so a kernel that writes out of bounds or leaves elements unwritten
// fails verification instead of being timed; an i32 output is exposed for exact comparison.
import BenchModel
import Kernels

/// Adapts a definition to the runner's seam. Variant names: the reference variant is `reference`
/// when `.builtin` (runs fusebench's reference) or the user's reference variant's name; then the
/// user's variants.
public struct DefinedKernelFactory: KernelFactory, OpFamilyExtras {
    /// The definition.
    public let definition: KernelDefinition

    /// Wraps `d` (check it with `d.check()` first; `UserKernelRegistry` does).
    public init(_ d: KernelDefinition) { definition = d }

    /// The definition's kind.
    public var kind: String { definition.kind }
    /// The definition's summary.
    public var summary: String { definition.summary }
    /// The definition's shape keys.
    public var shapeKeys: [String] { definition.shapeKeys }
    /// The reference variant, then the measured ones.
    public var variants: [String] { definition.variantNames }
    /// `f32`: the suite's `dtype` is not used by defined kernels (element types come from the layout).
    public var dtypes: [String] { ["f32"] }

    /// The layout for `shape`, checked (`TensorLayout.validate`); a non-`KernelSpecError` thrown by
    /// the definition becomes one (key `shape`).
    public func layout(shape: Shape) throws -> TensorLayout {
        let layout: TensorLayout
        do {
            layout = try definition.layout(shape)
        } catch let error as KernelSpecError {
            throw error
        } catch {
            throw KernelSpecError(key: "shape", "\(kind): shape refused: \(error)")
        }
        try layout.validate(kind: kind)
        if case .builtin(let b) = definition.reference {
            // fusebench's reference reads exactly its own layout: the user's must match it tensor
            // for tensor (element type and count; names and fills may differ).
            guard let ref = BufferReferences.named(b) else {
                throw KernelSpecError(key: "kind", "\(kind): fusebench has no reference for kind '\(b)'")
            }
            let expected = try ref.layout(shape: shape)
            let describe = { (l: TensorLayout) in
                (l.inputs + [l.output]).map { "\($0.name)[\($0.count) \($0.type.rawValue)]" }.joined(separator: ", ")
            }
            let same = expected.inputs.count == layout.inputs.count
                && zip(expected.inputs + [expected.output], layout.inputs + [layout.output]).allSatisfy { $0.type == $1.type && $0.count == $1.count }
            guard same else {
                throw KernelSpecError(key: "shape", "\(kind): the layout (\(describe(layout))) does not match fusebench's \(b) reference (\(describe(expected)))")
            }
        }
        return layout
    }

    /// Checks the dtype, that every shape key is one of `shapeKeys`, and the layout (the
    /// definition's own refusals, then `TensorLayout.validate`).
    public func validate(shape: Shape, dtype: String) throws {
        guard dtypes.contains(dtype) else {
            throw KernelSpecError(key: "dtype", "\(kind): dtype '\(dtype)' is not supported (user kernels take their element types from the layout; leave dtype out)")
        }
        for key in shape.keys.sorted() where !shapeKeys.contains(key) {
            throw KernelSpecError(key: "shape.\(key)", "\(kind): unknown shape key '\(key)' (expected \(shapeKeys.joined(separator: ", ")))")
        }
        _ = try layout(shape: shape)
    }

    /// The definition's figure.
    public func flops(shape: Shape) -> Double { definition.flops(shape) }

    /// The definition's figure, or the layout's tensor bytes (inputs read once, output written once).
    public func bytes(shape: Shape, dtype: String) -> Double {
        if let bytes = definition.bytes { return bytes(shape) }
        guard let layout = try? layout(shape: shape) else { return 0 }
        return (layout.inputs + [layout.output]).reduce(0.0) { $0 + Double($1.count) * Double($1.type.size) }
    }

    /// Every tensor's mapping (rounded up to pages, plus two guard pages), plus the Float copy of an i32 output.
    public func allocationBytes(shape: Shape, dtype: String) -> Double {
        guard let layout = try? layout(shape: shape) else { return 0 }
        let page = 4096.0
        var total = 0.0
        for t in layout.inputs + [layout.output] {
            total += ((Double(t.count) * Double(t.type.size) + 63) / page).rounded(.up) * page + 2 * page
        }
        if layout.output.type == .i32 { total += 4 * Double(layout.output.count) }
        return total
    }

    /// The definition's band (not used for an i32 output, which is compared exactly).
    public func defaultTolerance(shape: Shape, dtype: String) -> Tolerance { definition.tolerance(shape) }

    /// `definition.isolated` (C plug-ins run in a worker process).
    public var requiresIsolation: Bool { definition.isolated }

    /// `definition.provenance`.
    public var runNotes: [String: String] { definition.provenance }

    /// An instance of `variant`: guarded buffers, inputs filled from `seed` (layout order, one
    /// `SeededGenerator` sequence) and mapped read-only, then the variant's `prepare` (or the
    /// built-in reference's) once.
    public func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        try validate(shape: shape, dtype: dtype)
        guard variants.contains(variant) else {
            throw KernelSpecError(key: "variants", "\(kind): unknown variant '\(variant)' (available: \(variants.joined(separator: ", ")))")
        }
        let layout = try layout(shape: shape)
        let shapeText = shape.keys.sorted().map { "\($0)=\(shape[$0] ?? 0)" }.joined(separator: " ")
        var owner = "\(kind)/\(variant) [\(shapeText)]"
        if let library = definition.provenance["plugin.library"] { owner += " in \(library)" }

        var inputs: [GuardedBuffer] = []
        var g = SeededGenerator(seed: seed)
        for t in layout.inputs {
            let b = try GuardedBuffer(byteCount: t.count * t.type.size, label: "input '\(t.name)' of \(owner)")
            SeededFill.fill(b.bytes, t, &g)
            try b.makeReadOnly()
            inputs.append(b)
        }
        let output = try GuardedBuffer(byteCount: layout.output.count * layout.output.type.size,
                                       label: "output '\(layout.output.name)' of \(owner)")
        let buffers = KernelBuffers(shape: shape, layout: layout, inputs: inputs.map { UnsafeRawBufferPointer($0.bytes) },
                                    output: output.bytes)
        let body: @Sendable () -> Void
        do {
            body = try prepare(variant: variant, buffers)
        } catch let error as KernelSpecError {
            throw error
        } catch {
            throw KernelSpecError(key: "variants", "\(kind)/\(variant): prepare failed: \(error)")
        }
        return DefinedKernelInstance(layout: layout, inputs: inputs, output: output, body: body)
    }

    private func prepare(variant: String, _ buffers: KernelBuffers) throws -> @Sendable () -> Void {
        switch definition.reference {
        case .builtin(let b) where variant == definition.referenceName:
            guard let ref = BufferReferences.named(b) else {
                throw KernelSpecError(key: "kind", "\(kind): fusebench has no reference for kind '\(b)'")
            }
            return ref.prepareReference(buffers)
        case .variant(let v) where variant == v.name:
            return try v.prepare(buffers)
        default:
            guard let v = definition.variants.first(where: { $0.name == variant }) else {
                throw KernelSpecError(key: "variants", "\(kind): unknown variant '\(variant)'")
            }
            return try v.prepare(buffers)
        }
    }
}

/// One instance of a defined kernel: its guarded buffers and the prepared per-iteration function.
final class DefinedKernelInstance: KernelInstance, OutputIntegrityChecked {
    /// Bit pattern of the output poison: a quiet NaN with a payload no arithmetic produces (x86's
    /// default NaN is 0xFFC00000), so an element still holding it was not written. As an i32 it is
    /// 2143353694, which a kernel could compute: an i32 element holding it may be unwritten.
    static let poison: UInt32 = 0x7FC0_FB5E

    /// The prepared function. Declared FIRST on purpose: stored properties are destroyed in
    /// declaration order after `deinit`, so what it owns (a plug-in's `teardown`, a Swift variant's
    /// captured state) goes while the buffers below are still mapped (tested by
    /// `InstanceLifetimeTests`). A `let`, not an optional `var` released in `deinit`: reading a
    /// class's `var` on every iteration costs a dynamic exclusivity check (about 55 instructions
    /// per call under callgrind, measured with `tools/plugin-overhead`).
    private let body: @Sendable () -> Void
    private let layout: TensorLayout
    private let inputs: [GuardedBuffer]
    private let outputBuffer: GuardedBuffer
    /// Float copy of an i32 output (nil for f32 outputs).
    private let shadow: UnsafeMutableBufferPointer<Float>?
    private var armed = false

    init(layout: TensorLayout, inputs: [GuardedBuffer], output: GuardedBuffer, body: @escaping @Sendable () -> Void) {
        self.layout = layout
        self.inputs = inputs
        self.outputBuffer = output
        self.body = body
        if layout.output.type == .i32 {
            let s = UnsafeMutableBufferPointer<Float>.allocate(capacity: layout.output.count)
            s.initialize(repeating: 0)
            shadow = s
        } else {
            shadow = nil
        }
    }

    deinit {
        // `body` (declared first) and then the buffers are destroyed after this.
        shadow?.deallocate()
    }

    /// Runs the prepared function once.
    func run() { body() }

    /// The output as Float (an i32 output converted into a Float copy, inexact above 2^24: the
    /// verifier compares `exactOutput` instead).
    func output() -> UnsafeBufferPointer<Float> {
        let count = layout.output.count
        if let shadow {
            let ints = outputBuffer.base.assumingMemoryBound(to: Int32.self)
            for i in 0..<count { shadow[i] = Float(ints[i]) }
            return UnsafeBufferPointer(shadow)
        }
        return UnsafeBufferPointer(start: outputBuffer.base.assumingMemoryBound(to: Float.self), count: count)
    }

    /// An i32 output as integers (compared exactly); nil for an f32 output.
    var exactOutput: UnsafeBufferPointer<Int32>? {
        guard layout.output.type == .i32 else { return nil }
        return UnsafeBufferPointer(start: outputBuffer.base.assumingMemoryBound(to: Int32.self), count: layout.output.count)
    }

    /// Poisons the output and re-writes the canaries.
    func prepareVerificationRun() {
        let words = outputBuffer.base.assumingMemoryBound(to: UInt32.self)
        for i in 0..<layout.output.count { words[i] = Self.poison }
        outputBuffer.writeCanaries()
        armed = true
    }

    /// Canary damage (writes past the end or before the start of the output), then — after
    /// `prepareVerificationRun()` — elements left holding the poison. For an i32 output the poison
    /// (2143353694) is a value a kernel could compute, so those elements "may be unwritten".
    var integrityProblem: String? {
        let name = layout.output.name
        let damage = outputBuffer.canaryDamage()
        if damage.after > 0 { return "wrote \(damage.after) bytes past the end of output '\(name)'" }
        if damage.before > 0 { return "wrote \(damage.before) bytes before the start of output '\(name)'" }
        guard armed else { return nil }
        let words = outputBuffer.base.assumingMemoryBound(to: UInt32.self)
        var unwritten = 0, first = -1
        for i in 0..<layout.output.count where words[i] == Self.poison {
            if first < 0 { first = i }
            unwritten += 1
        }
        guard unwritten > 0 else { return nil }
        if layout.output.type == .i32 {
            return "\(unwritten) of \(layout.output.count) elements of output '\(name)' may be unwritten (first: element \(first)): "
                + "they still hold the poison value \(Int32(bitPattern: Self.poison)) written before the run"
        }
        return "left \(unwritten) of \(layout.output.count) elements of output '\(name)' unwritten (first: element \(first)), or read them before writing"
    }
}
