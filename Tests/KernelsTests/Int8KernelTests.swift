// Tests of the int8 C kernels (CKernels/qgemm.c) through `PackedInt8Weights`: the int32 GEMM and
// the fused epilogue on every code path compiled into this test binary and usable on this CPU,
// against `Int8GEMM.reference` + `Int8Epilogue.reference` (bit-identical), including ragged m, n, k,
// clamped values and exact .5 ties. Not timing-based.
import CKernels
import Foundation
import Kernels
import Testing

/// Deterministic xorshift generator, so failures reproduce.
struct XorShift: RandomNumberGenerator {
    var state: UInt64
    init(_ seed: UInt64) { state = seed | 1 }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}

/// Shapes with m, n, k not multiples of 4 / 16 / 32, single rows, and the digits MLP's layers.
let int8Shapes: [(m: Int, n: Int, k: Int)] = [
    (1, 1, 1), (1, 10, 64), (1, 128, 64), (1, 64, 128), (1, 33, 7), (1, 200, 5), (2, 4, 33), (3, 5, 31),
    (4, 32, 4), (5, 13, 100), (7, 10, 64), (9, 33, 7), (13, 70, 130), (6, 17, 3), (37, 128, 64), (11, 64, 128),
    (8, 48, 67), (539, 10, 64),
]

/// The paths the tests can run here (always includes scalar).
var usablePaths: [Int8KernelPath] { Int8KernelPath.allCases.filter(\.isUsable) }

/// Runs `body` on `count` elements (initialized to `fill`) that end exactly at a PROT_NONE guard
/// page, and returns them: a kernel's masked tail store that wrote past the end of its output
/// would crash the test instead of silently corrupting the heap.
func guardedOutput<T>(_ count: Int, fill: T, _ body: (UnsafeMutablePointer<T>) -> Void) -> [T] {
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let bytes = count * MemoryLayout<T>.stride
    let dataPages = (bytes + page - 1) / page
    guard let region = mmap(nil, (dataPages + 1) * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
          region != MAP_FAILED, mprotect(region + dataPages * page, page, PROT_NONE) == 0 else {
        fatalError("guardedOutput: mmap/mprotect failed")
    }
    defer { munmap(region, (dataPages + 1) * page) }
    let p = (region + dataPages * page - bytes).bindMemory(to: T.self, capacity: count)
    p.initialize(repeating: fill, count: count)
    body(p)
    return Array(UnsafeBufferPointer(start: p, count: count))
}

/// A fresh int8 buffer (filled with 99, guarded) written by `body`.
func int8Output(_ count: Int, _ body: (UnsafeMutablePointer<Int8>) -> Void) -> [Int8] {
    guardedOutput(count, fill: 99, body)
}

/// A fresh float buffer (filled with NaN, guarded) written by `body`.
func floatOutput(_ count: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
    guardedOutput(count, fill: .nan, body)
}

func randomInt8(_ count: Int, _ g: inout XorShift) -> [Int8] {
    (0..<count).map { _ in Int8(Int(g.next() % 255) - 127) }
}

@Suite struct Int8KernelPathTests {
    @Test func pathsAreReportedConsistently() {
        #expect(Int8KernelPath.allCases.map(\.rawValue) == [Int32(FB_QGEMM_SCALAR), Int32(FB_QGEMM_AVX2), Int32(FB_QGEMM_AVX512VNNI)])
        #expect(Int8KernelPath.scalar.isCompiled && Int8KernelPath.scalar.isUsable)
        let selected = Int8KernelPath.selected
        #expect(selected.isUsable)
        #expect(String(cString: fb_qgemm_isa()) == selected.description)
        // The dispatcher picks the best usable path.
        #expect(selected == usablePaths.max { $0.rawValue < $1.rawValue })
        #if arch(x86_64)
        #expect(Int8KernelPath.avx2.isCompiled)
        #endif
        // A built-for-VNNI binary has the VNNI path; without VNNI in the build it is not compiled in.
        #expect(Int8KernelPath.avx512vnni.isCompiled == ISA.built.isSuperset(of: ISAFeatures(rawValue:
            ISAFeatures.avx512f.rawValue | ISAFeatures.avx512bw.rawValue | ISAFeatures.avx512vnni.rawValue)))
        #expect(["scalar", "avx2", "avx512vnni"] == Int8KernelPath.allCases.map(\.description))
        #expect(String(cString: fb_qgemm_path_name(7)) == "unknown")
    }

    @Test func unusablePathWritesNothing() {
        let w = [Int8](repeating: 1, count: 8)
        let packed = w.withUnsafeBufferPointer { PackedInt8Weights($0.baseAddress!, n: 2, k: 4) }
        var c = [Int32](repeating: 42, count: 2)
        let a = [Int8](repeating: 1, count: 4)
        for path in Int8KernelPath.allCases where !path.isUsable {
            #expect(!packed.multiply(a: a, m: 1, c: &c, path: path))
            #expect(c == [42, 42])
        }
        #expect(fb_qgemm_fused_on(0, a, 1, 4, nil, nil, 2, nil, nil, 0, 1, nil, nil) == -2, "no output given")
    }
}

@Suite struct Int8KernelCorrectnessTests {
    @Test func int32GEMMIsExactOnEveryPath() {
        var g = XorShift(0x1234)
        for (m, n, k) in int8Shapes {
            let a = randomInt8(m * k, &g), w = randomInt8(n * k, &g)
            var ref = [Int32](repeating: 0, count: m * n)
            Int8GEMM.reference(a: a, w: w, c: &ref, m: m, n: n, k: k)
            let packed = w.withUnsafeBufferPointer { PackedInt8Weights($0.baseAddress!, n: n, k: k) }
            for path in usablePaths {
                var ok = false
                let c = guardedOutput(m * n, fill: Int32(7)) { ok = packed.multiply(a: a, m: m, c: $0, path: path) }
                #expect(ok)
                #expect(c == ref, "\(path) \(m)×\(n)×\(k)")
            }
            var d = [Int32](repeating: 7, count: m * n)
            packed.multiply(a: a, m: m, c: &d)
            #expect(d == ref, "dispatched \(m)×\(n)×\(k)")
        }
    }

    @Test func extremeProductsDoNotSaturate() {
        // All products ±127·127: the AVX2 sign trick keeps every int16 pair sum ≤ 32258.
        for (av, wv) in [(Int8(127), Int8(127)), (-127, 127), (127, -127), (-127, -127), (-1, -127), (0, -127)] {
            for k in [4, 7, 64, 96, 130] {
                let a = [Int8](repeating: av, count: 3 * k), w = [Int8](repeating: wv, count: 40 * k)
                let packed = w.withUnsafeBufferPointer { PackedInt8Weights($0.baseAddress!, n: 40, k: k) }
                let expected = [Int32](repeating: Int32(av) * Int32(wv) * Int32(k), count: 3 * 40)
                for path in usablePaths {
                    var c = [Int32](repeating: 0, count: 3 * 40)
                    packed.multiply(a: a, m: 3, c: &c, path: path)
                    #expect(c == expected, "\(path) a=\(av) w=\(wv) k=\(k)")
                }
            }
        }
    }

    @Test func nonNegativeActivationsAreExactToo() {
        // A ≥ 0 (post-ReLU activations) lets the AVX2 path skip the sign step; one negative value
        // switches that row block (or single row) back to the sign trick. Both must stay exact.
        var g = XorShift(0xA11CE)
        for (m, n, k) in int8Shapes {
            var a = (0..<(m * k)).map { _ in Int8(Int(g.next() % 128)) }
            let w = randomInt8(n * k, &g)
            let packed = w.withUnsafeBufferPointer { PackedInt8Weights($0.baseAddress!, n: n, k: k) }
            for mixed in [false, true] {
                if mixed { a[Int(g.next() % UInt64(m * k))] = -127 }
                var ref = [Int32](repeating: 0, count: m * n)
                Int8GEMM.reference(a: a, w: w, c: &ref, m: m, n: n, k: k)
                for path in usablePaths {
                    var c = [Int32](repeating: 7, count: m * n)
                    packed.multiply(a: a, m: m, c: &c, path: path)
                    #expect(c == ref, "\(path) \(m)×\(n)×\(k) mixed=\(mixed)")
                }
                let scale = [Float](repeating: 0.5, count: n), bias = [Float](repeating: -0.5, count: n)
                _ = checkFused(m: m, n: n, k: k, a: a, w: w, scale: scale, bias: bias, relu: true, inv: 0.01, label: "a≥0 mixed=\(mixed)")
            }
        }
        // Extremes: a = 127 everywhere with w = ±127 (pair sums 2·127·127, no saturation).
        let k = 130
        let a = [Int8](repeating: 127, count: 5 * k), w = (0..<(33 * k)).map { Int8($0 % 2 == 0 ? 127 : -127) }
        let packed = w.withUnsafeBufferPointer { PackedInt8Weights($0.baseAddress!, n: 33, k: k) }
        var ref = [Int32](repeating: 0, count: 5 * 33)
        Int8GEMM.reference(a: a, w: w, c: &ref, m: 5, n: 33, k: k)
        for path in usablePaths {
            var c = [Int32](repeating: 0, count: 5 * 33)
            packed.multiply(a: a, m: 5, c: &c, path: path)
            #expect(c == ref, "\(path) extremes")
        }
    }

    /// Runs the fused kernel on every usable path and the reference, for int8 and float outputs.
    func checkFused(m: Int, n: Int, k: Int, a: [Int8], w: [Int8], scale: [Float], bias: [Float], relu: Bool,
                    inv: Float, label: String) -> (clamped: Int, ties: Int) {
        var acc = [Int32](repeating: 0, count: m * n)
        Int8GEMM.reference(a: a, w: w, c: &acc, m: m, n: n, k: k)
        let packed = w.withUnsafeBufferPointer { PackedInt8Weights($0.baseAddress!, n: n, k: k) }
        var clamped = 0, ties = 0
        scale.withUnsafeBufferPointer { s in
            bias.withUnsafeBufferPointer { b in
                let e = Int8Epilogue(scale: s.baseAddress!, bias: b.baseAddress!, relu: relu, outScaleInv: inv)
                let refQ = int8Output(m * n) { e.reference(acc: acc, m: m, n: n, output: .int8($0)) }
                let refF = floatOutput(m * n) { e.reference(acc: acc, m: m, n: n, output: .float($0)) }
                for i in 0..<(m * n) {
                    var y = Float(acc[i]) * scale[i % n] + bias[i % n]
                    if relu { y = max(y, 0) }
                    let t = y * inv
                    if abs(t) > 127.5 { clamped += 1 }
                    if t.rounded(.towardZero) != t, (t - t.rounded(.down)) == 0.5 { ties += 1 }
                }
                for path in usablePaths {
                    var ok = true
                    let q = int8Output(m * n) { ok = ok && packed.multiplyFused(a: a, m: m, epilogue: e, output: .int8($0), path: path) }
                    let f = floatOutput(m * n) { ok = ok && packed.multiplyFused(a: a, m: m, epilogue: e, output: .float($0), path: path) }
                    #expect(ok)
                    #expect(q == refQ, "\(path) int8 \(label) \(m)×\(n)×\(k) relu=\(relu)")
                    #expect(f.map(\.bitPattern) == refF.map(\.bitPattern), "\(path) float \(label) \(m)×\(n)×\(k) relu=\(relu)")
                }
                // The dispatched entry point (C kernel, or Swift GEMM + epilogue without a SIMD path).
                let q = int8Output(m * n) { packed.multiplyFused(a: a, m: m, epilogue: e, output: .int8($0)) }
                let f = floatOutput(m * n) { packed.multiplyFused(a: a, m: m, epilogue: e, output: .float($0)) }
                #expect(q == refQ && f.map(\.bitPattern) == refF.map(\.bitPattern), "dispatched \(label) \(m)×\(n)×\(k)")
            }
        }
        return (clamped, ties)
    }

    @Test func fusedEpilogueIsBitIdenticalOnRandomData() {
        var g = XorShift(0xC0FFEE)
        var clamped = 0
        for (m, n, k) in int8Shapes {
            let a = randomInt8(m * k, &g), w = randomInt8(n * k, &g)
            // Realistic scales (1e-4…1e-3 per channel), biases of both signs; the output scale makes
            // a good share of the values clamp at ±127.
            let scale = (0..<n).map { _ in Float(1 + g.next() % 1000) * 1e-6 }
            let bias = (0..<n).map { _ in Float(Int(g.next() % 2001) - 1000) * 1e-3 }
            for relu in [false, true] {
                let r = checkFused(m: m, n: n, k: k, a: a, w: w, scale: scale, bias: bias, relu: relu, inv: 60, label: "random")
                clamped += r.clamped
            }
        }
        #expect(clamped > 100, "the data must exercise the clamp (\(clamped) clamped)")
    }

    @Test func fusedEpilogueRoundsExactTiesToEven() {
        // scale 0.5, bias 0 (or ±0.5), output scale 1: y = acc/2 is exact, every odd acc is an exact .5
        // tie, and large |acc| clamps.
        var g = XorShift(42)
        var ties = 0, clamped = 0
        for (m, n, k) in [(5, 37, 9), (1, 70, 3), (4, 32, 5), (9, 10, 1), (3, 64, 2)] {
            let a = (0..<(m * k)).map { _ in Int8(Int(g.next() % 41) - 20) }
            let w = randomInt8(n * k, &g)
            for b: Float in [0, 0.5, -0.5] {
                let scale = [Float](repeating: 0.5, count: n), bias = [Float](repeating: b, count: n)
                for relu in [false, true] {
                    let r = checkFused(m: m, n: n, k: k, a: a, w: w, scale: scale, bias: bias, relu: relu, inv: 1, label: "ties b=\(b)")
                    ties += r.ties
                    clamped += r.clamped
                }
            }
        }
        #expect(ties > 100 && clamped > 100, "ties \(ties), clamped \(clamped)")
        // A direct check of the rule through every path: a = 1, k = 1, so acc[j] = w[j]:
        // 0.5 → 0, 1.5 → 2, 2.5 → 2, -2.5 → -2, 63.5 → 64, -381 → -127.
        let w: [Int8] = [1, 3, 5, -5, 127, -127]
        let s: [Float] = [0.5, 0.5, 0.5, 0.5, 0.5, 3], z = [Float](repeating: 0, count: 6)
        let packed = w.withUnsafeBufferPointer { PackedInt8Weights($0.baseAddress!, n: 6, k: 1) }
        s.withUnsafeBufferPointer { sp in
            z.withUnsafeBufferPointer { zp in
                let e = Int8Epilogue(scale: sp.baseAddress!, bias: zp.baseAddress!, relu: false, outScaleInv: 1)
                let acc = w.map(Int32.init)
                let ref = int8Output(6) { e.reference(acc: acc, m: 1, n: 6, output: .int8($0)) }
                #expect(ref == [0, 2, 2, -2, 64, -127])
                for path in usablePaths {
                    let a: [Int8] = [1]
                    let out = int8Output(6) { packed.multiplyFused(a: a, m: 1, epilogue: e, output: .int8($0), path: path) }
                    #expect(out == ref, "\(path)")
                }
            }
        }
    }
}
