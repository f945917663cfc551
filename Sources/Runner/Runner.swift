import BenchModel
import CPerfEvent
import Counters
import Foundation
import Kernels
import ProcessIO
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
    /// Ops that failed (a worker crashed or hung) while the run went on with the others; the run
    /// then has status `failed` and the CLI exits 3 listing them.
    public var failures: [OpFailure] = []

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
        // From here on Ctrl-C / SIGTERM only set a flag (SA_RESTART): the run ends as
        // `interrupted` at the next safe point, keeping every completed sample.
        fb_install_interrupt_handlers()
        defer { fb_reset_interrupt_flag() }
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
        let git = try GitInfo.measured(suitePath: plan.suites.first?.path, sourceDirectory: config.sourceDirectory,
                                       environment: config.environment)
        for (key, value) in config.tags { try RunTags.validate(key: key, value: value) }
        var cfg = config.extraConfig
        cfg["counters"] = config.counterMode.rawValue
        cfg["pin"] = config.pinCPU.map(String.init) ?? "none"
        cfg["kernel_path"] = ISA.kernelPath.rawValue
        cfg["processes"] = String(config.processes)
        if !config.injectedSlowdown.isEmpty {
            cfg["inject_slowdown"] = config.injectedSlowdown.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value * 100)%" }.joined(separator: ",")
        }
        // The content hash of the executable that measures each side (`binary.hash`): history
        // pairs runs of the same bytes, and the simulated-counter cache keys on it.
        var hashed: [String: String] = [:]
        let binaryHashes = try config.sides.map { side in
            let exe = side.executable ?? Harness.executablePath
            if let h = hashed[exe] { return h }
            do {
                let h = try ContentHash.file(atPath: exe)
                hashed[exe] = h
                return h
            } catch let e as ContentHash.FileError {
                throw RunError("binary hash: \(e.description)")
            }
        }
        var runIDs: [Int64] = []
        for (i, side) in config.sides.enumerated() {
            // A side with suites of its own (`gate --against-suite`) measures that checkout.
            var git = git
            if side.executable == nil, let own = side.ops?.values.map(\.suitePath).min() {
                git = try GitInfo.measured(suitePath: own, sourceDirectory: nil, environment: [:])
            }
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
            if !config.tags.isEmpty { try store.setRunTags(runID: id, tags: config.tags) }
            try store.setRunMeta(runID: id, key: "isa.kernel_path", value: hellos[i].kernelPath)
            if let q = hellos[i].int8KernelPath { try store.setRunMeta(runID: id, key: "isa.int8_kernel_path", value: q) }
            if let name = hellos[i].executable { try store.setRunMeta(runID: id, key: "executable.name", value: name) }
            if let kinds = hellos[i].userKinds, !kinds.isEmpty {
                try store.setRunMeta(runID: id, key: "executable.user_kinds", value: kinds.joined(separator: ","))
            }
            if let exe = side.executable { try store.setRunMeta(runID: id, key: "worker.executable", value: exe) }
            try store.setRunMeta(runID: id, key: RunMetaKey.binaryHash, value: binaryHashes[i])
            if !counters.unsupported.isEmpty {
                try store.setRunMeta(runID: id, key: "counters.unsupported",
                                     value: counters.unsupported.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; "))
            }
            if let s = cfg["inject_slowdown"] {
                try store.setRunMeta(runID: id, key: RunMetaKey.injectSlowdown, value: s)
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
        var failures: [OpFailure] = []
        // Each op's results are stored by the spool: kept in memory while the database is locked, never lost.
        let spool = OpResultSpool(store: store)
        let context = RunContext(plan: plan, store: store, spool: spool, config: config, counters: counters, runIDs: runIDs,
                                 binaryHashes: binaryHashes, hellos: hellos,
                                 simHost: ([fingerprint.cpuModel] + fingerprint.caches).joined(separator: "; "), events: events, explicit: explicit, telemetry: telemetry.sampler, note: { [unowned self] in self.note($0) })
        do {
            let loop = try OpLoop(context: context).run()
            status = loop.status
            failures = loop.failures
            if let line = try spool.finish() { note(line) }
        } catch {
            if let kept = spool.salvage(reason: "the run failed: \(error)") { note("error: \(kept.description)") }
            for id in runIDs { try? store.finishRun(id: id, status: .failed) }
            throw error
        }
        for id in runIDs { try store.finishRun(id: id, status: status) }
        if status == .interrupted {
            let sig = fb_interrupt_signal()
            let by = sig != 0 ? ProcessSignal.name(sig) : "a signal to a worker process"
            note("run \(runIDs.map(String.init).joined(separator: ", ")) interrupted by \(by): every completed sample was kept; status 'interrupted'")
        }
        if !failures.isEmpty {
            note("run \(runIDs.map(String.init).joined(separator: ", ")) \(status == .failed ? "failed" : "ended \(status.rawValue)"): \(failures.count) op(s) failed (\(failures.map(\.op).joined(separator: ", "))); every other op and every sample received was stored")
        }
        return RunOutcome(runIDs: runIDs, status: status, notes: notes, failures: failures)
    }
}

