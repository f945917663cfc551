// Tests of the `gemm_int8` op's `a_nonnegative` shape key: A drawn from [0, 127] (a layer's
// post-ReLU or pixel activations, which the AVX2 kernel runs without its sign step), the optimized
// variant exact against the reference through the factory on ragged shapes, and values other than
// 0 and 1 refused. Not timing-based.
import BenchModel
@testable import Kernels
import Testing

@Suite struct Int8FactoryTests {
    let factory = Int8GEMMFactory()

    @Test func nonnegativeAIsDrawnFromZeroTo127AndStaysExact() throws {
        for (m, n, k) in [(539, 128, 64), (37, 33, 67), (5, 13, 100), (1, 10, 64)] {
            var outputs: [String: [Float]] = [:]
            for variant in ["reference", "optimized"] {
                let shape: Shape = ["m": m, "n": n, "k": k, "a_nonnegative": 1]
                try factory.validate(shape: shape, dtype: "i8")
                let instance = try #require(try factory.make(variant: variant, shape: shape, dtype: "i8", seed: 42) as? Int8GEMMInstance)
                let a = UnsafeBufferPointer(start: instance.a, count: m * k)
                #expect(a.allSatisfy { $0 >= 0 }, "\(m)×\(n)×\(k)")
                #expect(a.contains { $0 >= 100 }, "the range reaches the top: \(m)×\(n)×\(k)")
                instance.run()
                outputs[variant] = Array(instance.output())
            }
            #expect(outputs["optimized"] == outputs["reference"], "\(m)×\(n)×\(k)")
        }
    }

    @Test func signedAIsTheDefault() throws {
        let instance = try #require(try factory.make(variant: "reference", shape: ["m": 16, "n": 8, "k": 64], dtype: "i8", seed: 1) as? Int8GEMMInstance)
        let explicit = try #require(try factory.make(variant: "reference", shape: ["m": 16, "n": 8, "k": 64, "a_nonnegative": 0],
                                                     dtype: "i8", seed: 1) as? Int8GEMMInstance)
        let a = Array(UnsafeBufferPointer(start: instance.a, count: 16 * 64))
        #expect(a.contains { $0 < 0 })
        #expect(a == Array(UnsafeBufferPointer(start: explicit.a, count: 16 * 64)))
    }

    @Test func otherValuesAreRefused() {
        for bad in [2, -1, 127] {
            #expect(throws: KernelSpecError.self) {
                try factory.validate(shape: ["m": 4, "n": 4, "k": 4, "a_nonnegative": bad], dtype: "i8")
            }
        }
        #expect(throws: KernelSpecError.self) { try factory.validate(shape: ["m": 4, "n": 4, "k": 4, "a_min": 0], dtype: "i8") }
    }
}
