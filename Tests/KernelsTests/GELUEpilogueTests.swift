// Tests of the GEMM's tile epilogue (`GEMMTileEpilogue`: + bias, tanh-GELU on each block of
// finished columns, or on each finished tile when a closure epilogue follows): the
// GELU approximation's error bound against the exact tanh-GELU (and that it is inside the
// `gelu_tanh` op's tolerance band), and bit-identity of the fused GEMM with the unfused GEMM → bias
// pass → GELU pass on every micro-kernel path, on ragged shapes (edge tiles), several k blocks
// (accumulating tiles), several column blocks with a partial last one, several m blocks, several
// n blocks and the small-m path. Not timing-based.
import BenchModel
import Foundation
import Testing
@testable import Kernels

@Suite struct GELUEpilogueTests {
    /// The exact tanh-GELU in Double, written as x / (1 + e^(−2u)) (algebraically identical to
    /// 0.5·x·(1 + tanh u), without the cancellation of 1 + tanh u for negative x).
    static func exactGelu(_ x: Float) -> Double {
        let v = Double(x)
        let u = (2.0 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v)
        return v / (1 + Foundation.exp(-2 * u))
    }

    /// Every grid point of [−12, 12] at 2⁻¹², plus ±[12, 1e4] geometrically, through the 8-lane form.
    static func grid() -> [Float] {
        var xs: [Float] = []
        var x: Float = -12
        while x <= 12 { xs.append(x); x += 1.0 / 4096 }
        var big: Float = 12
        while big < 1e4 { xs.append(big); xs.append(-big); big *= 1.001 }
        return xs
    }

    static func geluKernel(_ xs: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: xs.count)
        var i = 0
        while i < xs.count {
            var v = SIMD8<Float>()
            let w = min(8, xs.count - i)
            for l in 0..<w { v[l] = xs[i + l] }
            let r = VectorMath.geluTanh(v)
            for l in 0..<w { out[i + l] = r[l] }
            i += 8
        }
        return out
    }

    /// The stated bound (VectorMath.swift, `fastGeluTanh`): |f(x) − GELU(x)| ≤ 6e-7·|GELU(x)| + 2e-8
    /// everywhere, ≤ 3e-7 relative for x ≥ −1, and inside the `gelu_tanh` op's band.
    @Test func geluErrorBoundAgainstExactTanhGelu() {
        let xs = Self.grid()
        let got = Self.geluKernel(xs)
        let band = ActivationFactory(.geluTanh).defaultTolerance(shape: ["n": 1], dtype: "f32")
        var worstRel = 0.0, worstAbs = 0.0
        var outside: [Float] = [], outsideRel: [Float] = [], outsideBand: [Float] = []
        for (x, f) in zip(xs, got) {
            let g = Self.exactGelu(x)
            let err = Swift.abs(Double(f) - g)
            if !(err <= 6e-7 * Swift.abs(g) + 2e-8) { outside.append(x) }
            if !(err <= band.abs + band.rel * Swift.abs(g)) { outsideBand.append(x) }
            if x >= -1 && g != 0 {
                if !(err <= 3e-7 * Swift.abs(g)) { outsideRel.append(x) }
                worstRel = max(worstRel, err / Swift.abs(g))
            }
            worstAbs = max(worstAbs, err)
        }
        #expect(outside.isEmpty, "outside 6e-7·|GELU| + 2e-8 at x = \(outside.prefix(5))")
        #expect(outsideRel.isEmpty, "outside 3e-7 relative at x = \(outsideRel.prefix(5))")
        #expect(outsideBand.isEmpty, "outside the gelu_tanh band at x = \(outsideBand.prefix(5))")
        print("GELU epilogue vs exact tanh-GELU: max rel (x ≥ −1) \(worstRel), max abs \(worstAbs)")
        // Far tails and non-finite inputs: x on the right; on the left within 2e-37 of the true
        // value (below 1e-80: x is clamped at −10, giving −10 / (1 + e^87.3) ≈ −1.2e-37), never
        // positive — −∞ included; NaN stays NaN.
        let tails = Self.geluKernel([-30, -200, -.infinity, 30, 200, .infinity, .nan])
        #expect(tails[0...2].allSatisfy { $0 <= 0 && $0 > -2e-37 }, "\(tails)")
        #expect(Array(tails[3...5]) == [30, 200, .infinity])
        #expect(tails[6].isNaN)
    }

    /// The 16-lane form (fusion's `VMath.gelu`) and the 8-lane form (the AVX2 micro-kernel) agree bit for bit.
    @Test func geluSameBitsAtEveryWidth() {
        let xs = Self.grid()
        let eight = Self.geluKernel(xs)
        var i = 0
        while i + 16 <= xs.count {
            var v = SIMD16<Float>()
            for l in 0..<16 { v[l] = xs[i + l] }
            let r = VectorMath.geluTanh(v)
            for l in 0..<16 { #expect(r[l].bitPattern == eight[i + l].bitPattern) }
            i += 16
        }
    }

    /// Shapes: full and edge tiles of every kernel, k over one KC block (256: accumulating tiles),
    /// and m ≤ 4 (the small-m path).
    static let shapes: [(m: Int, n: Int, k: Int)] = [
        (6, 16, 7), (14, 32, 3), (13, 37, 5), (29, 45, 300), (50, 70, 513), (64, 96, 33), (3, 20, 9), (1, 40, 260), (7, 3, 1),
        // Column blocks of the block epilogue (`epilogueBlockColumns`): 256 + 256 + 88 (an edge tile
        // in the last); more rows than one m block on every path (MC 128–252); more columns than
        // one n block (NC 4096).
        (20, 600, 40), (260, 300, 17), (7, 4100, 3),
    ]

    static func filled(_ count: Int, seed: UInt64, scale: Float) -> [Float] {
        var g = SeededGenerator(seed: seed)
        return (0..<count).map { _ in scale * (Float(g.next() % 20001) / 10000 - 1) }
    }

    /// GEMM with the tile epilogue == GEMM, then + bias, then GELU (16 lanes), bit for bit.
    @Test(arguments: [KernelPath.avx2, .avx512, .sse])
    func fusedEpilogueBitIdenticalToPasses(path: KernelPath) {
        for (m, n, k) in Self.shapes {
            // Scale so the outputs cover GELU's interesting range (a few units, both signs).
            let a = Self.filled(m * k, seed: 1, scale: 1), b = Self.filled(k * n, seed: 2, scale: 3 / Float(k).squareRoot())
            let bias = Self.filled(n, seed: 3, scale: 1)
            for (withBias, gelu) in [(true, true), (true, false), (false, true)] {
                let ws = GEMMWorkspace(m: m, n: n, k: k, path: path)
                var plain = [Float](repeating: 0, count: m * n), fused = [Float](repeating: .nan, count: m * n)
                ws.multiply(a: a, b: b, c: &plain)
                bias.withUnsafeBufferPointer { bp in
                    let te = GEMMTileEpilogue(bias: withBias ? bp.baseAddress : nil, activation: gelu ? .gelu : .none)
                    ws.multiply(a: a, b: b, c: &fused, tileEpilogue: te)
                }
                // The unfused passes.
                if withBias { for i in 0..<m { for j in 0..<n { plain[i * n + j] = plain[i * n + j] + bias[j] } } }
                if gelu {
                    var i = 0
                    while i < plain.count {
                        var v = SIMD16<Float>()
                        let w = min(16, plain.count - i)
                        for l in 0..<w { v[l] = plain[i + l] }
                        let r = VectorMath.geluTanh(v)
                        for l in 0..<w { plain[i + l] = r[l] }
                        i += 16
                    }
                }
                let same = zip(plain, fused).allSatisfy { $0.bitPattern == $1.bitPattern }
                #expect(same, "\(path) \(m)×\(n)×\(k) bias \(withBias) gelu \(gelu)")
            }
        }
    }

    /// An identity tile epilogue changes nothing, and the closure epilogue still sees the final tiles after it.
    @Test func closureEpilogueRunsAfterTileEpilogue() {
        let (m, n, k) = (13, 37, 5)
        let a = Self.filled(m * k, seed: 4, scale: 1), b = Self.filled(k * n, seed: 5, scale: 1)
        let bias = Self.filled(n, seed: 6, scale: 1)
        let ws = GEMMWorkspace(m: m, n: n, k: k)
        var ref = [Float](repeating: 0, count: m * n), got = [Float](repeating: 0, count: m * n)
        ws.multiply(a: a, b: b, c: &ref, tileEpilogue: GEMMTileEpilogue(bias: nil, activation: .none))
        var plain = [Float](repeating: 0, count: m * n)
        ws.multiply(a: a, b: b, c: &plain)
        #expect(ref == plain)
        bias.withUnsafeBufferPointer { bp in
            ws.multiply(a: a, b: b, c: &got, tileEpilogue: GEMMTileEpilogue(bias: bp.baseAddress, activation: .none)) { tile, ld, _, _, rows, cols in
                for i in 0..<rows { for j in 0..<cols { tile[i * ld + j] *= 2 } }
            }
        }
        for i in 0..<m { for j in 0..<n { #expect(got[i * n + j] == (plain[i * n + j] + bias[j]) * 2) } }
    }
}
