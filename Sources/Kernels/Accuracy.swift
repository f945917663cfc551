// Accuracy comparison of an optimized variant's output against its reference variant's output on
// the same inputs. A variant out of its band is rejected and never reported as a speedup.
import BenchModel

/// Compares two outputs element by element (numpy `isclose` semantics) and by cosine similarity.
public enum Accuracy {
    /// Floor for the denominator of the relative error, so exact zeros in the reference do not divide by zero.
    public static let relativeErrorFloor = Double(Float.leastNormalMagnitude)

    /// Compares `candidate` against `reference`.
    ///
    /// - Element `i` passes when `|cand − ref| ≤ tolerance.abs + tolerance.rel·|ref|`.
    /// - Non-finite values pass only when the reference holds the same value at the same index
    ///   (NaN with NaN, +Inf with +Inf); they are left out of the error and cosine statistics.
    /// - The whole output passes when every element passes and the cosine similarity (accumulated
    ///   in Double) is at least `tolerance.minCosine`. Two all-zero outputs have cosine 1.
    /// - Different lengths fail without comparing.
    ///
    /// `maxRelError` is `|cand − ref| / max(|ref|, relativeErrorFloor)`. `reason` (set only on
    /// failure) names the first failing element with both values, or the cosine shortfall.
    public static func compare(reference: UnsafeBufferPointer<Float>, candidate: UnsafeBufferPointer<Float>,
                               tolerance: Tolerance, op: String, variant: String,
                               referenceVariant: String) -> AccuracyCheck {
        func result(_ maxAbs: Double, _ maxRel: Double, _ cosine: Double, _ reason: String?) -> AccuracyCheck {
            AccuracyCheck(op: op, variant: variant, referenceVariant: referenceVariant, maxAbsError: maxAbs,
                          maxRelError: maxRel, cosine: cosine, tolerance: tolerance, passed: reason == nil,
                          reason: reason)
        }
        guard reference.count == candidate.count else {
            return result(.infinity, .infinity, 0,
                          "output length \(candidate.count) differs from reference length \(reference.count)")
        }
        var maxAbs = 0.0, maxRel = 0.0
        var dot = 0.0, refNorm = 0.0, candNorm = 0.0
        var failures = 0
        var firstFailure: String?
        for i in 0..<reference.count {
            let r = Double(reference[i]), c = Double(candidate[i])
            if !r.isFinite || !c.isFinite {
                let same = (r.isNaN && c.isNaN) || r == c
                if !same {
                    failures += 1
                    if firstFailure == nil {
                        firstFailure = "element \(i): candidate \(c), reference \(r) (non-finite value not matched by the other side)"
                    }
                }
                continue
            }
            let diff = abs(c - r)
            maxAbs = max(maxAbs, diff)
            maxRel = max(maxRel, diff / max(abs(r), relativeErrorFloor))
            dot += r * c
            refNorm += r * r
            candNorm += c * c
            let allowed = tolerance.abs + tolerance.rel * abs(r)
            if !(diff <= allowed) {
                failures += 1
                if firstFailure == nil {
                    firstFailure = "element \(i): candidate \(c), reference \(r), |diff| \(diff) > allowed \(allowed) "
                        + "(abs \(tolerance.abs) + rel \(tolerance.rel)·|ref|)"
                }
            }
        }
        let cosine: Double
        if refNorm == 0 && candNorm == 0 {
            cosine = 1
        } else if refNorm == 0 || candNorm == 0 {
            cosine = 0
        } else {
            cosine = dot / (refNorm.squareRoot() * candNorm.squareRoot())
        }
        if let firstFailure {
            return result(maxAbs, maxRel, cosine,
                          "\(failures) of \(reference.count) elements out of tolerance; first at \(firstFailure)")
        }
        if !(cosine >= tolerance.minCosine) {
            return result(maxAbs, maxRel, cosine,
                          "cosine similarity \(cosine) below minimum \(tolerance.minCosine)")
        }
        return result(maxAbs, maxRel, cosine, nil)
    }
}
