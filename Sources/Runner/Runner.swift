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
    public var runID: Int64
    public var status: RunStatus
    /// Lines worth telling the user (counter mode, stale runs, overhead, rejected variants).
    public var notes: [String]
}

/// Executes a plan and stores every sample. One instance per run.
public final class BenchRunner {
    let plan: BenchPlan
    let store: ResultStore
    let config: RunConfig
    let say: (String) -> Void

    /// `say` receives the run's informational lines (stdout at the CLI).
    public init(plan: BenchPlan, store: ResultStore, config: RunConfig, say: @escaping (String) -> Void) {
        self.plan = plan
        self.store = store
        self.config = config
        self.say = say
    }

    /// Runs the plan. Throws `RunError` for problems found before measuring (ISA, counters, pinning).
    public func run() throws -> RunOutcome {
        try ISA.check()
        var notes: [String] = []
        let stale = try store.markStaleRuns()
        if !stale.isEmpty {
            let note = "marked \(stale.count) run(s) left 'running' by a dead process as stale: \(stale.map(String.init).joined(separator: ", "))"
            notes.append(note)
            say(note)
        }
        if let cpu = config.pinCPU {
            let rc = fb_pin_to_cpu(Int32(cpu))
            guard rc == 0 else { throw RunError("--pin \(cpu): cannot pin to CPU \(cpu): \(String(cString: strerror(-rc)))") }
        }

        // Counters: the union of all ops' events, one session for the run.
        let events = plan.suites.first.map { $0.defaults.counters } ?? MeasurementSettings.defaultCounters
        let explicit = plan.suites.contains { $0.defaults.countersExplicit }
        var eventUnion: [String] = []
        for s in plan.suites { for e in s.defaults.counters where !eventUnion.contains(e) { eventUnion.append(e) } }
        let counters = try CounterSetup.choose(mode: config.counterMode, events: eventUnion.isEmpty ? events : eventUnion,
                                               explicit: explicit, environment: config.environment)
        defer { counters.session?.close() }
        say(counters.note)
        notes.append(counters.note)

        let fingerprint = MachineProbe.fingerprint(isaHost: ISA.host.names, pmuAvailable: counters.mode == "hw")
        let git = GitInfo.current()
        var cfg = config.extraConfig
        cfg["counters"] = config.counterMode.rawValue
        cfg["pin"] = config.pinCPU.map(String.init) ?? "none"
        cfg["kernel_path"] = ISA.kernelPath
        if !config.injectedSlowdown.isEmpty {
            cfg["inject_slowdown"] = config.injectedSlowdown.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value * 100)%" }.joined(separator: ",")
        }
        let configJSON = String(decoding: (try? JSONSerialization.data(withJSONObject: cfg, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
        let info = RunInfo(startedAt: Date(), status: .running, label: config.label, suites: plan.suites.map(\.name),
                           suiteHash: plan.suiteHash, gitCommit: git.commit, gitBranch: git.branch, gitDirty: git.dirty,
                           harnessVersion: Harness.version, machine: fingerprint, isaBuilt: ISA.built.names,
                           counterMode: counters.mode, counterNote: counters.note, calibration: nil,
                           configJSON: configJSON, pid: getpid())
        let runID = try store.beginRun(info)
        fb_install_interrupt_handlers()
        defer { fb_reset_interrupt_flag() }

        let timer = BatchTimer(counters: counters.session)
        let status: RunStatus
        do {
            let batchNs = plan.ops.map(\.spec.settings.batchNs).min() ?? 2_000_000
            let calibration = try Calibrator.calibrate(timer: timer, targetBatchNs: batchNs)
            try store.updateRun(id: runID, calibration: calibration, counterMode: counters.mode, counterNote: counters.note)
            let perSample = calibration.overhead(iterations: 1)
            let overheadNote = String(format: "harness overhead per sample: %.0f ns (clock pair %.0f ns, loop %.1f ns/iter, counter read %.0f ns outside the timed window) = %.4f%% of a 1 ms op; subtracted from every sample",
                                      perSample, calibration.clockPairNs, calibration.perIterationNs, calibration.counterReadNs,
                                      calibration.shareOfOneMillisecond * 100)
            say(overheadNote)
            notes.append(overheadNote)
            try store.setRunMeta(runID: runID, key: "overhead.sample_ns", value: String(perSample))
            try store.setRunMeta(runID: runID, key: "overhead.share_of_1ms", value: String(calibration.shareOfOneMillisecond))
            try store.setRunMeta(runID: runID, key: "isa.kernel_path", value: ISA.kernelPath)
            if !counters.unsupported.isEmpty {
                try store.setRunMeta(runID: runID, key: "counters.unsupported",
                                     value: counters.unsupported.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; "))
            }
            if !config.injectedSlowdown.isEmpty {
                try store.setRunMeta(runID: runID, key: "inject_slowdown", value: cfg["inject_slowdown"] ?? "")
                say("NOTE: --inject-slowdown is active (\(cfg["inject_slowdown"] ?? "")): this run measures deliberately slowed kernels")
            }
            let measurer = OpMeasurer(timer: timer, calibration: calibration, quiet: config.quiet,
                                      spinNs: config.injectedSlowdown.isEmpty ? 0 : SpinWork.nanosecondsPerSpin(),
                                      simulator: counters.simulator)
            var sequence = 0
            var interrupted = false
            for (index, op) in plan.ops.enumerated() {
                let opID = try store.recordOp(runID: runID, op: op.record)
                let result = try measurer.measure(op: op, index: index, of: plan.ops.count, sequenceStart: sequence,
                                                  slowdown: config.injectedSlowdown[op.spec.name] ?? config.injectedSlowdown[op.qualifiedName])
                for check in result.checks {
                    try store.insertAccuracy(runID: runID, opID: opID, check: check)
                    if !check.passed {
                        let note = "REJECTED \(op.qualifiedName)/\(check.variant): outside its accuracy band vs \(check.referenceVariant) — \(check.reason ?? "")"
                        say(note)
                        notes.append(note)
                    }
                }
                try store.insertSamples(runID: runID, opID: opID, samples: result.samples)
                sequence += result.samples.count
                if result.interrupted {
                    interrupted = true
                    break
                }
            }
            measurer.progress.finish()
            if !measurer.simulatedCaches.isEmpty {
                let caches = measurer.simulatedCaches.joined(separator: "; ")
                try store.setRunMeta(runID: runID, key: "sim.caches", value: caches)
                say("simulated cache hierarchy (callgrind): \(caches)")
            }
            timer.stop()
            status = interrupted ? .interrupted : .complete
        } catch {
            timer.stop()
            try? store.finishRun(id: runID, status: .failed)
            throw error
        }
        try store.finishRun(id: runID, status: status)
        if status == .interrupted {
            let sig = fb_interrupt_signal()
            let note = "run \(runID) interrupted by signal \(sig): every completed sample was kept; status 'interrupted'"
            say(note)
            notes.append(note)
        }
        return RunOutcome(runID: runID, status: status, notes: notes)
    }
}
