// Tests of the UserKernels module: the definition API, verification against fusebench's built-in
// references, seeded fills, and the guarded buffers (canaries in-process; guard pages and read-only
// inputs in a forked child, whose death by SIGSEGV and stderr line the parent checks).
import BenchModel
import CPerfEvent
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
    let check = Accuracy.compare(reference: ref.output(), candidate: cand.output(),
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

    @Test func int32OutputsAreComparedAsFloat() throws {
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
        let inst = try f.make(variant: "forward", shape: ["rows": 3, "cols": 64], dtype: "f32", seed: 3)
        inst.run()
        let out = inst.output()
        #expect(out.count == 3)
        #expect(out.allSatisfy { $0 == $0.rounded() && abs($0) <= 64 * 128 * 128 })
        #expect(out.contains { $0 != 0 })
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

/// Runs `body` in a forked child with stderr captured; returns (signal or -1, exit status or -1, stderr).
func inChild(_ body: () -> Void) throws -> (signal: Int32, status: Int32, stderr: String) {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw POSIXError(.EIO) }
    let pid = fork()
    if pid == 0 {
        close(fds[0])
        dup2(fds[1], 2)
        body()
        _exit(0)
    }
    close(fds[1])
    guard pid > 0 else { close(fds[0]); throw POSIXError(.EAGAIN) }
    // Read until the child is gone. Not until EOF: a crash handler chained after ours (the Swift
    // runtime's backtracer) may leave a helper process holding the pipe open for a while.
    var data = Data()
    var buf = [UInt8](repeating: 0, count: 4096)
    var status: Int32 = 0
    var exited = false
    let deadline = Date().addingTimeInterval(20)
    while true {
        var p = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
        let ready = poll(&p, 1, 50)
        if ready < 0 && errno != EINTR { break }
        if ready > 0 {
            let n = read(fds[0], &buf, buf.count)
            if n > 0 { data.append(contentsOf: buf[0..<n]); continue }
            if n < 0 && errno == EINTR { continue }
            if n == 0 && exited { break }
        }
        if exited { break }  // nothing more buffered after the child's exit
        let w = waitpid(pid, &status, WNOHANG)
        if w == pid {
            exited = true
        } else if w < 0 && errno != EINTR {
            throw POSIXError(.ECHILD)
        } else if Date() > deadline {
            kill(pid, SIGKILL)
        }
    }
    close(fds[0])
    let signaled = (status & 0x7f) != 0 && (status & 0x7f) != 0x7f
    return (signaled ? status & 0x7f : -1, signaled ? -1 : (status >> 8) & 0xff, String(decoding: data, as: UTF8.self))
}

@Suite struct GuardPageTests {
    @Test func writePastTheEndHitsTheGuardPageAndIsReported() throws {
        // C has 16·16 floats = 1024 bytes, a multiple of 64: the end touches the guard page.
        let overrun = KernelVariant("overrun") { b in
            guard let base = b.output(as: Float.self).baseAddress else { return }
            (base + b.output(as: Float.self).count).pointee = 1
        }
        let inst = try userGEMM([overrun]).make(variant: "overrun", shape: ["m": 16, "n": 16, "k": 16], dtype: "f32", seed: 1)
        let r = try inChild {
            fb_guard_set_context("s/op")  // as the runner does per op
            inst.run()
        }
        #expect(r.signal == SIGSEGV, "status \(r.status), stderr: \(r.stderr)")
        #expect(r.stderr.contains("fusebench: out-of-bounds write past the end of output 'C' of my_gemm/overrun [k=16 m=16 n=16] while measuring s/op"), "\(r.stderr)")
        #expect(r.stderr.contains("at byte offset 1024 of a 1024-byte buffer, 0 bytes past the end; guard page"), "\(r.stderr)")
    }

    @Test func writeIntoAnInputIsASegfault() throws {
        let scribble = KernelVariant("scribble") { b in
            guard let a = b.input(0, as: Float.self).baseAddress else { return }
            UnsafeMutablePointer(mutating: a)[3] = 0
        }
        let inst = try userGEMM([scribble]).make(variant: "scribble", shape: ["m": 4, "n": 4, "k": 4], dtype: "f32", seed: 1)
        let r = try inChild { inst.run() }
        #expect(r.signal == SIGSEGV, "status \(r.status), stderr: \(r.stderr)")
        #expect(r.stderr.contains("fusebench: write to read-only input 'A' of my_gemm/scribble"), "\(r.stderr)")
        #expect(r.stderr.contains("at byte offset 12 of a 64-byte buffer"), "\(r.stderr)")
    }
}
