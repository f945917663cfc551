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
/// A parent that sets `WorkerRequest.stream` gets the checks once verified and every sample as it
/// is taken, with `progress` lines in between (phase changes, at least one a second while the
/// worker advances), so it can keep what a worker sent before dying and tell a hung worker
/// (nothing for `--worker-timeout` seconds) from a slow one. Everything is plain Codable JSON so
/// that two different builds of fusebench can talk as long as `protocolVersion` matches; the
/// streaming fields are optional, so builds with and without them still understand each other.
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
    /// Send checks, samples and `progress` lines as they happen (nil from parents that predate
    /// streaming: everything is sent at the end).
    public var stream: Bool?

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
        h.streams = true
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
    /// True when this worker honours `WorkerRequest.stream` (nil from builds that predate it: the
    /// parent's no-progress watchdog then only covers the time until `hello`).
    public var streams: Bool?

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
    public enum Kind: String, Codable, Sendable { case hello, check, sample, progress, done, error }
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
    /// On `progress`: what the worker is doing (`building`, `verifying`, `warming up`, `measuring`).
    public var progress: String?
    /// On `progress`: the variant it is doing it for, when one.
    public var variant: String?
    /// On `done` of a streaming worker: sequences of the samples flagged throttled (known only once
    /// all of them are taken).
    public var throttled: [Int]?

    public init(type: Kind, hello: WorkerHello? = nil, check: AccuracyCheck? = nil, sample: Sample? = nil,
                calibration: Calibration? = nil, interrupted: Bool? = nil, telemetry: [TelemetryRow]? = nil,
                fusionDecisions: [FusionDecision]? = nil, error: String? = nil, progress: String? = nil,
                variant: String? = nil, throttled: [Int]? = nil) {
        self.progress = progress
        self.variant = variant
        self.throttled = throttled
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
    /// The last `progress` the worker sent (`measuring` …) and its variant, if any: what it was
    /// doing when it stopped answering.
    public var lastProgress: String?
    public var lastVariant: String?

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
    /// Set when the parent's watchdog killed it: the seconds it went without sending anything.
    public var hungSeconds: Double?
    /// What it sent before ending (keyed by the op the parent asked for); nil when not even its
    /// `hello` arrived.
    public var partial: WorkerResult?

    /// Creates the error for worker `pid` that ended as `termination`.
    public init(pid: Int32, termination: Termination, stderrTail: String, hungSeconds: Double? = nil, partial: WorkerResult? = nil) {
        self.pid = pid
        self.termination = termination
        self.stderrTail = stderrTail
        self.hungSeconds = hungSeconds
        self.partial = partial
    }

    /// `was killed by signal 9 (SIGKILL)` / `exited with status 1` plus "before finishing", or
    /// `hung: no progress for S s (killed with SIGKILL)`; with the variant in flight when known.
    public var how: String {
        let doing = partial?.lastVariant.map { " while \(partial?.lastProgress ?? "measuring") variant \($0)" } ?? ""
        if let s = hungSeconds {
            return "hung: no progress for \(WorkerDied.format(seconds: s)) s\(doing) (killed with SIGKILL)"
        }
        return "\(termination)\(doing) before finishing"
    }

    /// `worker pid N <how>`.
    public var description: String { "worker pid \(pid) \(how)" }

    /// `120`, `0.5`: seconds without a trailing `.0`.
    static func format(seconds: Double) -> String {
        seconds == seconds.rounded() && abs(seconds) < 1e15 ? String(Int(seconds)) : String(seconds)
    }
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
    /// current batch and returns what it has (SIGKILL if it has not ended 10 s later). With
    /// `timeout`, a worker that sends nothing for that many seconds (a hung kernel) is killed
    /// (SIGKILL) and reaped — for workers that stream (`WorkerHello.streams`) at any time, for older
    /// builds until their `hello`.
    ///
    /// - Throws: `WorkerDied` when the worker ended without finishing and nobody asked it to stop
    ///   (killed from outside, crashed, hung), carrying what it sent before; `RunError` when it
    ///   cannot be started or answers nonsense.
    /// `forwardInterrupt: false` leaves the worker alone on SIGINT/SIGTERM (for quick probes).
    public static func run(executable: String, request: WorkerRequest, environment: [String: String],
                           forwardInterrupt: Bool = true, timeout: Double? = nil) throws -> WorkerResult {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let input = [UInt8](try encoder.encode(request))
        // A worker that crashes must die of its signal at once: the Swift runtime's backtracer
        // would start a process that holds the worker's pipes (and can stall on a dead process).
        var environment = environment
        if environment["SWIFT_BACKTRACE"] == nil { environment["SWIFT_BACKTRACE"] = "enable=no" }
        let child: ChildProcess
        do {
            child = try ChildProcess(executable: executable, arguments: ["worker"], environment: environment, stdin: .pipe)
        } catch let e as ProcessIOError {
            throw RunError("cannot start worker \(executable): \(String(cString: strerror(e.code)))")
        }
        let answer = WorkerAnswer(executable: executable)
        var askedToStop: UInt64?
        var lastActivity = Clock.wall()
        var hung: Double?
        let output: ChildProcess.Output
        do {
            output = try child.communicate(input: input, tick: { child in
                // Ended, but something it started still holds its pipes: take what arrived.
                child.stopReadingOnceEnded(graceMilliseconds: 2000)
                if forwardInterrupt, fb_interrupt_signal() != 0 {
                    if let asked = askedToStop {
                        if Clock.wall() &- asked > 10_000_000_000 { child.signal(SIGKILL) }
                    } else {
                        askedToStop = Clock.wall()
                        child.signal(SIGINT)
                    }
                    return
                }
                // The watchdog: nothing on stdout for `timeout` seconds.
                if let limit = timeout, hung == nil, askedToStop == nil, answer.hello?.streams == true || answer.hello == nil,
                   Double(Clock.wall() &- lastActivity) > limit * 1e9 {
                    hung = limit
                    child.signal(SIGKILL)
                }
            }, onStdout: { bytes in
                lastActivity = Clock.wall()
                answer.feed(bytes)
            })
        } catch let e as ProcessIOError {
            throw RunError("worker \(executable) (pid \(child.pid)): \(e.description)")
        }
        let stderrText = String(decoding: output.stderr, as: UTF8.self)
        // Stopped by our own SIGINT (or the terminal's, which reaches the whole group): keep what
        // arrived. Ended any other way before `done`: it died under us (or hung and we killed it).
        let stopped = (askedToStop != nil || fb_interrupt_signal() != 0) && hung == nil
        func died() -> WorkerDied {
            WorkerDied(pid: child.pid, termination: output.termination,
                       stderrTail: stderrText.split(separator: "\n").suffix(5).joined(separator: "\n"),
                       hungSeconds: hung, partial: answer.partial?.identified(by: request))
        }
        if hung != nil { throw died() }
        var result: WorkerResult
        do {
            result = try answer.result(status: output.termination.shellStatus, stderr: stderrText).identified(by: request)
        } catch {
            if stopped {
                // Stopped before it could say anything (e.g. still starting up): nothing to keep.
                return WorkerResult(hello: WorkerHello.current, checks: [], samples: [], calibration: nil, interrupted: true,
                                    finished: false, telemetry: [], fusionDecisions: [])
            }
            if case .signaled = output.termination { throw died() }
            throw error
        }
        if !result.finished {
            guard stopped else { throw died() }
            result.interrupted = true
        }
        return result
    }

    /// Decodes a worker's stdout (exposed for tests).
    public static func parse(_ data: Data, executable: String, status: Int32, stderr: String) throws -> WorkerResult {
        let answer = WorkerAnswer(executable: executable)
        answer.feed([UInt8](data)[...])
        answer.feed([UInt8(ascii: "\n")][...])   // a last line without its newline still counts here
        return try answer.result(status: status, stderr: stderr)
    }
}

/// A worker's answer decoded line by line as it arrives: complete lines only, so a worker killed
/// in the middle of a line loses that line, not the ones before. The first bad line (unreadable,
/// wrong protocol, `error`) ends decoding; `result` throws it.
final class WorkerAnswer {
    private let executable: String
    private let decoder: JSONDecoder
    private var pending: [UInt8] = []
    private var lineNumber = 0
    private var problem: RunError?
    private(set) var hello: WorkerHello?
    private var checks: [AccuracyCheck] = []
    private var samples: [Sample] = []
    private var calibration: Calibration?
    private var interrupted = false
    private var finished = false
    private var telemetry: [TelemetryRow] = []
    private var fusionDecisions: [FusionDecision] = []
    private var lastProgress: String?
    private var lastVariant: String?

    init(executable: String) {
        self.executable = executable
        decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    }

    /// Takes the next bytes of stdout; decodes every line they complete.
    func feed(_ bytes: ArraySlice<UInt8>) {
        pending.append(contentsOf: bytes)
        guard let lastNewline = pending.lastIndex(of: UInt8(ascii: "\n")) else { return }
        let complete = pending[...lastNewline]
        for line in complete.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast() {
            lineNumber += 1
            guard problem == nil, !line.isEmpty else { continue }
            take(line)
        }
        pending.removeSubrange(...lastNewline)
    }

    private func take(_ line: ArraySlice<UInt8>) {
        let m: WorkerMessage
        do {
            m = try decoder.decode(WorkerMessage.self, from: Data(line))
        } catch {
            problem = RunError("worker \(executable) sent an unreadable line \(lineNumber): \(String(decoding: line.prefix(120), as: UTF8.self))")
            return
        }
        switch m.type {
        case .hello:
            guard let h = m.hello else { return }
            guard h.protocolVersion == WorkerProtocol.version else {
                problem = RunError("worker \(executable) speaks protocol \(h.protocolVersion), this fusebench \(WorkerProtocol.version); use builds of compatible versions")
                return
            }
            hello = h
        case .check: if let c = m.check { checks.append(c) }
        case .sample:
            if let s = m.sample {
                samples.append(s)
                lastVariant = s.variant
                lastProgress = "measuring"
            }
        case .progress:
            lastProgress = m.progress ?? lastProgress
            lastVariant = m.variant
        case .done:
            calibration = m.calibration
            interrupted = m.interrupted ?? false
            telemetry = m.telemetry ?? []
            fusionDecisions = m.fusionDecisions ?? []
            let throttled = Set(m.throttled ?? [])
            for i in samples.indices where throttled.contains(samples[i].sequence) { samples[i].flags.insert(.throttled) }
            finished = true
        case .error:
            problem = RunError("worker \(executable): \(m.error ?? "unknown error")")
        }
    }

    /// What arrived so far as a result (nil before `hello`), whatever went wrong after it.
    var partial: WorkerResult? {
        hello.map { snapshot(hello: $0) }
    }

    private func snapshot(hello: WorkerHello) -> WorkerResult {
        var r = WorkerResult(hello: hello, checks: checks, samples: samples, calibration: calibration, interrupted: interrupted,
                             finished: finished, telemetry: telemetry, fusionDecisions: fusionDecisions)
        r.lastProgress = lastProgress
        r.lastVariant = lastVariant
        return r
    }

    /// The decoded answer. `status` and `stderr` (the worker's exit status and standard error)
    /// explain a worker that never answered.
    ///
    /// - Throws: `RunError` for the first bad line, or when no `hello` arrived.
    func result(status: Int32, stderr: String) throws -> WorkerResult {
        if let problem { throw problem }
        guard let h = hello else {
            let tail = stderr.split(separator: "\n").suffix(5).joined(separator: "\n")
            throw RunError("worker \(executable) exited with status \(status) without answering (is it a fusebench with `worker`?)\(tail.isEmpty ? "" : ":\n" + tail)")
        }
        return snapshot(hello: h)
    }
}
