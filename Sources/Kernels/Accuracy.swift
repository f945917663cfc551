// Accuracy comparison of an optimized variant's output against its reference variant's output on
// the same inputs. A variant out of its band is rejected and never reported as a speedup. Integer
// (i32) outputs of user kernels are compared exactly, without a band. Besides the verdict, a check
// records a normalised error (relative to the standard error bound for GEMM-like ops, else to the
// output's largest magnitude) and the worst element's relative error with its context.
import BenchModel

/// A reference instance that knows, per output element, the scale of the standard floating-point
/// error bound of its computation: for a dot product c = Σ_k a_k·b_k, |ĉ − c| ≤ γ_k·Σ_k |a_k·b_k|
/// (γ_k ≈ k·ε), so the scale is Σ_k |a_k·b_k| (plus |bias| where a bias is added). An accuracy
/// check divides each element's error by it (`ErrorNormalization.bound`).
public protocol ErrorBoundSource: KernelInstance {
    /// Σ |terms| of every output element, in `output()`'s layout (computed from the instance's
    /// inputs; does not need a `run()` first). Called once per op, outside any timing.
    func errorBoundScale() -> [Float]
}

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
    ///
    /// Reported alongside (they do not change the verdict): `normalizedError`, the largest
    /// `|cand − ref| / max(errorScale[i], relativeErrorFloor)` when `errorScale` (the reference's
    /// `ErrorBoundSource.errorBoundScale()`, same length as the outputs) is given
    /// (`ErrorNormalization.bound`), else `maxAbsError / max|ref|` (`.outputMax`); the |ref| of the
    /// element with the largest relative error (`worstRelReference`) and the reference's RMS
    /// (`outputRMS`), over finite elements.
    public static func compare(reference: UnsafeBufferPointer<Float>, candidate: UnsafeBufferPointer<Float>,
                               tolerance: Tolerance, op: String, variant: String,
                               referenceVariant: String, errorScale: UnsafeBufferPointer<Float>? = nil) -> AccuracyCheck {
        let scale = errorScale.flatMap { $0.count == reference.count ? $0 : nil }
        var normalized = 0.0, worstRelRef = 0.0, maxRef = 0.0, finite = 0
        var maxAbs = 0.0, maxRel = 0.0
        var dot = 0.0, refNorm = 0.0, candNorm = 0.0
        func result(_ maxAbs: Double, _ maxRel: Double, _ cosine: Double, _ reason: String?) -> AccuracyCheck {
            let compared = finite > 0 || reference.isEmpty
            let norm = scale != nil ? normalized : (maxAbs == 0 ? 0 : maxAbs / max(maxRef, relativeErrorFloor))
            return AccuracyCheck(op: op, variant: variant, referenceVariant: referenceVariant, maxAbsError: maxAbs,
                                 maxRelError: maxRel, cosine: cosine, tolerance: tolerance, passed: reason == nil,
                                 reason: reason, normalizedError: compared ? norm : nil,
                                 normalization: compared ? (scale != nil ? .bound : .outputMax) : nil,
                                 worstRelReference: compared ? worstRelRef : nil,
                                 outputRMS: compared ? (finite > 0 ? (refNorm / Double(finite)).squareRoot() : 0) : nil)
        }
        guard reference.count == candidate.count else {
            return result(.infinity, .infinity, 0,
                          "output length \(candidate.count) differs from reference length \(reference.count)")
        }
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
            finite += 1
            maxAbs = max(maxAbs, diff)
            maxRef = max(maxRef, abs(r))
            let rel = diff / max(abs(r), relativeErrorFloor)
            if rel > maxRel {
                maxRel = rel
                worstRelRef = abs(r)
            }
            if let scale { normalized = max(normalized, diff / max(Double(scale[i]), relativeErrorFloor)) }
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
        var maxRef = 0.0, worstRelRef = 0.0, refNorm = 0.0
        func result(_ maxAbs: Double, _ maxRel: Double, _ cosine: Double, _ reason: String?) -> AccuracyCheck {
            let compared = reference.count == candidate.count
            return AccuracyCheck(op: op, variant: variant, referenceVariant: referenceVariant, maxAbsError: maxAbs,
                                 maxRelError: maxRel, cosine: cosine, tolerance: exact, passed: reason == nil, reason: reason,
                                 normalizedError: compared ? (maxAbs == 0 ? 0 : maxAbs / max(maxRef, 1)) : nil,
                                 normalization: compared ? .outputMax : nil, worstRelReference: compared ? worstRelRef : nil,
                                 outputRMS: compared ? (reference.isEmpty ? 0 : (refNorm / Double(reference.count)).squareRoot()) : nil)
        }
        guard reference.count == candidate.count else {
            return result(.infinity, .infinity, 0,
                          "output length \(candidate.count) differs from reference length \(reference.count)")
        }
        var maxAbs = 0.0, maxRel = 0.0
        var dot = 0.0, candNorm = 0.0
        var differing = 0, first = -1
        for i in 0..<reference.count {
            let r = Double(reference[i]), c = Double(candidate[i])  // exact: every Int32 is a Double
            dot += r * c
            refNorm += r * r
            candNorm += c * c
            maxRef = max(maxRef, abs(r))
            guard reference[i] != candidate[i] else { continue }
            if first < 0 { first = i }
            differing += 1
            let diff = abs(c - r)
            maxAbs = max(maxAbs, diff)
            let rel = diff / max(abs(r), 1)
            if rel > maxRel {
                maxRel = rel
                worstRelRef = abs(r)
            }
        }
        guard first >= 0 else { return result(0, 0, 1, nil) }
        let cosine = refNorm == 0 || candNorm == 0 ? 0 : dot / (refNorm.squareRoot() * candNorm.squareRoot())
        return result(maxAbs, maxRel, cosine,
                      "\(differing) of \(reference.count) elements differ (integer outputs must match exactly); "
                      + "first at element \(first): candidate \(candidate[first]), reference \(reference[first])")
    }

    /// Compares the outputs of two instances that ran on the same inputs, as the runner's verifier
    /// does: exactly (`compareExactly`) when both expose an integer output
    /// (`OutputIntegrityChecked.exactOutput`), else `compare` of their `output()` within `tolerance`,
    /// normalised by `errorScale` (pass `errorScale(of: reference)`, computed once per op; nil:
    /// relative to the output's largest magnitude).
    public static func compare(reference: KernelInstance, candidate: KernelInstance, tolerance: Tolerance,
                               op: String, variant: String, referenceVariant: String,
                               errorScale: [Float]? = nil) -> AccuracyCheck {
        if let r = (reference as? any OutputIntegrityChecked)?.exactOutput,
           let c = (candidate as? any OutputIntegrityChecked)?.exactOutput {
            return compareExactly(reference: r, candidate: c, op: op, variant: variant, referenceVariant: referenceVariant)
        }
        guard let errorScale else {
            return compare(reference: reference.output(), candidate: candidate.output(), tolerance: tolerance,
                           op: op, variant: variant, referenceVariant: referenceVariant)
        }
        return errorScale.withUnsafeBufferPointer { scale in
            compare(reference: reference.output(), candidate: candidate.output(), tolerance: tolerance,
                    op: op, variant: variant, referenceVariant: referenceVariant, errorScale: scale)
        }
    }

    /// The per-element error-bound scale of a reference instance (`ErrorBoundSource`), or nil when
    /// its op has no such bound (the check then normalises by the output's largest magnitude).
    public static func errorScale(of reference: KernelInstance) -> [Float]? {
        (reference as? any ErrorBoundSource)?.errorBoundScale()
    }

    /// Σ_p |a[i, p]|·|b[p, j]| for row-major A (m×k, row stride `lda`) and B (k×n, or n×k when
    /// `bTransposed`), plus |bias[j]| when given: the scale of the standard error bound of
    /// C = A·B (+ bias). Accumulated in Float over non-negative terms (relative error ≤ k·ε,
    /// ample for a scale), in i-p-j order so the inner loop vectorises.
    public static func absProductSums(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>,
                                      bTransposed: Bool = false, bias: UnsafePointer<Float>? = nil) -> [Float] {
        guard m > 0, n > 0, k > 0 else { return [Float](repeating: 0, count: max(0, m * n)) }
        var absB = [Float](repeating: 0, count: k * n)
        for p in 0..<k {
            for j in 0..<n { absB[p * n + j] = abs(bTransposed ? b[j * k + p] : b[p * n + j]) }
        }
        var out = [Float](repeating: 0, count: m * n)
        absB.withUnsafeBufferPointer { bb in
            out.withUnsafeMutableBufferPointer { o in
                guard let ob = o.baseAddress, let bs = bb.baseAddress else { return }
                for i in 0..<m {
                    let row = ob + i * n
                    if let bias { for j in 0..<n { row[j] = abs(bias[j]) } }
                    for p in 0..<k {
                        let ai = abs(a[i * lda + p])
                        let brow = bs + p * n
                        for j in 0..<n { row[j] += ai * brow[j] }
                    }
                }
            }
        }
        return out
    }
}
