// The normalised error an accuracy check reports (relative to the standard GEMM error bound, or
// to the output's largest magnitude) and the worst element's context; the band's verdict is
// unchanged by them.
import BenchModel
import Testing
@testable import Kernels

@Suite struct NormalisedErrorTests {
    /// The optimized GEMM against the reference: the error is reported relative to Σ|a·b| per
    /// element (a few ε), far below the worst element's relative error.
    @Test func gemmErrorIsReportedAgainstTheStandardBound() throws {
        let (m, n, k) = (37, 45, 512)
        let factory = GEMMFactory()
        let shape = ["m": m, "n": n, "k": k]
        let reference = try factory.make(variant: "reference", shape: shape, dtype: "f32", seed: 3)
        let optimized = try factory.make(variant: "optimized", shape: shape, dtype: "f32", seed: 3)
        reference.run()
        optimized.run()
        let scale = try #require(Accuracy.errorScale(of: reference))
        #expect(scale.count == m * n)
        let check = Accuracy.compare(reference: reference, candidate: optimized, tolerance: factory.defaultTolerance(shape: shape, dtype: "f32"),
                                     op: "gemm", variant: "optimized", referenceVariant: "reference", errorScale: scale)
        #expect(check.passed)
        #expect(check.normalization == .bound)
        let err = try #require(check.normalizedError)
        // Two float32 summation orders over k = 512 terms: ≤ 2·k·ε of the bound, in practice ~ε.
        #expect(err < 2 * Double(k) * Double(Float.ulpOfOne))
        #expect(err < check.maxRelError, "the bound-relative error is not inflated by outputs near zero")
        #expect(check.worstRelReference != nil && check.outputRMS != nil)
    }

    /// The scale is Σ_p |a_ip·b_pj| (checked against a direct Double sum).
    @Test func boundScaleIsSumOfAbsoluteTerms() {
        let g = GEMMInstance(m: 3, n: 5, k: 7, seed: 11, path: nil)
        let scale = g.errorBoundScale()
        let a = g.inputA, b = g.inputB
        for i in 0..<3 {
            for j in 0..<5 {
                var s = 0.0
                for p in 0..<7 { s += abs(Double(a[i * 7 + p]) * Double(b[p * 5 + j])) }
                #expect(abs(Double(scale[i * 5 + j]) - s) <= 1e-6 * s)
            }
        }
        let lin = LinearInstance(m: 2, inFeatures: 3, outFeatures: 4, seed: 5, path: nil)
        let x = lin.inputX, w = lin.inputW, bias = lin.inputBias
        let ls = lin.errorBoundScale()
        var s = Double(abs(bias[1]))
        for p in 0..<3 { s += abs(Double(x[3 + p]) * Double(w[1 * 3 + p])) }
        #expect(abs(Double(ls[1 * 4 + 1]) - s) <= 1e-6 * s)
    }

    /// A deliberately wrong GEMM is still rejected when the check is normalised by the bound, and
    /// its normalised error is large (O(1/k) for one dropped term, not O(ε)).
    @Test(arguments: [BrokenGEMM.Bug.skipsLastKStep, .shiftsColumns])
    func wrongGEMMIsStillRejected(bug: BrokenGEMM.Bug) {
        let (m, n, k) = (33, 40, 300)
        let shape = ["m": m, "n": n, "k": k]
        let broken = BrokenGEMM(m: m, n: n, k: k, seed: 9, bug: bug)
        let reference = broken.inputs
        reference.run()
        broken.run()
        let check = Accuracy.compare(reference: reference, candidate: broken, tolerance: GEMMFactory().defaultTolerance(shape: shape, dtype: "f32"),
                                     op: "gemm", variant: "broken", referenceVariant: "reference",
                                     errorScale: Accuracy.errorScale(of: reference))
        #expect(!check.passed, "\(bug) was not caught")
        #expect((check.normalizedError ?? 0) > 1e-3)
        #expect(check.normalization == .bound)
    }

    /// Without a bound, the error is relative to max|ref|; the worst element's relative error is
    /// reported with the |ref| it occurred at, so a tiny output's large relative error reads as such.
    @Test func outputMaxNormalisationAndWorstElementContext() {
        let reference: [Float] = [10, -8, 2e-5, 4]
        let candidate: [Float] = [10.000_1, -8, 2.2e-5, 4]
        let c = check(reference, candidate, Tolerance(abs: 1e-3, rel: 1e-3))
        #expect(c.passed)
        #expect(c.normalization == .outputMax)
        #expect(abs((c.normalizedError ?? 0) - 1e-5) < 2e-7)
        #expect(abs(c.maxRelError - 0.1) < 1e-3)
        #expect(abs((c.worstRelReference ?? 0) - 2e-5) < 1e-9, "the worst relative error is at the tiny output")
        let rms = ((100.0 + 64 + 16) / 4).squareRoot()
        #expect(abs((c.outputRMS ?? 0) - rms) < 1e-4)
    }

    /// The band is as strict as before: the same element fails with or without a scale given.
    @Test func scaleDoesNotChangeTheVerdict() {
        let reference: [Float] = [1, 2, 3]
        let candidate: [Float] = [1, 2.1, 3]
        let scale: [Float] = [1e9, 1e9, 1e9]
        let plain = check(reference, candidate, Tolerance(abs: 1e-3, rel: 1e-3))
        let scaled = reference.withUnsafeBufferPointer { r in
            candidate.withUnsafeBufferPointer { c in
                scale.withUnsafeBufferPointer { s in
                    Accuracy.compare(reference: r, candidate: c, tolerance: Tolerance(abs: 1e-3, rel: 1e-3), op: "t",
                                     variant: "o", referenceVariant: "r", errorScale: s)
                }
            }
        }
        #expect(!plain.passed && !scaled.passed)
        #expect(plain.reason == scaled.reason)
        #expect((scaled.normalizedError ?? 1) < 1e-9)
    }

    /// Task checks carry the metric drop as their normalised figure; exact integer checks are relative to max|c|.
    @Test func taskAndExactChecksSayWhatTheyAreRelativeTo() {
        let t = TaskAccuracy.check(op: "e", variant: "v", referenceVariant: "r", metric: "top-1", reference: 0.9, candidate: 0.89, band: 0.02)
        #expect(t.normalization == .taskMetric && abs((t.normalizedError ?? 0) - 0.01) < 1e-12)
        let r: [Int32] = [5, -7, 100], c: [Int32] = [5, -7, 100]
        let e = r.withUnsafeBufferPointer { rb in c.withUnsafeBufferPointer { cb in
            Accuracy.compareExactly(reference: rb, candidate: cb, op: "i", variant: "v", referenceVariant: "r")
        } }
        #expect(e.passed && e.normalization == .outputMax && e.normalizedError == 0)
    }
}
