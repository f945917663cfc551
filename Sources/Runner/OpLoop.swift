// The per-op loop of a run. Each step has its own type: `OpSchedule` (order, cooldown),
// `InProcessMeasurement` / `WorkerFanOut` (taking the samples), `SimPass` (the callgrind pass),
// `FamilyExtras` (what an op family adds) and `OpStorage` (one transaction per op and side).
// Sample sequences are assigned in exactly one place: `SampleSequencer`.
import BenchModel
import Suite

/// The samples of one op for every side, and why measuring stopped early, if it did.
struct OpMeasurement {
    /// One result per side, in `RunConfig.sides` order; sequences already run-wide.
    var results: [OpResult]
    /// Set when a worker died under us: the results hold what arrived before, and the run fails
    /// with this error once they are stored.
    var failure: (any Error)?

    /// True when measuring stopped because of SIGINT/SIGTERM.
    var interrupted: Bool { results.contains { $0.interrupted } }
}

/// Runs every op of the plan and stores its samples; returns how the run ended.
struct OpLoop {
    let context: RunContext

    func run() throws -> RunStatus {
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
        for (index, op) in schedule.ops {
            schedule.cooldown(before: op, progress: progress)
            if context.interruptRequested {
                status = .interrupted
                break
            }
            // `SUITE/OP=PCT` slows that op; a bare `OP=PCT` slows the op of that name in every suite.
            let slowdown = context.config.injectedSlowdown[op.qualifiedName] ?? context.config.injectedSlowdown[op.spec.name]
            let measured: OpMeasurement
            if let inProcess {
                measured = try inProcess.measure(op: op, index: index, slowdown: slowdown, sequencer: sequencers[0])
            } else {
                measured = try fanOut.measure(op: op, index: index, slowdown: slowdown, sequencers: sequencers, progress: progress)
            }
            var interrupted = measured.interrupted
            var failure = measured.failure
            for (side, var result) in measured.results.enumerated() {
                // A failing callgrind pass or family extra fails the run, but only after the
                // op's timing samples (and whatever the extras gathered) are stored.
                var extra = FamilyExtras.Output()
                do {
                    if !interrupted, failure == nil {
                        let pass = try sim.run(op: op, side: side, timed: result.timed, progress: progress)
                        sequencers[side].adopt(pass.samples, into: &result)
                        interrupted = pass.interrupted
                    }
                    if !interrupted, failure == nil {
                        try extras.run(op: op, side: side, result: result, progress: progress, into: &extra)
                    }
                } catch {
                    failure = error
                }
                sequencers[side].adopt(extra.samples, into: &result)
                try storage.store(op: op, side: side, result: result, extras: extra)
            }
            if let failure { throw failure }
            if interrupted || context.interruptRequested {
                status = .interrupted
                break
            }
        }
        storage.noteLatencyStore()
        return status
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
