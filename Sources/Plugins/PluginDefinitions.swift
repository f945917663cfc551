// Plug-in kernels as `KernelDefinition`s: the bridge from the C description (fb_kernel, fb_variant)
// to the Swift API every user kernel goes through (UserKernels). The per-iteration path is one
// indirect C call with an `fb_args` built once per instance (`PluginCall`).
import BenchModel
import CFuseBenchPlugin
import Foundation
import Kernels
import UserKernels

extension LoadedPlugin {
    /// Every kernel of the plug-in as a definition (isolated, with the library's path and digest
    /// as provenance).
    public func definitions() -> [KernelDefinition] {
        kernels.compactMap { try? definition($0) }
    }

    /// The definition of one kernel. Throws `PluginError.invalidDescription` when its
    /// `verify_against` kind cannot verify it (checked at load, so only a programming error).
    public func definition(_ kernel: PluginKernel) throws -> KernelDefinition {
        let k = kernel.raw.pointee
        let path = self.path
        // The order of the shape values the C functions receive: the built-in kind's keys or the kernel's.
        let keys = kernel.verifyAgainst.flatMap { BufferReferences.named($0)?.shapeKeys } ?? kernel.shapeKeys
        var definition: KernelDefinition
        let variants = (0..<Int(k.variant_count)).compactMap { j -> KernelVariant? in
            guard let v = k.variants else { return nil }
            return PluginCall.variant(v + j, shapeKeys: keys, library: path, kernel: kernel.name)
        }
        let tolerance = k.tolerance.map { Tolerance(abs: $0.pointee.abs, rel: $0.pointee.rel, minCosine: $0.pointee.min_cosine) }
        if let builtin = kernel.verifyAgainst {
            guard BufferReferences.named(builtin) != nil else {
                throw PluginError.invalidDescription(path: path, reason: "kernel '\(kernel.name)': no built-in reference '\(builtin)'")
            }
            do {
                definition = try KernelDefinition(kind: kernel.name, summary: kernel.summary, verifiedAgainst: builtin,
                                                  variants: variants, tolerance: tolerance)
            } catch {
                throw PluginError.invalidDescription(path: path, reason: "kernel '\(kernel.name)': \(error)")
            }
            let builtinLayout = definition.layout
            let check = ShapeCheck(kernel: kernel, keys: keys, library: path)
            definition.layout = { shape in
                try check.accept(shape)
                return try builtinLayout(shape)
            }
        } else {
            let check = ShapeCheck(kernel: kernel, keys: keys, library: path)
            let reference: KernelVariant
            if let r = k.reference, let v = PluginCall.variant(r, shapeKeys: keys, library: path, kernel: kernel.name) {
                reference = v
            } else {
                throw PluginError.invalidDescription(path: path, reason: "kernel '\(kernel.name)' has no reference")
            }
            let fallback = tolerance ?? Tolerance(abs: 1e-4, rel: 1e-3, minCosine: 0.9999)
            definition = KernelDefinition(
                kind: kernel.name, summary: kernel.summary, shapeKeys: keys,
                layout: { shape in
                    try check.accept(shape)
                    return try check.layout(shape)
                },
                flops: { _ in 0 }, bytes: nil, reference: .variant(reference), variants: variants,
                tolerance: { _ in fallback })
        }
        let values = ShapeValues(keys: keys)
        if let flops = k.flops { definition.flops = { shape in values.withValues(shape) { flops($0) } } }
        if let bytes = k.bytes { definition.bytes = { shape in values.withValues(shape) { bytes($0) } } }
        definition.isolated = true
        definition.provenance = ["plugin.library": path, "plugin.hash": contentHash]
        return definition
    }
}

/// The shape as the C side sees it: values in the kernel's key order.
struct ShapeValues: Sendable {
    let keys: [String]

    /// `shape`'s values in key order (a missing key is 0; shapes are validated before they get here).
    func array(_ shape: Shape) -> [Int64] { keys.map { Int64(shape[$0] ?? 0) } }

    /// Calls `body` with a pointer to the values.
    func withValues<R>(_ shape: Shape, _ body: (UnsafePointer<Int64>) -> R) -> R {
        let values = array(shape)
        return values.withUnsafeBufferPointer { b in
            // An empty shape still gets a valid pointer.
            guard let base = b.baseAddress else { var zero: Int64 = 0; return body(&zero) }
            return body(base)
        }
    }

    /// `{ m = 4, n = 8 }` for messages.
    func show(_ shape: Shape) -> String {
        "{ " + keys.map { "\($0) = \(shape[$0] ?? 0)" }.joined(separator: ", ") + " }"
    }
}

/// Asks the plug-in about a shape: `check_shape` (refusal) and `layout` (the tensors).
struct ShapeCheck: @unchecked Sendable {
    // @unchecked: the kernel description is constant plug-in memory (see PluginKernel).
    let kernel: PluginKernel
    let values: ShapeValues
    let library: String
    /// Size of the message buffer the plug-in may write into.
    static let messageSize = 512

    init(kernel: PluginKernel, keys: [String], library: String) {
        self.kernel = kernel
        self.values = ShapeValues(keys: keys)
        self.library = library
    }

    /// Calls `body` with a zeroed message buffer; returns its result and the message.
    static func withMessage(_ body: (UnsafeMutablePointer<CChar>, UInt32) -> Int32) -> (Int32, String) {
        var buffer = [CChar](repeating: 0, count: messageSize + 1)
        let rc = buffer.withUnsafeMutableBufferPointer { b -> Int32 in
            guard let base = b.baseAddress else { return 0 }
            return body(base, UInt32(messageSize))
        }
        buffer[messageSize] = 0  // a plug-in that wrote all of it without a NUL still ends here
        let message = buffer.withUnsafeBufferPointer { b in b.baseAddress.map { String(cString: $0) } ?? "" }
        return (rc, message.isEmpty ? "no reason given" : message)
    }

    /// A refusal as the layout closures throw it: the key `shape`, the message naming the library.
    func refused(_ shape: Shape, _ message: String) -> KernelSpecError {
        KernelSpecError(key: "shape", PluginError.refusedShape(path: library, kernel: kernel.name, shape: values.show(shape), message: message).description)
    }

    /// Throws when a shape key is missing or not positive (checked before any C code sees the
    /// shape), or when the plug-in's `check_shape` refuses `shape`.
    func accept(_ shape: Shape) throws {
        for key in values.keys {
            guard let v = shape[key] else {
                throw KernelSpecError(key: "shape", "\(kernel.name): shape is missing '\(key)' (expects \(values.keys.joined(separator: ", ")))")
            }
            guard v > 0 else { throw KernelSpecError(key: "shape.\(key)", "\(kernel.name): shape.\(key) must be positive, got \(v)") }
        }
        guard let check = kernel.raw.pointee.check_shape else { return }
        let (rc, message) = values.withValues(shape) { v in Self.withMessage { check(v, $0, $1) } }
        if rc != 0 { throw refused(shape, message) }
    }

    /// The plug-in's `layout` for `shape`, validated.
    func layout(_ shape: Shape) throws -> TensorLayout {
        guard let layout = kernel.raw.pointee.layout else { throw refused(shape, "the kernel has no layout callback") }
        var out = fb_layout()
        let (rc, message) = values.withValues(shape) { v in Self.withMessage { layout(v, &out, $0, $1) } }
        if rc != 0 { throw refused(shape, message) }
        let count = Int(out.input_count)
        guard (1...Int(FB_MAX_INPUTS)).contains(count) else {
            throw refused(shape, "layout gave input_count \(out.input_count); it must be 1 ... \(FB_MAX_INPUTS)")
        }
        let inputs = try withUnsafeBytes(of: out.inputs) { raw in
            try (0..<count).map { i in try tensor(raw.load(fromByteOffset: i * MemoryLayout<fb_tensor>.stride, as: fb_tensor.self),
                                                  fallback: "input\(i)", output: false, shape: shape) }
        }
        let output = try tensor(out.output, fallback: "output", output: true, shape: shape)
        return TensorLayout(inputs: inputs, output: output)
    }

    /// One `fb_tensor` as a `TensorSpec`, refusing what the header does not allow.
    private func tensor(_ t: fb_tensor, fallback: String, output: Bool, shape: Shape) throws -> TensorSpec {
        let name = t.name.map { String(cString: $0) } ?? fallback
        let types: [UInt32: ElementType] = [FB_F32: .f32, FB_I8: .i8, FB_U8: .u8, FB_I32: .i32]
        guard let type = types[t.type] else { throw refused(shape, "tensor '\(name)' has unknown element type \(t.type)") }
        guard t.count >= 1, t.count <= UInt64(Int.max / 8) else { throw refused(shape, "tensor '\(name)' has \(t.count) elements") }
        if output {
            guard type == .f32 || type == .i32 else { throw refused(shape, "the output '\(name)' must be f32 or i32") }
            return TensorSpec(name, type, count: Int(t.count), fill: .zeros)
        }
        // Only what the conversion needs is checked here; `TensorLayout.validate` checks the rest
        // (ranges per element type) when the factory asks for the layout.
        let fill: Fill
        switch t.fill {
        case FB_FILL_UNIFORM:
            guard t.lo.isFinite, t.hi.isFinite else { throw refused(shape, "input '\(name)': uniform fill bounds must be finite") }
            fill = .uniform(Float(t.lo), Float(t.hi))
        case FB_FILL_INTEGERS:
            let limit = Double(Int64(1) << 40)
            guard t.lo == t.lo.rounded(), t.hi == t.hi.rounded(), abs(t.lo) <= limit, abs(t.hi) <= limit else {
                throw refused(shape, "input '\(name)': integer fill bounds must be whole numbers, got [\(t.lo), \(t.hi)]")
            }
            fill = .integers(Int(t.lo), Int(t.hi))
        case FB_FILL_ZEROS:
            fill = .zeros
        default:
            throw refused(shape, "input '\(name)' has unknown fill \(t.fill)")
        }
        return TensorSpec(name, type, count: Int(t.count), fill: fill)
    }
}

/// One prepared variant instance: the `fb_args` it is called with (built once), the state its
/// `setup` returned, and its `teardown`, called when the instance goes.
final class PluginCall: @unchecked Sendable {
    // @unchecked: the pointers are owned by this object and only read after `init`; the runner
    // calls an instance from one thread at a time (the header's rule).
    let args: UnsafeMutablePointer<fb_args>
    private let shape: UnsafeMutableBufferPointer<Int64>
    private let inputs: UnsafeMutableBufferPointer<UnsafeRawPointer?>
    private let counts: UnsafeMutableBufferPointer<UInt64>
    var state: UnsafeMutableRawPointer?
    private var teardown: (@convention(c) (UnsafeMutableRawPointer?) -> Void)?

    /// Builds the arguments for `buffers` (the kernel's shape keys in order).
    init(buffers: KernelBuffers, keys: [String]) {
        let values = ShapeValues(keys: keys).array(buffers.shape)
        // One spare element each, so even an empty array has a valid pointer.
        shape = .allocate(capacity: values.count + 1)
        _ = shape.initialize(from: values + [0])
        inputs = .allocate(capacity: buffers.inputs.count + 1)
        _ = inputs.initialize(from: buffers.inputs.map { UnsafeRawPointer($0.baseAddress) } + [nil])
        counts = .allocate(capacity: buffers.layout.inputs.count + 1)
        _ = counts.initialize(from: buffers.layout.inputs.map { UInt64($0.count) } + [0])
        args = .allocate(capacity: 1)
        args.initialize(to: fb_args(
            shape: UnsafePointer(shape.baseAddress), shape_count: UInt32(values.count), input_count: UInt32(buffers.inputs.count),
            inputs: UnsafePointer(inputs.baseAddress), input_counts: UnsafePointer(counts.baseAddress),
            output: buffers.output.baseAddress, output_count: UInt64(buffers.layout.output.count)))
    }

    deinit {
        teardown?(state)
        args.deallocate()
        shape.deallocate()
        inputs.deallocate()
        counts.deallocate()
    }

    /// The `KernelVariant` of one `fb_variant`: `prepare` builds a `PluginCall` and runs `setup`;
    /// the timed function is the plug-in's `run` with the prebuilt arguments. Nil without `run`
    /// (refused at load).
    static func variant(_ raw: UnsafePointer<fb_variant>, shapeKeys: [String], library: String,
                        kernel: String) -> KernelVariant? {
        let v = raw.pointee
        guard let run = v.run, let cName = v.name else { return nil }
        let name = String(cString: cName)
        let setup = v.setup, teardown = v.teardown
        let functions = CFunctions(run: run, setup: setup, teardown: teardown)
        return KernelVariant(name, prepare: { buffers in
            let call = PluginCall(buffers: buffers, keys: shapeKeys)
            if let setup = functions.setup {
                var state: UnsafeMutableRawPointer?
                let (rc, message) = ShapeCheck.withMessage { setup(call.args, &state, $0, $1) }
                call.state = state
                call.teardown = functions.teardown  // setup may have allocated even when it failed
                if rc != 0 { throw PluginError.setupFailed(path: library, kernel: kernel, variant: name, message: message) }
            } else {
                call.teardown = functions.teardown
            }
            let prepared = PreparedCall(run: functions.run, args: UnsafePointer(call.args), state: call.state, owner: call)
            return { prepared.run(prepared.args, prepared.state) }
        })
    }
}

/// What the timed closure holds: the `run` function, its arguments and the object that owns them
/// (kept alive by the closure; its `deinit` runs `teardown`).
struct PreparedCall: @unchecked Sendable {
    // @unchecked: the pointers belong to `owner`, which lives as long as this value.
    let run: @convention(c) (UnsafePointer<fb_args>?, UnsafeMutableRawPointer?) -> Void
    let args: UnsafePointer<fb_args>
    let state: UnsafeMutableRawPointer?
    let owner: PluginCall
}

/// A variant's C functions, as one Sendable value (C function pointers capture nothing).
struct CFunctions: @unchecked Sendable {
    let run: @convention(c) (UnsafePointer<fb_args>?, UnsafeMutableRawPointer?) -> Void
    let setup: (@convention(c) (UnsafePointer<fb_args>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<CChar>?, UInt32) -> Int32)?
    let teardown: (@convention(c) (UnsafeMutableRawPointer?) -> Void)?
}
