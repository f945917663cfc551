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
    @Test func builtInsArePresent() throws {
        let registry = KernelRegistry()
        #expect(registry.all.map(\.kind) == ["bias_relu", "gemm"])
        #expect(registry.factory(kind: "gemm") is GEMMFactory)
        #expect(registry.factory(kind: "nope") == nil)
        #expect(KernelRegistry.shared.factory(kind: "bias_relu") != nil)
    }

    @Test func registerUserKernel() throws {
        let registry = KernelRegistry()
        try registry.register(DoubleItFactory())
        #expect(registry.all.map(\.kind) == ["bias_relu", "double_it", "gemm"])
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
        #expect(error?.message == "unknown op kind 'conv' (known: bias_relu, gemm)")
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
