// Per-iteration latencies in the runner: `measureTimed`, its calibration, and an `edge` op measured
// in batch-1 mode (every sample carries one latency and one label per iteration).
import BenchModel
import Foundation
import FuseBench
import Kernels
import Suite
import Testing
@testable import Runner

/// Counts its runs and labels iteration i with i % 3.
final class CountingLabeled: IterationLabeled {
    var runs = 0
    var buffer: [Float] = [0]
    var lastIterationLabel: Int32 { Int32((runs - 1) % 3) }
    func run() { runs += 1 }
    func output() -> UnsafeBufferPointer<Float> { buffer.withUnsafeBufferPointer { $0 } }
}

@Suite struct IterationLatencyRunnerTests {
    init() { OpFamilies.registerBuiltIn() }

    @Test func measureTimedRecordsEveryIterationAndItsLabel() throws {
        let timer = BatchTimer(counters: nil)
        let k = CountingLabeled()
        let m = try timer.measureTimed(k, iterations: 100)
        #expect(k.runs == 100)
        let ns = try #require(m.iterationNs)
        #expect(ns.count == 100 && m.labels == (0..<100).map { Int32($0 % 3) })
        // Consecutive clock reads: the per-iteration times add up to the batch's wall time.
        #expect(ns.reduce(UInt64(0)) { $0 + UInt64($1) } == m.wallNs)
        // measureAny picks the timed path only for labeled instances.
        #expect(try timer.measureAny(k, iterations: 5).iterationNs?.count == 5)
        #expect(try timer.measureAny(EmptyInstance(), iterations: 5).iterationNs == nil)
        #expect(try timer.measureTimed(k, iterations: 0).iterationNs == [])
    }

    @Test func calibrationHasThePerIterationClockCost() throws {
        let c = try Calibrator.calibrate(timer: BatchTimer(counters: nil), targetBatchNs: 1_000_000)
        let timed = try #require(c.perTimedIterationNs)
        #expect(timed > 0)
        #expect(c.timedOverhead(iterations: 10) == c.emptyBatchNs + 10 * timed)
        var old = c
        old.perTimedIterationNs = nil
        #expect(old.timedOverhead(iterations: 10) == c.overhead(iterations: 10), "older calibrations fall back to the plain loop")
        // Optional in JSON: a calibration written by an older build still decodes.
        let json = #"{"clockPairNs":20,"counterReadNs":0,"emptyBatchNs":30,"perIterationNs":1,"targetBatchNs":2000000}"#
        #expect(try JSONDecoder().decode(Calibration.self, from: Data(json.utf8)).perTimedIterationNs == nil)
    }

    @Test func edgeOpBatchOneRecordsLatenciesAndExitLabels() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = """
        [suite]
        name = "e"
        [defaults]
        samples = 2
        batch_ms = 0.2
        warmup_ms = 2
        [[edge]]
        name = "digits"
        model = "\(root.path)/data/digits/mlp.json"
        data = "\(root.path)/data/digits/digits.csv"
        variants = ["fp32", "early_exit"]
        batch = 1
        """
        let suite = try SuiteLoader.parse(text: text, path: "/e.toml")
        let spec = suite.ops[0]
        let factory = try spec.factory()
        let op = PlannedOp(suite: "e", suitePath: "/e.toml", spec: spec, factory: factory, tolerance: Tolerance(abs: 0.01, rel: 0))
        let timer = BatchTimer(counters: nil)
        let calibration = try Calibrator.calibrate(timer: timer, targetBatchNs: 200_000)
        let result = try OpMeasurer(timer: timer, calibration: calibration, quiet: true, spinNs: 0)
            .measure(op: op, index: 0, of: 1, slowdown: nil)
        #expect(result.samples.count == 4)
        // Repetition 0 reads the clock per iteration, repetition 1 runs the plain loop (its batch
        // times carry no per-iteration clock reads and give the speedup).
        let plain = result.samples.filter { $0.iterationLatencies == nil }
        #expect(plain.count == 2 && Set(plain.map(\.variant)) == ["fp32", "early_exit"])
        for s in plain { #expect(s.overheadNs == calibration.overhead(iterations: s.iterations)) }
        for s in result.samples where s.iterationLatencies != nil {
            let l = try #require(s.iterationLatencies)
            #expect(l.ns.count == s.iterations && l.labels.count == s.iterations)
            #expect(l.overheadNs == calibration.perTimedIterationNs)
            #expect(s.overheadNs == calibration.timedOverhead(iterations: s.iterations))
            if s.variant == "early_exit" {
                #expect(l.labels.allSatisfy { $0 == 1 || $0 == 2 })
            } else {
                #expect(l.labels.allSatisfy { $0 == 0 })
            }
        }
        // Samples (with their latencies) survive the worker protocol's JSON.
        let data = try JSONEncoder().encode(result.samples)
        #expect(try JSONDecoder().decode([Sample].self, from: data) == result.samples)
    }
}
