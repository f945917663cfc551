// The command line as a library (FuseBenchCLI): registering a user's kernel kinds, and what a
// user's executable reports about itself. The example package's executable itself is built and
// run by examples/swift-kernels/ci.sh (tools/check-examples).
import Foundation
import FuseBenchCLI
import Testing
@testable import FuseBench

/// A minimal user factory: only its kind matters to registration.
private struct StubFactory: KernelFactory {
    var kind: String
    var summary: String { "stub" }
    var shapeKeys: [String] { ["n"] }
    var variants: [String] { ["reference"] }
    var dtypes: [String] { ["f32"] }
    func validate(shape: Shape, dtype: String) throws {}
    func flops(shape: Shape) -> Double { 0 }
    func bytes(shape: Shape, dtype: String) -> Double { 0 }
    func defaultTolerance(shape: Shape, dtype: String) -> Tolerance { Tolerance(abs: 0, rel: 0) }
    func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        throw KernelSpecError(key: "variant", "stub")
    }
}

@Suite struct UserKindRegistrationTests {
    @Test func registersNewKinds() throws {
        let registry = KernelRegistry()
        try FuseBenchCLI.register(factories: [StubFactory(kind: "my_a"), StubFactory(kind: "my_b")], in: registry)
        #expect(registry.factory(kind: "my_a") != nil)
        #expect(registry.factory(kind: "my_b") != nil)
        #expect(registry.factory(kind: "gemm") != nil)
    }

    @Test func builtInKindIsRefusedAndNothingRegistered() throws {
        let registry = KernelRegistry()
        let error = try #require(throws: KernelSpecError.self) {
            try FuseBenchCLI.register(factories: [StubFactory(kind: "my_a"), StubFactory(kind: "gemm")], in: registry)
        }
        #expect(error.description.contains("'gemm'"))
        #expect(error.description.contains("already registered"))
        // All or nothing: the first kind was not left registered.
        #expect(registry.factory(kind: "my_a") == nil)
    }

    @Test func kindListedTwiceIsRefused() throws {
        let registry = KernelRegistry()
        let error = try #require(throws: KernelSpecError.self) {
            try FuseBenchCLI.register(factories: [StubFactory(kind: "my_a"), StubFactory(kind: "my_a")], in: registry)
        }
        #expect(error.description.contains("defined twice"))
        #expect(registry.factory(kind: "my_a") == nil)
    }

    /// A definition (Swift API) whose kind is built in is refused with the kind named, and a
    /// factory listed next to it is not left registered either.
    @Test func definitionWithBuiltInKindIsRefused() throws {
        let registry = KernelRegistry()
        let mine = try KernelDefinition(kind: "gemm", summary: "mine", verifiedAgainst: "gemm",
                                        variants: [KernelVariant("v") { _ in }])
        let error = try #require(throws: KernelSpecError.self) {
            try FuseBenchCLI.register(kernels: [mine], factories: [StubFactory(kind: "my_b")], in: registry)
        }
        #expect(error.description.contains("'gemm'"))
        #expect(registry.factory(kind: "my_b") == nil)
    }

    /// A kind given both as a definition and as a factory is refused before either is registered.
    @Test func kindInBothListsIsRefused() throws {
        let registry = KernelRegistry()
        let mine = try KernelDefinition(kind: "my_sgemm", summary: "mine", verifiedAgainst: "gemm",
                                        variants: [KernelVariant("v") { _ in }])
        #expect(throws: KernelSpecError.self) {
            try FuseBenchCLI.register(kernels: [mine], factories: [StubFactory(kind: "my_sgemm")], in: registry)
        }
        #expect(registry.factory(kind: "my_sgemm") == nil)
        try FuseBenchCLI.register(kernels: [mine], in: registry)
        #expect(registry.factory(kind: "my_sgemm")?.variants == ["reference", "v"])
    }
}

@Suite struct UserExecutableTests {
    /// The worker hello names the answering binary (a user's executable is not "fusebench") and
    /// the kinds its main registered (none for the stock fusebench).
    @Test func workerHelloNamesTheExecutable() throws {
        let bin = try #require(CLI.binary)
        let hello = try WorkerClient.hello(executable: bin.path, environment: ProcessInfo.processInfo.environment)
        #expect(hello.executable == "fusebench")
        #expect(hello.userKinds == [])
    }
}
