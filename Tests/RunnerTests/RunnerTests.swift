import BenchModel
import Counters
import Foundation
import Kernels
import Suite
import Telemetry
import Testing
@testable import Runner

@Suite struct CounterSetupTests {
    let env = ["PATH": "/nonexistent"]  // no valgrind: `auto` cannot fall back to sim

    @Test func autoWithAPMUOpensGroups() throws {
        let fake = FakePMU(slots: 5)
        let choice = try CounterSetup.choose(mode: .auto, events: ["cycles", "instructions", "cache-misses"], explicit: false,
                                             environment: env, syscalls: fake, encoder: TableEncoder.generic)
        #expect(choice.mode == .hw)
        #expect(choice.session?.groupCount == 1)
        #expect(choice.note.contains("hardware counters"))
        choice.session?.close()
    }

    @Test func noPMUIsTimingOnlyAndSaysWhy() throws {
        let fake = FakePMU(hasPMU: false)
        let choice = try CounterSetup.choose(mode: .auto, events: ["cycles"], explicit: false, environment: env,
                                             syscalls: fake, encoder: TableEncoder.generic)
        #expect(choice.mode == .none && choice.session == nil)
        #expect(choice.note.contains("timing-only"))
        // Which sim prerequisite is reported first depends on the build: an AVX-512 build without
        // an AVX2 sim worker (.build-sim/, absent in a fresh checkout) says so before looking for valgrind.
        #expect(choice.note.contains("valgrind is not installed") || choice.note.contains("no AVX2 sim worker was found"))
        #expect(throws: RunError.self) {
            try CounterSetup.choose(mode: .hw, events: ["cycles"], explicit: false, environment: env,
                                    syscalls: FakePMU(hasPMU: false), encoder: TableEncoder.generic)
        }
    }

    @Test func disabledByEnvironment() throws {
        let choice = try CounterSetup.choose(mode: .auto, events: ["cycles"], explicit: false,
                                             environment: ["FUSEBENCH_NO_COUNTERS": "1"], syscalls: FakePMU(), encoder: TableEncoder.generic)
        #expect(choice.mode == .none)
        #expect(choice.note.contains("FUSEBENCH_NO_COUNTERS"))
    }

    /// The PMU flag of the machine fingerprint is the machine's capability: `--counters none` on a
    /// machine with a PMU records the same machine as a default (`auto` → hw) run. It used to be
    /// `mode == hw`, so the two runs were "different machines".
    @Test func pmuFlagIsTheMachinesNotTheModes() throws {
        let none = try CounterSetup.choose(mode: .none, events: ["cycles"], explicit: false, environment: env,
                                           syscalls: FakePMU(slots: 5), encoder: TableEncoder.generic)
        let auto = try CounterSetup.choose(mode: .auto, events: ["cycles"], explicit: false, environment: env,
                                           syscalls: FakePMU(slots: 5), encoder: TableEncoder.generic)
        defer { auto.session?.close() }
        #expect(none.mode == .none && auto.mode == .hw)
        #expect(none.pmuAvailable && auto.pmuAvailable)
        let a = MachineProbe.fingerprint(isaHost: ["avx2"], pmuAvailable: none.pmuAvailable)
        let b = MachineProbe.fingerprint(isaHost: ["avx2"], pmuAvailable: auto.pmuAvailable)
        #expect(a.key == b.key)
        let noPMU = try CounterSetup.choose(mode: .none, events: ["cycles"], explicit: false, environment: env,
                                            syscalls: FakePMU(hasPMU: false), encoder: TableEncoder.generic)
        #expect(!noPMU.pmuAvailable)
    }

    /// FUSEBENCH_NO_COUNTERS selects the counter mode only: the fingerprint's PMU flag still
    /// describes the machine. It used to come from the probe that the variable short-circuits.
    @Test func pmuFlagIgnoresTheDisableVariable() throws {
        var disabled = env
        disabled["FUSEBENCH_NO_COUNTERS"] = "1"
        let off = try CounterSetup.choose(mode: .auto, events: ["cycles"], explicit: false, environment: disabled,
                                          syscalls: FakePMU(slots: 5), encoder: TableEncoder.generic)
        let on = try CounterSetup.choose(mode: .auto, events: ["cycles"], explicit: false, environment: env,
                                         syscalls: FakePMU(slots: 5), encoder: TableEncoder.generic)
        defer { on.session?.close() }
        #expect(off.mode == .none && off.session == nil)
        #expect(on.mode == .hw)
        #expect(off.pmuAvailable && on.pmuAvailable)
    }

    @Test func explicitUnknownEventIsAnError() {
        #expect(throws: RunError.self) {
            try CounterSetup.choose(mode: .auto, events: ["no-such-event"], explicit: true, environment: env,
                                    syscalls: FakePMU(), encoder: TableEncoder.generic)
        }
    }
}

@Suite struct BatchTimerTests {
    @Test func countsAreDeltasOverTheBatch() throws {
        let fake = FakePMU(slots: 5)
        let session = try CounterSession(events: ["cycles", "instructions"], slots: 5, syscalls: fake,
                                         encoder: TableEncoder.generic, strict: true)
        defer { session.close() }
        let timer = BatchTimer(counters: session)
        try timer.select(group: 0)
        let m = try timer.measure(EmptyInstance(), iterations: 10)
        #expect(m.counters.map(\.event) == ["cycles", "instructions"])
        #expect(m.counters.allSatisfy { $0.value > 0 && $0.backend == .hw && !$0.multiplexed })
        timer.stop()
        #expect(!session.isEnabled(group: 0))
    }

    @Test func calibrationIsPositiveAndSubtracted() throws {
        let timer = BatchTimer(counters: nil)
        let c = try Calibrator.calibrate(timer: timer, targetBatchNs: 1_000_000)
        #expect(c.clockPairNs > 0 && c.emptyBatchNs > 0 && c.perIterationNs >= 0)
        #expect(c.overhead(iterations: 100) == c.emptyBatchNs + 100 * c.perIterationNs)
        let s = Sample(key: BenchmarkKey(suite: "t", op: "x", variant: "v"), sequence: 0, iterations: 100, wallNs: 10_000 + c.overhead(iterations: 100),
                       cpuNs: 10_000, overheadNs: c.overhead(iterations: 100))
        #expect(abs(s.netWallNsPerIteration - 100) < 1e-9)
    }
}

@Suite struct WorkerProtocolTests {
    func line(_ m: WorkerMessage) throws -> Data {
        var d = try JSONEncoder().encode(m)
        d.append(UInt8(ascii: "\n"))
        return d
    }

    let sample = Sample(key: BenchmarkKey(suite: "t", op: "g", variant: "optimized"), sequence: 3, iterations: 10, wallNs: 1000, cpuNs: 990, overheadNs: 20)

    @Test func roundTrip() throws {
        var data = try line(WorkerMessage(type: .hello, hello: .current))
        data += try line(WorkerMessage(type: .sample, sample: sample))
        data += try line(WorkerMessage(type: .done, calibration: Calibration(clockPairNs: 20, counterReadNs: 0, emptyBatchNs: 21,
                                                                           perIterationNs: 1, targetBatchNs: 2e6),
                                       telemetry: [TelemetryRow(sampleSequence: 3, kind: "temperature", label: "Tctl", value: 50, unit: "C")]))
        let r = try WorkerClient.parse(data, executable: "w", status: 0, stderr: "")
        #expect(r.samples == [sample])
        #expect(r.hello.int8KernelPath == Int8KernelPath.selected.description)
        #expect(!r.interrupted)
        #expect(r.calibration?.emptyBatchNs == 21)
        #expect(r.telemetry.count == 1)
    }

    /// Whether a truncated answer is an interruption or a failure is decided by who stopped the
    /// worker (`WorkerClient.run`); the parse keeps the samples and says it was not finished.
    @Test func truncatedAnswerKeepsSamplesAndIsNotFinished() throws {
        var data = try line(WorkerMessage(type: .hello, hello: .current))
        data += try line(WorkerMessage(type: .sample, sample: sample))
        let r = try WorkerClient.parse(data, executable: "w", status: 137, stderr: "")
        #expect(r.samples.count == 1 && !r.finished && !r.interrupted)
    }

    @Test func errorsAreReported() throws {
        var data = try line(WorkerMessage(type: .hello, hello: .current))
        data += try line(WorkerMessage(type: .error, error: "boom"))
        #expect(throws: RunError.self) { try WorkerClient.parse(data, executable: "w", status: 0, stderr: "") }
        #expect(throws: RunError.self) { try WorkerClient.parse(Data("not json\n".utf8), executable: "w", status: 0, stderr: "") }
        #expect(throws: RunError.self) { try WorkerClient.parse(Data(), executable: "w", status: 1, stderr: "crash") }
        var old = WorkerHello.current
        old.protocolVersion = 999
        #expect(throws: RunError.self) {
            try WorkerClient.parse(try line(WorkerMessage(type: .hello, hello: old)), executable: "w", status: 0, stderr: "")
        }
    }
}

/// A factory judged by task accuracy: `good` is 0.5 points below `ref`, `bad` 2 points (band 1 point).
struct TaskFactory: KernelFactory, TaskAccuracySource {
    var kind: String { "task_fake" }
    var summary: String { "test factory judged by task accuracy" }
    var shapeKeys: [String] { ["n"] }
    var variants: [String] { ["ref", "good", "bad"] }
    var dtypes: [String] { ["f32"] }
    var accuracyBand: Double { 0.01 }
    func validate(shape: Shape, dtype: String) throws {}
    func flops(shape: Shape) -> Double { 1 }
    func bytes(shape: Shape, dtype: String) -> Double { 1 }
    func defaultTolerance(shape: Shape, dtype: String) -> Tolerance { Tolerance(abs: 0, rel: 0) }
    /// Outputs differ wildly between variants: elementwise comparison would reject both.
    func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        ConstantInstance(value: variant == "ref" ? 1 : 100)
    }
    func taskAccuracy(variant: String, seed: UInt64) throws -> (metric: String, value: Double) {
        ("top-1", ["ref": 0.975, "good": 0.970, "bad": 0.955][variant]!)
    }
}

final class ConstantInstance: KernelInstance {
    var buffer: [Float]
    init(value: Float) { buffer = [value, value] }
    func run() {}
    func output() -> UnsafeBufferPointer<Float> { buffer.withUnsafeBufferPointer { $0 } }
}

@Suite struct TaskAccuracyVerificationTests {
    @Test func variantBelowBandIsRejectedAndNotTimed() throws {
        let registry = KernelRegistry([TaskFactory()])
        let text = """
        [suite]
        name = "t"
        [defaults]
        samples = 2
        batch_ms = 0.05
        warmup_ms = 1
        [[op]]
        name = "task"
        kind = "task_fake"
        shape = { n = 1 }
        """
        let suite = try SuiteLoader.parse(text: text, path: "t.toml", registry: registry)
        let op = PlannedOp(suite: "t", suitePath: "/t.toml", spec: suite.ops[0], factory: TaskFactory(), tolerance: Tolerance(abs: 0, rel: 0))
        let timer = BatchTimer(counters: nil)
        let calibration = try Calibrator.calibrate(timer: timer, targetBatchNs: 50_000)
        let result = try OpMeasurer(timer: timer, calibration: calibration, quiet: true, spinNs: 0)
            .measure(op: op, index: 0, of: 1, slowdown: nil)
        #expect(result.timed == ["ref", "good"])
        #expect(Set(result.samples.map(\.variant)) == ["ref", "good"])
        let bad = try #require(result.checks.first { $0.variant == "bad" })
        #expect(!bad.passed)
        #expect(abs(bad.maxAbsError - 0.02) < 1e-12)
        #expect(bad.reason == "top-1 95.5% vs ref 97.5% (−2.0 points > band 1.0)")
        let good = try #require(result.checks.first { $0.variant == "good" })
        #expect(good.passed && abs(good.maxAbsError - 0.005) < 1e-12)
        // Samples and checks carry the planned op's SUITE/OP/VARIANT.
        #expect(result.samples.allSatisfy { $0.opKey == op.key })
        #expect(result.checks.map(\.key.description).sorted() == ["t/task/bad", "t/task/good"])
    }
}

/// The plan and the worker protocol keep benchmark identity (SUITE/OP) from the suite.
@Suite struct PlanIdentityTests {
    static let text = """
        [suite]
        name = "t"
        [[op]]
        name = "task"
        kind = "task_fake"
        shape = { n = 1 }
        """

    /// The plan takes each op's factory from the registry its suite was validated against (a
    /// user kernel registered in its own registry is not silently dropped).
    @Test func planUsesTheSuitesRegistry() throws {
        let suite = try SuiteLoader.parse(text: Self.text, path: "t.toml", registry: KernelRegistry([TaskFactory()]))
        let plan = try BenchPlan(suites: [suite])
        #expect(plan.ops.map(\.key.description) == ["t/task"])
        #expect(plan.ops.first?.factory is TaskFactory)
    }

    /// An op whose factory cannot be made is an error naming the file and line, not a silently
    /// missing op.
    @Test func planReportsFactoryErrors() throws {
        var suite = try SuiteLoader.parse(text: Self.text, path: "t.toml", registry: KernelRegistry([TaskFactory()]))
        suite.registry = KernelRegistry([])
        #expect { try BenchPlan(suites: [suite]) } throws: { error in
            "\(error)".hasPrefix("t.toml:3:1: op 't/task': ") && "\(error)".contains("task_fake")
        }
    }

    /// A worker's samples and checks are keyed by the op the parent asked for, even from a build
    /// that sends no suite.
    @Test func workerResultsAreKeyedByTheRequest() throws {
        let lines = [
            #"{"type":"hello","hello":{"protocolVersion":\#(WorkerProtocol.version),"harnessVersion":"0","isaBuilt":[],"kernelPath":"x","pid":1}}"#,
            #"{"type":"check","check":{"op":"gemm_8","variant":"optimized","referenceVariant":"reference","maxAbsError":0,"maxRelError":0,"cosine":1,"tolerance":{"abs":0,"rel":0,"minCosine":0},"passed":true}}"#,
            #"{"type":"sample","sample":{"op":"gemm_8","variant":"optimized","sequence":0,"process":0,"iterations":1,"wallNs":1,"cpuNs":1,"overheadNs":0,"counters":[],"flags":0}}"#,
            #"{"type":"done"}"#,
        ]
        let parsed = try WorkerClient.parse(Data(lines.joined(separator: "\n").utf8), executable: "w", status: 0, stderr: "")
        #expect(parsed.samples.first?.suite == "")
        let request = WorkerRequest(suitePath: "/beta.toml", suite: "beta", op: "gemm_8", variants: ["reference", "optimized"], samples: 1,
                                    counters: .none, events: [], explicitEvents: false, slowdown: nil, pin: nil, process: 0, quick: true)
        let r = parsed.identified(by: request)
        #expect(r.samples.map(\.key.description) == ["beta/gemm_8/optimized"])
        #expect(r.checks.map(\.key.description) == ["beta/gemm_8/optimized"])
        // The request's suite travels to the worker; a request without one still decodes.
        let back = try JSONDecoder().decode(WorkerRequest.self, from: JSONEncoder().encode(request))
        #expect(back.suite == "beta")
        var old = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(request)) as? [String: Any])
        old["suite"] = nil
        #expect(try JSONDecoder().decode(WorkerRequest.self, from: JSONSerialization.data(withJSONObject: old)).suite == nil)
    }
}

/// The runner reaches family extras only through the Kernels seam: a factory and instance of a
/// family it does not know contribute their decision log (it used to look for Fusion's
/// `ModelInstance` only).
@Suite struct OpFamilySeamTests {
    struct LoggingFactory: FakeFamilyFactory {
        var kind: String { "logging_fake" }
        var summary: String { "test factory with a decision log" }
        var variants: [String] { ["ref", "alt"] }
        func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
            LoggingInstance(variant: variant)
        }
        func variantBytes(_ variant: String) -> Double? { variant == "alt" ? 2 : nil }
    }

    /// A family with two extra parts, to check how the runner times them.
    struct PartsFactory: FakeFamilyFactory {
        var kind: String { "parts_fake" }
        var summary: String { "test factory with two extra parts" }
        var variants: [String] { ["ref"] }
        func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
            ConstantInstanceBase(value: 1)
        }
        func extraTimedParts(seed: UInt64) throws -> [(name: String, instance: KernelInstance)] {
            [("p", ConstantInstanceBase(value: 2)), ("p+q", ConstantInstanceBase(value: 3))]
        }
    }

    final class LoggingInstance: ConstantInstanceBase, DecisionLogSource {
        let decisionLog: [FusionDecision]
        init(variant: String) {
            decisionLog = variant == "alt"
                ? [FusionDecision(model: "toy", group: ["a", "b"], rule: "toy-rule", outcome: .accepted, reason: "test",
                                  bytesSaved: 8, launchesSaved: 1)]
                : []
            super.init(value: 1)
        }
    }

    @Test func decisionLogsComeThroughTheSeam() throws {
        let spec = OpSpec(name: "log", kind: "logging_fake", shape: ["n": 1], dtype: "f32", variants: ["ref", "alt"],
                          tolerance: nil, settings: { var s = MeasurementSettings(); s.samples = 2; s.batchNs = 50_000; s.warmupNs = 1_000_000; return s }(),
                          line: 1)
        let op = PlannedOp(suite: "t", suitePath: "/t.toml", spec: spec, factory: LoggingFactory(), tolerance: Tolerance(abs: 0, rel: 0))
        let timer = BatchTimer(counters: nil)
        let calibration = try Calibrator.calibrate(timer: timer, targetBatchNs: 50_000)
        let result = try OpMeasurer(timer: timer, calibration: calibration, quiet: true, spinNs: 0)
            .measure(op: op, index: 0, of: 1, slowdown: nil)
        #expect(result.fusionDecisions.map(\.rule) == ["toy-rule"])
        #expect(LoggingFactory().variantBytes("alt") == 2 && LoggingFactory().instancesTimeIterations == false)
    }
}

/// A fake op family: one f32 shape key `n`, unit FLOPs and bytes, an exact band; each fake names
/// its kind, summary, variants and instances.
protocol FakeFamilyFactory: KernelFactory, OpFamilyExtras {}

extension FakeFamilyFactory {
    var shapeKeys: [String] { ["n"] }
    var dtypes: [String] { ["f32"] }
    func validate(shape: Shape, dtype: String) throws {}
    func flops(shape: Shape) -> Double { 1 }
    func bytes(shape: Shape, dtype: String) -> Double { 1 }
    func defaultTolerance(shape: Shape, dtype: String) -> Tolerance { Tolerance(abs: 0, rel: 0) }
}

/// A constant-output instance open for subclassing (the seam test adds a decision log).
class ConstantInstanceBase: KernelInstance {
    var buffer: [Float]
    init(value: Float) { buffer = [value, value] }
    func run() {}
    func output() -> UnsafeBufferPointer<Float> { buffer.withUnsafeBufferPointer { $0 } }
}

/// `WorkerClient.run` against stand-in workers (shell scripts replaying protocol lines): what a
/// crashed or hung worker streamed is kept, a silent one is killed by the watchdog, and a worker
/// of a build that does not stream is not mistaken for a hung one.
@Suite struct WorkerWatchdogTests {
    let sample = Sample(key: BenchmarkKey(suite: "t", op: "g", variant: "optimized"), sequence: 0, iterations: 10, wallNs: 1000, cpuNs: 990, overheadNs: 20)
    let request = WorkerRequest(suitePath: "/nonexistent.toml", suite: "t", op: "g", variants: ["reference", "optimized"], samples: 2,
                                counters: .none, events: [], explicitEvents: false, slowdown: nil, pin: nil, process: 0, quick: true)

    /// `WorkerClient.run` on a script just written: another test's child process may still hold
    /// the script open for a moment (ETXTBSY), so starting it is retried briefly.
    func run(_ script: String, timeout: Double) throws -> WorkerResult {
        var attempt = 0
        while true {
            do {
                return try WorkerClient.run(executable: script, request: request, environment: [:], timeout: timeout)
            } catch let e as RunError where e.description.contains(String(cString: strerror(ETXTBSY))) && attempt < 100 {
                attempt += 1
                usleep(20_000)
            }
        }
    }

    /// A script that prints `messages` as JSON lines (the last one cut in half when `cut`: half of
    /// that line only, whatever the lengths of the others — the hello line's length depends on the
    /// machine), then runs `then`.
    func worker(_ messages: [WorkerMessage], cut: Bool = false, then: String) throws -> (script: String, dir: URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fb-watchdog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var text = ""
        for m in messages { text += String(decoding: try JSONEncoder().encode(m), as: UTF8.self) + "\n" }
        if cut, let last = text.dropLast().split(separator: "\n").last { text = String(text.dropLast(last.count / 2 + 1)) }
        try text.write(to: dir.appendingPathComponent("lines"), atomically: true, encoding: .utf8)
        let script = dir.appendingPathComponent("worker").path
        try "#!/bin/sh\ncat '\(dir.path)/lines'\n\(then)\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        return (script, dir)
    }

    @Test func crashedWorkerKeepsWhatItStreamed() throws {
        let w = try worker([WorkerMessage(type: .hello, hello: .current), WorkerMessage(type: .sample, sample: sample),
                            WorkerMessage(type: .progress, progress: "measuring", variant: "reference"),
                            WorkerMessage(type: .sample, sample: sample)], cut: true,
                           then: "echo 'guard page hit by output C' >&2; kill -SEGV $$")
        defer { try? FileManager.default.removeItem(at: w.dir) }
        do {
            _ = try run(w.script, timeout: 60)
            Issue.record("a worker killed by SIGSEGV must throw")
        } catch let died as WorkerDied {
            #expect(died.termination == .signaled(SIGSEGV))
            #expect(died.hungSeconds == nil)
            // The half-written last line is dropped, every complete one kept.
            #expect(died.partial?.samples.count == 1)
            #expect(died.partial?.samples.first?.key.op == "g")
            #expect(died.how.contains("signal 11 (SIGSEGV)") && died.how.contains("while measuring variant reference"), "\(died.how)")
            #expect(died.stderrTail.contains("guard page hit by output C"))
        }
    }

    @Test func silentWorkerIsKilledAfterTheTimeout() throws {
        let w = try worker([WorkerMessage(type: .hello, hello: .current), WorkerMessage(type: .sample, sample: sample),
                            WorkerMessage(type: .progress, progress: "measuring", variant: "optimized")],
                           then: "exec sleep 60")
        defer { try? FileManager.default.removeItem(at: w.dir) }
        let start = Date()
        do {
            _ = try run(w.script, timeout: 1)
            Issue.record("a silent worker must be killed")
        } catch let died as WorkerDied {
            #expect(Date().timeIntervalSince(start) < 30)
            #expect(died.hungSeconds == 1)
            #expect(died.termination == .signaled(SIGKILL))
            #expect(died.partial?.samples.count == 1)
            #expect(died.how == "hung: no progress for 1 s while measuring variant optimized (killed with SIGKILL)", "\(died.how)")
        }
    }

    /// A worker of an older build sends nothing between `hello` and its answer: the watchdog must
    /// leave it alone after its hello.
    @Test func nonStreamingWorkerIsNotKilledForSilence() throws {
        var old = WorkerHello.current
        old.streams = nil
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fb-watchdog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let hello = String(decoding: try JSONEncoder().encode(WorkerMessage(type: .hello, hello: old)), as: UTF8.self)
        let rest = [WorkerMessage(type: .sample, sample: sample), WorkerMessage(type: .done)]
            .map { String(decoding: (try? JSONEncoder().encode($0)) ?? Data(), as: UTF8.self) }.joined(separator: "\n")
        try (hello + "\n").write(to: dir.appendingPathComponent("a"), atomically: true, encoding: .utf8)
        try (rest + "\n").write(to: dir.appendingPathComponent("b"), atomically: true, encoding: .utf8)
        let script = dir.appendingPathComponent("worker").path
        try "#!/bin/sh\ncat '\(dir.path)/a'\nsleep 2\ncat '\(dir.path)/b'\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let r = try run(script, timeout: 1)
        #expect(r.finished && r.samples.count == 1)
    }

    @Test func throttleFlagsOfAStreamingWorkerArriveWithDone() throws {
        var data = Data()
        for m in [WorkerMessage(type: .hello, hello: .current), WorkerMessage(type: .sample, sample: sample),
                  WorkerMessage(type: .done, throttled: [0])] {
            data += try JSONEncoder().encode(m)
            data.append(UInt8(ascii: "\n"))
        }
        let r = try WorkerClient.parse(data, executable: "w", status: 0, stderr: "")
        #expect(r.samples.first?.flags.contains(.throttled) == true)
    }
}
