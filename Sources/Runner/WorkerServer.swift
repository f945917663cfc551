import BenchModel
import CPerfEvent
import Counters
import Foundation
import Kernels
import Suite
import Telemetry

/// Worker side of the protocol: measures one op as asked and writes JSON lines to `emit`.
public enum WorkerServer {
    /// Serves `request`; every outcome, including errors, is reported as messages.
    public static func serve(_ request: WorkerRequest, environment: [String: String], emit: (WorkerMessage) -> Void) {
        emit(WorkerMessage(type: .hello, hello: WorkerHello.current))
        do {
            guard request.protocolVersion == WorkerProtocol.version else {
                throw RunError("parent speaks protocol \(request.protocolVersion), this worker \(WorkerProtocol.version)")
            }
            if request.op.isEmpty {
                // A hello probe.
                emit(WorkerMessage(type: .done))
                return
            }
            try ISA.check()
            if let cpu = request.pin {
                let rc = fb_pin_to_cpu(Int32(cpu))
                guard rc == 0 else { throw RunError("cannot pin to CPU \(cpu): \(String(cString: strerror(-rc)))") }
            }
            let suite = try SuiteLoader.load(path: request.suitePath)
            var plan = try BenchPlan(suites: [suite], quick: request.quick)
            plan.ops = plan.ops.filter { $0.spec.name == request.op && (request.suite == nil || $0.suite == request.suite) }
            guard var op = plan.ops.first else { throw RunError("\(request.suitePath): no op named '\(request.op)'") }
            op.spec.variants = request.variants
            op.spec.settings.samples = request.samples
            let mode: CounterMode = request.counters == .hw ? .hw : .none
            let counters = try CounterSetup.choose(mode: mode, events: request.events, explicit: request.explicitEvents,
                                                   environment: environment)
            defer { counters.session?.close() }
            let timer = BatchTimer(counters: counters.session)
            let calibration = try Calibrator.calibrate(timer: timer, targetBatchNs: op.spec.settings.batchNs)
            fb_install_interrupt_handlers()
            let measurer = OpMeasurer(timer: timer, calibration: calibration, quiet: true,
                                      spinNs: (request.slowdown ?? 0) > 0 ? SpinWork.nanosecondsPerSpin() : 0)
            measurer.telemetry = TelemetryChoice.sampler(environment: environment).sampler
            if let limit = request.temperatureLimitC { measurer.temperatureLimitC = limit }
            let result = try measurer.measure(op: op, index: 0, of: 1, slowdown: request.slowdown)
            timer.stop()
            for c in result.checks { emit(WorkerMessage(type: .check, check: c)) }
            for var s in result.samples {
                s.process = request.process
                emit(WorkerMessage(type: .sample, sample: s))
            }
            emit(WorkerMessage(type: .done, calibration: calibration, interrupted: result.interrupted, telemetry: result.telemetry,
                               fusionDecisions: result.fusionDecisions))
        } catch {
            emit(WorkerMessage(type: .error, error: String(describing: error)))
        }
    }
}
