import Foundation
import BenchModel
import Testing
@testable import Kernels

/// Optimized GEMM (every micro-kernel path) against the reference triple loop and a Double product.
@Suite struct GEMMTests {
    let factory = GEMMFactory()
    static let odd = [1, 7, 33, 129]
    static let oddShapes: [(Int, Int, Int)] = odd.flatMap { m in odd.flatMap { n in odd.map { k in (m, n, k) } } }
        + [(1, 768, 64), (64, 48, 200), (3, 100, 300), (4, 64, 17), (5, 80, 9), (30, 65, 513)]

    @Test(arguments: GEMMKernelPath.allCases)
    func optimizedMatchesReferenceOnOddShapes(path: GEMMKernelPath) throws {
        for (m, n, k) in Self.oddShapes {
            let shape = ["m": m, "n": n, "k": k]
            let reference = GEMMInstance(m: m, n: n, k: k, seed: 11, path: nil)
            let optimized = GEMMInstance(m: m, n: n, k: k, seed: 11, path: path)
            let tolerance = factory.defaultTolerance(shape: shape, dtype: "f32")
            let ref = runAndCopy(reference)
            let opt = runAndCopy(optimized)
            let result = check(ref, opt, tolerance)
            #expect(result.passed, "\(path) \(m)×\(n)×\(k): \(result.reason ?? "")")
            // run() is repeatable: a second run gives the identical result (C is not accumulated into).
            #expect(runAndCopy(optimized) == opt, "\(path) \(m)×\(n)×\(k) changed on the second run")
            // Both agree with a Double-precision product of the same inputs.
            let exact = doubleProduct(reference.inputA, reference.inputB, m: m, n: n, k: k)
            #expect(check(exact, opt, tolerance).passed, "\(path) \(m)×\(n)×\(k) vs Double")
            #expect(check(exact, ref, tolerance).passed, "reference \(m)×\(n)×\(k) vs Double")
        }
    }

    @Test func crossesEveryBlockBoundary() {
        // Larger than KC (256) in k and than MC in m, with ragged edges everywhere.
        for path in GEMMKernelPath.allCases {
            let (m, n, k) = (267, 70, 600)
            let ref = runAndCopy(GEMMInstance(m: m, n: n, k: k, seed: 5, path: nil))
            let opt = runAndCopy(GEMMInstance(m: m, n: n, k: k, seed: 5, path: path))
            let result = check(ref, opt, factory.defaultTolerance(shape: ["k": k], dtype: "f32"))
            #expect(result.passed, "\(path): \(result.reason ?? "")")
            #expect(result.maxAbsError < 1e-3)
        }
    }

    @Test func factoryMakesSeededInstances() throws {
        let shape = ["m": 9, "n": 10, "k": 11]
        let r1 = try factory.make(variant: "reference", shape: shape, dtype: "f32", seed: 3)
        let r2 = try factory.make(variant: "reference", shape: shape, dtype: "f32", seed: 3)
        let o = try factory.make(variant: "optimized", shape: shape, dtype: "f32", seed: 3)
        let other = try factory.make(variant: "reference", shape: shape, dtype: "f32", seed: 4)
        #expect(runAndCopy(r1) == runAndCopy(r2))
        #expect(runAndCopy(r1) != runAndCopy(other))
        #expect(r1.output().count == 90)
        #expect((o as? GEMMInstance)?.path == GEMMKernelPath.current)
        #expect((r1 as? GEMMInstance)?.path == nil)
        #expect(check(runAndCopy(r1), runAndCopy(o), factory.defaultTolerance(shape: shape, dtype: "f32")).passed)
    }

    @Test func flopsBytesAndMetadata() {
        let shape = ["m": 2, "n": 3, "k": 4]
        #expect(factory.flops(shape: shape) == 48)
        #expect(factory.bytes(shape: shape, dtype: "f32") == 4 * (8 + 12 + 6))
        #expect(factory.kind == "gemm")
        #expect(factory.referenceVariant == "reference")
        #expect(factory.variants == ["reference", "optimized"])
        #expect(factory.shapeKeys == ["m", "n", "k"])
        let t = factory.defaultTolerance(shape: ["m": 1, "n": 1, "k": 4096], dtype: "f32")
        #expect(abs(t.abs - 6.4e-3) < 1e-12)
    }

    @Test func shapeValidationNamesTheKey() throws {
        let zero = #expect(throws: KernelSpecError.self) {
            try factory.validate(shape: ["m": 4, "n": 4, "k": 0], dtype: "f32")
        }
        #expect(zero?.key == "shape.k")
        #expect(zero?.message.contains("shape.k must be positive, got 0") == true)

        let missing = #expect(throws: KernelSpecError.self) {
            try factory.validate(shape: ["m": 4, "n": 4], dtype: "f32")
        }
        #expect(missing?.key == "shape")
        #expect(missing?.message.contains("missing 'k'") == true)

        let unknown = #expect(throws: KernelSpecError.self) {
            try factory.validate(shape: ["m": 4, "n": 4, "k": 4, "kk": 2], dtype: "f32")
        }
        #expect(unknown?.key == "shape.kk")

        let dtype = #expect(throws: KernelSpecError.self) {
            try factory.validate(shape: ["m": 4, "n": 4, "k": 4], dtype: "bf16")
        }
        #expect(dtype?.key == "dtype")

        let variant = #expect(throws: KernelSpecError.self) {
            _ = try factory.make(variant: "fast", shape: ["m": 4, "n": 4, "k": 4], dtype: "f32", seed: 1)
        }
        #expect(variant?.key == "variants")

        let huge = #expect(throws: KernelSpecError.self) {
            try factory.validate(shape: ["m": 1 << 40, "n": 1 << 40, "k": 1], dtype: "f32")
        }
        #expect(huge?.key == "shape")
        #expect(throws: KernelSpecError.self) {
            _ = try factory.make(variant: "reference", shape: ["m": -1, "n": 4, "k": 4], dtype: "f32", seed: 1)
        }
    }
}

/// The small-m path's right edge (n − j < 16 columns, or all of n < 16) loads whole 16-float rows
/// of B where they stay inside B and gathers the rest: B is placed so that it ends exactly at a
/// PROT_NONE guard page, so a read past its end would crash the test instead of passing silently.
@Suite struct GEMMSmallMEdgeTests {
    @Test(arguments: [1, 2, 3, 4, 7, 10, 15, 16, 17, 31, 70, 79])
    func rightEdgeMatchesReferenceWithoutReadingPastB(n: Int) throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        for (m, k) in [(1, 1), (1, 2), (1, 64), (3, 5), (4, 128)] {
            let bytes = k * n * MemoryLayout<Float>.stride
            let dataPages = (bytes + page - 1) / page
            let region = try #require(mmap(nil, (dataPages + 1) * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
            defer { munmap(region, (dataPages + 1) * page) }
            #expect(mprotect(region + dataPages * page, page, PROT_NONE) == 0)
            let b = (region + dataPages * page - bytes).bindMemory(to: Float.self, capacity: k * n)
            var g = SeededGenerator(seed: UInt64(n * 1000 + k))
            for i in 0..<(k * n) { b[i] = Float(g.next() % 2001) / 1000 - 1 }
            let a = (0..<(m * k)).map { _ in Float(g.next() % 2001) / 1000 - 1 }
            var c = [Float](repeating: .nan, count: m * n), ref = c
            gemmSmallM(m: m, n: n, k: k, a: a, b: b, c: &c)
            gemmReference(m: m, n: n, k: k, a: a, b: b, c: &ref)
            for i in 0..<(m * n) {
                #expect(abs(c[i] - ref[i]) <= 1e-5 * Float(k), "m \(m) n \(n) k \(k) element \(i): \(c[i]) vs \(ref[i])")
            }
        }
    }
}

/// The A packing (`packA` → `fb_pack_a_panels`) against the layout written element by element, for
/// every micro-kernel height, ragged row and k counts around the transpose blocks (16 and 8), and a
/// row stride wider than kc; nothing may be written past the packed panels.
@Suite struct PackATests {
    static func expected(_ a: [Float], lda: Int, mc: Int, kc: Int, mr: Int) -> [Float] {
        let panels = (mc + mr - 1) / mr
        var out = [Float](repeating: 0, count: panels * mr * kc)
        for r in 0..<panels {
            for p in 0..<kc {
                for i in 0..<mr where r * mr + i < mc { out[r * mr * kc + p * mr + i] = a[(r * mr + i) * lda + p] }
            }
        }
        return out
    }

    func check<K: MicroKernel>(_ kernel: K.Type) {
        let mr = K.mr
        for mc in [1, mr - 1, mr, mr + 1, 2 * mr, 2 * mr + 3, 5 * mr - 2] where mc > 0 {
            for kc in [1, 7, 8, 9, 15, 16, 17, 31, 33, 256] {
                let lda = kc + 5
                let a = (0..<(mc * lda)).map { Float($0 % 997) + 0.25 }
                let packed = (mc + mr - 1) / mr * mr * kc
                let sentinel: Float = -12345
                var dst = [Float](repeating: sentinel, count: packed + 64)
                a.withUnsafeBufferPointer { src in
                    dst.withUnsafeMutableBufferPointer { out in
                        guard let s = src.baseAddress, let o = out.baseAddress else { return }
                        packA(K.self, mc: mc, kc: kc, src: s, lda: lda, dst: o)
                    }
                }
                let want = Self.expected(a, lda: lda, mc: mc, kc: kc, mr: mr)
                #expect(Array(dst[0..<packed]) == want, "mr \(mr) mc \(mc) kc \(kc): layout")
                #expect(dst[packed...].allSatisfy { $0 == sentinel }, "mr \(mr) mc \(mc) kc \(kc): wrote past the panels")
            }
        }
    }

    @Test func avx512Panels() { check(AVX512Kernel.self) }
    @Test func avx2Panels() { check(AVX2Kernel.self) }
    @Test func ssePanels() { check(SSEKernel.self) }
}
