import BenchModel
import CPerfEvent
import Foundation
import Kernels
import ProcessIO

/// The worker protocol: how a fusebench process asks another fusebench process (itself
/// re-executed, or another build given to `gate --against`) to measure one op.
///
/// The parent starts `EXECUTABLE worker`, writes one `WorkerRequest` as JSON on its stdin and
/// closes it; the worker answers with JSON lines on stdout, one `WorkerMessage` each: `hello`
/// first (who it is), then the accuracy `check`s, the `sample`s, and finally `done` — or `error`.
/// Everything is plain Codable JSON so that two different builds of fusebench can talk as long
/// as `protocolVersion` matches.
public enum WorkerProtocol {
    /// Bumped on any incompatible change of the messages.
    public static let version = 1
}

/// What the parent asks a worker to measure.
public struct WorkerRequest: Codable, Sendable {
    public var protocolVersion = WorkerProtocol.version
    /// Absolute path of the suite file holding the op.
    public var suitePath: String
    /// Name of the suite the parent planned the op in (the worker measures `SUITE/OP` of that
    /// file); nil from parents of builds before it was sent.
    public var suite: String?
    /// Op name within the suite.
    public var op: String
    /// Variants to run (the first is the reference; verification needs it).
    public var variants: [String]
    /// Measured batches per variant in this worker.
    public var samples: Int
    /// `hw` (open hardware counters) or `none`.
    public var counters: CounterSource
    /// Counter events for `hw`.
    public var events: [String]
    public var explicitEvents: Bool
    /// Injected slowdown fraction for this op (testing aid), if any.
    public var slowdown: Double?
    /// CPU to pin to, if any.
    public var pin: Int?
    /// Index of this worker among the op's workers (stored with each sample).
    public var process: Int
    /// Apply `--quick` caps to the op's settings.
    public var quick: Bool
    /// Temperature limit for throttle flags (°C); nil = default.
    public var temperatureLimitC: Double?

    /// A request for one op's `variants` from the suite file at `suitePath`.
    public init(suitePath: String, suite: String? = nil, op: String, variants: [String], samples: Int, counters: CounterSource, events: [String],
                explicitEvents: Bool, slowdown: Double?, pin: Int?, process: Int, quick: Bool, temperatureLimitC: Double? = nil) {
        self.temperatureLimitC = temperatureLimitC
        self.suitePath = suitePath
        self.suite = suite
        self.op = op
        self.variants = variants
        self.samples = samples
        self.counters = counters
        self.events = events
        self.explicitEvents = explicitEvents
        self.slowdown = slowdown
        self.pin = pin
        self.process = process
        self.quick = quick
    }
}

/// Who answered: enough to label a run made from this worker's samples.
public struct WorkerHello: Codable, Sendable, Hashable {
    /// This process's hello.
    public static var current: WorkerHello {
        var h = WorkerHello(protocolVersion: WorkerProtocol.version, harnessVersion: Harness.version, isaBuilt: ISA.built.names,
                            kernelPath: ISA.kernelPath.rawValue, pid: getpid())
        h.int8KernelPath = Int8KernelPath.selected.description
        h.executable = URL(fileURLWithPath: Harness.executablePath).lastPathComponent
        h.userKinds = ExecutableKinds.user
        return h
    }

    public var protocolVersion: Int
    public var harnessVersion: String
    public var isaBuilt: [String]
    public var kernelPath: String
    /// The int8 GEMM path this process dispatches to (`scalar`, `avx2`, `avx512vnni`); nil from
    /// workers built before it was reported.
    public var int8KernelPath: String?
    /// File name of the answering executable (`fusebench`, or a user's executable built on
    /// `FuseBenchCLI`); nil from workers built before it was reported.
    public var executable: String?
    /// The kernel kinds the executable registered on top of the built-in ones (`ExecutableKinds`),
    /// sorted; nil from workers built before it was reported.
    public var userKinds: [String]?
    public var pid: Int32

    public init(protocolVersion: Int, harnessVersion: String, isaBuilt: [String], kernelPath: String, pid: Int32) {
        self.protocolVersion = protocolVersion
        self.harnessVersion = harnessVersion
        self.isaBuilt = isaBuilt
        self.kernelPath = kernelPath
        self.pid = pid
    }
}

/// The kernel kinds this executable's `main` registered on top of fusebench's built-in ones (a
/// user's executable built on `FuseBenchCLI`), reported in the worker hello so a run names the
/// binary that measured it. Set once at start-up, before any command runs.
public enum ExecutableKinds {
    private final class Box: @unchecked Sendable {
        // @unchecked: `kinds` is only touched while holding `lock`.
        let lock = NSLock()
        var kinds: [String] = []
    }
    private static let box = Box()

    /// The kinds registered by `main`, sorted (empty for the stock fusebench).
    public static var user: [String] { box.lock.withLock { box.kinds } }

    /// Records `kinds` as registered by this executable's `main`.
    public static func record(_ kinds: [String]) {
        box.lock.withLock { box.kinds = Array(Set(box.kinds + kinds)).sorted() }
    }
}

/// One line of a worker's answer.
public struct WorkerMessage: Codable, Sendable {
    public enum Kind: String, Codable, Sendable { case hello, check, sample, done, error }
    public var type: Kind
    public var hello: WorkerHello?
    public var check: AccuracyCheck?
    public var sample: Sample?
    public var calibration: Calibration?
    /// Set on `done` when the worker was interrupted.
    public var interrupted: Bool?
    /// On `done`: telemetry taken with the samples (sequences as in the `sample` messages).
    public var telemetry: [TelemetryRow]?
    /// On `done`: fusion planner decisions behind the worker's model instances.
    public var fusionDecisions: [FusionDecision]?
    public var error: String?

    public init(type: Kind, hello: WorkerHello? = nil, check: AccuracyCheck? = nil, sample: Sample? = nil,
                calibration: Calibration? = nil, interrupted: Bool? = nil, telemetry: [TelemetryRow]? = nil,
                fusionDecisions: [FusionDecision]? = nil, error: String? = nil) {
        self.telemetry = telemetry
        self.fusionDecisions = fusionDecisions
        self.type = type
        self.hello = hello
        self.check = check
        self.sample = sample
        self.calibration = calibration
        self.interrupted = interrupted
        self.error = error
    }
}

/// Everything one worker returned.
public struct WorkerResult: Sendable {
    public var hello: WorkerHello
    public var checks: [AccuracyCheck]
    public var samples: [Sample]
    public var calibration: Calibration?
    /// The worker stopped early on SIGINT/SIGTERM (its samples so far are kept).
    public var interrupted: Bool
    /// The answer ended with `done`; false when the worker ended mid-way.
    public var finished: Bool
    public var telemetry: [TelemetryRow]
    public var fusionDecisions: [FusionDecision]

    /// The result with every sample and check keyed by the op the parent asked for
    /// (`request.suite`/`request.op`): identity comes from the parent's plan, whatever the worker
    /// (possibly another build) sent.
    public func identified(by request: WorkerRequest) -> WorkerResult {
        guard let suite = request.suite else { return self }
        let op = OpKey(suite: suite, op: request.op)
        var r = self
        for i in r.samples.indices { r.samples[i].key = op.variant(r.samples[i].variant) }
        for i in r.checks.indices { r.checks[i].key = op.variant(r.checks[i].variant) }
        return r
    }
}

/// A worker that ended without finishing while nobody asked it to stop (killed from outside,
/// crashed).
public struct WorkerDied: Error, CustomStringConvertible, Sendable {
    /// Its process id.
    public var pid: Int32
    /// How it ended.
    public var termination: Termination
    /// The last lines it wrote on stderr.
    public var stderrTail: String

    /// `was killed by signal 9 (SIGKILL)` / `exited with status 1` plus "before finishing".
    public var how: String { "\(termination) before finishing" }

    /// `worker pid N <how>`.
    public var description: String { "worker pid \(pid) \(how)" }
}

/// Parent side: runs one worker process to completion.
public enum WorkerClient {
    /// Asks `executable` who it is (an empty request: the worker answers hello and done).
    public static func hello(executable: String, environment: [String: String]) throws -> WorkerHello {
        let probe = WorkerRequest(suitePath: "", op: "", variants: [], samples: 0, counters: .none, events: [],
                                  explicitEvents: false, slowdown: nil, pin: nil, process: 0, quick: false)
        // The probe takes a moment: it is not asked to stop on SIGINT/SIGTERM (the run then starts
        // and ends `interrupted` at once); only a signal that reached it too stops it.
        let answer: WorkerResult
        do {
            answer = try run(executable: executable, request: probe, environment: environment, forwardInterrupt: false)
        } catch let died as WorkerDied {
            throw RunError("worker \(executable) (pid \(died.pid)) \(died.how) while asked who it is")
        }
        guard answer.finished else { throw RunInterrupted(signal: fb_interrupt_signal()) }
        return answer.hello
    }

    /// Starts `executable worker`, sends `request`, and collects the answer. If this process
    /// is interrupted (SIGINT/SIGTERM) meanwhile, the worker is sent SIGINT so it stops after its
    /// current batch and returns what it has (SIGKILL if it has not ended 10 s later).
    ///
    /// - Throws: `WorkerDied` when the worker ended without finishing and nobody asked it to stop
    ///   (killed from outside, crashed); `RunError` when it cannot be started or answers nonsense.
    /// `forwardInterrupt: false` leaves the worker alone on SIGINT/SIGTERM (for quick probes).
    public static func run(executable: String, request: WorkerRequest, environment: [String: String],
                           forwardInterrupt: Bool = true) throws -> WorkerResult {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let input = [UInt8](try encoder.encode(request))
        let child: ChildProcess
        do {
            child = try ChildProcess(executable: executable, arguments: ["worker"], environment: environment, stdin: .pipe)
        } catch let e as ProcessIOError {
            throw RunError("cannot start worker \(executable): \(String(cString: strerror(e.code)))")
        }
        var askedToStop: UInt64?
        let output: ChildProcess.Output
        do {
            output = try child.communicate(input: input) { child in
                guard forwardInterrupt, fb_interrupt_signal() != 0 else { return }
                if let asked = askedToStop {
                    if Clock.wall() &- asked > 10_000_000_000 { child.signal(SIGKILL) }
                } else {
                    askedToStop = Clock.wall()
                    child.signal(SIGINT)
                }
            }
        } catch let e as ProcessIOError {
            throw RunError("worker \(executable) (pid \(child.pid)): \(e.description)")
        }
        let stderrText = String(decoding: output.stderr, as: UTF8.self)
        // Stopped by our own SIGINT (or the terminal's, which reaches the whole group): keep what
        // arrived. Ended any other way before `done`: it died under us.
        let stopped = askedToStop != nil || fb_interrupt_signal() != 0
        let died = WorkerDied(pid: child.pid, termination: output.termination,
                              stderrTail: stderrText.split(separator: "\n").suffix(5).joined(separator: "\n"))
        var result: WorkerResult
        do {
            result = try parse(Data(output.stdout), executable: executable, status: output.termination.shellStatus, stderr: stderrText)
                .identified(by: request)
        } catch {
            if stopped {
                // Stopped before it could say anything (e.g. still starting up): nothing to keep.
                return WorkerResult(hello: WorkerHello.current, checks: [], samples: [], calibration: nil, interrupted: true,
                                    finished: false, telemetry: [], fusionDecisions: [])
            }
            if case .signaled = output.termination { throw died }
            throw error
        }
        if !result.finished {
            guard stopped else { throw died }
            result.interrupted = true
        }
        return result
    }

    /// Decodes a worker's stdout (exposed for tests).
    public static func parse(_ data: Data, executable: String, status: Int32, stderr: String) throws -> WorkerResult {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var hello: WorkerHello?
        var checks: [AccuracyCheck] = []
        var samples: [Sample] = []
        var calibration: Calibration?
        var interrupted = false
        var finished = false
        var telemetry: [TelemetryRow] = []
        var fusionDecisions: [FusionDecision] = []
        for (i, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() where !line.isEmpty {
            let m: WorkerMessage
            do {
                m = try decoder.decode(WorkerMessage.self, from: Data(line))
            } catch {
                throw RunError("worker \(executable) sent an unreadable line \(i + 1): \(String(decoding: line.prefix(120), as: UTF8.self))")
            }
            switch m.type {
            case .hello:
                guard let h = m.hello else { continue }
                guard h.protocolVersion == WorkerProtocol.version else {
                    throw RunError("worker \(executable) speaks protocol \(h.protocolVersion), this fusebench \(WorkerProtocol.version); use builds of compatible versions")
                }
                hello = h
            case .check: if let c = m.check { checks.append(c) }
            case .sample: if let s = m.sample { samples.append(s) }
            case .done:
                calibration = m.calibration
                interrupted = m.interrupted ?? false
                telemetry = m.telemetry ?? []
                fusionDecisions = m.fusionDecisions ?? []
                finished = true
            case .error:
                throw RunError("worker \(executable): \(m.error ?? "unknown error")")
            }
        }
        guard let h = hello else {
            let tail = stderr.split(separator: "\n").suffix(5).joined(separator: "\n")
            throw RunError("worker \(executable) exited with status \(status) without answering (is it a fusebench with `worker`?)\(tail.isEmpty ? "" : ":\n" + tail)")
        }
        return WorkerResult(hello: h, checks: checks, samples: samples, calibration: calibration, interrupted: interrupted,
                            finished: finished, telemetry: telemetry, fusionDecisions: fusionDecisions)
    }
}
