// Tests of the UserKernels module: the definition API, verification against fusebench's built-in
// references, exact comparison of i32 outputs, seeded fills, the guarded buffers' canaries, and
// the order in which an instance goes (the variant's state before the buffers). Guard-page faults
// kill the process, so they are tested end to end through the CLI (a plug-in writing past its
// output), not here.
import BenchModel
import Foundation
import Kernels
import Testing
@testable import UserKernels

/// C[m×n] = A·B in i-p-j order (a correct user GEMM with a different summation order).
let ipjGEMM = KernelVariant("ipj") { b in
    let m = b.shape["m"] ?? 0, n = b.shape["n"] ?? 0, k = b.shape["k"] ?? 0
    let a = b.input(0, as: Float.self), bb = b.input(1, as: Float.self), c = b.output(as: Float.self)
    for i in 0..<m * n { c[i] = 0 }
    for i in 0..<m {
        for p in 0..<k {
            let aip = a[i * k + p]
            for j in 0..<n { c[i * n + j] += aip * bb[p * n + j] }
        }
    }
}

/// Runs `variant` once the way the runner verifies (armed, run, integrity) and compares it with the
/// factory's reference variant.
func verify(_ factory: DefinedKernelFactory, _ shape: Shape, _ variant: String, seed: UInt64 = 7) throws -> (AccuracyCheck, String?) {
    let ref = try factory.make(variant: factory.referenceVariant, shape: shape, dtype: "f32", seed: seed)
    let cand = try factory.make(variant: variant, shape: shape, dtype: "f32", seed: seed)
    for inst in [ref, cand] {
        (inst as? any OutputIntegrityChecked)?.prepareVerificationRun()
        inst.run()
    }
    let problem = (cand as? any OutputIntegrityChecked)?.integrityProblem
    let check = Accuracy.compare(reference: ref, candidate: cand,
                                 tolerance: factory.defaultTolerance(shape: shape, dtype: "f32"),
                                 op: "op", variant: variant, referenceVariant: factory.referenceVariant)
    return (check, problem)
}

/// A user gemm kind verified against fusebench's gemm with the given extra variants.
func userGEMM(_ variants: [KernelVariant]) throws -> DefinedKernelFactory {
    DefinedKernelFactory(try KernelDefinition(kind: "my_gemm", summary: "test gemm", verifiedAgainst: "gemm", variants: variants))
}

@Suite struct DefinitionVerificationTests {
    @Test func userGEMMVerifiedAgainstBuiltinGEMMPasses() throws {
        let f = try userGEMM([ipjGEMM])
        #expect(f.variants == ["reference", "ipj"])
        #expect(f.flops(shape: ["m": 3, "n": 5, "k": 7]) == 2 * 3 * 5 * 7)
        #expect(f.bytes(shape: ["m": 3, "n": 5, "k": 7], dtype: "f32") == 4 * (21 + 35 + 15))
        let (check, problem) = try verify(f, ["m": 13, "n": 17, "k": 19], "ipj")
        #expect(problem == nil)
        #expect(check.passed, "\(check.reason ?? "")")
    }

    @Test func wrongKernelFailsVerification() throws {
        // Drops the last k step: a real bug, far outside gemm's band.
        let wrong = KernelVariant("short_k") { b in
            let m = b.shape["m"] ?? 0, n = b.shape["n"] ?? 0, k = b.shape["k"] ?? 0
            let a = b.input(0, as: Float.self), bb = b.input(1, as: Float.self), c = b.output(as: Float.self)
            for i in 0..<m { for j in 0..<n {
                var acc: Float = 0
                for p in 0..<(k - 1) { acc += a[i * k + p] * bb[p * n + j] }
                c[i * n + j] = acc
            } }
        }
        let (check, problem) = try verify(try userGEMM([wrong]), ["m": 8, "n": 8, "k": 16], "short_k")
        #expect(problem == nil)
        #expect(!check.passed)
    }

    @Test func kernelThatWritesNothingFails() throws {
        let lazy = KernelVariant("nothing") { _ in }
        let (check, problem) = try verify(try userGEMM([lazy]), ["m": 4, "n": 4, "k": 4], "nothing")
        #expect(!check.passed)
        #expect(problem?.hasPrefix("left 16 of 16 elements of output 'C' unwritten") == true)
    }

    @Test func oneFloatPastTheEndFailsViaCanary() throws {
        // C has 5·5 floats = 100 bytes: the end is 28 bytes short of the guard page, so the
        // stray write lands in the canary.
        let overrun = KernelVariant("overrun") { b in
            let c = b.output(as: Float.self)
            guard let base = c.baseAddress else { return }
            for i in 0..<c.count { c[i] = 0 }
            (base + c.count).pointee = 1  // one float past the end
        }
        let f = try userGEMM([ipjGEMM, overrun])
        let (_, problem) = try verify(f, ["m": 5, "n": 5, "k": 5], "overrun")
        #expect(problem == "wrote 4 bytes past the end of output 'C'")
        let (_, fine) = try verify(f, ["m": 5, "n": 5, "k": 5], "ipj")
        #expect(fine == nil)
    }

    @Test func writeBeforeTheStartFailsViaCanary() throws {
        let underrun = KernelVariant("underrun") { b in
            guard let base = b.output(as: Float.self).baseAddress else { return }
            (base - 2).pointee = 1
        }
        let (_, problem) = try verify(try userGEMM([underrun]), ["m": 5, "n": 5, "k": 5], "underrun")
        #expect(problem == "wrote 8 bytes before the start of output 'C'")
    }

    @Test func refusedShapeIsAKernelSpecError() throws {
        let def = KernelDefinition(
            kind: "blocked8", summary: "n must be a multiple of 8", shapeKeys: ["n"],
            layout: { shape in
                let n = shape["n"] ?? 0
                guard n > 0, n % 8 == 0 else { throw KernelSpecError(key: "shape.n", "blocked8: shape.n must be a positive multiple of 8, got \(n)") }
                return TensorLayout(inputs: [TensorSpec("x", count: n)], output: TensorSpec("y", count: n))
            },
            flops: { Double($0["n"] ?? 0) }, reference: .variant(KernelVariant("copy") { b in
                let x = b.input(0, as: Float.self), y = b.output(as: Float.self)
                for i in 0..<x.count { y[i] = x[i] }
            }), variants: [], tolerance: { _ in Tolerance(abs: 0, rel: 0) })
        let f = DefinedKernelFactory(def)
        #expect(throws: Never.self) { try f.validate(shape: ["n": 16], dtype: "f32") }
        let error = try #require(throws: KernelSpecError.self) { try f.validate(shape: ["n": 12], dtype: "f32") }
        #expect(error.key == "shape.n" && error.message.contains("multiple of 8"))
        let unknown = try #require(throws: KernelSpecError.self) { try f.validate(shape: ["n": 16, "m": 2], dtype: "f32") }
        #expect(unknown.key == "shape.m")
        #expect(throws: KernelSpecError.self) { try f.make(variant: "copy", shape: ["n": 3], dtype: "f32", seed: 1) }
        // A shape the built-in reference refuses is refused for the user's kind too.
        let g = try userGEMM([ipjGEMM])
        let zero = try #require(throws: KernelSpecError.self) { try g.validate(shape: ["m": 0, "n": 4, "k": 4], dtype: "f32") }
        #expect(zero.key == "shape.m")
    }

    @Test func badLayoutIsRefusedNotCrashed() throws {
        let def = KernelDefinition(
            kind: "bad_layout", summary: "", shapeKeys: ["n"],
            layout: { _ in TensorLayout(inputs: [TensorSpec("x", .i8, count: 4, fill: .uniform(-1, 1))], output: TensorSpec("y", .u8, count: 4)) },
            flops: { _ in 0 }, reference: .builtin("relu"), variants: [], tolerance: { _ in Tolerance(abs: 0, rel: 0) })
        let error = try #require(throws: KernelSpecError.self) { try DefinedKernelFactory(def).validate(shape: ["n": 4], dtype: "f32") }
        #expect(error.message.contains("uniform fill needs f32"))
    }

    @Test func layoutThatDiffersFromTheBuiltinReferenceIsRefused() throws {
        // Verified against gemm but declares B as n·k + 1 elements: the reference would read the
        // wrong tensor sizes, so the shape is refused before anything is allocated.
        let def = KernelDefinition(
            kind: "odd_gemm", summary: "", shapeKeys: ["m", "n", "k"],
            layout: { s in
                let m = s["m"] ?? 0, n = s["n"] ?? 0, k = s["k"] ?? 0
                return TensorLayout(inputs: [TensorSpec("A", count: m * k), TensorSpec("B", count: k * n + 1)], output: TensorSpec("C", count: m * n))
            },
            flops: { _ in 0 }, reference: .builtin("gemm"), variants: [ipjGEMM], tolerance: { _ in Tolerance(abs: 0, rel: 0) })
        let error = try #require(throws: KernelSpecError.self) {
            try DefinedKernelFactory(def).make(variant: "reference", shape: ["m": 2, "n": 2, "k": 2], dtype: "f32", seed: 1)
        }
        #expect(error.message.contains("does not match fusebench's gemm reference"))
    }

    @Test func int32OutputsOfAnotherSummationOrderMatchExactly() throws {
        // Row sums of an i8 × i8 elementwise product: rows×cols → rows, i32.
        let layout: @Sendable (Shape) throws -> TensorLayout = { s in
            let r = s["rows"] ?? 0, c = s["cols"] ?? 0
            return TensorLayout(inputs: [TensorSpec("a", .i8, count: r * c, fill: .integers(-128, 127)),
                                         TensorSpec("b", .i8, count: r * c, fill: .integers(-128, 127))],
                                output: TensorSpec("s", .i32, count: r))
        }
        func dot(_ reversed: Bool) -> KernelVariant {
            KernelVariant(reversed ? "reversed" : "forward") { b in
                let c = b.shape["cols"] ?? 0
                let x = b.input(0, as: Int8.self), y = b.input(1, as: Int8.self), out = b.output(as: Int32.self)
                for r in 0..<out.count {
                    var acc: Int32 = 0
                    for j in (reversed ? Array((0..<c).reversed()) : Array(0..<c)) { acc += Int32(x[r * c + j]) * Int32(y[r * c + j]) }
                    out[r] = acc
                }
            }
        }
        let def = KernelDefinition(kind: "i8dot", summary: "", shapeKeys: ["rows", "cols"], layout: layout,
                                   flops: { 2 * Double(($0["rows"] ?? 0) * ($0["cols"] ?? 0)) }, reference: .variant(dot(false)),
                                   variants: [dot(true)], tolerance: { _ in Tolerance(abs: 0, rel: 0) })
        let f = DefinedKernelFactory(def)
        #expect(f.bytes(shape: ["rows": 3, "cols": 64], dtype: "f32") == 2 * 192 + 4 * 3)
        let (check, problem) = try verify(f, ["rows": 3, "cols": 64], "reversed")
        #expect(problem == nil && check.passed)
        #expect(check.tolerance == Tolerance(abs: 0, rel: 0, minCosine: 1))  // the exact comparison
        let inst = try f.make(variant: "forward", shape: ["rows": 3, "cols": 64], dtype: "f32", seed: 3)
        inst.run()
        let out = inst.output()
        #expect(out.count == 3)
        #expect(out.allSatisfy { $0 == $0.rounded() && abs($0) <= 64 * 128 * 128 })
        #expect(out.contains { $0 != 0 })
    }

    /// A kind with 4 i32 outputs: the reference writes `values`, each variant its own list (nil:
    /// writes nothing).
    static func int32Kind(_ values: [Int32], _ variants: [String: [Int32]?], tolerance: Tolerance) -> DefinedKernelFactory {
        func writer(_ name: String, _ v: [Int32]?) -> KernelVariant {
            KernelVariant(name) { b in
                guard let v else { return }
                let out = b.output(as: Int32.self)
                for (i, x) in v.enumerated() { out[i] = x }
            }
        }
        return DefinedKernelFactory(KernelDefinition(
            kind: "big_i32", summary: "", shapeKeys: ["n"],
            layout: { _ in TensorLayout(inputs: [TensorSpec("x", .i8, count: 4, fill: .zeros)], output: TensorSpec("s", .i32, count: 4)) },
            flops: { _ in 0 }, reference: .variant(writer("ref", values)),
            variants: variants.keys.sorted().map { writer($0, variants[$0] ?? nil) }, tolerance: { _ in tolerance }))
    }

    @Test func int32AboveTwoToThe24DifferingByOneFails() throws {
        // Float(16777217) == Float(16777216): compared as Float, even abs 0 / rel 0 passed this.
        let f = Self.int32Kind([16_777_217, 1, 2, 3], ["rounded": [16_777_216, 1, 2, 3], "same": [16_777_217, 1, 2, 3]],
                               tolerance: Tolerance(abs: 0, rel: 0))
        let (rounded, problem) = try verify(f, ["n": 4], "rounded")
        #expect(problem == nil)
        #expect(!rounded.passed)
        #expect(rounded.reason == "1 of 4 elements differ (integer outputs must match exactly); first at element 0: candidate 16777216, reference 16777217")
        #expect(rounded.maxAbsError == 1)
        let (same, _) = try verify(f, ["n": 4], "same")
        #expect(same.passed && same.maxAbsError == 0 && same.cosine == 1)
    }

    @Test func unwrittenInt32ElementsAreReported() throws {
        let f = Self.int32Kind([5, 6, 7, 8], ["lazy": nil], tolerance: Tolerance(abs: 0, rel: 0))
        let (check, problem) = try verify(f, ["n": 4], "lazy")
        #expect(!check.passed)
        #expect(problem == "4 of 4 elements of output 's' may be unwritten (first: element 0): they still hold the poison value 2143353694 written before the run")
    }

    @Test func fillsAreDeterministicPerSeed() throws {
        let copy = KernelVariant("copy") { b in
            let x = b.input(0, as: Float.self), y = b.output(as: Float.self)
            for i in 0..<x.count { y[i] = x[i] }
        }
        let def = KernelDefinition(kind: "copy", summary: "", shapeKeys: ["n"],
                                   layout: { TensorLayout(inputs: [TensorSpec("x", count: $0["n"] ?? 0, fill: .uniform(2, 3))], output: TensorSpec("y", count: $0["n"] ?? 0)) },
                                   flops: { _ in 0 }, reference: .variant(copy), variants: [], tolerance: { _ in Tolerance(abs: 0, rel: 0) })
        let f = DefinedKernelFactory(def)
        func values(_ seed: UInt64) throws -> [Float] {
            let i = try f.make(variant: "copy", shape: ["n": 1000], dtype: "f32", seed: seed)
            i.run()
            return Array(i.output())
        }
        let a = try values(42), b = try values(42), c = try values(43)
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
        #expect(a != c)
        #expect(a.allSatisfy { $0 >= 2 && $0 < 3 })
    }

    @Test func builtinReferenceEqualsBuiltinReferenceVariantBitForBit() throws {
        let shapes: [String: Shape] = [
            "gemm": ["m": 7, "n": 9, "k": 11], "softmax": ["rows": 5, "cols": 33], "layernorm": ["rows": 5, "cols": 33],
            "rmsnorm": ["rows": 5, "cols": 33], "relu": ["n": 101], "gelu_tanh": ["n": 101], "silu": ["n": 101],
            "bias_relu": ["rows": 6, "cols": 35],
        ]
        #expect(Set(BufferReferences.all.map(\.kind)) == Set(shapes.keys))
        for (kind, shape) in shapes {
            let builtIn = try #require(KernelRegistry().factory(kind: kind))
            let expected = try builtIn.make(variant: "reference", shape: shape, dtype: "f32", seed: 11)
            expected.run()
            let f = DefinedKernelFactory(try KernelDefinition(kind: "user_\(kind)", summary: "", verifiedAgainst: kind, variants: []))
            let got = try f.make(variant: "reference", shape: shape, dtype: "f32", seed: 11)
            (got as? any OutputIntegrityChecked)?.prepareVerificationRun()
            got.run()
            #expect((got as? any OutputIntegrityChecked)?.integrityProblem == nil, "\(kind)")
            #expect(Array(expected.output()).map(\.bitPattern) == Array(got.output()).map(\.bitPattern), "\(kind)")
            #expect(f.defaultTolerance(shape: shape, dtype: "f32") == builtIn.defaultTolerance(shape: shape, dtype: "f32"))
            #expect(f.flops(shape: shape) == builtIn.flops(shape: shape))
        }
    }
}

@Suite struct RegistrationTests {
    @Test func takenKindsAreRefused() throws {
        let registry = KernelRegistry()
        let builtIn = try #require(throws: KernelSpecError.self) {
            try UserKernelRegistry.register([try KernelDefinition(kind: "gemm", summary: "", verifiedAgainst: "gemm", variants: [ipjGEMM])], in: registry)
        }
        #expect(builtIn.key == "kind" && builtIn.message.contains("built-in"))
        let mine = try KernelDefinition(kind: "my_gemm", summary: "", verifiedAgainst: "gemm", variants: [ipjGEMM])
        #expect(throws: KernelSpecError.self) { try UserKernelRegistry.register([mine, mine], in: registry) }
        #expect(registry.factory(kind: "my_gemm") == nil)
        try UserKernelRegistry.register([mine], in: registry)
        #expect(registry.factory(kind: "my_gemm")?.variants == ["reference", "ipj"])
        #expect(throws: KernelSpecError.self) { try UserKernelRegistry.register([mine], in: registry) }
    }

    @Test func badDefinitionsAreRefused() throws {
        #expect(throws: KernelSpecError.self) { try KernelDefinition(kind: "x", summary: "", verifiedAgainst: "no_such_kind", variants: []) }
        let clash = try KernelDefinition(kind: "my_relu", summary: "", verifiedAgainst: "relu", variants: [KernelVariant("reference") { _ in }])
        let error = try #require(throws: KernelSpecError.self) { try UserKernelRegistry.register([clash], in: KernelRegistry()) }
        #expect(error.key == "variants")
    }

    @Test func isolationAndNotesComeFromTheDefinition() throws {
        var def = try KernelDefinition(kind: "p", summary: "", verifiedAgainst: "relu", variants: [])
        #expect(DefinedKernelFactory(def).requiresIsolation == false)
        def.isolated = true
        def.provenance = ["plugin.library": "/x/libk.so"]
        let f = DefinedKernelFactory(def)
        #expect(f.requiresIsolation && f.runNotes == ["plugin.library": "/x/libk.so"])
    }
}

/// What a variant's state saw of the output when it went (set from its deinit).
final class TeardownProbe: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: (mapped: Bool, value: Float?)?
    /// Records what the state's deinit saw.
    func record(mapped: Bool, value: Float?) { lock.withLock { seen = (mapped, value) } }
    /// nil until the state went.
    var observed: (mapped: Bool, value: Float?)? { lock.withLock { seen } }
}

/// A variant's per-instance state that reads the output when it goes, as a plug-in's `teardown`
/// may (the header promises the buffers stay put until then). It checks with mincore(2) that the
/// page is still mapped before reading, so the test fails instead of faulting if it is not.
final class OutputReadingState: @unchecked Sendable {
    let output: UnsafeMutableBufferPointer<Float>
    let probe: TeardownProbe
    init(output: UnsafeMutableBufferPointer<Float>, probe: TeardownProbe) {
        self.output = output
        self.probe = probe
    }
    deinit {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = UInt(bitPattern: output.baseAddress) & ~UInt(page - 1)
        var resident: UInt8 = 0
        let mapped = mincore(UnsafeMutableRawPointer(bitPattern: start), page, &resident) == 0  // ENOMEM: unmapped
        probe.record(mapped: mapped, value: mapped ? output[0] : nil)
    }
}

@Suite struct InstanceLifetimeTests {
    @Test func variantStateGoesBeforeTheBuffersAreUnmapped() throws {
        let probe = TeardownProbe()
        let keeper = KernelVariant("keeper", prepare: { b in
            let state = OutputReadingState(output: b.output(as: Float.self), probe: probe)
            return {
                for i in 0..<state.output.count { state.output[i] = 42.5 }
            }
        })
        let f = try userGEMM([keeper])
        do {
            let inst = try f.make(variant: "keeper", shape: ["m": 4, "n": 4, "k": 4], dtype: "f32", seed: 1)
            inst.run()
            #expect(probe.observed == nil)  // the state lives as long as the instance
        }
        let seen = try #require(probe.observed)
        #expect(seen.mapped, "the output was unmapped before the variant's state went")
        #expect(seen.value == 42.5)
    }
}
