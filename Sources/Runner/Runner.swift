import BenchModel
import CPerfEvent
import Counters
import Foundation
import Kernels
import Store
import Suite
import Telemetry

/// What a finished (or interrupted) run produced.
public struct RunOutcome: Sendable {
    /// Run id per side, in `RunConfig.sides` order (one id for a normal run).
    public var runIDs: [Int64]
    public var status: RunStatus
    /// Lines worth telling the user (counter mode, stale runs, overhead, rejected variants).
    public var notes: [String]

    /// The run of the last side (the head in `gate --against`, the only run otherwise).
    public var runID: Int64 { runIDs[runIDs.count - 1] }
}

/// Executes a plan and stores every sample. One instance per run.
public final class BenchRunner {
    let plan: BenchPlan
    let store: ResultStore
    let config: RunConfig
    let say: (String) -> Void
    private var notes: [String] = []

    /// `say` receives the run's informational lines (stdout at the CLI).
    public init(plan: BenchPlan, store: ResultStore, config: RunConfig, say: @escaping (String) -> Void) {
        self.plan = plan
        self.store = store
        self.config = config
        self.say = say
    }

    private func note(_ line: String) {
        notes.append(line)
        say(line)
    }

    /// Runs the plan. Throws `RunError` for problems found before measuring (ISA, counters, pinning).
    public func run() throws -> RunOutcome {
        try ISA.check()
        let stale = try store.markStaleRuns()
        if !stale.isEmpty {
            note("marked \(stale.count) run(s) left 'running' by a dead process as stale: \(stale.map(String.init).joined(separator: ", "))")
        }
        if let cpu = config.pinCPU, config.inProcess {
            let rc = fb_pin_to_cpu(Int32(cpu))
            guard rc == 0 else { throw RunError("--pin \(cpu): cannot pin to CPU \(cpu): \(String(cString: strerror(-rc)))") }
        }

        // Counters: the union of all suites' events, one choice for the run.
        var events: [String] = []
        for s in plan.suites { for e in s.defaults.counters where !events.contains(e) { events.append(e) } }
        if events.isEmpty { events = MeasurementSettings.defaultCounters }
        let explicit = plan.suites.contains { $0.defaults.countersExplicit }
        let counters = try CounterSetup.choose(mode: config.counterMode, events: events, explicit: explicit, environment: config.environment)
        defer { counters.session?.close() }
        note(counters.note)

        // Who measures, and one run per side.
        let hellos = try config.sides.map { side in
            try side.executable.map { try WorkerClient.hello(executable: $0, environment: config.environment) } ?? WorkerHello.current
        }
        let fingerprint = MachineProbe.fingerprint(isaHost: ISA.host.names, pmuAvailable: counters.pmuAvailable)
        let git = GitInfo.current()
        var cfg = config.extraConfig
        cfg["counters"] = config.counterMode.rawValue
        cfg["pin"] = config.pinCPU.map(String.init) ?? "none"
        cfg["kernel_path"] = ISA.kernelPath.rawValue
        cfg["processes"] = String(config.processes)
        if !config.injectedSlowdown.isEmpty {
            cfg["inject_slowdown"] = config.injectedSlowdown.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value * 100)%" }.joined(separator: ",")
        }
        // From here on a run exists in the store: Ctrl-C must end it as `interrupted`, not kill it.
        fb_install_interrupt_handlers()
        defer { fb_reset_interrupt_flag() }
        var runIDs: [Int64] = []
        for (i, side) in config.sides.enumerated() {
            var c = cfg
            if let exe = side.executable { c["executable"] = exe }
            let configJSON = String(decoding: (try? JSONSerialization.data(withJSONObject: c, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
            let label = side.name.isEmpty ? config.label : "\(config.label.map { $0 + " " } ?? "")[\(side.name)]"
            let info = RunInfo(startedAt: Date(), status: .running, label: label, suites: plan.suites.map(\.name),
                               suiteHash: plan.suiteHash, gitCommit: side.executable == nil ? git.commit : nil,
                               gitBranch: side.executable == nil ? git.branch : nil, gitDirty: side.executable == nil ? git.dirty : nil,
                               harnessVersion: hellos[i].harnessVersion, machine: fingerprint, isaBuilt: hellos[i].isaBuilt,
                               counterMode: counters.mode, counterNote: counters.note, calibration: nil,
                               configJSON: configJSON, pid: getpid())
            let id = try store.beginRun(info)
            runIDs.append(id)
            try store.setRunMeta(runID: id, key: "isa.kernel_path", value: hellos[i].kernelPath)
            if let q = hellos[i].int8KernelPath { try store.setRunMeta(runID: id, key: "isa.int8_kernel_path", value: q) }
            if let exe = side.executable { try store.setRunMeta(runID: id, key: "worker.executable", value: exe) }
            if !counters.unsupported.isEmpty {
                try store.setRunMeta(runID: id, key: "counters.unsupported",
                                     value: counters.unsupported.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; "))
            }
            if let s = cfg["inject_slowdown"] {
                try store.setRunMeta(runID: id, key: "inject_slowdown", value: s)
            }
        }
        if let s = cfg["inject_slowdown"] {
            note("NOTE: --inject-slowdown is active (\(s)): this run measures deliberately slowed kernels")
        }
        if config.sides.count > 1 {
            note("interleaving \(config.sides.map { "\($0.name) = \($0.executable ?? "this fusebench")" }.joined(separator: ", ")) in ABBA order, \(config.processes) worker process(es) per side per op")
        } else if !config.inProcess {
            note("\(config.processes) worker processes per op (each calibrates itself; samples keep their process index)")
        }

        // Telemetry: what this machine exposes, said once and stored; per-batch readings follow.
        let telemetry = TelemetryChoice.sampler(environment: config.environment)
        note(telemetry.sources.summary)
        for id in runIDs {
            try store.setRunMeta(runID: id, key: "telemetry.summary", value: telemetry.sources.summary)
            try store.insertTelemetry(runID: id, rows: TelemetryChoice.unavailableRows(telemetry.sources))
        }

        // The machine's peak, once per run, for the roofline columns.
        let peak = MachinePeak.measure(budgetSeconds: config.quick ? 0.2 : 0.5)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if let peakJSON = try? encoder.encode(peak) {
            for id in runIDs { try store.setRunMeta(runID: id, key: "peak", value: String(decoding: peakJSON, as: UTF8.self)) }
        }

        let status: RunStatus
        // Each op's results are stored by the spool: kept in memory while the database is locked, never lost.
        let spool = OpResultSpool(store: store)
        let measurement = Measurement(runner: self, counters: counters, runIDs: runIDs, events: events, explicit: explicit,
                                      telemetry: telemetry.sampler, spool: spool)
        do {
            status = try measurement.measureAll()
            if let line = try spool.finish() { note(line) }
        } catch {
            if let kept = spool.salvage(reason: "the run failed: \(error)") { note("error: \(kept.description)") }
            for id in runIDs { try? store.finishRun(id: id, status: .failed) }
            throw error
        }
        for id in runIDs { try store.finishRun(id: id, status: status) }
        if status == .interrupted {
            note("run \(runIDs.map(String.init).joined(separator: ", ")) interrupted by signal \(fb_interrupt_signal()): every completed sample was kept; status 'interrupted'")
        }
        return RunOutcome(runIDs: runIDs, status: status, notes: notes)
    }

    /// The per-op loop, in this process or through workers.
    private struct Measurement {
        let runner: BenchRunner
        let counters: CounterChoice
        let runIDs: [Int64]
        let events: [String]
        let explicit: Bool
        let telemetry: TelemetrySampler?
        let spool: OpResultSpool

        var store: ResultStore { runner.store }
        var config: RunConfig { runner.config }

        func measureAll() throws -> RunStatus {
            let progress = ProgressLine(quiet: config.quiet)
            defer { progress.finish() }
            // In-process: one timer and calibration for the whole run.
            var inProcess: (timer: BatchTimer, measurer: OpMeasurer)?
            if config.inProcess {
                let timer = BatchTimer(counters: counters.session)
                let batchNs = runner.plan.ops.map(\.spec.settings.batchNs).min() ?? 2_000_000
                let calibration = try Calibrator.calibrate(timer: timer, targetBatchNs: batchNs)
                try recordCalibration(calibration, runID: runIDs[0])
                let measurer = OpMeasurer(timer: timer, calibration: calibration, quiet: config.quiet,
                                          spinNs: config.injectedSlowdown.isEmpty ? 0 : SpinWork.nanosecondsPerSpin())
                measurer.telemetry = telemetry
                measurer.temperatureLimitC = config.temperatureLimitC
                inProcess = (timer, measurer)
            }
            defer { inProcess?.timer.stop() }
            let simulators = try sideSimulators()
            var sequences = Array(repeating: 0, count: runIDs.count)
            var cachesNoted = false
            // Store cost of the per-iteration latencies (samples carrying them), said at the end.
            var latencyValues = 0, latencyRows = 0, latencyStoreNs: UInt64 = 0
            func noteLatencyStore() {
                guard latencyRows > 0 else { return }
                runner.note(String(format: "stored %d per-iteration latencies as %d iteration_latencies rows in %.3f s (with their samples)",
                                   latencyValues, latencyRows, Double(latencyStoreNs) / 1e9))
            }
            for (index, op) in runner.plan.ops.enumerated() {
                try cooldown(before: op, progress: progress)
                // `SUITE/OP=PCT` slows that op; a bare `OP=PCT` slows the op of that name in every suite.
                let slowdown = config.injectedSlowdown[op.qualifiedName] ?? config.injectedSlowdown[op.spec.name]
                var perSide: [OpResult]
                if let ip = inProcess {
                    perSide = [try ip.measurer.measure(op: op, index: index, of: runner.plan.ops.count,
                                                       sequenceStart: sequences[0], slowdown: slowdown)]
                } else {
                    perSide = try measureWithWorkers(op: op, index: index, slowdown: slowdown, progress: progress)
                    for s in perSide.indices {
                        for k in perSide[s].samples.indices { perSide[s].samples[k].sequence += sequences[s] }
                        for k in perSide[s].telemetry.indices { perSide[s].telemetry[k].sampleSequence? += sequences[s] }
                    }
                }
                let interrupted = perSide.contains { $0.interrupted }
                for (s, var result) in perSide.enumerated() {
                    for check in result.checks {
                        if !check.passed {
                            runner.note("REJECTED \(op.qualifiedName)/\(check.variant)\(sideTag(s)): outside its accuracy band vs \(check.referenceVariant) — \(check.reason ?? "")")
                        }
                    }
                    if !interrupted, let sim = simulators[s] {
                        let timed = result.timed.isEmpty ? op.spec.variants : result.timed
                        let pass = try SimPass.run(op: op, variants: timed, callgrind: sim,
                                                   sequenceStart: sequences[s] + result.samples.count, flags: []) { progress.update($0) }
                        result.samples += pass.samples
                        if !cachesNoted, !pass.caches.isEmpty {
                            cachesNoted = true
                            let caches = pass.caches.joined(separator: "; ")
                            for id in runIDs { try store.setRunMeta(runID: id, key: "sim.caches", value: caches) }
                            runner.note("simulated cache hierarchy (callgrind): \(caches)")
                        }
                    }
                    if !interrupted, let source = op.factory as? any OpFamilyExtras, config.sides[s].executable == nil {
                        result.samples += try familyExtras(op: op, source: source, decisions: result.fusionDecisions, runID: runIDs[s],
                                                           sequenceStart: sequences[s] + result.samples.count, progress: progress)
                    }
                    let storeStart = Clock.wall()
                    if let line = try spool.store(OpResults(runID: runIDs[s], op: op.record, checks: result.checks,
                                                            samples: result.samples, telemetry: result.telemetry)) {
                        runner.note(line)
                    }
                    let withLatencies = result.samples.compactMap(\.iterationLatencies)
                    if !withLatencies.isEmpty {
                        latencyStoreNs += Clock.wall() &- storeStart
                        latencyRows += withLatencies.count
                        latencyValues += withLatencies.reduce(0) { $0 + $1.ns.count }
                    }
                    let throttled = result.samples.filter { $0.flags.contains(.throttled) }.count
                    if throttled > 0 {
                        runner.note("\(op.qualifiedName)\(sideTag(s)): \(throttled) sample(s) flagged as throttled (hot, throttle events or low effective frequency); `compare`/`gate --exclude-throttled` can leave them out")
                    }
                    sequences[s] += result.samples.count
                }
                if interrupted {
                    noteLatencyStore()
                    return .interrupted
                }
            }
            noteLatencyStore()
            return .complete
        }

        /// For an op family with extras (`OpFamilyExtras`, e.g. a fused model): stores the decisions
        /// behind the measured instances, records the bytes each variant moves, and times the
        /// family's extra parts (variant `layer:NAME`, a few batches each, in this process).
        func familyExtras(op: PlannedOp, source: any OpFamilyExtras, decisions: [FusionDecision], runID: Int64,
                          sequenceStart: Int, progress: ProgressLine) throws -> [Sample] {
            let seed = op.spec.settings.seed
            if !decisions.isEmpty { try store.insertFusionDecisions(runID: runID, decisions: decisions) }
            for v in op.spec.variants {
                guard let bytes = source.variantBytes(v) else { continue }
                try store.setRunMeta(runID: runID, key: RunMetaKey.fusionBytes(op.benchmarkKey(variant: v)), value: String(bytes))
            }
            let layers = try source.extraTimedParts(seed: seed)
            guard !layers.isEmpty else { return [] }
            let timer = layerTimer
            let calibration = try layerCalibration(timer)
            let measurer = OpMeasurer(timer: timer, calibration: calibration, quiet: true, spinNs: 0)
            var settings = op.spec.settings
            settings.warmupNs = min(settings.warmupNs, 50_000_000)
            var samples: [Sample] = []
            for layer in layers {
                progress.update("\(op.qualifiedName) timing layer \(layer.name) of the unfused plan")
                let est = try measurer.warmup(layer.instance, settings: settings, batchTarget: settings.batchNs)
                let n = max(1, Int((settings.batchNs / max(est, 0.001)).rounded(.up)))
                for _ in 0..<5 {
                    if fb_interrupt_signal() != 0 { return samples }
                    let m = try timer.measure(layer.instance, iterations: n)
                    samples.append(Sample(key: op.benchmarkKey(variant: "layer:\(layer.name)"), sequence: sequenceStart + samples.count,
                                          iterations: n, wallNs: Double(m.wallNs), cpuNs: Double(m.cpuNs),
                                          overheadNs: calibration.overhead(iterations: n)))
                }
            }
            return samples
        }

        /// Timer for per-layer timings (no counters: layers are only timed).
        let layerTimer = BatchTimer(counters: nil)
        private let layerCalibrationBox = CalibrationBox()

        func layerCalibration(_ timer: BatchTimer) throws -> Calibration {
            if let c = layerCalibrationBox.value { return c }
            let c = try Calibrator.calibrate(timer: timer, targetBatchNs: 2_000_000)
            layerCalibrationBox.value = c
            return c
        }

        /// Optional cooldown before an op (`--cooldown-to`, `--cooldown-s`).
        func cooldown(before op: PlannedOp, progress: ProgressLine) throws {
            if let seconds = config.cooldownSeconds, seconds > 0 {
                progress.update("\(op.qualifiedName): cooling down \(Int(seconds)) s")
                _ = Cooldown.fixed(seconds: seconds)
            }
            if let target = config.cooldownToC {
                guard let sampler = telemetry else {
                    runner.note("--cooldown-to \(target)C: no temperature sensors on this machine; cooldown skipped")
                    return
                }
                progress.update("\(op.qualifiedName): cooling down to \(target) °C")
                let r = Cooldown.waitUntil(belowCelsius: target, timeout: 300, sampler: sampler)
                if !r.reachedTarget { runner.note("\(op.qualifiedName): \(r.note)") }
            }
        }

        func sideTag(_ s: Int) -> String {
            config.sides[s].name.isEmpty ? "" : " [\(config.sides[s].name)]"
        }

        /// Callgrind runner per side: this binary's sim choice for our own side; for a foreign
        /// side only when it came with its own sim executable.
        func sideSimulators() throws -> [Callgrind?] {
            try config.sides.map { side in
                guard counters.mode == .sim else { return nil }
                if side.executable == nil { return counters.simulator }
                guard let simExe = side.simExecutable else {
                    runner.note("no simulated counters for \(side.name) (\(side.executable!)): pass its AVX2 sim build with --against-sim")
                    return nil
                }
                do {
                    return try Callgrind.prepare(executable: simExe, environment: config.environment)
                } catch let e as Callgrind.Unavailable {
                    throw RunError("--against-sim \(simExe): \(e.description)")
                }
            }
        }

        func recordCalibration(_ calibration: Calibration, runID: Int64) throws {
            try store.updateRun(id: runID, calibration: calibration, counterMode: counters.mode, counterNote: counters.note)
            let perSample = calibration.overhead(iterations: 1)
            try store.setRunMeta(runID: runID, key: "overhead.sample_ns", value: String(perSample))
            try store.setRunMeta(runID: runID, key: "overhead.share_of_1ms", value: String(calibration.shareOfOneMillisecond))
            if let timed = calibration.perTimedIterationNs {
                try store.setRunMeta(runID: runID, key: "overhead.timed_iteration_ns", value: String(timed))
            }
            // Notes after the writes: the calibration is stored before anything is said about it.
            if runID == runIDs.last {
                runner.note(String(format: "harness overhead per sample: %.0f ns (clock pair %.0f ns, loop %.1f ns/iter, counter read %.0f ns outside the timed window) = %.4f%% of a 1 ms op; subtracted from every sample",
                                   perSample, calibration.clockPairNs, calibration.perIterationNs, calibration.counterReadNs,
                                   calibration.shareOfOneMillisecond * 100))
            }
            if let timed = calibration.perTimedIterationNs {
                if runID == runIDs.last, runner.plan.ops.contains(where: { ($0.factory as? any OpFamilyExtras)?.instancesTimeIterations == true }) {
                    runner.note(String(format: "per-iteration latencies (edge ops): %.1f ns per timed iteration (clock read + label + loop, vs %.1f ns untimed), in the batch overhead and subtracted from each iteration",
                                       timed, calibration.perIterationNs))
                }
            }
        }

        /// Spreads the op's samples over `processes` workers per side; with two sides the
        /// workers alternate A B, B A, ... so drift hits both equally.
        func measureWithWorkers(op: PlannedOp, index: Int, slowdown: Double?, progress: ProgressLine) throws -> [OpResult] {
            let n = max(1, config.processes)
            let perWorker = max(2, Int((Double(op.spec.settings.samples) / Double(n)).rounded(.up)))
            var results = Array(repeating: OpResult(samples: [], checks: [], interrupted: false), count: config.sides.count)
            var calibrated = Array(repeating: false, count: config.sides.count)
            let me = Harness.executablePath
            for p in 0..<n {
                let order = p % 2 == 0 ? Array(config.sides.indices) : Array(config.sides.indices.reversed())
                for s in order {
                    if fb_interrupt_signal() != 0 {
                        for i in results.indices { results[i].interrupted = true }
                        return results
                    }
                    let side = config.sides[s]
                    progress.update("[\(index + 1)/\(runner.plan.ops.count)] \(op.qualifiedName) · worker \(p + 1)/\(n)\(sideTag(s))")
                    let request = WorkerRequest(suitePath: op.suitePath, suite: op.suite, op: op.spec.name, variants: op.spec.variants, samples: perWorker,
                                                counters: counters.mode == .hw ? .hw : .none, events: events, explicitEvents: explicit,
                                                slowdown: side.executable == nil ? slowdown : nil, pin: config.pinCPU, process: p,
                                                quick: config.quick, temperatureLimitC: config.temperatureLimitC)
                    let r = try WorkerClient.run(executable: side.executable ?? me, request: request, environment: config.environment)
                    if p == 0 || results[s].checks.isEmpty { results[s].checks = r.checks }
                    if results[s].fusionDecisions.isEmpty { results[s].fusionDecisions = r.fusionDecisions }
                    if results[s].timed.isEmpty {
                        results[s].timed = op.spec.variants.filter { v in !r.checks.contains { $0.variant == v && !$0.passed } }
                    }
                    let start = results[s].samples.count
                    var renumber: [Int: Int] = [:]
                    for (k, var sample) in r.samples.enumerated() {
                        renumber[sample.sequence] = start + k
                        sample.sequence = start + k
                        sample.process = p
                        results[s].samples.append(sample)
                    }
                    for var row in r.telemetry {
                        row.sampleSequence = row.sampleSequence.flatMap { renumber[$0] }
                        results[s].telemetry.append(row)
                    }
                    if !calibrated[s], let c = r.calibration {
                        try recordCalibration(c, runID: runIDs[s])
                        calibrated[s] = true
                    }
                    if r.interrupted {
                        for i in results.indices { results[i].interrupted = true }
                        return results
                    }
                }
            }
            return results
        }
    }
}

/// Lazily computed calibration shared by the per-layer timings of a run.
final class CalibrationBox {
    var value: Calibration?
}
