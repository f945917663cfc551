import BenchModel
import Testing
@testable import Analysis

@Suite struct DescriptiveTests {
    // Reference values from numpy: np.percentile(x, q) (linear), np.std(x, ddof=1).
    let x: [Double] = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]

    @Test func quantilesMatchNumpyLinear() {
        #expect(abs(Stats.quantile(x, 0.5) - 4.0) < 1e-12)
        #expect(abs(Stats.quantile(x, 0.9) - 6.0) < 1e-12)
        #expect(abs(Stats.quantile(x, 0.99) - 8.7) < 1e-12)
        #expect(abs(Stats.quantile(x, 0.25) - 2.5) < 1e-12)
        #expect(Stats.quantile([7], 0.99) == 7)
    }

    /// The bootstrap's selection median equals the sorted one bit for bit: random values, few
    /// distinct values (many ties), sorted, reversed, all equal; odd and even counts; and the value
    /// of every rank is where `select` says it is.
    @Test func medianInPlaceEqualsTheSortedMedian() {
        var rng = Random(seed: 7)
        var cases: [[Double]] = [[1], [2, 1], [5, 5, 5, 5], Array(stride(from: 0.0, to: 1000, by: 1)), Array(stride(from: 999.0, through: 0, by: -1))]
        for n in 1...300 {
            cases.append((0..<n).map { _ in Double(rng.nextInt(below: 1_000_000)) / 7 })
            cases.append((0..<n).map { _ in Double(rng.nextInt(below: 3)) })
        }
        cases.append((0..<10_001).map { _ in Double(rng.nextInt(below: 50)) + 0.25 })
        for values in cases {
            var work = values
            let expected = Stats.quantile(sorted: values.sorted(), 0.5)
            #expect(Stats.medianInPlace(&work).bitPattern == expected.bitPattern, "n = \(values.count)")
            #expect(work.sorted() == values.sorted())  // a permutation, nothing lost
        }
        let values = (0..<257).map { _ in Double(rng.nextInt(below: 20)) }
        let sorted = values.sorted()
        for rank in [0, 1, 128, 200, 256] {
            var work = values
            #expect(Stats.select(&work, rank: rank) == sorted[rank])
            #expect(work[..<rank].allSatisfy { $0 <= sorted[rank] } && work[rank...].allSatisfy { $0 >= sorted[rank] })
        }
    }

    /// One median for every module (BenchModel's): even counts average the middle pair, and an
    /// empty sample is NaN rather than a crash (the Analysis copy trapped on empty input).
    @Test func oneMedianEverywhere() {
        #expect(Stats.median(x) == Median.of(x))
        #expect(Median.of([4, 1, 3, 2]) == 2.5)
        #expect(Stats.median([]).isNaN)
        var a: UInt64 = 7, b: UInt64 = 7
        #expect(Random.splitMix64(&a) == SplitMix64.step(&b) && a == b)
        #expect(FNV1a64.hash(Array("a".utf8)) == 0xAF63_DC4C_8601_EC8C)  // FNV-1a 64 test vector
    }

    @Test func summary() throws {
        let s = try #require(Summary(x))
        #expect(s.n == 11)
        #expect(s.min == 1 && s.max == 9)
        #expect(abs(s.mean - 44.0 / 11) < 1e-12)
        #expect(abs(s.stddev - 2.3664319132398464) < 1e-12)
        #expect(abs(s.mad - 1.0) < 1e-12)
        #expect(abs(s.cv - s.stddev / s.mean) < 1e-12)
        #expect(Summary([]) == nil)
        #expect(Summary([5])?.stddev == 0)
    }

    @Test func outliersAreMarkedNotRemoved() {
        let v: [Double] = [10, 10.1, 9.9, 10.05, 9.95, 10.02, 30]
        #expect(Stats.outlierIndices(v) == [6])
        #expect(Stats.outlierIndices([1, 2, 3]) == [])
    }

    @Test func variantStatisticsDerivedMetrics() throws {
        let op = OpRecord(suite: "s", name: "g", kind: "gemm", shape: [:], dtype: "f32", flops: 2000, bytes: 400, threshold: 0.05)
        let c = [CounterValue(event: "instructions", value: 3000, raw: 3000, timeEnabled: 10, timeRunning: 10, backend: .hw),
                 CounterValue(event: "cycles", value: 1500, raw: 1500, timeEnabled: 10, timeRunning: 10, backend: .hw),
                 CounterValue(event: "cache-misses", value: 30, raw: 15, timeEnabled: 10, timeRunning: 5, backend: .hw)]
        let samples = (0..<4).map { i in
            Sample(key: op.benchmarkKey(variant: "optimized"), sequence: i, iterations: 10, wallNs: 10_100, cpuNs: 10_000, overheadNs: 100,
                   counters: c, flags: i == 0 ? .multiplexed : [])
        }
        let st = try #require(VariantStatistics(op: op, variant: "optimized", samples: samples))
        #expect(st.time.p50 == 1000)           // (10100 - 100) / 10
        #expect(st.ipc == 2)
        #expect(st.gflops == 2)                 // 2000 flop / 1000 ns
        #expect(st.gbytesPerSecond == 0.4)
        #expect(st.cacheMisses == 3)
        #expect(st.cacheMissesPerKiloInstruction == 10)
        #expect(st.multiplexedSamples == 1)
        #expect(st.counterBackend == .hw)
        #expect(VariantStatistics(op: op, variant: "reference", samples: samples) == nil)
    }
}
