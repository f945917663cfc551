import ArgumentParser
import FuseBench
import Foundation
import ProcessIO

/// `fusebench gate`: run (or take) a head run, compare with a baseline, exit 0/1/2/3.
struct GateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate",
        abstract: "Block merges on latency regressions: exit 0 pass, 1 regression, 2 inconclusive, 3 error.",
        discussion: """
            Runs the suites (or takes --run), compares with --baseline, and decides per op: pass if the 95% CI of \
            head/base median time stays under 1 + threshold; regression if the slowdown exceeds the threshold and is \
            significant after Holm correction; otherwise inconclusive — then, within --max-time, it measures the \
            undecided ops again and merges the samples. With --against BINARY (e.g. fusebench built from the merge \
            base) both builds are measured in this session, their worker processes interleaved ABBA: the most robust \
            mode on noisy machines. With --against-suite BASE_SUITE (once per suite, in the same order) the base side \
            loads its ops from the base checkout's suite files instead — a C plug-in's library built at the merge base \
            — alone or together with --against. A crashed or hung op makes the gate an error (exit 3).
            """)

    @Argument(help: "Suite files or names (default: default).")
    var suites: [String] = []

    @Option(help: "Baseline name or run to compare with (not needed with --against).")
    var baseline: String?

    @Option(help: "Another fusebench executable to measure as the base, interleaved with this one.")
    var against: String?

    @Option(name: .customLong("against-sim"), help: "AVX2 sim-worker build of the --against binary, for its simulated counters.")
    var againstSim: String?

    @Option(name: .customLong("against-suite"), parsing: .singleValue,
            help: "The base side's suite file, once per suite argument and in the same order: the base measures the op of the same suite and op name from it (e.g. the merge base's checkout, where a [[plugin]] library path resolves). Combines with --against.")
    var againstSuite: [String] = []

    @Option(name: .customLong("run"), help: "Use this stored run as the head instead of running.")
    var headRun: String?

    @Option(name: .customLong("max-time"), help: "Seconds the gate may spend collecting more samples while inconclusive (0 to 86400; default 0: no extra rounds).")
    var maxTime: Double = 0

    @Option(help: "Worker processes per op and side (1 to 64).")
    var processes: Int = 3

    @Option(help: "Regular expression on SUITE/OP/VARIANT.")
    var filter: String?

    @Option(help: "Counters: auto (hardware if the machine has a PMU, else simulated under callgrind if valgrind works, else timing-only), hw, sim, none.")
    var counters: String = "auto"

    @Option(name: .customLong("inject-slowdown"), parsing: .singleValue, help: "Testing aid: OP=PCT slows this build's OP (SUITE/OP, or a bare OP in every suite; labelled in the run).")
    var injectSlowdown: [String] = []

    @Option(help: "Label stored with the gate's runs.")
    var label: String?

    @OptionGroup var provenance: ProvenanceOptions
    @OptionGroup var workerTimeout: WorkerTimeoutOption
    @OptionGroup var sim: SimOptions

    @Flag(help: "Fewer, shorter samples.") var quick = false
    @Flag(help: "No progress line.") var quiet = false

    @OptionGroup var verdict: VerdictOptions
    @OptionGroup var database: DatabaseOptions

    func run() throws {
        let format = try verdict.renderFormat()
        let options = try verdict.options()
        var provenanceCheck = RunConfig()
        try provenance.apply(to: &provenanceCheck)  // bad --tag / --source-dir: exit 3 before the database is opened
        guard baseline != nil || against != nil || !againstSuite.isEmpty else {
            throw UsageError("gate needs --baseline NAME, --against BINARY or --against-suite BASE_SUITE")
        }
        if headRun != nil, against != nil { throw UsageError("--run and --against exclude each other (--against measures both builds now)") }
        if !againstSuite.isEmpty, headRun != nil || baseline != nil {
            throw UsageError("--against-suite measures the base now; it excludes --\(headRun != nil ? "run" : "baseline")")
        }
        if let exe = against, !FileManager.default.isExecutableFile(atPath: exe) { throw UsageError("--against \(exe): not an executable file") }
        guard let mode = CounterMode(rawValue: counters) else { throw UsageError("--counters must be auto, hw, sim or none") }
        try OptionRange.check(processes, "--processes", in: OptionRange.processes)
        try OptionRange.check(maxTime, "--max-time", in: OptionRange.maxTime, unit: " s")
        let store = try headRun == nil ? database.open() : database.openForReading()
        // Progress and notes go to stderr so stdout carries only the verdict (JSON/Markdown safe).
        let say: (String) -> Void = { StandardError.write("gate: " + $0 + "\n") }

        var baseIDs = try baseline.map { [try store.resolve($0)] } ?? []
        var headIDs: [Int64] = []
        if let r = headRun {
            headIDs = [try store.resolve(r)]
            let report = try CompareReport(store: store, baseIDs: baseIDs, headIDs: headIDs, options: options)
            return try finish(report, format: format)
        }

        let files = try SuiteResolver.resolve(suites.isEmpty ? ["default"] : suites)
        let loaded = try files.map { try SuiteLoader.load(path: $0) }
        var plan = try BenchPlan(suites: loaded, filter: filter, quick: quick)
        guard !plan.ops.isEmpty else { throw UsageError("nothing to run: no op matches") }
        var config = RunConfig()
        config.label = label ?? "gate"
        try provenance.apply(to: &config)
        config.counterMode = mode
        config.quiet = quiet
        config.quick = quick
        config.processes = processes
        try workerTimeout.apply(to: &config)
        try sim.apply(to: &config)
        config.injectedSlowdown = try SlowdownSpec.parse(injectSlowdown)
        try PlanChecks.counterEvents(loaded)
        try SlowdownSpec.requirePlanned(config.injectedSlowdown, plan: plan, filter: filter)
        if against != nil || !againstSuite.isEmpty {
            baseIDs = []
            var base = RunSide(name: "base", executable: against, simExecutable: againstSim)
            if !againstSuite.isEmpty {
                let paired = try BaseSuites.pair(head: loaded, headFiles: files, base: againstSuite, plan: &plan, filter: filter, quick: quick)
                base.ops = paired.ops
                for line in paired.notes { say(line) }
                try SlowdownSpec.requirePlanned(config.injectedSlowdown, plan: plan, filter: filter)
            }
            config.sides = [base, RunSide(name: "head", executable: nil)]
        }
        let start = Date()
        var round = 1
        while true {
            let roundStart = Date()
            let outcome = try BenchRunner(plan: plan, store: store, config: config, say: say).run()
            if outcome.status == .interrupted { throw ExitCode(ExitStatus.interrupted) }
            // A crashed or hung op cannot be judged: the gate is an error, not a verdict.
            try OpFailures.check(outcome.failures, runIDs: outcome.runIDs)
            if config.sides.count > 1 { baseIDs.append(outcome.runIDs[0]) }
            headIDs.append(outcome.runID)
            let report = try CompareReport(store: store, baseIDs: baseIDs, headIDs: headIDs, options: options)
            let roundTime = Date().timeIntervalSince(roundStart)
            let elapsed = Date().timeIntervalSince(start)
            let undecided = Set(report.comparisons.filter { GateDecision.gateVerdict($0) == .inconclusive }.map(\.key.opKey))
            if report.verdict != .inconclusive || undecided.isEmpty || elapsed + roundTime > maxTime {
                if report.verdict == .inconclusive, maxTime > 0 {
                    say(String(format: "still inconclusive after %d round(s), %.0f s (--max-time %.0f s)", round, elapsed, maxTime))
                }
                return try finish(report, format: format, rounds: round, seconds: elapsed)
            }
            round += 1
            plan.ops = plan.ops.filter { undecided.contains($0.key) }
            say(String(format: "inconclusive on %d op(s); round %d: measuring them again (%.0f s of --max-time %.0f s used)",
                       undecided.count, round, elapsed, maxTime))
        }
    }

    func finish(_ report: CompareReport, format: CompareRenderer.Format, rounds: Int = 0, seconds: Double = 0) throws {
        try verdict.print(report)
        if rounds > 0 {
            StandardError.write(String(format: "gate: verdict %@ after %d round(s), %.1f s → exit %d\n",
                                                       report.verdict.rawValue, rounds, seconds, report.exitCode))
        }
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }
}

/// `gate --against-suite`: the base side's own suite files, paired in order with the head's.
enum BaseSuites {
    /// Loads the base suites and matches their ops to the head plan's by suite name and op name.
    /// A head op without a base counterpart (a new op) is not gated: it leaves `plan` with a note;
    /// a base-only op (removed in the head) gets a note. Returns the base ops by `SUITE/OP`.
    ///
    /// - Throws: `UsageError` when the counts differ, a file is missing, a pair's suite names
    ///   differ or no op is left to gate; `SuiteError` for a base suite with errors (its file:line).
    static func pair(head: [SuiteFile], headFiles: [String], base: [String], plan: inout BenchPlan,
                     filter: String?, quick: Bool) throws -> (ops: [OpKey: PlannedOp], notes: [String]) {
        guard base.count == head.count else {
            throw UsageError("--against-suite is given \(base.count) time(s) for \(head.count) suite(s): give one base suite per suite, in the same order")
        }
        let baseFiles: [String]
        do {
            baseFiles = try SuiteResolver.resolve(base)
        } catch let e as UsageError {
            throw UsageError("--against-suite \(e.description)")
        }
        for path in baseFiles where isDirectory(path) { throw UsageError("--against-suite \(path): a directory, not a suite file") }
        let loaded = try baseFiles.map { try SuiteLoader.load(path: $0) }
        for (i, (h, b)) in zip(head, loaded).enumerated() where h.name != b.name {
            throw UsageError("--against-suite \(baseFiles[i]): suite '\(b.name)' cannot be the base of '\(h.name)' (\(headFiles[i])): ops are matched by suite name and op name")
        }
        let basePlan = try BenchPlan(suites: loaded, filter: filter, quick: quick)
        var ops: [OpKey: PlannedOp] = [:]
        for op in basePlan.ops { ops[op.key] = op }
        var notes: [String] = []
        let newOps = plan.ops.filter { ops[$0.key] == nil }.map(\.qualifiedName)
        if !newOps.isEmpty {
            notes.append("not gated (no op of that suite and name in the --against-suite files, new in the head?): \(newOps.joined(separator: ", "))")
        }
        let headKeys = Set(plan.ops.map(\.key))
        let removed = basePlan.ops.filter { !headKeys.contains($0.key) }.map(\.qualifiedName)
        if !removed.isEmpty {
            notes.append("base-only op(s) not measured (not in the head's suites): \(removed.joined(separator: ", "))")
        }
        plan.ops = plan.ops.filter { ops[$0.key] != nil }
        guard !plan.ops.isEmpty else {
            throw UsageError("--against-suite: no op of the head's suites is in the base suites (ops are matched by suite name and op name)")
        }
        return (ops, notes)
    }

    private static func isDirectory(_ path: String) -> Bool {
        var dir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
    }
}
