// What the steps of a run's op loop share: the plan, the store, the runs being filled, the
// counter choice and the way notes reach the user.
import BenchModel
import CPerfEvent
import Counters
import Kernels
import Store
import Suite
import Telemetry

/// Read-only state of one run shared by scheduling, measuring, the callgrind pass, the family
/// extras and storage.
struct RunContext {
    let plan: BenchPlan
    let store: ResultStore
    /// Where op results go (kept in memory while the database is locked, see `OpResultSpool`).
    let spool: OpResultSpool
    let config: RunConfig
    let counters: CounterChoice
    /// Run id per side, in `RunConfig.sides` order.
    let runIDs: [Int64]
    /// Content hash (`ContentHash.file(atPath:)`) of the executable measuring each side, in
    /// `RunConfig.sides` order; stored as run meta `binary.hash`.
    var binaryHashes: [String] = []
    /// What each side's executable said about itself (`WorkerHello`: built ISA, kernel path), in
    /// `RunConfig.sides` order; empty in tests that build a context by hand.
    var hellos: [WorkerHello] = []
    /// The host CPU as callgrind simulates it (model and cache hierarchy): part of the
    /// simulated-counter cache key, as valgrind takes its cache geometry from the host.
    var simHost: String = ""
    /// Counter events of the run (the union of all suites' lists).
    let events: [String]
    /// True when a suite named its counters explicitly.
    let explicit: Bool
    /// Telemetry sampler, nil when the machine exposes no sensors.
    let telemetry: TelemetrySampler?
    /// Says a line to the user and keeps it in the run's notes.
    let note: (String) -> Void

    /// True once SIGINT or SIGTERM arrived.
    var interruptRequested: Bool { fb_interrupt_signal() != 0 }

    /// ` [base]` / ` [head]` for two-sided runs, empty otherwise.
    func sideTag(_ side: Int) -> String {
        config.sides[side].name.isEmpty ? "" : " [\(config.sides[side].name)]"
    }

    /// True when `op` must be measured in a worker process even in a one-process run: its factory
    /// says so (`OpFamilyExtras.requiresIsolation`, e.g. a C plug-in), so a crash or hang in it
    /// fails the op instead of taking fusebench down.
    func requiresIsolation(_ op: PlannedOp) -> Bool {
        (op.factory as? any OpFamilyExtras)?.requiresIsolation ?? false
    }

    /// ` (plug-in library PATH)` for an op whose kernels come from a plug-in (its factory's run
    /// notes name the library), empty otherwise.
    func libraryNote(for op: PlannedOp) -> String {
        guard let library = op.pluginLibrary else { return "" }
        return " (plug-in library \(library))"
    }

    /// Stores a calibration with run `runID` and, for the last side, says what it costs.
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
            note(String(format: "harness overhead per sample: %.0f ns (clock pair %.0f ns, loop %.1f ns/iter, counter read %.0f ns outside the timed window) = %.4f%% of a 1 ms op; subtracted from every sample",
                        perSample, calibration.clockPairNs, calibration.perIterationNs, calibration.counterReadNs,
                        calibration.shareOfOneMillisecond * 100))
        }
        if let timed = calibration.perTimedIterationNs {
            if runID == runIDs.last, plan.ops.contains(where: { ($0.factory as? any OpFamilyExtras)?.instancesTimeIterations == true }) {
                note(String(format: "per-iteration latencies (edge ops): %.1f ns per timed iteration (clock read + label + loop, vs %.1f ns untimed), in the batch overhead and subtracted from each iteration",
                            timed, calibration.perIterationNs))
            }
        }
    }
}
