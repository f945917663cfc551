import BenchModel
import Foundation
import Testing
@testable import Kernels

@Suite struct LinearAndGEMVTests {
    static let odd = [1, 7, 33, 129]

    @Test(arguments: GEMMKernelPath.allCases)
    func linearMatchesReference(path: GEMMKernelPath) {
        let factory = LinearFactory()
        for m in [1, 3, 5, 7, 33] {
            for (i, o) in [(1, 1), (7, 33), (33, 7), (129, 40), (300, 65)] {
                let tolerance = factory.defaultTolerance(shape: ["m": m, "in": i, "out": o], dtype: "f32")
                let ref = LinearInstance(m: m, inFeatures: i, outFeatures: o, seed: 12, path: nil)
                let opt = LinearInstance(m: m, inFeatures: i, outFeatures: o, seed: 12, path: path)
                expectMatch(ref, opt, tolerance, "linear \(m)×\(i)→\(o) \(path)")
            }
        }
    }

    @Test func linearIsGEMMWithTransposedWeightsPlusBias() {
        let (m, i, o) = (5, 9, 6)
        let inst = LinearInstance(m: m, inFeatures: i, outFeatures: o, seed: 1, path: .current)
        let y = runAndCopy(inst)
        // Wᵀ as a row-major B, then the Double product plus bias.
        var wt = [Float](repeating: 0, count: i * o)
        for j in 0..<o { for p in 0..<i { wt[p * o + j] = inst.inputW[j * i + p] } }
        let product = wt.withUnsafeBufferPointer { doubleProduct(inst.inputX, $0, m: m, n: o, k: i) }
        let expected = (0..<m * o).map { product[$0] + inst.inputBias[$0 % o] }
        #expect(check(expected, y, Tolerance(abs: 1e-5, rel: 1e-5)).passed)
    }

    @Test(arguments: GEMMKernelPath.allCases)
    func gemvMatchesReference(path: GEMMKernelPath) {
        for n in Self.odd + [4, 8] {
            for k in Self.odd + [64, 1000] {
                let tolerance = GEMVFactory().defaultTolerance(shape: ["n": n, "k": k], dtype: "f32")
                expectMatch(GEMVInstance(n: n, k: k, seed: 2, path: nil), GEMVInstance(n: n, k: k, seed: 2, path: path),
                            tolerance, "gemv \(n)×\(k) \(path)")
            }
        }
    }

    @Test(arguments: GEMMKernelPath.allCases)
    func batchedGEMMMatchesReference(path: GEMMKernelPath) {
        for (b, m, n, k) in [(1, 1, 1, 1), (3, 7, 33, 5), (2, 33, 7, 129), (4, 2, 20, 9), (2, 20, 40, 300)] {
            let tolerance = BatchedGEMMFactory().defaultTolerance(shape: ["k": k], dtype: "f32")
            expectMatch(BatchedGEMMInstance(batch: b, m: m, n: n, k: k, seed: 3, path: nil),
                        BatchedGEMMInstance(batch: b, m: m, n: n, k: k, seed: 3, path: path),
                        tolerance, "batched \(b)×\(m)×\(n)×\(k) \(path)")
        }
    }

    @Test func brokenGEMVIsRejected() {
        let (n, k) = (64, 300)
        let inst = GEMVInstance(n: n, k: k, seed: 4, path: nil)
        let expected = runAndCopy(inst)
        let tolerance = GEMVFactory().defaultTolerance(shape: ["n": n, "k": k], dtype: "f32")
        // Off-by-one: the last column of A is never read.
        let a = inst.inputA, x = inst.inputX
        let skipsLast = (0..<n).map { i in (0..<k - 1).reduce(Float(0)) { $0 + a[i * k + $1] * x[$1] } }
        #expect(!check(expected, skipsLast, tolerance).passed)
        // Wrong accumulation: two row-blocks' partial sums swapped between rows.
        var swapped = expected
        swapped.swapAt(0, 1)
        #expect(!check(expected, swapped, tolerance).passed)
    }

    @Test func validationNamesTheKey() {
        expectSpecError("shape.in") { try LinearFactory().validate(shape: ["m": 4, "in": 0, "out": 4], dtype: "f32") }
        expectSpecError("shape") { try LinearFactory().validate(shape: ["m": 4, "in": 4], dtype: "f32") }
        expectSpecError("shape.kk") { try GEMVFactory().validate(shape: ["n": 4, "k": 4, "kk": 1], dtype: "f32") }
        expectSpecError("shape.batch") {
            try BatchedGEMMFactory().validate(shape: ["batch": -2, "m": 4, "n": 4, "k": 4], dtype: "f32")
        }
        expectSpecError("shape") {
            try BatchedGEMMFactory().validate(shape: ["batch": 1 << 20, "m": 1024, "n": 1024, "k": 1], dtype: "f32")
        }
        #expect(LinearFactory().flops(shape: ["m": 2, "in": 3, "out": 4]) == 2 * 24 + 8)
        #expect(GEMVFactory().bytes(shape: ["n": 2, "k": 3], dtype: "f32") == 4 * (6 + 3 + 2))
    }
}

@Suite struct ConvTests {
    static let geometries: [ConvGeometry] = [
        ConvGeometry(n: 1, h: 7, w: 9, cin: 3, cout: 5, kh: 3, kw: 3, stride: 1, pad: 1),
        ConvGeometry(n: 2, h: 8, w: 7, cin: 4, cout: 33, kh: 3, kw: 3, stride: 2, pad: 1),
        ConvGeometry(n: 1, h: 5, w: 5, cin: 17, cout: 16, kh: 3, kw: 3, stride: 1, pad: 0),
        ConvGeometry(n: 2, h: 6, w: 5, cin: 7, cout: 9, kh: 1, kw: 1, stride: 1, pad: 0),    // pointwise: plain GEMM
        ConvGeometry(n: 1, h: 7, w: 7, cin: 5, cout: 40, kh: 1, kw: 1, stride: 2, pad: 0),
        ConvGeometry(n: 1, h: 6, w: 7, cin: 2, cout: 3, kh: 5, kw: 3, stride: 1, pad: 2),
        ConvGeometry(n: 1, h: 2, w: 3, cin: 3, cout: 4, kh: 3, kw: 3, stride: 1, pad: 3),    // borders of pure padding
        ConvGeometry(n: 1, h: 16, w: 16, cin: 64, cout: 20, kh: 3, kw: 3, stride: 1, pad: 1), // > one im2col chunk
    ]

    @Test(arguments: GEMMKernelPath.allCases)
    func im2colAndDirectMatchReference(path: GEMMKernelPath) {
        let factory = Conv2DFactory()
        for g in Self.geometries {
            let tolerance = factory.defaultTolerance(shape: ["kh": g.kh, "kw": g.kw, "cin": g.cin], dtype: "f32")
            let ref = Conv2DInstance(geometry: g, seed: 7, method: .reference)
            expectMatch(ref, Conv2DInstance(geometry: g, seed: 7, method: .im2col(path)), tolerance, "im2col \(g) \(path)")
            expectMatch(ref, Conv2DInstance(geometry: g, seed: 7, method: .direct(path)), tolerance, "direct \(g) \(path)")
        }
    }

    @Test func referenceAgreesWithAHandComputedCase() {
        // 1×3×3×1 input 1..9, one 3×3 filter of ones, pad 1: each output is the sum of its 3×3 neighbourhood.
        let g = ConvGeometry(n: 1, h: 3, w: 3, cin: 1, cout: 1, kh: 3, kw: 3, stride: 1, pad: 1)
        let x: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9], w = [Float](repeating: 1, count: 9)
        var y = [Float](repeating: 0, count: 9)
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                y.withUnsafeMutableBufferPointer { conv2dReference(g, xp.baseAddress!, wp.baseAddress!, $0.baseAddress!) }
            }
        }
        #expect(y == [12, 21, 16, 27, 45, 33, 24, 39, 28])
    }

    @Test func brokenConvolutionIsRejected() {
        // Padding applied on the wrong side (pad 2 on the top/left, 0 bottom/right) = output shifted.
        let g = ConvGeometry(n: 1, h: 9, w: 9, cin: 8, cout: 8, kh: 3, kw: 3, stride: 1, pad: 1)
        let shiftedGeometry = ConvGeometry(n: 1, h: 9, w: 9, cin: 8, cout: 8, kh: 3, kw: 3, stride: 1, pad: 2)
        let ref = runAndCopy(Conv2DInstance(geometry: g, seed: 3, method: .reference))
        let shifted = runAndCopy(Conv2DInstance(geometry: shiftedGeometry, seed: 3, method: .reference))
        // Take the top-left 9×9 of the 11×11 output: the window off by one row and column.
        var cropped = [Float]()
        for oy in 0..<9 { for ox in 0..<9 { cropped += shifted[((oy * 11) + ox) * 8..<((oy * 11) + ox) * 8 + 8] } }
        let tolerance = Conv2DFactory().defaultTolerance(shape: ["kh": 3, "kw": 3, "cin": 8], dtype: "f32")
        #expect(!check(ref, cropped, tolerance).passed)
    }

    @Test func validationNamesTheKey() throws {
        let f = Conv2DFactory()
        let base: Shape = ["n": 1, "h": 8, "w": 8, "cin": 4, "cout": 4, "kh": 3, "kw": 3, "stride": 1, "pad": 1]
        func with(_ key: String, _ value: Int) -> Shape { var s = base; s[key] = value; return s }
        try f.validate(shape: base, dtype: "f32")
        #expect(try f.geometry(base).oh == 8)
        #expect(try f.geometry(with("stride", 2)).oh == 4)
        var message = expectSpecError("shape.pad") { try f.validate(shape: with("pad", -1), dtype: "f32") }
        #expect(message?.contains("must not be negative") == true)
        message = expectSpecError("shape.kh") { try f.validate(shape: with("kh", 11), dtype: "f32") }
        #expect(message?.contains("larger than the padded input height") == true)
        expectSpecError("shape.kw") { try f.validate(shape: with("kw", 11), dtype: "f32") }
        expectSpecError("shape.cin") { try f.validate(shape: with("cin", 0), dtype: "f32") }
        expectSpecError("shape.stride") { try f.validate(shape: with("stride", 0), dtype: "f32") }
        expectSpecError("shape") { try f.validate(shape: with("n", 1 << 20).merging(["h": 1 << 12, "w": 1 << 12]) { $1 }, dtype: "f32") }
        var missing = base
        missing["cout"] = nil
        expectSpecError("shape") { try f.validate(shape: missing, dtype: "f32") }
        // stride and pad are optional.
        try f.validate(shape: ["n": 1, "h": 4, "w": 4, "cin": 1, "cout": 1, "kh": 3, "kw": 3], dtype: "f32")
        #expect(f.flops(shape: base) == 2 * 64 * 4 * 36)
        #expect(f.variants == ["reference", "optimized", "direct_nhwc"])
        let made = try f.make(variant: "direct_nhwc", shape: base, dtype: "f32", seed: 1)
        #expect((made as? Conv2DInstance)?.method == .direct(.current))
    }
}

@Suite struct DepthwiseTests {
    @Test(arguments: GEMMKernelPath.allCases)
    func optimizedMatchesReference(path: GEMMKernelPath) {
        let tolerance = DepthwiseConvFactory().defaultTolerance(shape: [:], dtype: "f32")
        let geometries = [
            DepthwiseGeometry(n: 1, h: 7, w: 9, c: 33, stride: 1, pad: 1),
            DepthwiseGeometry(n: 2, h: 8, w: 7, c: 7, stride: 2, pad: 1),
            DepthwiseGeometry(n: 1, h: 5, w: 5, c: 1, stride: 1, pad: 0),
            DepthwiseGeometry(n: 1, h: 9, w: 6, c: 16, stride: 2, pad: 0),
            DepthwiseGeometry(n: 1, h: 1, w: 2, c: 20, stride: 1, pad: 2),
        ]
        for g in geometries {
            expectMatch(DepthwiseConvInstance(geometry: g, seed: 5, path: nil), DepthwiseConvInstance(geometry: g, seed: 5, path: path),
                        tolerance, "depthwise \(g) \(path)")
        }
    }

    @Test func validationNamesTheKey() {
        let f = DepthwiseConvFactory()
        expectSpecError("shape.h") { try f.validate(shape: ["n": 1, "h": 2, "w": 8, "c": 4], dtype: "f32") }
        expectSpecError("shape.pad") { try f.validate(shape: ["n": 1, "h": 8, "w": 8, "c": 4, "pad": -1], dtype: "f32") }
        expectSpecError("shape.kh") { try f.validate(shape: ["n": 1, "h": 8, "w": 8, "c": 4, "kh": 3], dtype: "f32") }
    }
}

@Suite struct AttentionTests {
    @Test(arguments: GEMMKernelPath.allCases)
    func streamingMatchesMaterialised(path: GEMMKernelPath) {
        let factory = AttentionFactory()
        for (seq, d, heads, batch) in [(1, 1, 1, 1), (7, 5, 1, 1), (33, 16, 2, 1), (129, 33, 1, 1), (70, 64, 1, 2)] {
            let tolerance = factory.defaultTolerance(shape: ["seq": seq, "head_dim": d], dtype: "f32")
            let result = expectMatch(
                AttentionInstance(seq: seq, headDim: d, heads: heads, batch: batch, seed: 9, path: nil),
                AttentionInstance(seq: seq, headDim: d, heads: heads, batch: batch, seed: 9, path: path),
                tolerance, "attention seq \(seq) d \(d) \(path)")
            #expect(result.maxAbsError < tolerance.abs / 4, "margin: \(result.maxAbsError) vs \(tolerance.abs)")
        }
    }

    @Test func brokenAttentionIsRejected() {
        let (seq, d) = (100, 16)
        let ref = AttentionInstance(seq: seq, headDim: d, heads: 1, batch: 1, seed: 2, path: nil)
        let expected = runAndCopy(ref)
        let tolerance = AttentionFactory().defaultTolerance(shape: ["seq": seq, "head_dim": d], dtype: "f32")
        let q = ref.inputQ, k = ref.inputK, v = ref.inputV
        /// Attention computed with a bug injected: no 1/√d scale, or the last key left out.
        func attention(scale: Float, keys: Int) -> [Float] {
            var out = [Float](repeating: 0, count: seq * d)
            for i in 0..<seq {
                let s = (0..<keys).map { j in scale * (0..<d).reduce(Float(0)) { $0 + q[i * d + $1] * k[j * d + $1] } }
                let m = s.max()!
                let e = s.map { Foundation.exp($0 - m) }
                let l = e.reduce(0, +)
                for p in 0..<d { out[i * d + p] = (0..<keys).reduce(Float(0)) { $0 + e[$1] * v[$1 * d + p] } / l }
            }
            return out
        }
        let correct = attention(scale: 1 / Float(d).squareRoot(), keys: seq)
        #expect(check(expected, correct, tolerance).passed)
        #expect(!check(expected, attention(scale: 1, keys: seq), tolerance).passed)
        #expect(!check(expected, attention(scale: 1 / Float(d).squareRoot(), keys: seq - 1), tolerance).passed)
    }

    @Test func validationAndMetadata() throws {
        let f = AttentionFactory()
        expectSpecError("shape.head_dim") { try f.validate(shape: ["seq": 4, "head_dim": 0], dtype: "f32") }
        expectSpecError("shape.heads") { try f.validate(shape: ["seq": 4, "head_dim": 4, "heads": 0], dtype: "f32") }
        expectSpecError("shape") { try f.validate(shape: ["head_dim": 4], dtype: "f32") }
        expectSpecError("shape") { try f.validate(shape: ["seq": 1 << 16, "head_dim": 4], dtype: "f32") }
        #expect(f.flops(shape: ["seq": 8, "head_dim": 4, "heads": 2]) == 4 * 2 * 64 * 4)
        let t512 = f.defaultTolerance(shape: ["seq": 512, "head_dim": 64], dtype: "f32")
        #expect(abs(t512.abs - 1e-7 * 181.019) < 1e-8)
    }
}

@Suite struct MachinePeakTests {
    @Test func measuresPlausibleFigures() throws {
        // Debug builds run the generic loops unspecialized, so only sanity is checked here; the
        // meaningful figures come from a release build (`fusebench doctor`, run metadata).
        let peak = MachinePeak.measure(budgetSeconds: 0.1)
        #expect(peak.flopsPerSecond > 1e6)
        #expect(peak.bandwidth.map(\.level) == ["L1", "L2", "L3", "DRAM"])
        #expect(peak.bandwidth.allSatisfy { $0.readGBps > 0 && $0.triadGBps > 0 })
        #expect(peak.kernelPath == ISA.kernelPath)
        #expect(peak.secondsSpent < 10)  // ≈ 0.5 s in release; debug and sanitizer builds are slower
        #expect(peak.bandwidth(forWorkingSet: 2e6)?.level == "L3")
        #expect(peak.bandwidth(forWorkingSet: 1e12)?.level == "DRAM")
        let data = try JSONEncoder().encode(peak)
        #expect(try JSONDecoder().decode(PeakFigures.self, from: data) == peak)
        #expect(peak.roofline(flops: 1, bytes: 1e9) < peak.flopsPerSecond)
    }
}

