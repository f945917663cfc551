// Measuring in this process (`--processes 1`, one side): one timer and one calibration for the
// whole run.
import BenchModel
import Suite

/// Takes an op's samples in this process.
final class InProcessMeasurement {
    private let context: RunContext
    private let timer: BatchTimer
    private let measurer: OpMeasurer

    /// Calibrates once (stored with the run) and prepares the measurer.
    init(context: RunContext) throws {
        self.context = context
        let config = context.config
        timer = BatchTimer(counters: context.counters.session)
        let batchNs = context.plan.ops.map(\.spec.settings.batchNs).min() ?? 2_000_000
        let calibration = try Calibrator.calibrate(timer: timer, targetBatchNs: batchNs)
        try context.recordCalibration(calibration, runID: context.runIDs[0])
        measurer = OpMeasurer(timer: timer, calibration: calibration, quiet: config.quiet,
                              spinNs: config.injectedSlowdown.isEmpty ? 0 : SpinWork.nanosecondsPerSpin())
        measurer.telemetry = context.telemetry
        measurer.temperatureLimitC = config.temperatureLimitC
    }

    /// Measures `op` (the only side); sequences are made run-wide by `sequencer`.
    func measure(op: PlannedOp, index: Int, slowdown: Double?, sequencer: SampleSequencer) throws -> OpMeasurement {
        let r = try measurer.measure(op: op, index: index, of: context.plan.ops.count, slowdown: slowdown)
        var result = OpResult(samples: [], checks: r.checks, interrupted: r.interrupted, timed: r.timed,
                              fusionDecisions: r.fusionDecisions)
        sequencer.adopt(r.samples, telemetry: r.telemetry, into: &result)
        return OpMeasurement(results: [result], failure: nil)
    }

    /// Stops the timer's counters.
    func stop() { timer.stop() }
}
