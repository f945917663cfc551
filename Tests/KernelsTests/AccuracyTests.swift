import BenchModel
import Testing
@testable import Kernels

/// A deliberately broken GEMM, to show that the accuracy check rejects it.
final class BrokenGEMM: KernelInstance {
    enum Bug { case skipsLastKStep, shiftsColumns, leavesLastColumn, accumulatesAcrossRuns, dropsFirstKBlock }
    let m: Int, n: Int, k: Int, bug: Bug
    let inputs: GEMMInstance
    var c: [Float]

    init(m: Int, n: Int, k: Int, seed: UInt64, bug: Bug) {
        self.m = m
        self.n = n
        self.k = k
        self.bug = bug
        inputs = GEMMInstance(m: m, n: n, k: k, seed: seed, path: nil)
        c = [Float](repeating: 0, count: m * n)
    }

    func run() {
        let a = inputs.inputA, b = inputs.inputB
        let pEnd = bug == .skipsLastKStep ? k - 1 : k
        let pStart = bug == .dropsFirstKBlock ? min(256, k - 1) : 0
        for i in 0..<m {
            for j in 0..<n {
                var acc: Float = bug == .accumulatesAcrossRuns ? c[i * n + j] : 0
                let col = bug == .shiftsColumns ? min(j + 1, n - 1) : j
                for p in pStart..<pEnd { acc += a[i * k + p] * b[p * n + col] }
                if bug == .leavesLastColumn && j == n - 1 { continue }
                c[i * n + j] = acc
            }
        }
    }

    func output() -> UnsafeBufferPointer<Float> {
        c.withUnsafeBufferPointer { UnsafeBufferPointer(start: $0.baseAddress, count: $0.count) }
    }
}

@Suite struct AccuracyTests {
    let tolerance = Tolerance(abs: 1e-4, rel: 1e-4, minCosine: 0.9999)

    @Test(arguments: [BrokenGEMM.Bug.skipsLastKStep, .shiftsColumns, .leavesLastColumn, .accumulatesAcrossRuns,
                      .dropsFirstKBlock])
    func brokenGEMMIsRejected(bug: BrokenGEMM.Bug) {
        let (m, n, k) = (33, 40, 300)
        let shape = ["m": m, "n": n, "k": k]
        let reference = runAndCopy(GEMMInstance(m: m, n: n, k: k, seed: 9, path: nil))
        let broken = BrokenGEMM(m: m, n: n, k: k, seed: 9, bug: bug)
        broken.run()
        let candidate = runAndCopy(broken)  // second run: exposes accumulation across runs
        let result = check(reference, candidate, GEMMFactory().defaultTolerance(shape: shape, dtype: "f32"))
        #expect(!result.passed, "\(bug) was not caught")
        #expect(result.reason?.contains("first at element") == true, "\(result.reason ?? "nil")")
        #expect(result.maxAbsError > 1e-2)
    }

    @Test func identicalPasses() {
        let x: [Float] = [1, -2, 3.5, 0, 1e-20]
        let result = check(x, x, tolerance)
        #expect(result.passed)
        #expect(result.reason == nil)
        #expect(result.maxAbsError == 0)
        #expect(result.maxRelError == 0)
        #expect(abs(result.cosine - 1) < 1e-15)
        #expect(result.op == "test" && result.variant == "optimized" && result.referenceVariant == "reference")
        #expect(result.tolerance == tolerance)
    }

    @Test func iscloseSemanticsAndReason() {
        // allowed = 1e-4 + 1e-4·|ref|: 100 allows 0.0101, 0 allows 1e-4.
        #expect(check([100, 0], [100.01, 0.00009], tolerance).passed)
        let result = check([100, 0, 5], [100.01, 0.0002, 5], tolerance)
        #expect(!result.passed)
        #expect(result.reason?.contains("1 of 3 elements out of tolerance; first at element 1") == true)
        #expect(result.reason?.contains("candidate 0.000199") == true)
        #expect(result.reason?.contains("reference 0.0") == true)
        #expect(abs(result.maxAbsError - 0.01) < 1e-4)
        #expect(result.maxRelError > 1e30)  // 0.0002 / leastNormalMagnitude
    }

    @Test func lengthMismatchFails() {
        let result = check([1, 2, 3], [1, 2], tolerance)
        #expect(!result.passed)
        #expect(result.reason == "output length 2 differs from reference length 3")
    }

    @Test func nanAndInfinityHandling() {
        let nan = Float.nan, inf = Float.infinity
        #expect(check([1, nan, inf, -inf], [1, nan, inf, -inf], tolerance).passed)
        let nanOnlyInCandidate = check([1, 2, 3], [1, nan, 3], tolerance)
        #expect(!nanOnlyInCandidate.passed)
        #expect(nanOnlyInCandidate.reason?.contains("element 1: candidate nan") == true)
        #expect(!check([1, 2], [1, inf], tolerance).passed)
        #expect(!check([1, inf], [1, -inf], tolerance).passed)
        #expect(!check([1, nan], [1, 2], tolerance).passed)
        // Non-finite pairs do not poison the statistics.
        let both = check([1, nan], [1, nan], tolerance)
        #expect(both.maxAbsError == 0 && both.cosine == 1)
    }

    @Test func cosineCatchesSmallSystematicError() {
        // Every element is within a loose absolute band, but the output is a different direction.
        let ref: [Float] = (0..<100).map { Float($0 % 2 == 0 ? 0.01 : -0.01) }
        let cand: [Float] = ref.map { -$0 }
        let loose = Tolerance(abs: 0.05, rel: 0, minCosine: 0.9999)
        let result = check(ref, cand, loose)
        #expect(!result.passed)
        #expect(result.reason?.hasPrefix("cosine similarity") == true)
        #expect(result.cosine < -0.99)
    }

    @Test func zeroOutputs() {
        #expect(check([0, 0], [0, 0], tolerance).passed)
        let result = check([0, 0], [0, 1], Tolerance(abs: 2, rel: 0))
        #expect(!result.passed)
        #expect(result.cosine == 0)
        #expect(check([], [], tolerance).passed)
    }
}
