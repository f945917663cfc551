// The buffer contract between fusebench and a kernel defined outside it (a Swift `KernelDefinition`
// or a C plug-in): the tensors of one op instance (element type, count, seeded fill), the pointers a
// kernel receives, and — for the built-in kinds that can verify a user's kernel of the same kind —
// the fixed layout of those tensors and fusebench's reference computation on them (the very code the
// built-in kind's `reference` variant runs). `UserKernels` allocates and fills the buffers; this file
// only describes them, so Kernels stays free of any allocation policy.
import BenchModel

/// Element type of a tensor a user kernel reads or writes.
public enum ElementType: String, Sendable, Hashable, Codable {
    /// 32-bit IEEE float.
    case f32
    /// Signed 8-bit integer.
    case i8
    /// Unsigned 8-bit integer.
    case u8
    /// Signed 32-bit integer.
    case i32

    /// Bytes per element (4, 1, 1, 4).
    public var size: Int {
        switch self {
        case .f32, .i32: 4
        case .i8, .u8: 1
        }
    }
}

/// How fusebench fills an input before verification/timing (seeded: same seed → same bytes).
///
/// All inputs of an instance are filled in layout order from ONE `SeededGenerator(seed:)`
/// sequence, so two instances with the same seed and layout have bit-identical inputs.
public enum Fill: Sendable, Hashable {
    /// f32 uniform in [lo, hi): `(lo+hi)/2 + (hi−lo)/2 · u` with `u = nextUnitFloat()` (one draw per
    /// element; `.uniform(-1, 1)` is exactly the built-in kernels' `u`).
    case uniform(Float, Float)
    /// Integers uniform in [lo, hi] inclusive (i8/u8/i32, or f32 holding integers): `lo + next() mod (hi−lo+1)`.
    case integers(Int, Int)
    /// All zero (no draws).
    case zeros
    /// f32 rows of `cols` elements: row r is `spread·u + offset·v_r`, with v_r drawn before the row's
    /// u values — the built-in row normalizations' inputs (a non-zero row mean; for softmax, rows
    /// beyond e^±88), used by `RowNormBufferReference`. `count` must be a multiple of `cols`.
    case rows(cols: Int, spread: Float, offset: Float)
}

/// One tensor (input or output) of a user kernel: name, element type, element count, fill (inputs only).
public struct TensorSpec: Sendable, Hashable {
    /// Name used in messages (`A`, `x`, `C`).
    public var name: String
    /// Element type.
    public var type: ElementType
    /// Number of elements (≥ 1).
    public var count: Int
    /// How an input is filled; ignored for the output.
    public var fill: Fill

    /// Creates the spec; `fill` defaults to uniform in [-1, 1).
    public init(_ name: String, _ type: ElementType = .f32, count: Int, fill: Fill = .uniform(-1, 1)) {
        self.name = name
        self.type = type
        self.count = count
        self.fill = fill
    }

    /// `count · type.size`, or nil on overflow.
    public var byteCount: Int? {
        let (b, overflow) = count.multipliedReportingOverflow(by: type.size)
        return overflow ? nil : b
    }
}

/// The tensors of one op instance: inputs (≥ 1) and exactly ONE output (f32 or i32; compared as Float).
public struct TensorLayout: Sendable, Hashable {
    /// Inputs, in the order the kernel receives them (and the order they are filled).
    public var inputs: [TensorSpec]
    /// The output.
    public var output: TensorSpec

    /// Creates the layout.
    public init(inputs: [TensorSpec], output: TensorSpec) {
        self.inputs = inputs
        self.output = output
    }

    /// Checks what every kernel relies on: at least one input, counts ≥ 1 and byte sizes within
    /// `maxBytes` per tensor, unique names, an f32 or i32 output, fills that suit their element
    /// type (uniform/rows only for f32, integer ranges within the type). Throws `KernelSpecError`
    /// (key `shape`) naming `kind` and the tensor at fault.
    public func validate(kind: String, maxBytes: Int = 1 << 32) throws {
        func fail(_ message: String) -> KernelSpecError { KernelSpecError(key: "shape", "\(kind): \(message)") }
        guard !inputs.isEmpty else { throw fail("the layout has no inputs") }
        var names: Set<String> = []
        for (role, t) in inputs.map({ ("input", $0) }) + [("output", output)] {
            guard !t.name.isEmpty else { throw fail("an \(role) has an empty name") }
            guard names.insert(t.name).inserted else { throw fail("two tensors are named '\(t.name)'") }
            guard t.count >= 1 else { throw fail("\(role) '\(t.name)' must have at least 1 element, got \(t.count)") }
            guard let bytes = t.byteCount, bytes <= maxBytes else {
                throw fail("\(role) '\(t.name)' would have \(t.count) elements of \(t.type.rawValue), more than \(maxBytes) bytes")
            }
            guard role == "input" else { continue }
            switch t.fill {
            case .zeros: break
            case .uniform(let lo, let hi):
                guard t.type == .f32 else { throw fail("input '\(t.name)': a uniform fill needs f32, not \(t.type.rawValue)") }
                guard lo.isFinite, hi.isFinite, lo < hi else { throw fail("input '\(t.name)': uniform fill needs finite lo < hi, got [\(lo), \(hi))") }
            case .integers(let lo, let hi):
                let range: ClosedRange<Int> = switch t.type {
                case .i8: -128...127
                case .u8: 0...255
                case .i32: Int(Int32.min)...Int(Int32.max)
                case .f32: -(1 << 24)...(1 << 24)
                }
                guard lo <= hi, range.contains(lo), range.contains(hi) else {
                    throw fail("input '\(t.name)': integer fill [\(lo), \(hi)] must be ordered and within \(t.type.rawValue)'s \(range.lowerBound)...\(range.upperBound)")
                }
            case .rows(let cols, let spread, let offset):
                guard t.type == .f32 else { throw fail("input '\(t.name)': a rows fill needs f32, not \(t.type.rawValue)") }
                guard cols >= 1, t.count % cols == 0, spread.isFinite, offset.isFinite else {
                    throw fail("input '\(t.name)': rows fill needs cols ≥ 1 dividing \(t.count) and finite spread/offset")
                }
            }
        }
        guard output.type == .f32 || output.type == .i32 else {
            throw fail("output '\(output.name)' must be f32 or i32, not \(output.type.rawValue)")
        }
    }
}

/// Pointers to one instance's buffers (fusebench owns the memory; valid for the instance's lifetime).
///
/// `@unchecked Sendable`: the pointers are only dereferenced by the instance's own kernel calls,
/// which the runner makes from one thread at a time.
public struct KernelBuffers: @unchecked Sendable {
    /// The op's shape.
    public let shape: Shape
    /// The tensors behind `inputs` and `output`.
    public let layout: TensorLayout
    /// One buffer per `layout.inputs` entry, read-only (mapped PROT_READ after filling when guarded).
    public let inputs: [UnsafeRawBufferPointer]
    /// The output buffer (`layout.output`).
    public let output: UnsafeMutableRawBufferPointer

    /// Wraps existing buffers; `inputs` must match `layout.inputs` in count and byte sizes.
    public init(shape: Shape, layout: TensorLayout, inputs: [UnsafeRawBufferPointer], output: UnsafeMutableRawBufferPointer) {
        self.shape = shape
        self.layout = layout
        self.inputs = inputs
        self.output = output
    }

    /// Input `i` as elements of `T` (count = bytes / stride).
    public func input<T>(_ i: Int, as: T.Type) -> UnsafeBufferPointer<T> {
        let raw = inputs[i]
        guard let base = raw.baseAddress else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: base.assumingMemoryBound(to: T.self), count: raw.count / MemoryLayout<T>.stride)
    }

    /// The output as elements of `T` (count = bytes / stride).
    public func output<T>(as: T.Type) -> UnsafeMutableBufferPointer<T> {
        guard let base = output.baseAddress else { return UnsafeMutableBufferPointer(start: nil, count: 0) }
        return UnsafeMutableBufferPointer(start: base.assumingMemoryBound(to: T.self), count: output.count / MemoryLayout<T>.stride)
    }

    /// Base pointer of f32 input `i` (internal: the references use it on layouts they built).
    func f32Input(_ i: Int) -> UnsafePointer<Float> {
        guard let p = input(i, as: Float.self).baseAddress else { preconditionFailure("input \(i) is empty") }
        return p
    }

    /// Base pointer of the f32 output.
    func f32Output() -> UnsafeMutablePointer<Float> {
        guard let p = output(as: Float.self).baseAddress else { preconditionFailure("output is empty") }
        return p
    }
}

/// A built-in kind whose reference can verify a user's kernel of the same kind: it fixes the tensor
/// layout for a shape (documented per kind in docs/own-kernels.md) and computes the reference output.
public protocol BufferReference: Sendable {
    /// The built-in kind (`gemm`, `softmax`, ...).
    var kind: String { get }
    /// Its shape keys, in display order.
    var shapeKeys: [String] { get }
    /// The tensors for `shape`; throws `KernelSpecError` for bad shapes (the built-in kind's own checks).
    func layout(shape: Shape) throws -> TensorLayout
    /// Floating-point operations of one iteration (the built-in kind's figure).
    func flops(shape: Shape) -> Double
    /// The built-in kind's accuracy band for its optimized variant.
    func defaultTolerance(shape: Shape) -> Tolerance
    /// Writes the reference result for `buffers.inputs` into `buffers.output`.
    func reference(_ buffers: KernelBuffers)
    /// Prepares the reference once per instance (scratch allocated here, not per call) and returns
    /// the call that computes it. Default: `{ reference(buffers) }`.
    func prepareReference(_ buffers: KernelBuffers) -> @Sendable () -> Void
}

extension BufferReference {
    /// No preparation: each call runs `reference(buffers)`.
    public func prepareReference(_ buffers: KernelBuffers) -> @Sendable () -> Void {
        { self.reference(buffers) }
    }
}

/// The built-in kinds that can verify a user's kernel (`verifiedAgainst:` / `.builtin(kind)`).
public enum BufferReferences {
    /// The reference for built-in `kind`, or nil when that kind has none.
    public static func named(_ kind: String) -> (any BufferReference)? {
        all.first { $0.kind == kind }
    }

    /// Every kind with a buffer reference: gemm, softmax, layernorm, rmsnorm, relu, gelu_tanh, silu, bias_relu.
    public static var all: [any BufferReference] {
        [
            GEMMBufferReference(),
            RowNormBufferReference(.softmax), RowNormBufferReference(.layernorm), RowNormBufferReference(.rmsnorm),
            ActivationBufferReference(.relu), ActivationBufferReference(.geluTanh), ActivationBufferReference(.silu),
            BiasReLUBufferReference(),
        ]
    }
}

/// An instance that can vouch for its own output around a verification run (guarded buffers of a
/// user kernel): the runner calls `prepareVerificationRun()` right before the run whose output it
/// compares, and reads `integrityProblem` right after it. A non-nil problem fails the variant's
/// accuracy check with that reason, whatever the comparison says.
public protocol OutputIntegrityChecked: KernelInstance {
    /// Arms the check: fills the output with a pattern no kernel computes (so a kernel that writes
    /// nothing, or skips elements, is caught) and re-arms the out-of-bounds canaries.
    func prepareVerificationRun()
    /// After the run: nil, or what went wrong (`wrote 4 bytes past the end of output 'C'`,
    /// `left 12 of 4096 elements of output 'C' unwritten`).
    var integrityProblem: String? { get }
}

// MARK: - The built-in kinds' buffer references

/// `gemm`. Inputs `A` (m·k f32, row-major m×k) then `B` (k·n f32, row-major k×n), both uniform in
/// [-1, 1) (bit-identical to the built-in gemm's inputs for the same seed); output `C` (m·n f32,
/// row-major m×n) = A·B. Shape keys `m`, `n`, `k`.
public struct GEMMBufferReference: BufferReference {
    private let factory = GEMMFactory()
    /// Creates the reference.
    public init() {}
    /// `gemm`.
    public var kind: String { factory.kind }
    /// `m`, `n`, `k`.
    public var shapeKeys: [String] { factory.shapeKeys }
    /// A[m·k], B[k·n] → C[m·n].
    public func layout(shape: Shape) throws -> TensorLayout {
        try factory.validate(shape: shape, dtype: "f32")
        let m = shape["m"] ?? 0, n = shape["n"] ?? 0, k = shape["k"] ?? 0
        return TensorLayout(inputs: [TensorSpec("A", count: m * k), TensorSpec("B", count: k * n)],
                            output: TensorSpec("C", count: m * n))
    }
    /// 2·m·n·k.
    public func flops(shape: Shape) -> Double { factory.flops(shape: shape) }
    /// The built-in gemm's band.
    public func defaultTolerance(shape: Shape) -> Tolerance { factory.defaultTolerance(shape: shape, dtype: "f32") }
    /// The built-in reference triple loop (`gemmReference`).
    public func reference(_ buffers: KernelBuffers) {
        let m = buffers.shape["m"] ?? 0, n = buffers.shape["n"] ?? 0, k = buffers.shape["k"] ?? 0
        gemmReference(m: m, n: n, k: k, a: buffers.f32Input(0), b: buffers.f32Input(1), c: buffers.f32Output())
    }
}

/// `softmax`, `layernorm`, `rmsnorm` over rows×cols (last axis). Inputs: `x` (rows·cols f32,
/// row-major; fill `.rows`: row r is spread·u + offset·v_r, spread/offset 1/2 for the norms and
/// 10/100 for softmax), then for layernorm `gamma` (cols, uniform in [0.5, 1.5)) and `beta` (cols,
/// uniform in [-0.5, 0.5)), for rmsnorm `gamma` only, for softmax nothing else. Output `y`
/// (rows·cols f32, row-major). Inputs are bit-identical to the built-in kind's for the same seed.
/// layernorm: y = (x − mean)/√(var + 1e-5)·gamma + beta (biased variance); rmsnorm:
/// y = x/√(mean(x²) + 1e-5)·gamma; softmax: y = e^(x − max)/Σ e^(x − max), per row.
public struct RowNormBufferReference: BufferReference {
    /// The normalization.
    public let norm: RowNorm
    private var factory: RowNormFactory { RowNormFactory(norm) }
    /// Creates the reference for `norm`.
    public init(_ norm: RowNorm) { self.norm = norm }
    /// `layernorm`, `rmsnorm` or `softmax`.
    public var kind: String { norm.rawValue }
    /// `rows`, `cols`.
    public var shapeKeys: [String] { factory.shapeKeys }
    /// x (+ gamma, beta) → y; see the type's documentation.
    public func layout(shape: Shape) throws -> TensorLayout {
        try factory.validate(shape: shape, dtype: "f32")
        let rows = shape["rows"] ?? 0, cols = shape["cols"] ?? 0
        let (spread, offset) = norm.inputScale
        var inputs = [TensorSpec("x", count: rows * cols, fill: .rows(cols: cols, spread: spread, offset: offset))]
        switch norm {
        case .layernorm: inputs += [TensorSpec("gamma", count: cols, fill: .uniform(0.5, 1.5)),
                                    TensorSpec("beta", count: cols, fill: .uniform(-0.5, 0.5))]
        case .rmsnorm: inputs.append(TensorSpec("gamma", count: cols, fill: .uniform(0.5, 1.5)))
        case .softmax: break
        }
        return TensorLayout(inputs: inputs, output: TensorSpec("y", count: rows * cols))
    }
    /// The built-in kind's figure.
    public func flops(shape: Shape) -> Double { factory.flops(shape: shape) }
    /// The built-in kind's band.
    public func defaultTolerance(shape: Shape) -> Tolerance { factory.defaultTolerance(shape: shape, dtype: "f32") }
    /// The built-in reference (`rowNormReference`, Double accumulation).
    public func reference(_ buffers: KernelBuffers) {
        let rows = buffers.shape["rows"] ?? 0, cols = buffers.shape["cols"] ?? 0
        let gamma = buffers.inputs.count > 1 ? buffers.f32Input(1) : nil
        let beta = buffers.inputs.count > 2 ? buffers.f32Input(2) : nil
        rowNormReference(norm, rows: rows, cols: cols, x: buffers.f32Input(0), gamma: gamma, beta: beta, y: buffers.f32Output())
    }
}

/// `relu`, `gelu_tanh`, `silu` over n elements. Input `x` (n f32, uniform in [-6, 6), bit-identical
/// to the built-in kind's); output `y` (n f32) = activation(x) elementwise (relu: max(x, 0);
/// silu: x·sigmoid(x); gelu_tanh: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))). Shape key `n`.
public struct ActivationBufferReference: BufferReference {
    /// The activation.
    public let activation: Activation
    private var factory: ActivationFactory { ActivationFactory(activation) }
    /// Creates the reference for `activation`.
    public init(_ activation: Activation) { self.activation = activation }
    /// `relu`, `gelu_tanh`, `silu` (or `gelu_erf`).
    public var kind: String { activation.rawValue }
    /// `n`.
    public var shapeKeys: [String] { factory.shapeKeys }
    /// x[n] → y[n].
    public func layout(shape: Shape) throws -> TensorLayout {
        try factory.validate(shape: shape, dtype: "f32")
        let n = shape["n"] ?? 0
        return TensorLayout(inputs: [TensorSpec("x", count: n, fill: .uniform(-6, 6))], output: TensorSpec("y", count: n))
    }
    /// The built-in kind's figure.
    public func flops(shape: Shape) -> Double { factory.flops(shape: shape) }
    /// The built-in kind's band.
    public func defaultTolerance(shape: Shape) -> Tolerance { factory.defaultTolerance(shape: shape, dtype: "f32") }
    /// The built-in reference (`activationReference`, libm per element).
    public func reference(_ buffers: KernelBuffers) {
        activationReference(activation, n: buffers.shape["n"] ?? 0, x: buffers.f32Input(0), y: buffers.f32Output())
    }
}

/// `bias_relu` over rows×cols. Inputs `x` (rows·cols f32, row-major) then `bias` (cols f32), both
/// uniform in [-1, 1) (bit-identical to the built-in kind's); output `y` (rows·cols f32) =
/// relu(x + bias[col]). Shape keys `rows`, `cols`.
public struct BiasReLUBufferReference: BufferReference {
    private let factory = BiasReLUFactory()
    /// Creates the reference.
    public init() {}
    /// `bias_relu`.
    public var kind: String { factory.kind }
    /// `rows`, `cols`.
    public var shapeKeys: [String] { factory.shapeKeys }
    /// x[rows·cols], bias[cols] → y[rows·cols].
    public func layout(shape: Shape) throws -> TensorLayout {
        try factory.validate(shape: shape, dtype: "f32")
        let rows = shape["rows"] ?? 0, cols = shape["cols"] ?? 0
        return TensorLayout(inputs: [TensorSpec("x", count: rows * cols), TensorSpec("bias", count: cols)],
                            output: TensorSpec("y", count: rows * cols))
    }
    /// The built-in kind's figure.
    public func flops(shape: Shape) -> Double { factory.flops(shape: shape) }
    /// The built-in kind's band.
    public func defaultTolerance(shape: Shape) -> Tolerance { factory.defaultTolerance(shape: shape, dtype: "f32") }
    /// The built-in two-pass reference (`biasReLUReference`), with a temporary per call.
    public func reference(_ buffers: KernelBuffers) {
        prepareReference(buffers)()
    }
    /// The built-in two-pass reference with its temporary allocated once.
    public func prepareReference(_ buffers: KernelBuffers) -> @Sendable () -> Void {
        let rows = buffers.shape["rows"] ?? 0, cols = buffers.shape["cols"] ?? 0
        let scratch = ScratchFloats(rows * cols)
        return {
            biasReLUReference(rows: rows, cols: cols, x: buffers.f32Input(0), bias: buffers.f32Input(1),
                              temporary: scratch.pointer, y: buffers.f32Output())
        }
    }
}

/// A scratch buffer owned by a reference closure (freed with the closure).
/// `@unchecked Sendable`: only the closure that owns it touches it, one call at a time.
final class ScratchFloats: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ count: Int) { pointer = allocateFloats(count) }
    deinit { freeFloats(pointer) }
}
