// Worker fan-out: an op's samples spread over `--processes` worker processes per side
// (`run --processes N`, `gate`, `gate --against`), and the isolation of ops that ask for it
// (plug-in kernels: one worker even in a one-process run). A worker that crashes or hangs fails
// its op only: what it streamed before is kept.
import BenchModel
import CPerfEvent
import Store
import Suite

/// Spreads an op's samples over worker processes; with two sides the workers alternate
/// A B, B A, ... so drift hits both equally.
struct WorkerFanOut {
    let context: RunContext

    /// Runs the op's workers one after the other. On SIGINT/SIGTERM the worker in flight is asked
    /// to stop and its completed samples are kept; a worker that dies under us (crash, `kill -9`)
    /// or sends nothing for its watchdog's time (then killed; `RunConfig.workerTimeout(isolated:)`)
    /// ends measuring with an `OpFailure`, keeping every sample that arrived before, its own included. `isolated`: an op
    /// of a one-process run measured in a worker for safety — the run's calibration is the
    /// in-process one, so the worker's is not stored.
    func measure(op: PlannedOp, index: Int, slowdown: Double?, sequencers: [SampleSequencer], progress: ProgressLine,
                 isolated: Bool = false) throws -> OpMeasurement {
        let config = context.config
        let n = max(1, config.processes)
        let perWorker = max(2, Int((Double(op.spec.settings.samples) / Double(n)).rounded(.up)))
        var m = OpMeasurement(results: Array(repeating: OpResult(samples: [], checks: [], interrupted: false), count: config.sides.count))
        var calibrated = Array(repeating: isolated, count: config.sides.count)
        func stop(failure: (any Error)? = nil) -> OpMeasurement {
            for i in m.results.indices { m.results[i].interrupted = failure == nil }
            m.failure = failure
            return m
        }
        for p in 0..<n {
            let order = p % 2 == 0 ? Array(config.sides.indices) : Array(config.sides.indices.reversed())
            for s in order {
                if context.interruptRequested { return stop() }
                let side = config.sides[s]
                let sideOp = side.op(for: op)
                let worker = "worker \(p + 1)/\(n)\(context.sideTag(s))"
                progress.update("[\(index + 1)/\(context.plan.ops.count)] \(op.qualifiedName) · \(worker)")
                var request = WorkerRequest(suitePath: sideOp.suitePath, suite: sideOp.suite, op: sideOp.spec.name, variants: sideOp.spec.variants,
                                            samples: perWorker, counters: context.counters.mode == .hw ? .hw : .none, events: context.events,
                                            explicitEvents: context.explicit, slowdown: side.executable == nil ? slowdown : nil,
                                            pin: config.pinCPU, process: p, quick: config.quick, temperatureLimitC: config.temperatureLimitC)
                request.stream = true
                let r: WorkerResult
                do {
                    r = try WorkerClient.run(executable: side.executable ?? Harness.executablePath, request: request,
                                             environment: config.environment,
                                             timeout: config.workerTimeout(isolated: context.requiresIsolation(sideOp)))
                } catch let died as WorkerDied {
                    // Keep what it streamed before dying, then fail this op only.
                    var kept = 0
                    if let partial = died.partial {
                        if m.results[s].checks.isEmpty { m.results[s].checks = partial.checks }
                        if m.results[s].timed.isEmpty {
                            m.results[s].timed = sideOp.spec.variants.filter { v in !partial.checks.contains { $0.variant == v && !$0.passed } }
                        }
                        kept = partial.samples.count
                        sequencers[s].adopt(partial.samples, process: p, into: &m.results[s])
                    }
                    let library = context.libraryNote(for: sideOp)
                    let message = "\(op.qualifiedName)\(context.sideTag(s)): \(worker) (pid \(died.pid)) \(died.how)\(library); "
                        + "\(kept) sample(s) it sent and those of the workers before it are kept\(died.stderrTail.isEmpty ? "" : ":\n" + died.stderrTail)"
                    return stop(failure: OpFailure(op: op.qualifiedName, message: message))
                } catch {
                    // The worker could not be started or answered nonsense: keep what the other
                    // workers measured, then fail with its own message.
                    return stop(failure: error)
                }
                if p == 0 || m.results[s].checks.isEmpty { m.results[s].checks = r.checks }
                if m.results[s].fusionDecisions.isEmpty { m.results[s].fusionDecisions = r.fusionDecisions }
                if m.results[s].timed.isEmpty {
                    m.results[s].timed = sideOp.spec.variants.filter { v in !r.checks.contains { $0.variant == v && !$0.passed } }
                }
                sequencers[s].adopt(r.samples, telemetry: r.telemetry, process: p, into: &m.results[s])
                if !calibrated[s], let c = r.calibration {
                    // A locked database must not cost the op its samples: they are already in
                    // `m` and go through the spool; the calibration is retried with the next worker.
                    do {
                        try context.recordCalibration(c, runID: context.runIDs[s])
                        calibrated[s] = true
                    } catch {
                        // Any other store error fails the run, after the op's samples are stored.
                        guard let storeError = error as? StoreError, case .locked = storeError else { return stop(failure: error) }
                        context.note("\(op.qualifiedName)\(context.sideTag(s)): calibration of \(worker) not stored yet (\(storeError.description)); "
                            + "its samples are kept, the calibration is stored with the next worker's")
                    }
                }
                if r.interrupted { return stop() }
            }
        }
        return m
    }
}
