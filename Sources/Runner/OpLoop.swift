// The per-op loop of a run. Each step has its own type: `OpSchedule` (order, cooldown),
// `InProcessMeasurement` / `WorkerFanOut` (taking the samples), `SimPass` (the callgrind pass,
// every side's variants of the op at once after its timed batches),
// `FamilyExtras` (what an op family adds) and `OpStorage` (one transaction per op and side).
// Sample sequences are assigned in exactly one place: `SampleSequencer`.
import BenchModel
import Suite

/// The samples of one op for every side, and why measuring stopped early, if it did.
struct OpMeasurement {
    /// One result per side, in `RunConfig.sides` order; sequences already run-wide.
    var results: [OpResult]
    /// Set when a worker died under us: the results hold what arrived before. An `OpFailure`
    /// (crash, hang) fails this op only; any other error fails the run once they are stored.
    var failure: (any Error)?

    /// True when measuring stopped because of SIGINT/SIGTERM.
    var interrupted: Bool { results.contains { $0.interrupted } }
}

/// How the op loop ended.
struct OpLoopOutcome {
    /// `complete` or `interrupted`; `failed` when an op failed (see `failures`).
    var status: RunStatus
    /// The ops that failed (a worker crashed or hung), in run order; every other op was measured.
    var failures: [OpFailure]
}

/// Runs every op of the plan and stores its samples; returns how the run ended.
struct OpLoop {
    let context: RunContext

    func run() throws -> OpLoopOutcome {
        let progress = ProgressLine(quiet: context.config.quiet)
        defer { progress.finish() }
        let schedule = OpSchedule(context: context)
        let inProcess = context.config.inProcess ? try InProcessMeasurement(context: context) : nil
        defer { inProcess?.stop() }
        let fanOut = WorkerFanOut(context: context)
        let sim = try SimPass(context: context)
        let extras = FamilyExtras(context: context)
        let storage = OpStorage(context: context)
        let sequencers = context.runIDs.map { _ in SampleSequencer() }
        var status = RunStatus.complete
        var failures: [OpFailure] = []
        var isolationNoted = false
        for (index, op) in schedule.ops {
            schedule.cooldown(before: op, progress: progress)
            if context.interruptRequested {
                status = .interrupted
                break
            }
            // `SUITE/OP=PCT` slows that op; a bare `OP=PCT` slows the op of that name in every suite.
            let slowdown = context.config.injectedSlowdown[op.qualifiedName] ?? context.config.injectedSlowdown[op.spec.name]
            let measured: OpMeasurement
            if let inProcess, !context.requiresIsolation(op) {
                measured = try inProcess.measure(op: op, index: index, slowdown: slowdown, sequencer: sequencers[0])
            } else {
                if inProcess != nil, !isolationNoted {
                    isolationNoted = true
                    context.note("\(op.qualifiedName): measured in a worker process (its kernels are isolated: a crash or hang fails the op, not the run); so are the other such ops of this run")
                }
                measured = try fanOut.measure(op: op, index: index, slowdown: slowdown, sequencers: sequencers, progress: progress,
                                              isolated: inProcess != nil)
            }
            var interrupted = measured.interrupted
            var failure = measured.failure
            // The callgrind pass of every side at once, after all of the op's timed batches.
            var simulated: [[Sample]] = measured.results.map { _ in [] }
            if !interrupted, failure == nil {
                let requests = measured.results.enumerated().map { side, result in
                    SimRequest(side: side, op: context.config.sides[side].op(for: op), timed: result.timed, timing: result.samples)
                }
                let pass = sim.run(requests, progress: progress)
                simulated = pass.samples
                interrupted = pass.interrupted
                failure = pass.failure
            }
            for (side, var result) in measured.results.enumerated() {
                // Each side runs its own op (`gate --against-suite`: the base checkout's).
                let sideOp = context.config.sides[side].op(for: op)
                // A failing callgrind pass or family extra fails the run, but only after the
                // op's timing samples (and whatever the extras gathered) are stored.
                sequencers[side].adopt(side < simulated.count ? simulated[side] : [], into: &result)
                var extra = FamilyExtras.Output()
                do {
                    if !interrupted, failure == nil {
                        try extras.run(op: sideOp, side: side, result: result, progress: progress, into: &extra)
                    }
                } catch {
                    failure = error
                }
                sequencers[side].adopt(extra.samples, into: &result)
                try storage.store(op: sideOp, side: side, result: result, extras: extra)
            }
            if let opFailure = failure as? OpFailure {
                // This op failed; the others still get measured.
                failures.append(opFailure)
                context.note("error: \(opFailure.message)")
            } else if let failure {
                throw failure
            }
            if interrupted || context.interruptRequested {
                status = .interrupted
                break
            }
        }
        storage.noteLatencyStore()
        sim.finish()
        if status == .complete, !failures.isEmpty { status = .failed }
        return OpLoopOutcome(status: status, failures: failures)
    }
}

/// Numbers the samples of one side's run: every producer (in-process measurer, workers, the
/// callgrind pass, family extras) numbers its own samples from any base; `adopt` gives them the
/// next run-wide sequences and points their telemetry rows at the new numbers.
final class SampleSequencer {
    private var next = 0

    /// Appends `samples` (and `telemetry` taken with them) to `result` with run-wide sequences;
    /// `process` (a worker index) is stamped on each sample when given.
    func adopt(_ samples: [Sample], telemetry: [TelemetryRow] = [], process: Int? = nil, into result: inout OpResult) {
        var renumbered: [Int: Int] = [:]
        for var sample in samples {
            renumbered[sample.sequence] = next
            sample.sequence = next
            if let p = process { sample.process = p }
            next += 1
            result.samples.append(sample)
        }
        for var row in telemetry {
            row.sampleSequence = row.sampleSequence.flatMap { renumbered[$0] }
            result.telemetry.append(row)
        }
    }
}
