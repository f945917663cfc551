// How an accuracy check is shown: the run table's short verdict (`ok (err 3.1e-07 of bound)`: the
// error relative to what the band is about — the standard GEMM error bound, or the output's
// largest magnitude), and the detailed form with the worst element's relative error only next
// to its context (`worst elem rel 8.6e-02 at |c|=2.1e-05 ≪ rms|c|=7.4`), plus the JSON fields.
import BenchModel
import Foundation

/// Text and JSON forms of an `AccuracyCheck`.
public enum AccuracyText {
    /// The run table's cell: `ok (err 3.1e-07 of bound)`, `ok (err 0 of max|c|)`,
    /// `ok (metric drop 1.0e-02)`, `ok (err unknown)` for checks stored before the normalised
    /// error existed, or `REJECTED`.
    public static func cell(_ c: AccuracyCheck) -> String {
        guard c.passed else { return "REJECTED" }
        return "ok (\(normalized(c)))"
    }

    /// `err 3.1e-07 of bound`, `metric drop 1.0e-02`, or `err unknown`.
    public static func normalized(_ c: AccuracyCheck) -> String {
        guard let e = c.normalizedError, let n = c.normalization else { return "err unknown" }
        if n == .taskMetric { return String(format: "metric drop %.1e", e) }
        return (e == 0 ? "err 0" : String(format: "err %.1e", e)) + " " + n.label
    }

    /// The worst element's relative error with its context, or nil when unknown or zero:
    /// `worst elem rel 8.6e-02 at |c|=2.1e-05 ≪ rms|c|=7.4` (`≪` when |c| is below 1% of the RMS).
    public static func worstElement(_ c: AccuracyCheck) -> String? {
        guard c.normalization != .taskMetric, c.maxRelError > 0, c.maxRelError.isFinite,
              let at = c.worstRelReference, let rms = c.outputRMS else { return nil }
        let relation = at < rms / 100 ? "≪" : at < rms ? "<" : "≥"
        return String(format: "worst elem rel %.1e at |c|=%.1e %@ rms|c|=%.2g", c.maxRelError, at, relation, rms)
    }

    /// The detailed verdict (HTML per-op tables): the cell, then the worst element in context, the
    /// max abs error and the cosine; a rejected check gives its reason.
    public static func detail(_ c: AccuracyCheck) -> String {
        guard c.passed else { return "REJECTED: \(c.reason ?? "outside tolerance")" }
        var parts = [cell(c)]
        if c.normalization != .taskMetric {
            parts.append(String(format: "max abs %.1e", c.maxAbsError))
            if let w = worstElement(c) { parts.append(w) }
            parts.append(String(format: "cosine %.7f", c.cosine))
        }
        return parts.joined(separator: " · ")
    }

    /// A check as a JSON object (exports): verdict, band, every error figure with its
    /// normalisation (absent when unknown).
    public static func jsonObject(_ c: AccuracyCheck) -> [String: Any] {
        var o: [String: Any] = [
            "name": c.key.description, "reference_variant": c.referenceVariant, "passed": c.passed,
            "max_abs_error": finite(c.maxAbsError), "worst_elem_rel_error": finite(c.maxRelError), "cosine": finite(c.cosine),
            "tolerance": ["abs": c.tolerance.abs, "rel": c.tolerance.rel, "min_cosine": c.tolerance.minCosine],
            "summary": cell(c),
        ]
        if let e = c.normalizedError { o["err_normalised"] = finite(e) }
        if let n = c.normalization { o["err_normalisation"] = n.rawValue }
        if let v = c.worstRelReference { o["worst_elem_ref_abs"] = finite(v) }
        if let v = c.outputRMS { o["output_rms"] = finite(v) }
        if let w = worstElement(c) { o["worst_elem"] = w }
        if let r = c.reason { o["reason"] = r }
        return o
    }

    /// JSON has no infinity: non-finite values become their text.
    static func finite(_ v: Double) -> Any { v.isFinite ? v : String(v) }
}
