// Per-op storage: one op's result for one side goes to the store in one transaction (through the
// run's `OpResultSpool`), and what deserves a note (rejected variants, throttled samples, the latency store cost) is said.
import BenchModel
import Store
import Suite

/// Stores op results and keeps the run-wide store statistics.
final class OpStorage {
    private let context: RunContext
    // Store cost of the per-iteration latencies (samples carrying them), said at the end.
    private var latencyValues = 0, latencyRows = 0, latencyStoreNs: UInt64 = 0

    init(context: RunContext) {
        self.context = context
    }

    /// Stores the op record, accuracy checks, samples, telemetry and its family's decision log and
    /// run notes (`extras`) of `op` on side `side` in one transaction (sequences are already
    /// run-wide, see `SampleSequencer`). The only place a run writes an op's results.
    func store(op: PlannedOp, side: Int, result: OpResult, extras: FamilyExtras.Output = FamilyExtras.Output()) throws {
        let start = Clock.wall()
        if let line = try context.spool.store(OpResults(runID: context.runIDs[side], op: op.record, checks: result.checks,
                                                        samples: result.samples, telemetry: result.telemetry,
                                                        fusionDecisions: extras.fusionDecisions, runMeta: extras.runMeta)) {
            context.note(line)
        }
        let withLatencies = result.samples.compactMap(\.iterationLatencies)
        if !withLatencies.isEmpty {
            latencyStoreNs += Clock.wall() &- start
            latencyRows += withLatencies.count
            latencyValues += withLatencies.reduce(0) { $0 + $1.ns.count }
        }
        for check in result.checks where !check.passed {
            // A variant that could not be prepared (OpMeasurer) was never compared: say only why.
            let why = check.reason.map { $0.hasPrefix("could not be prepared") || $0.hasPrefix("reference variant \(check.referenceVariant) could not be prepared") } == true
                ? check.reason ?? "" : "outside its accuracy band vs \(check.referenceVariant) — \(check.reason ?? "")"
            context.note("REJECTED \(op.qualifiedName)/\(check.variant)\(context.sideTag(side)): \(why)")
        }
        let throttled = result.samples.filter { $0.flags.contains(.throttled) }.count
        if throttled > 0 {
            context.note("\(op.qualifiedName)\(context.sideTag(side)): \(throttled) sample(s) flagged as throttled (hot, throttle events or low effective frequency); `compare`/`gate --exclude-throttled` can leave them out")
        }
    }

    /// Says what storing the per-iteration latencies cost (when any were stored).
    func noteLatencyStore() {
        guard latencyRows > 0 else { return }
        context.note(String(format: "stored %d per-iteration latencies as %d iteration_latencies rows in %.3f s (with their samples)",
                            latencyValues, latencyRows, Double(latencyStoreNs) / 1e9))
    }
}
