// The accuracy column: what the band tests (error relative to the GEMM bound or to max|c|), the
// worst element's relative error only with its context, unknown for older rows; the fusion log's
// predicted vs measured cells.
import BenchModel
import Foundation
@testable import Report
import Testing

@Suite struct AccuracyTextTests {
    func check(normalized: Double?, _ n: ErrorNormalization?, passed: Bool = true) -> AccuracyCheck {
        AccuracyCheck(suite: "default", op: "gemm_512", variant: "optimized", referenceVariant: "reference", maxAbsError: 3e-5,
                      maxRelError: 8.6e-2, cosine: 0.9999999, tolerance: Tolerance(abs: 2.3e-3, rel: 1e-4), passed: passed,
                      reason: passed ? nil : "1 of 4 elements out of tolerance", normalizedError: normalized, normalization: n,
                      worstRelReference: normalized == nil ? nil : 2.1e-5, outputRMS: normalized == nil ? nil : 7.4)
    }

    @Test func columnShowsTheNormalisedErrorNotTheWorstRelativeOne() {
        #expect(AccuracyText.cell(check(normalized: 3.1e-7, .bound)) == "ok (err 3.1e-07 of bound)")
        #expect(AccuracyText.cell(check(normalized: 2e-7, .outputMax)) == "ok (err 2.0e-07 of max|c|)")
        #expect(AccuracyText.cell(check(normalized: 0, .outputMax)) == "ok (err 0 of max|c|)")
        #expect(AccuracyText.cell(check(normalized: 0.01, .taskMetric)) == "ok (metric drop 1.0e-02)")
        #expect(AccuracyText.cell(check(normalized: nil, nil)) == "ok (err unknown)", "rows stored before v13")
        #expect(AccuracyText.cell(check(normalized: 3.1e-7, .bound, passed: false)) == "REJECTED")
        #expect(!AccuracyText.cell(check(normalized: 3.1e-7, .bound)).contains("8.6e-02"))
    }

    @Test func detailGivesTheWorstElementWithItsContext() {
        let d = AccuracyText.detail(check(normalized: 3.1e-7, .bound))
        #expect(d.hasPrefix("ok (err 3.1e-07 of bound)"))
        #expect(d.contains("worst elem rel 8.6e-02 at |c|=2.1e-05 ≪ rms|c|=7.4"), "\(d)")
        #expect(AccuracyText.worstElement(check(normalized: nil, nil)) == nil, "no context, no bare relative error")
        #expect(AccuracyText.detail(check(normalized: 3.1e-7, .bound, passed: false)).hasPrefix("REJECTED: 1 of 4"))
    }

    @Test func jsonCarriesEveryFigureWithItsNormalisation() throws {
        let o = AccuracyText.jsonObject(check(normalized: 3.1e-7, .bound))
        #expect(o["err_normalised"] as? Double == 3.1e-7)
        #expect(o["err_normalisation"] as? String == "bound")
        #expect(o["worst_elem_rel_error"] as? Double == 8.6e-2)
        #expect(o["worst_elem_ref_abs"] as? Double == 2.1e-5)
        #expect((o["worst_elem"] as? String)?.contains("≪") == true)
        let old = AccuracyText.jsonObject(check(normalized: nil, nil))
        #expect(old["err_normalised"] == nil && old["err_normalisation"] == nil)
        #expect(JSONSerialization.isValidJSONObject(AccuracyText.jsonObject(
            AccuracyCheck(op: "x", variant: "v", referenceVariant: "r", maxAbsError: .infinity, maxRelError: .infinity, cosine: 0,
                          tolerance: Tolerance(abs: 0, rel: 0), passed: false, reason: "could not be prepared"))))
    }

    @Test func fusionLogShowsPredictedVersusMeasured() {
        var d = FusionDecision(suite: "fusion", model: "linear_chain6", group: ["fc", "bias"], rule: "gemm-epilogue",
                               outcome: .rejectedSlower, reason: "measured 1.012× slower [CI 1.006–1.018]; predicted −4%",
                               predictedUnfusedNs: 799_000, predictedFusedNs: 768_000, measuredUnfusedNs: 800_000, measuredFusedNs: 809_600,
                               measuredRatioLower: 1.006, measuredRatioUpper: 1.018)
        #expect(FusionRenderer.predicted(d) == "799 µs → 768 µs (−3.9%)")
        #expect(FusionRenderer.measured(d) == "800 µs → 810 µs (+1.2% [+0.6%, +1.8%])", "\(FusionRenderer.measured(d))")
        let text = FusionRenderer.render(decisions: [d], meta: [:])
        #expect(text.contains("rejected: measured slower") && text.contains("measured unfused→fused [95% CI]"))
        d.measuredFusedNs = nil
        d.outcome = .rejectedIllegal
        #expect(FusionRenderer.measured(d) == "800 µs → – (no fused kernel)")
        d.measuredUnfusedNs = nil
        #expect(FusionRenderer.measured(d) == "not measured")
    }
}
