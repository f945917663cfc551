import BenchModel
import CPerfEvent
import Counters
import Foundation
import Kernels
import Suite
import Telemetry

/// Worker side of the protocol: measures one op as asked and writes JSON lines to `emit`.
public enum WorkerServer {
    /// Serves `request`; every outcome, including errors, is reported as messages. With
    /// `request.stream` the checks and samples go out as they are made, with `progress` lines
    /// whenever the variant or phase changes and at least every second while anything advances.
    public static func serve(_ request: WorkerRequest, environment: [String: String], emit: @escaping (WorkerMessage) -> Void) {
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
            let streaming = request.stream == true
            if streaming { emit(WorkerMessage(type: .progress, progress: "loading the suite")) }
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
            if streaming { emit(WorkerMessage(type: .progress, progress: "calibrating")) }
            let calibration = try Calibrator.calibrate(timer: timer, targetBatchNs: op.spec.settings.batchNs)
            fb_install_interrupt_handlers()
            let measurer = OpMeasurer(timer: timer, calibration: calibration, quiet: true,
                                      spinNs: (request.slowdown ?? 0) > 0 ? SpinWork.nanosecondsPerSpin() : 0)
            measurer.telemetry = TelemetryChoice.sampler(environment: environment).sampler
            if let limit = request.temperatureLimitC { measurer.temperatureLimitC = limit }
            if streaming { measurer.observer = StreamingObserver(process: request.process, emit: emit).observe }
            let result = try measurer.measure(op: op, index: 0, of: 1, slowdown: request.slowdown)
            timer.stop()
            if streaming {
                emit(WorkerMessage(type: .done, calibration: calibration, interrupted: result.interrupted, telemetry: result.telemetry,
                                   fusionDecisions: result.fusionDecisions,
                                   throttled: result.samples.filter { $0.flags.contains(.throttled) }.map(\.sequence)))
                return
            }
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

/// Turns a measurer's events into streamed messages: checks and samples at once, a `progress`
/// line when the variant or phase changes, else at most one a second (each batch of a long warm-up
/// or measurement would otherwise write one).
private final class StreamingObserver {
    private let process: Int
    private let emit: (WorkerMessage) -> Void
    private var announced: (variant: String, what: String)?
    private var lastWrite: UInt64 = 0

    init(process: Int, emit: @escaping (WorkerMessage) -> Void) {
        self.process = process
        self.emit = emit
    }

    func observe(_ event: MeasureEvent) {
        switch event {
        case .activity(let variant, let what):
            let now = Clock.wall()
            if let a = announced, a.variant == variant, a.what == what, now &- lastWrite < 1_000_000_000 { return }
            announced = (variant, what)
            lastWrite = now
            emit(WorkerMessage(type: .progress, progress: what, variant: variant))
        case .checks(let checks):
            for c in checks { emit(WorkerMessage(type: .check, check: c)) }
        case .sample(var s):
            s.process = process
            lastWrite = Clock.wall()
            emit(WorkerMessage(type: .sample, sample: s))
        }
    }
}
