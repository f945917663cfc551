// Benchmark identity in the analysis layer: the key types, statistics of one benchmark when two
// suites share an op name, and the batches decisions are made from.
import BenchModel
import Foundation
import Testing
@testable import Analysis

@Suite struct BenchmarkIdentityTests {
    @Test func keysPrintParseAndOrder() throws {
        let key = BenchmarkKey(suite: "smoke", op: "gemm_128", variant: "optimized")
        #expect(key.description == "smoke/gemm_128/optimized")
        #expect(key.opKey.description == "smoke/gemm_128")
        #expect(BenchmarkKey.parse("smoke/gemm_128/optimized") == key)
        // The suite has no '/', the variant neither: an op name may.
        #expect(BenchmarkKey.parse("s/a/b/v") == BenchmarkKey(suite: "s", op: "a/b", variant: "v"))
        #expect(BenchmarkKey.parse("layers/mlp/layer:fc1") == BenchmarkKey(suite: "layers", op: "mlp", variant: "layer:fc1"))
        for bad in ["", "gemm_128", "smoke/gemm_128", "/gemm_128/v", "smoke//v", "smoke/gemm_128/"] {
            #expect(BenchmarkKey.parse(bad) == nil, "\(bad)")
        }
        #expect(OpKey.parse("smoke/gemm_128") == OpKey(suite: "smoke", op: "gemm_128"))
        #expect(OpKey.parse("gemm_128") == nil && OpKey.parse("smoke/") == nil)
        #expect(OpKey(suite: "smoke", op: "gemm_128").matches("gemm_128"))
        #expect(OpKey(suite: "smoke", op: "gemm_128").matches("smoke/gemm_128"))
        #expect(!OpKey(suite: "smoke", op: "gemm_128").matches("default/gemm_128"))
        #expect([BenchmarkKey.parse("b/x/v"), BenchmarkKey.parse("a/y/v"), BenchmarkKey.parse("a/x/w")].compactMap { $0 }.sorted()
            .map(\.description) == ["a/x/w", "a/y/v", "b/x/v"])
        // Codable round trip.
        let data = try JSONEncoder().encode(key)
        #expect(try JSONDecoder().decode(BenchmarkKey.self, from: data) == key)
    }

    /// A sample's identity survives JSON (the worker protocol); a sample from a build that sent no
    /// suite still decodes, with an empty suite for the parent to fill in.
    @Test func sampleJSONCarriesTheSuite() throws {
        let s = Sample(key: BenchmarkKey(suite: "smoke", op: "gemm_128", variant: "reference"), sequence: 3, iterations: 2,
                       wallNs: 10, cpuNs: 9, overheadNs: 1)
        let back = try JSONDecoder().decode(Sample.self, from: JSONEncoder().encode(s))
        #expect(back == s && back.key == s.key)
        let old = #"{"op":"gemm_128","variant":"reference","sequence":0,"process":0,"iterations":1,"wallNs":1,"cpuNs":1,"overheadNs":0,"counters":[],"flags":0}"#
        let decoded = try JSONDecoder().decode(Sample.self, from: Data(old.utf8))
        #expect(decoded.suite == "" && decoded.op == "gemm_128")
    }

    /// Statistics of `smoke/gemm_128/reference` come from smoke's samples only, although
    /// `default` has an op of the same name in the same run.
    @Test func variantStatisticsUseTheirOwnSuitesSamples() throws {
        func samples(_ suite: String, _ ns: Double, _ n: Int) -> [Sample] {
            (0..<n).map { i in
                Sample(key: BenchmarkKey(suite: suite, op: "gemm_128", variant: "reference"), sequence: i, iterations: 10,
                       wallNs: ns * 10, cpuNs: ns * 10, overheadNs: 0)
            }
        }
        let all = samples("smoke", 1_000, 3) + samples("default", 9_000, 5)
        let smoke = OpRecord(suite: "smoke", name: "gemm_128", kind: "gemm", shape: [:], dtype: "f32", flops: 1, bytes: 1, threshold: 0.05)
        let stats = try #require(VariantStatistics(op: smoke, variant: "reference", samples: all))
        #expect(stats.time.n == 3 && stats.time.p50 == 1_000)
        #expect(stats.key == smoke.benchmarkKey(variant: "reference"))
        let other = OpRecord(suite: "nightly", name: "gemm_128", kind: "gemm", shape: [:], dtype: "f32", flops: 1, bytes: 1, threshold: 0.05)
        #expect(VariantStatistics(op: other, variant: "reference", samples: all) == nil)
    }

    /// The comparator keys its bootstrap seed by SUITE/OP/VARIANT, so two suites' ops of one
    /// name with the same samples get different (but reproducible) resamples.
    @Test func comparisonsCarryTheirKey() {
        let base = (0..<8).map { i in
            Sample(key: BenchmarkKey(suite: "a", op: "g", variant: "v"), sequence: i, process: i % 2, iterations: 1,
                   wallNs: 1_000 + Double(i), cpuNs: 1_000, overheadNs: 0)
        }
        let inputs = ["a", "b"].map { suite in
            ComparisonInput(key: BenchmarkKey(suite: suite, op: "g", variant: "v"), base: base, head: base)
        }
        let out = Comparator.compare(inputs)
        #expect(out.map(\.key.description) == ["a/g/v", "b/g/v"])
        #expect(Comparator.opSeed(1, inputs[0].key) != Comparator.opSeed(1, inputs[1].key))
    }

    /// Plain batches decide when an op has per-iteration-timed ones; simulated samples stay.
    @Test func decisionBatchesArePlainOnesWhenTimedExist() {
        let key = BenchmarkKey(suite: "s", op: "mlp", variant: "fp32")
        let timed = IterationLatencies(ns: [1, 1], labels: [], overheadNs: 0)
        func sample(_ seq: Int, timed t: Bool, flags: SampleFlags = []) -> Sample {
            Sample(key: key, sequence: seq, iterations: 2, wallNs: 10, cpuNs: 10, overheadNs: 0, flags: flags,
                   iterationLatencies: t ? timed : nil)
        }
        let mixed = [sample(0, timed: true), sample(1, timed: false), sample(2, timed: true), sample(3, timed: false),
                     sample(4, timed: false, flags: .simulated)]
        #expect(Comparator.decisionBatches(mixed).map(\.sequence) == [1, 3, 4])
        let onlyTimed = [sample(0, timed: true), sample(1, timed: true), sample(2, timed: false, flags: .simulated)]
        #expect(Comparator.decisionBatches(onlyTimed).map(\.sequence) == [0, 1, 2])
        let plain = [sample(0, timed: false), sample(1, timed: false)]
        #expect(Comparator.decisionBatches(plain).map(\.sequence) == [0, 1])
    }
}
