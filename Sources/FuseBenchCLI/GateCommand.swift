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
            The contract, per op with threshold t (default 5%): unchanged code fails with probability ≤ 1% \
            (family-wise: Holm across ops, Bonferroni across at most 6 looks) and passes with probability ≥ 95%; \
            a true slowdown of t or more fails with probability ≥ 95%; between 0 and t either may happen. The gate \
            measures in rounds (looks) until every op is decided, the looks run out or --max-time is spent; an op \
            still undecided then is inconclusive (exit 2), with its estimate, CI and the reason. Details: \
            docs/ci-gating.md, "The contract".

            Runs the suites (or takes --run) and compares with --against BINARY (e.g. fusebench built from the merge \
            base): both builds measured now, worker processes interleaved ABBA and paired back to back, so the \
            machine's drift cancels — the most robust mode on noisy machines. Paired ops are decided by exact sign-flip \
            tests of the pair ratios, and paired round k measures k × --processes pairs. --baseline NAME does the same with the \
            baseline run's build when `baseline set` kept it (the default on a SQLite database); otherwise, or with \
            --stored-samples, it compares with the stored samples, whose own run-to-run noise, learned from this \
            machine's history, bounds what it can resolve. With \
            --against-suite BASE_SUITE (once per suite, in the same order) the base side loads its ops from the base \
            checkout's suite files instead — a C plug-in's library built at the merge base — alone or together with \
            --against. Instruction counts, where both sides have them, count too: more than 1 + \
            --instructions-threshold decides an undecided op as a regression, more than 1 + t fails it even when time \
            passes. A crashed or hung op makes the gate an error (exit 3).
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

    @Flag(name: .customLong("stored-samples"),
          help: "With --baseline: compare with the baseline run's stored samples even when its build is kept (by default a kept build is measured again, paired with this one).")
    var storedSamples = false

    @Option(name: .customLong("max-time"), help: "Seconds the gate may spend measuring further rounds while some op is undecided (0 to 86400; 0: one round only).")
    var maxTime: Double = GateLoop.defaultMaxTime

    @Option(help: "Worker processes per op and side in the first round (1 to 64; default 10). Paired rounds (--against, a kept baseline build) grow: round k adds k times as many base/head pairs (10, 20, 30, ... by default). Against a --baseline recorded in one process (`run`'s default) the default is 1: the head is measured the way the baseline was.")
    var processes: Int?

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
    @OptionGroup var spool: SpoolOptions

    func run() throws {
        let format = try verdict.renderFormat()
        let options = try verdict.options()
        var provenanceCheck = RunConfig()
        try provenance.apply(to: &provenanceCheck)  // bad --tag / --source-dir: exit 3 before the database is opened
        guard baseline != nil || against != nil || !againstSuite.isEmpty else {
            throw UsageError("gate needs --baseline NAME, --against BINARY or --against-suite BASE_SUITE")
        }
        if headRun != nil, against != nil { throw UsageError("--run and --against exclude each other (--against measures both builds now)") }
        if storedSamples, baseline == nil { throw UsageError("--stored-samples needs --baseline") }
        if !againstSuite.isEmpty, headRun != nil || baseline != nil {
            throw UsageError("--against-suite measures the base now; it excludes --\(headRun != nil ? "run" : "baseline")")
        }
        if let exe = against, !FileManager.default.isExecutableFile(atPath: exe) { throw UsageError("--against \(exe): not an executable file") }
        guard let mode = CounterMode(rawValue: counters) else { throw UsageError("--counters must be auto, hw, sim or none") }
        if let processes { try OptionRange.check(processes, "--processes", in: OptionRange.processes) }
        try OptionRange.check(maxTime, "--max-time", in: OptionRange.maxTime, unit: " s")
        // Progress and notes go to stderr so stdout carries only the verdict (JSON/Markdown safe).
        let say: (String) -> Void = { StandardError.write("gate: " + $0 + "\n") }
        // A PostgreSQL --db that measures: record into the local spool (the baseline run is copied
        // there first) and push the new runs at the end, whatever the verdict (docs/fleet.md).
        let recording = try headRun == nil ? RecordingStore.open(database: database, spool: spool) : nil
        let store = try recording?.store ?? database.openForReading()
        var recorded: [Int64] = []
        defer {
            if let recording, !recorded.isEmpty, !recording.pushToRemote(recorded, say: say) {
                say("warning: the runs were not pushed (kept in the spool); the verdict above stands")
            }
        }

        var baseIDs = try baseline.map { name -> [Int64] in
            guard let recording, recording.remote != nil else { return [try store.resolve(name)] }
            return [try GateSpool.pullBaseline(name, from: recording.openRemote(), into: store, say: say)]
        } ?? []
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
        // A stored baseline whose build is kept is measured again, paired: the machine's drift since
        // the baseline was recorded then cancels, as with --against (docs/ci-gating.md, "Kept builds").
        var keptBase: String?
        if let name = baseline, let id = baseIDs.first, against == nil, !storedSamples {
            switch try KeptBuilds.base(store: store, runID: id, archive: recording?.remote == nil ? KeptBuilds.archive(database) : nil, plan: plan) {
            case let .kept(entry):
                keptBase = entry.path
                say("baseline \(name) is run \(id); its build \(entry.hash) is kept: measuring it now as the base, paired with this build "
                    + "(the stored samples are not used; --stored-samples compares with them)")
            case let .storedSamples(reason):
                if let reason { say("baseline \(name) is run \(id); \(reason): comparing with its stored samples") }
            }
        }
        let measuresBase = against != nil || !againstSuite.isEmpty || keptBase != nil
        var config = RunConfig()
        config.label = label ?? "gate"
        try provenance.apply(to: &config)
        config.counterMode = mode
        config.quiet = quiet
        config.quick = quick
        config.processes = try processes ?? GateLoop.defaultProcesses(store: store, baseIDs: baseIDs, measuresBase: measuresBase, say: say)
        try workerTimeout.apply(to: &config)
        try sim.apply(to: &config)
        config.injectedSlowdown = try SlowdownSpec.parse(injectSlowdown)
        try PlanChecks.counterEvents(loaded)
        try SlowdownSpec.requirePlanned(config.injectedSlowdown, plan: plan, filter: filter)
        if measuresBase {
            baseIDs = []
            var base = RunSide(name: "base", executable: against ?? keptBase, simExecutable: againstSim)
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
        var frozen: [BenchmarkKey: Comparison] = [:]  // ops decided at an earlier look keep that verdict
        let paired = config.sides.count > 1
        let firstProcesses = config.processes
        while true {
            let roundStart = Date()
            // Paired looks grow (DecisionContract.processes(look:first:)): a noisy op gets more pairs
            // per look instead of running out of looks. A one-process or stored-sample head keeps its count.
            if paired { config.processes = DecisionContract.processes(look: round, first: firstProcesses) }
            let outcome = try BenchRunner(plan: plan, store: store, config: config, say: say).run()
            recorded += outcome.runIDs
            if outcome.status == .interrupted { throw ExitCode(ExitStatus.interrupted) }
            // A crashed or hung op cannot be judged: the gate is an error, not a verdict.
            try OpFailures.check(outcome.failures, runIDs: outcome.runIDs)
            if paired { baseIDs.append(outcome.runIDs[0]) }
            headIDs.append(outcome.runID)
            var roundOptions = options
            roundOptions.paired = paired
            roundOptions.look = round
            var report = try CompareReport(store: store, baseIDs: baseIDs, headIDs: headIDs, options: roundOptions)
            report.keep(frozen)
            for c in report.comparisons where GateDecision.gateVerdict(c) != .inconclusive && frozen[c.key] == nil { frozen[c.key] = c }
            // The next round measures fewer ops (or as many), each in as many or more processes.
            let nextScale = paired ? Double(DecisionContract.processes(look: round + 1, first: firstProcesses)) / Double(config.processes) : 1
            let nextRoundTime = Date().timeIntervalSince(roundStart) * nextScale
            let elapsed = Date().timeIntervalSince(start)
            let undecided = report.comparisons.filter { GateDecision.gateVerdict($0) == .inconclusive }
            let open = undecided.filter { !GateLoop.isHopeless($0) }
            for c in undecided {
                say("round \(round): undecided \(c.key)\(GateLoop.estimateText(c))\(c.undecidedReason.map { ": " + $0 } ?? "")")
            }
            let stop: String?
            if undecided.isEmpty { stop = nil }
            else if open.isEmpty { stop = "no undecided op can be decided by measuring more (see the reasons)" }
            else if round >= DecisionContract.maximumLooks { stop = "the contract's \(DecisionContract.maximumLooks) looks are used" }
            else if elapsed + nextRoundTime > maxTime { stop = String(format: "--max-time %.0f s would be exceeded", maxTime) }
            else { stop = "" }
            if stop != "" {
                if let why = stop { say(String(format: "still undecided after %d round(s), %.0f s: %@", round, elapsed, why)) }
                if let hint = GateLoop.pairedHint(undecided: undecided, paired: paired) { say(hint) }
                return try finish(report, format: format, rounds: round, seconds: elapsed)
            }
            round += 1
            let again = Set(open.map(\.key.opKey))
            plan.ops = plan.ops.filter { again.contains($0.key) }
            say(String(format: "round %d: measuring %d undecided op(s) again (%.0f s of --max-time %.0f s used)",
                       round, again.count, elapsed, maxTime))
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

/// The gate's baseline when it records into a spool.
enum GateSpool {
    /// Resolves baseline (or run reference) `name` on the server, copies that run into the spool
    /// (nothing when the spool has it already) and returns its id in the spool.
    static func pullBaseline(_ name: String, from server: ResultStore, into spool: ResultStore,
                             say: (String) -> Void) throws -> Int64 {
        let serverID = try server.resolve(name)
        let result = try RunTransfer(from: server, to: spool).copyRun(id: serverID)
        switch result.outcome {
        case let .pushed(id, samples):
            say("baseline \(name): run \(result.uuid.prefix(8)) copied from the server into the spool (\(samples) samples)")
            return id
        case let .alreadyPresent(id):
            return id
        case .skippedRunning:
            throw UsageError("baseline \(name) is run \(result.uuid.prefix(8)), which is still running on the server")
        }
    }
}

/// The gate's sequential loop: defaults and when measuring more cannot help.
enum GateLoop {
    /// Default `--max-time`: room for the 6 growing looks of a noisy smoke op (about 45 s on the Zen 4
    /// VM), so with the first round and the simulated-counter pass a smoke gate ends within a minute.
    static let defaultMaxTime = 50.0
    /// Default worker processes per side of the first round (≥ the 6 pairs a paired decision needs); paired rounds grow from it.
    static let defaultProcesses = DecisionContract.processesPerLook

    /// Processes per round when `--processes` is not given: 1 against a stored baseline recorded in
    /// one process, else ``defaultProcesses``. A one-process run measures in fusebench's own, long-lived
    /// process, a worker in a fresh one, and some ops differ between the two by far more than the
    /// threshold (seen: bias_relu_64k +25–40% in fresh workers on a Zen 1 VM), so the head is measured
    /// the way the baseline was, and the noise history of such runs applies to it.
    static func defaultProcesses(store: ResultStore, baseIDs: [Int64], measuresBase: Bool, say: (String) -> Void) throws -> Int {
        guard !measuresBase, let id = baseIDs.first, let run = try store.run(id: id) else { return defaultProcesses }
        let config = (try? JSONSerialization.jsonObject(with: Data(run.configJSON.utf8))) as? [String: Any]
        let recorded = (config?["processes"] as? String).flatMap { Int($0) } ?? 1
        guard recorded <= 1 else { return defaultProcesses }
        say("baseline run \(id) was measured in one process (`run`'s default): the head is measured the same way, one process per round "
            + "(record the baseline with `run --processes \(defaultProcesses)` to gate with worker processes)")
        return 1
    }

    /// An undecided op that more rounds cannot decide: its standard-error floor (the stored base's
    /// own noise) makes its threshold unresolvable, or it has no estimate for a reason more head
    /// samples do not change (one base process and no noise history). An op awaiting a confirming
    /// head run (``DecisionDetails/awaitsConfirmation``) is never hopeless.
    static func isHopeless(_ c: Comparison) -> Bool {
        // A regression waiting for a second head run to show it is decided by the next round.
        if c.decision?.awaitsConfirmation == true { return false }
        if unresolvableThreshold(c) != nil { return true }
        if c.decision == nil, let why = c.undecidedReason, why.contains("no noise history") { return true }
        return false
    }

    /// The smallest threshold `c` can resolve when it is above `c`'s own threshold (the stored
    /// base's noise floor makes the threshold unreachable), else nil.
    static func unresolvableThreshold(_ c: Comparison) -> Double? {
        guard let s = c.decision?.smallestResolvableThreshold, s > c.threshold else { return nil }
        return s
    }

    /// What to do when a stored baseline's own noise left ops undecided (nil when paired, or when
    /// no undecided op is too noisy to resolve its threshold): measure both builds now, paired.
    static func pairedHint(undecided: [Comparison], paired: Bool) -> String? {
        guard !paired else { return nil }
        let floors = undecided.compactMap(unresolvableThreshold).filter(\.isFinite)
        guard let worst = floors.max() else { return nil }
        return String(format: "a stored baseline's own run-to-run noise on this machine bounds what it can resolve (%d op(s) need a threshold of up to %.0f%%): "
                      + "a baseline whose build is kept (`baseline set` keeps it), --against BINARY (fusebench built at the merge base) or "
                      + "--against-suite BASE_SUITE measures both builds now, paired back to back, which cancels the machine's drift "
                      + "(docs/ci-gating.md, \"Kept builds\" and \"Why --against\")",
                      floors.count, worst * 100)
    }

    /// " +3.1% [−1.0%, +7.4%]" for an op with an estimate, else "".
    static func estimateText(_ c: Comparison) -> String {
        guard c.decision != nil, c.ratio.isFinite else { return "" }
        return String(format: " %+.1f%% [%+.1f%%, %+.1f%%]", (c.ratio - 1) * 100, (c.ciLower - 1) * 100, (c.ciUpper - 1) * 100)
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
