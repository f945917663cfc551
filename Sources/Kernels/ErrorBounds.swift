// The standard error-bound scales of the GEMM-like reference instances (`ErrorBoundSource`): an
// accuracy check divides each output element's error by Σ_k |a_ik·b_kj| (+ |bias|), so the figure
// it reports is comparable across shapes and is not inflated by outputs near zero. Kept apart
// from the kernels: it reads only the instances' public inputs.
import BenchModel

extension GEMMInstance: ErrorBoundSource {
    /// Σ_p |A[i, p]·B[p, j]| per element of C.
    public func errorBoundScale() -> [Float] {
        guard let a = inputA.baseAddress, let b = inputB.baseAddress else { return [] }
        return Accuracy.absProductSums(m: m, n: n, k: k, a: a, lda: k, b: b)
    }
}

extension BatchedGEMMInstance: ErrorBoundSource {
    /// Σ_p |A_e[i, p]·B_e[p, j]| per element of every C_e.
    public func errorBoundScale() -> [Float] {
        guard let a = inputA.baseAddress, let b = inputB.baseAddress else { return [] }
        return (0..<batch).flatMap { e in
            Accuracy.absProductSums(m: m, n: n, k: k, a: a + e * m * k, lda: k, b: b + e * k * n)
        }
    }
}

extension GEMVInstance: ErrorBoundSource {
    /// Σ_p |A[i, p]·x[p]| per element of y (x as a k×1 matrix).
    public func errorBoundScale() -> [Float] {
        guard let a = inputA.baseAddress, let x = inputX.baseAddress else { return [] }
        return Accuracy.absProductSums(m: n, n: 1, k: k, a: a, lda: k, b: x)
    }
}

extension LinearInstance: ErrorBoundSource {
    /// |b[j]| + Σ_p |x[i, p]·W[j, p]| per element of y.
    public func errorBoundScale() -> [Float] {
        guard let x = inputX.baseAddress, let w = inputW.baseAddress, let b = inputBias.baseAddress else { return [] }
        return Accuracy.absProductSums(m: m, n: outFeatures, k: inFeatures, a: x, lda: inFeatures, b: w,
                                       bTransposed: true, bias: b)
    }
}
