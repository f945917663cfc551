import BenchModel
import Foundation
import Testing
@testable import Kernels

@Suite struct VectorMathTests {
    @Test func fastExpMatchesLibm() {
        var maxRel = 0.0
        var x: Float = -86
        while x <= 88.7 {
            let lanes = SIMD16<Float>((0..<16).map { x + Float($0) * 0.000_37 })
            let e = fastExp(lanes)
            for l in 0..<16 where lanes[l] <= fastExpMaxInput {
                let exact = Foundation.exp(Double(lanes[l]))
                maxRel = max(maxRel, abs(Double(e[l]) - exact) / exact)
            }
            x += 0.0731
        }
        #expect(maxRel < 3e-7, "max relative error \(maxRel)")
        let special = fastExp(SIMD4<Float>(100, -100, .nan, 0))
        #expect(special[0] == .infinity)
        #expect(special[1] == 0)
        #expect(special[2].isNaN)
        #expect(special[3] == 1)
        // Widths agree lane for lane.
        let v8 = fastExp(SIMD8<Float>(-3, -1, -0.5, 0.25, 1, 2, 10, 50))
        let v4a = fastExp(SIMD4<Float>(-3, -1, -0.5, 0.25)), v4b = fastExp(SIMD4<Float>(1, 2, 10, 50))
        #expect(v8.lowHalf == v4a && v8.highHalf == v4b)
    }

    @Test func fastErfcWithinPublishedBound() {
        var maxAbs = 0.0
        var a: Float = 0
        while a < 6 {
            let v = fastErfcNonNegative(SIMD4<Float>(repeating: a))
            maxAbs = max(maxAbs, abs(Double(v[0]) - Foundation.erfc(Double(a))))
            a += 0.0037
        }
        #expect(maxAbs < 5e-7, "max absolute error \(maxAbs)")
    }
}

@Suite struct ActivationTests {
    @Test(arguments: Activation.allCases)
    func optimizedMatchesReferenceOnEveryPath(activation: Activation) {
        let factory = ActivationFactory(activation)
        for n in [1, 7, 33, 129, 1000] {
            let tolerance = factory.defaultTolerance(shape: ["n": n], dtype: "f32")
            let ref = ActivationInstance(activation: activation, n: n, seed: 3, path: nil)
            for path in allPaths {
                let opt = ActivationInstance(activation: activation, n: n, seed: 3, path: path)
                expectMatch(ref, opt, tolerance, "\(activation) n=\(n) \(path)")
            }
        }
    }

    @Test func knownValues() {
        // Against values from the closed forms (Double): GELU(1) = 0.841344746, GELU_tanh(1) = 0.841191990,
        // SiLU(1) = 0.731058579, and the saturated tails.
        func run(_ a: Activation, _ xs: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: xs.count)
            xs.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { y in
                    activationSIMD(SIMD8<Float>.self, a, n: xs.count, x: x.baseAddress!, y: y.baseAddress!)
                }
            }
            return out
        }
        let xs: [Float] = [1, -1, 0, 6, -6, 2, -2, 0.5, 3]
        let erf = run(.geluErf, xs), tanh = run(.geluTanh, xs), silu = run(.silu, xs), relu = run(.relu, xs)
        #expect(abs(erf[0] - 0.841_344_746) < 1e-6)
        #expect(abs(erf[1] + 0.158_655_254) < 1e-6)
        #expect(abs(tanh[0] - 0.841_191_990) < 1e-6)
        #expect(abs(silu[0] - 0.731_058_579) < 1e-6)
        #expect(erf[2] == 0 && tanh[2] == 0 && silu[2] == 0)
        #expect(abs(erf[3] - 6) < 1e-6 && abs(erf[4]) < 1e-6)
        #expect(relu == [1, 0, 0, 6, 0, 2, 0, 0.5, 3])
    }

    @Test func brokenActivationsAreRejected() {
        let n = 1000
        let ref = ActivationInstance(activation: .geluErf, n: n, seed: 8, path: nil)
        let expected = runAndCopy(ref)
        let tolerance = ActivationFactory(.geluErf).defaultTolerance(shape: ["n": n], dtype: "f32")
        // erf(x) instead of erf(x/√2).
        let wrongScale = ref.input.map { 0.5 * $0 * (1 + Foundation.erf($0)) }
        #expect(!check(expected, wrongScale, tolerance).passed)
        // The tanh approximation is not the erf GELU: ~1e-3 apart at |x| ≈ 2.
        let tanhForm = ref.input.map { activationScalar(.geluTanh, $0) }
        #expect(!check(expected, tanhForm, tolerance).passed)
        // Off-by-one: every output shifted by one element.
        let shifted = [expected[0]] + expected.dropLast()
        #expect(!check(expected, shifted, tolerance).passed)
    }
}

@Suite struct RowNormTests {
    static let shapes = [(1, 1), (7, 33), (3, 129), (2, 768), (5, 17)]

    @Test(arguments: RowNorm.allCases)
    func optimizedMatchesReferenceOnEveryPath(norm: RowNorm) {
        let factory = RowNormFactory(norm)
        for (rows, cols) in Self.shapes {
            let tolerance = factory.defaultTolerance(shape: ["rows": rows, "cols": cols], dtype: "f32")
            let ref = RowNormInstance(norm: norm, rows: rows, cols: cols, seed: 4, path: nil)
            for path in allPaths {
                let opt = RowNormInstance(norm: norm, rows: rows, cols: cols, seed: 4, path: path)
                expectMatch(ref, opt, tolerance, "\(norm) \(rows)×\(cols) \(path)")
            }
        }
    }

    @Test func softmaxRowsSumToOneAndLayernormIsNormalized() throws {
        let soft = runAndCopy(RowNormInstance(norm: .softmax, rows: 9, cols: 100, seed: 1, path: .current))
        for r in 0..<9 {
            let s = soft[r * 100..<(r + 1) * 100].reduce(0.0) { $0 + Double($1) }
            #expect(abs(s - 1) < 1e-5)
            #expect(soft[r * 100..<(r + 1) * 100].allSatisfy { $0 >= 0 && $0.isFinite })
        }
        // layernorm with γ = 1, β = 0 has mean 0 and variance 1 per row: check via (y − β)/γ.
        let inst = RowNormInstance(norm: .layernorm, rows: 3, cols: 200, seed: 2, path: .current)
        let y = runAndCopy(inst)
        for r in 0..<3 {
            let z = (0..<200).map { Double((y[r * 200 + $0] - inst.inputBeta[$0]) / inst.inputGamma[$0]) }
            let mean = z.reduce(0, +) / 200
            let variance = z.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 200
            #expect(abs(mean) < 1e-5 && abs(variance - 1) < 1e-3)
        }
    }

    @Test func brokenNormsAreRejected() {
        let (rows, cols) = (32, 768)
        // Softmax without the max subtraction: rows offset by up to ±100 overflow or underflow.
        let soft = RowNormInstance(norm: .softmax, rows: rows, cols: cols, seed: 6, path: nil)
        let expected = runAndCopy(soft)
        var naive = [Float](repeating: 0, count: rows * cols)
        for r in 0..<rows {
            let row = soft.input[r * cols..<(r + 1) * cols]
            let sum = row.reduce(Float(0)) { $0 + Foundation.exp($1) }
            for c in 0..<cols { naive[r * cols + c] = Foundation.exp(row[r * cols + c]) / sum }
        }
        let softTolerance = RowNormFactory(.softmax).defaultTolerance(shape: [:], dtype: "f32")
        #expect(!check(expected, naive, softTolerance).passed)
        // Softmax whose sum skips the last element (off by one).
        var offByOne = [Float](repeating: 0, count: rows * cols)
        for r in 0..<rows {
            let row = Array(soft.input[r * cols..<(r + 1) * cols])
            let m = row.max()!
            let sum = row.dropLast().reduce(Float(0)) { $0 + Foundation.exp($1 - m) }
            for c in 0..<cols { offByOne[r * cols + c] = Foundation.exp(row[c] - m) / sum }
        }
        // Only rows whose last element matters fail, but some always do at this size.
        #expect(!check(expected, offByOne, softTolerance).passed)

        // layernorm with the unbiased (n − 1) variance.
        let ln = RowNormInstance(norm: .layernorm, rows: rows, cols: cols, seed: 6, path: nil)
        let lnExpected = runAndCopy(ln)
        var unbiased = [Float](repeating: 0, count: rows * cols)
        for r in 0..<rows {
            let row = ln.input[r * cols..<(r + 1) * cols].map(Double.init)
            let mean = row.reduce(0, +) / Double(cols)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(cols - 1)
            for c in 0..<cols {
                unbiased[r * cols + c] = Float((row[c] - mean) / (variance + 1e-5).squareRoot()
                    * Double(ln.inputGamma[c]) + Double(ln.inputBeta[c]))
            }
        }
        #expect(!check(lnExpected, unbiased, RowNormFactory(.layernorm).defaultTolerance(shape: [:], dtype: "f32")).passed)
    }
}

@Suite struct BroadcastTests {
    /// a = [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]] (2×5: one full SIMD4 vector and a tail per row).
    let a: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]

    func apply(_ op: BinaryOp, _ mode: BroadcastMode, _ b: [Float], simd: Bool) -> [Float] {
        var y = [Float](repeating: .nan, count: 10)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                y.withUnsafeMutableBufferPointer { yp in
                    if simd {
                        broadcastSIMD(SIMD4<Float>.self, op, 2, 5, mode, ap.baseAddress!, bp.baseAddress!, yp.baseAddress!)
                    } else {
                        broadcastReference(op, 2, 5, mode, ap.baseAddress!, bp.baseAddress!, yp.baseAddress!)
                    }
                }
            }
        }
        return y
    }

    @Test(arguments: [false, true])
    func numpySemanticsByHand(simd: Bool) {
        let same: [Float] = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
        #expect(apply(.add, .none, same, simd: simd) == [11, 22, 33, 44, 55, 66, 77, 88, 99, 110])
        // b [1, 5]: the same row added to every row.
        #expect(apply(.add, .row, [10, 20, 30, 40, 50], simd: simd) == [11, 22, 33, 44, 55, 16, 27, 38, 49, 60])
        // b [2, 1]: one value per row.
        #expect(apply(.add, .col, [100, 200], simd: simd) == [101, 102, 103, 104, 105, 206, 207, 208, 209, 210])
        #expect(apply(.mul, .col, [2, -1], simd: simd) == [2, 4, 6, 8, 10, -6, -7, -8, -9, -10])
        #expect(apply(.mul, .row, [1, 0, -1, 2, 0.5], simd: simd) == [1, 0, -3, 8, 2.5, 6, 0, -8, 18, 5])
        #expect(apply(.mul, .scalar, [3], simd: simd) == [3, 6, 9, 12, 15, 18, 21, 24, 27, 30])
        #expect(apply(.add, .scalar, [-1], simd: simd) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    }

    @Test func optimizedMatchesReferenceBitForBit() {
        for op in BinaryOp.allCases {
            for mode in BroadcastMode.allCases {
                for (rows, cols) in [(1, 1), (7, 33), (3, 129), (33, 7)] {
                    let ref = runAndCopy(BroadcastInstance(op: op, rows: rows, cols: cols, mode: mode, seed: 5, path: nil))
                    for path in allPaths {
                        let opt = runAndCopy(BroadcastInstance(op: op, rows: rows, cols: cols, mode: mode, seed: 5, path: path))
                        #expect(opt == ref, "\(op) \(mode) \(rows)×\(cols) \(path)")
                    }
                }
            }
        }
    }

    @Test func shapesAndValidation() throws {
        let f = BroadcastFactory(.add)
        #expect(f.kind == "add_broadcast" && BroadcastFactory(.mul).kind == "mul_broadcast")
        #expect(f.bytes(shape: ["rows": 4, "cols": 8, "bcast": 1], dtype: "f32") == 4 * (64 + 8))
        #expect(f.bytes(shape: ["rows": 4, "cols": 8, "bcast": 2], dtype: "f32") == 4 * (64 + 4))
        #expect(f.bytes(shape: ["rows": 4, "cols": 8], dtype: "f32") == 4 * (64 + 32))
        let message = expectSpecError("shape.bcast") { try f.validate(shape: ["rows": 4, "cols": 8, "bcast": 4], dtype: "f32") }
        #expect(message?.contains("must be 0 (none), 1 (row") == true)
        expectSpecError("shape.rows") { try f.validate(shape: ["rows": 0, "cols": 8], dtype: "f32") }
        // Broadcasting along the wrong axis is caught.
        let row = BroadcastInstance(op: .add, rows: 6, cols: 6, mode: .row, seed: 1, path: nil)
        let col = BroadcastInstance(op: .add, rows: 6, cols: 6, mode: .col, seed: 1, path: nil)
        #expect(!check(runAndCopy(row), runAndCopy(col), f.defaultTolerance(shape: [:], dtype: "f32")).passed)
    }
}

@Suite struct PoolTests {
    @Test(arguments: PoolMode.allCases)
    func optimizedMatchesReferenceBitForBit(mode: PoolMode) throws {
        let factory = PoolFactory(mode)
        let shapes: [Shape] = [
            ["n": 1, "h": 4, "w": 4, "c": 1, "k": 2],
            ["n": 2, "h": 7, "w": 9, "c": 33, "k": 3, "stride": 2],
            ["n": 1, "h": 8, "w": 8, "c": 17, "k": 2, "stride": 1],
            ["n": 1, "h": 5, "w": 6, "c": 7, "k": 5, "stride": 3],
        ]
        for shape in shapes {
            let g = try factory.geometry(shape)
            let ref = runAndCopy(PoolInstance(mode: mode, geometry: g, seed: 2, path: nil))
            for path in allPaths {
                #expect(runAndCopy(PoolInstance(mode: mode, geometry: g, seed: 2, path: path)) == ref, "\(shape) \(path)")
            }
        }
    }

    @Test func knownValuesAndValidation() throws {
        // 1×4×4×1 input 0..15, 2×2 stride 2: max = [5, 7, 13, 15], mean = [2.5, 4.5, 10.5, 12.5].
        let g = PoolGeometry(n: 1, h: 4, w: 4, c: 1, k: 2, stride: 2)
        let x = (0..<16).map(Float.init)
        var y = [Float](repeating: 0, count: 4)
        for (mode, expected) in [(PoolMode.max, [Float](arrayLiteral: 5, 7, 13, 15)), (.avg, [2.5, 4.5, 10.5, 12.5])] {
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in poolSIMD(SIMD8<Float>.self, mode, g, xp.baseAddress!, yp.baseAddress!) }
            }
            #expect(y == expected)
        }
        let f = PoolFactory(.max)
        #expect(try f.geometry(["n": 1, "h": 7, "w": 7, "c": 1, "k": 2]).oh == 3)
        let message = expectSpecError("shape.k") { try f.validate(shape: ["n": 1, "h": 2, "w": 8, "c": 4, "k": 3], dtype: "f32") }
        #expect(message?.contains("larger than the input") == true)
        expectSpecError("shape.stride") { try f.validate(shape: ["n": 1, "h": 8, "w": 8, "c": 4, "k": 2, "stride": 0], dtype: "f32") }
        expectSpecError("shape.pad") { try f.validate(shape: ["n": 1, "h": 8, "w": 8, "c": 4, "k": 2, "pad": 1], dtype: "f32") }
    }
}
