import BenchModel
import Testing
@testable import Kernels

/// A user kernel: y = 2x.
struct DoubleItFactory: KernelFactory {
    var kind: String { "double_it" }
    var summary: String { "y = 2x" }
    var shapeKeys: [String] { ["n"] }
    var variants: [String] { ["reference"] }
    var dtypes: [String] { ["f32"] }
    func validate(shape: Shape, dtype: String) throws { _ = try dimension(shape, "n") }
    func flops(shape: Shape) -> Double { Double(shape["n"] ?? 0) }
    func bytes(shape: Shape, dtype: String) -> Double { 8 * Double(shape["n"] ?? 0) }
    func defaultTolerance(shape: Shape, dtype: String) -> Tolerance { Tolerance(abs: 0, rel: 0) }
    func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        throw KernelSpecError(key: "variants", "not needed in this test")
    }
}

/// Same kind, different summary.
struct OtherDoubleItFactory: KernelFactory {
    var kind: String { "double_it" }
    var summary: String { "replacement" }
    var shapeKeys: [String] { ["n"] }
    var variants: [String] { ["reference"] }
    var dtypes: [String] { ["f32"] }
    func validate(shape: Shape, dtype: String) throws {}
    func flops(shape: Shape) -> Double { 0 }
    func bytes(shape: Shape, dtype: String) -> Double { 0 }
    func defaultTolerance(shape: Shape, dtype: String) -> Tolerance { Tolerance(abs: 0, rel: 0) }
    func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        throw KernelSpecError(key: "variants", "not needed in this test")
    }
}

@Suite struct RegistryTests {
    static let builtInKinds = [
        "add_broadcast", "attention", "avgpool", "batched_gemm", "bias_relu", "conv2d", "depthwise_conv", "gelu_erf",
        "gelu_tanh", "gemm", "gemm_int8", "gemv", "layernorm", "linear", "maxpool", "mul_broadcast", "relu", "rmsnorm", "silu",
        "softmax",
    ]

    @Test func everyBuiltInIsConsistent() throws {
        for f in KernelRegistry.builtInFactories {
            #expect(f.variants.first == "reference", "\(f.kind)")
            #expect(f.variants.contains("optimized"), "\(f.kind)")
            #expect(f.dtypes == [f.kind == "gemm_int8" ? "i8" : "f32"], "\(f.kind)")
            let dt = f.dtypes[0]
            #expect(!f.summary.isEmpty)
            // Bad dtype and unknown variant are reported with their keys.
            let shape = Dictionary(uniqueKeysWithValues: f.shapeKeys.map { ($0, $0 == "bcast" || $0 == "pad" ? 0 : $0 == "a_nonnegative" ? 1 : 3) })
            try f.validate(shape: shape, dtype: dt)
            #expect(f.flops(shape: shape) > 0, "\(f.kind)")
            #expect(f.bytes(shape: shape, dtype: dt) > 0, "\(f.kind)")
            let dtype = #expect(throws: KernelSpecError.self) { try f.validate(shape: shape, dtype: "f16") }
            #expect(dtype?.key == "dtype")
            let variant = #expect(throws: KernelSpecError.self) { _ = try f.make(variant: "nope", shape: shape, dtype: dt, seed: 1) }
            #expect(variant?.key == "variants")
            // Every variant runs on the smallest shape and passes its own band against the reference.
            let reference = runAndCopy(try f.make(variant: f.referenceVariant, shape: shape, dtype: dt, seed: 1))
            for v in f.variants.dropFirst() {
                let out = runAndCopy(try f.make(variant: v, shape: shape, dtype: dt, seed: 1))
                #expect(check(reference, out, f.defaultTolerance(shape: shape, dtype: dt)).passed, "\(f.kind)/\(v)")
            }
        }
    }

    @Test func builtInsArePresent() throws {
        let registry = KernelRegistry()
        #expect(registry.all.map(\.kind) == RegistryTests.builtInKinds)
        #expect(registry.factory(kind: "gemm") is GEMMFactory)
        #expect(registry.factory(kind: "nope") == nil)
        #expect(KernelRegistry.shared.factory(kind: "bias_relu") != nil)
    }

    @Test func registerUserKernel() throws {
        let registry = KernelRegistry()
        try registry.register(DoubleItFactory())
        #expect(registry.all.map(\.kind) == (RegistryTests.builtInKinds + ["double_it"]).sorted())
        let duplicate = #expect(throws: KernelSpecError.self) { try registry.register(OtherDoubleItFactory()) }
        #expect(duplicate?.key == "kind")
        #expect(registry.factory(kind: "double_it")?.summary == "y = 2x")
        try registry.register(OtherDoubleItFactory(), replacing: true)
        #expect(registry.factory(kind: "double_it")?.summary == "replacement")
        // Separate registries are independent.
        #expect(KernelRegistry().factory(kind: "double_it") == nil)
    }

    @Test func requireListsKnownKinds() {
        let error = #expect(throws: KernelSpecError.self) { _ = try KernelRegistry().require(kind: "conv") }
        #expect(error?.key == "kind")
        #expect(error?.message == "unknown op kind 'conv' (known: \(RegistryTests.builtInKinds.joined(separator: ", ")))")
    }

    @Test func concurrentRegistration() async throws {
        struct Numbered: KernelFactory {
            let number: Int
            var kind: String { "k\(number)" }
            var summary: String { "" }
            var shapeKeys: [String] { [] }
            var variants: [String] { ["reference"] }
            var dtypes: [String] { ["f32"] }
            func validate(shape: Shape, dtype: String) throws {}
            func flops(shape: Shape) -> Double { 0 }
            func bytes(shape: Shape, dtype: String) -> Double { 0 }
            func defaultTolerance(shape: Shape, dtype: String) -> Tolerance { Tolerance(abs: 0, rel: 0) }
            func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
                throw KernelSpecError(key: "variants", "unused")
            }
        }
        let registry = KernelRegistry([])
        await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask {
                    try registry.register(Numbered(number: i))
                    _ = registry.all
                }
            }
        }
        #expect(registry.all.count == 200)
    }
}
