import BenchModel
import Testing
@testable import Kernels

@Suite struct BiasReLUTests {
    let factory = BiasReLUFactory()

    @Test(arguments: [(1, 1), (3, 17), (64, 33), (7, 100), (2, 16), (5, 4096)])
    func fusedMatchesReferenceBitForBit(rows: Int, cols: Int) throws {
        let shape = ["rows": rows, "cols": cols]
        let reference = try factory.make(variant: "reference", shape: shape, dtype: "f32", seed: 21)
        let optimized = try factory.make(variant: "optimized", shape: shape, dtype: "f32", seed: 21)
        let ref = runAndCopy(reference)
        let opt = runAndCopy(optimized)
        #expect(ref == opt)
        #expect(check(ref, opt, factory.defaultTolerance(shape: shape, dtype: "f32")).passed)
        #expect(runAndCopy(optimized) == opt)

        // Against the definition, from the instance's own inputs.
        let inst = try #require(reference as? BiasReLUInstance)
        let x = inst.inputX, bias = inst.inputBias
        var expected = [Float](repeating: 0, count: rows * cols)
        for r in 0..<rows {
            for c in 0..<cols {
                expected[r * cols + c] = max(0, x[r * cols + c] + bias[c])
            }
        }
        #expect(ref == expected)
        #expect(opt.allSatisfy { $0 >= 0 })
        if rows * cols > 100 { #expect(opt.contains(0)) }
    }

    @Test func brokenBiasIsRejected() throws {
        let shape = ["rows": 8, "cols": 24]
        let reference = try #require(try factory.make(variant: "reference", shape: shape, dtype: "f32", seed: 2)
            as? BiasReLUInstance)
        let ref = runAndCopy(reference)
        // Bias of the wrong column (off by one).
        var wrong = [Float](repeating: 0, count: ref.count)
        for r in 0..<8 {
            for c in 0..<24 {
                wrong[r * 24 + c] = max(0, reference.inputX[r * 24 + c] + reference.inputBias[(c + 1) % 24])
            }
        }
        let result = check(ref, wrong, factory.defaultTolerance(shape: shape, dtype: "f32"))
        #expect(!result.passed)
        #expect(result.reason != nil)
    }

    @Test func metadataAndValidation() {
        let shape = ["rows": 3, "cols": 5]
        #expect(factory.flops(shape: shape) == 30)
        #expect(factory.bytes(shape: shape, dtype: "f32") == 4 * (30 + 5))
        #expect(factory.kind == "bias_relu")
        #expect(factory.referenceVariant == "reference")
        let error = #expect(throws: KernelSpecError.self) {
            try factory.validate(shape: ["rows": 3, "cols": 0], dtype: "f32")
        }
        #expect(error?.key == "shape.cols")
        let missing = #expect(throws: KernelSpecError.self) {
            try factory.validate(shape: ["cols": 3], dtype: "f32")
        }
        #expect(missing?.message.contains("missing 'rows'") == true)
    }
}
