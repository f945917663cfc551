import BenchModel
@testable import Kernels

/// Runs `instance` and copies its output.
func runAndCopy(_ instance: KernelInstance) -> [Float] {
    instance.run()
    return Array(instance.output())
}

/// Compares two arrays with `Accuracy.compare`.
func check(_ reference: [Float], _ candidate: [Float], _ tolerance: Tolerance,
           variant: String = "optimized") -> AccuracyCheck {
    reference.withUnsafeBufferPointer { r in
        candidate.withUnsafeBufferPointer { c in
            Accuracy.compare(reference: r, candidate: c, tolerance: tolerance, op: "test", variant: variant,
                             referenceVariant: "reference")
        }
    }
}

/// C = A·B with Double accumulation, rounded to Float at the end.
func doubleProduct(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, m: Int, n: Int, k: Int) -> [Float] {
    var c = [Float](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var acc = 0.0
            for p in 0..<k { acc += Double(a[i * k + p]) * Double(b[p * n + j]) }
            c[i * n + j] = Float(acc)
        }
    }
    return c
}
