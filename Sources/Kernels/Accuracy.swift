// Accuracy comparison of an optimized variant's output against its reference variant's output on
// the same inputs. A variant out of its band is rejected and never reported as a speedup. Integer
// (i32) outputs of user kernels are compared exactly, without a band.
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

    /// Compares integer outputs exactly: element `i` passes only when `candidate[i] == reference[i]`
    /// (no band, no conversion to Float, which is inexact above 2^24). The record's tolerance is
    /// abs 0 / rel 0 / min cosine 1; the error statistics are computed in Double. Different lengths
    /// fail without comparing. `reason` (set only on failure) names the first differing element
    /// with both values.
    public static func compareExactly(reference: UnsafeBufferPointer<Int32>, candidate: UnsafeBufferPointer<Int32>,
                                      op: String, variant: String, referenceVariant: String) -> AccuracyCheck {
        let exact = Tolerance(abs: 0, rel: 0, minCosine: 1)
        func result(_ maxAbs: Double, _ maxRel: Double, _ cosine: Double, _ reason: String?) -> AccuracyCheck {
            AccuracyCheck(op: op, variant: variant, referenceVariant: referenceVariant, maxAbsError: maxAbs,
                          maxRelError: maxRel, cosine: cosine, tolerance: exact, passed: reason == nil, reason: reason)
        }
        guard reference.count == candidate.count else {
            return result(.infinity, .infinity, 0,
                          "output length \(candidate.count) differs from reference length \(reference.count)")
        }
        var maxAbs = 0.0, maxRel = 0.0
        var dot = 0.0, refNorm = 0.0, candNorm = 0.0
        var differing = 0, first = -1
        for i in 0..<reference.count {
            let r = Double(reference[i]), c = Double(candidate[i])  // exact: every Int32 is a Double
            dot += r * c
            refNorm += r * r
            candNorm += c * c
            guard reference[i] != candidate[i] else { continue }
            if first < 0 { first = i }
            differing += 1
            let diff = abs(c - r)
            maxAbs = max(maxAbs, diff)
            maxRel = max(maxRel, diff / max(abs(r), 1))
        }
        guard first >= 0 else { return result(0, 0, 1, nil) }
        let cosine = refNorm == 0 || candNorm == 0 ? 0 : dot / (refNorm.squareRoot() * candNorm.squareRoot())
        return result(maxAbs, maxRel, cosine,
                      "\(differing) of \(reference.count) elements differ (integer outputs must match exactly); "
                      + "first at element \(first): candidate \(candidate[first]), reference \(reference[first])")
    }

    /// Compares the outputs of two instances that ran on the same inputs, as the runner's verifier
    /// does: exactly (`compareExactly`) when both expose an integer output
    /// (`OutputIntegrityChecked.exactOutput`), else `compare` of their `output()` within `tolerance`.
    public static func compare(reference: KernelInstance, candidate: KernelInstance, tolerance: Tolerance,
                               op: String, variant: String, referenceVariant: String) -> AccuracyCheck {
        if let r = (reference as? any OutputIntegrityChecked)?.exactOutput,
           let c = (candidate as? any OutputIntegrityChecked)?.exactOutput {
            return compareExactly(reference: r, candidate: c, op: op, variant: variant, referenceVariant: referenceVariant)
        }
        return compare(reference: reference.output(), candidate: candidate.output(), tolerance: tolerance,
                       op: op, variant: variant, referenceVariant: referenceVariant)
    }
}
