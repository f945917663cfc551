import ArgumentParser
import FuseBench
import Foundation

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run suites and store every sample (default: suites/default.toml).")

    @Argument(help: "Suite files or names (NAME means suites/NAME.toml).")
    var suites: [String] = []

    @OptionGroup var database: DatabaseOptions

    @OptionGroup var spool: SpoolOptions

    @Option(help: "Regular expression on SUITE/OP/VARIANT; only matching benchmarks run (e.g. 'smoke/gemm_128', or 'gemm_128' in every suite).")
    var filter: String?

    @Option(help: "Free-text label stored with the run.")
    var label: String?

    @OptionGroup var provenance: ProvenanceOptions

    @Flag(help: "Fewer, shorter samples (smoke checks, not decisions).")
    var quick = false

    @Flag(help: "No progress line.")
    var quiet = false

    @Option(help: "Counters: auto (hardware if the machine has a PMU, else simulated under callgrind if valgrind works, else timing-only), hw, sim, none.")
    var counters: String = "auto"

    @Option(help: "Pin the measuring thread to this CPU (0 to 1023, a CPU this machine has).")
    var pin: Int?

    @Option(help: "Worker processes per op (fusebench re-executes itself); samples are spread over them so statistics see the variance between processes (1 to 64).")
    var processes: Int = 1

    @Option(name: .customLong("cooldown-to"), help: "Before each op wait until CPU sensors read below this temperature, e.g. 60C (when sensors exist).")
    var cooldownTo: String?

    @Option(name: .customLong("cooldown-s"), help: "Before each op wait this many seconds (0 to 3600).")
    var cooldownSeconds: Double?

    @Option(name: .customLong("temperature-limit"), help: "Flag samples taken above this temperature (°C, above 0 and below 150) as throttled.")
    var temperatureLimit: Double = 95

    @Option(name: .customLong("inject-slowdown"), parsing: .singleValue,
            help: "Testing aid: OP=PCT adds real work worth PCT% of OP's time (OP is SUITE/OP, or a bare name for that op in every suite; labelled in the run).")
    var injectSlowdown: [String] = []

    @OptionGroup var workerTimeout: WorkerTimeoutOption

    @OptionGroup var sim: SimOptions

    func run() throws {
        guard let mode = CounterMode(rawValue: counters) else {
            throw UsageError("--counters must be one of \(CounterMode.allCases.map(\.rawValue).joined(separator: ", ")), got '\(counters)'")
        }
        var config = RunConfig()
        config.label = label
        try provenance.apply(to: &config)
        config.counterMode = mode
        try sim.apply(to: &config)
        if let pin { try OptionRange.check(pin, "--pin", in: OptionRange.pin) }
        config.pinCPU = pin
        config.quiet = quiet
        config.injectedSlowdown = try SlowdownSpec.parse(injectSlowdown)
        try OptionRange.check(processes, "--processes", in: OptionRange.processes)
        config.processes = processes
        if let c = cooldownTo {
            let digits = c.hasSuffix("C") || c.hasSuffix("c") ? String(c.dropLast()) : c
            guard let t = Double(digits), t > 0, t < 150 else { throw UsageError("--cooldown-to expects a temperature like 60C, got '\(c)'") }
            config.cooldownToC = t
        }
        if let s = cooldownSeconds {
            try OptionRange.check(s, "--cooldown-s", in: OptionRange.cooldownSeconds, unit: " s")
            config.cooldownSeconds = s
        }
        try OptionRange.check(temperatureLimit, "--temperature-limit", above: 0, below: 150, unit: " °C")
        config.temperatureLimitC = temperatureLimit
        try workerTimeout.apply(to: &config)
        config.quick = quick
        if quick { config.extraConfig["quick"] = "true" }
        let files = try SuiteResolver.resolve(suites.isEmpty ? ["default"] : suites)
        let loaded = try files.map { try SuiteLoader.load(path: $0) }
        let plan = try BenchPlan(suites: loaded, filter: filter, quick: quick)
        guard !plan.ops.isEmpty else { throw UsageError("nothing to run: no op matches\(filter.map { " --filter '\($0)'" } ?? "")") }
        try PlanChecks.counterEvents(loaded)
        try SlowdownSpec.requirePlanned(config.injectedSlowdown, plan: plan, filter: filter)
        // A PostgreSQL --db: record into the local spool, push the run when it has ended (docs/fleet.md).
        let recording = try RecordingStore.open(database: database, spool: spool)
        let store = recording.store
        let destination = recording.remote.map { "\(store.path), pushed to \(RecordingStore.redacted($0))" } ?? store.path
        print("fusebench \(Harness.version) · \(plan.ops.count) op(s) from \(loaded.map(\.name).joined(separator: ", ")) · db \(destination)")
        let runner = BenchRunner(plan: plan, store: store, config: config) { print($0) }
        let outcome = try runner.run()
        let report = try RunReport(store: store, runID: outcome.runID)
        try report.storeDerived(in: store)
        print("")
        print(TextRenderer.runTable(report))
        // Edge ops: decide adopt / reject now and store it (`variant_decisions`), so no second
        // command is needed; `fusebench variants RUN` shows (and recomputes) the same.
        let variants = try VariantsReport.rows(store: store, runID: outcome.runID)
        if !variants.isEmpty {
            try VariantsReport.store(variants, store: store, runID: outcome.runID)
            print("")
            print("edge variants (stored in variant_decisions; `\(programName) variants \(outcome.runID)` for the full table):")
            print(try VariantsReport.render(variants, format: .text), terminator: "")
        }
        // Interrupted runs are pushed too: what was measured is kept everywhere.
        let pushed = recording.pushToRemote(outcome.runIDs) { print($0) }
        if outcome.status == .interrupted { throw ExitCode(ExitStatus.interrupted) }
        try OpFailures.check(outcome.failures, runIDs: outcome.runIDs)
        if !pushed { throw ExitCode(ExitStatus.error) }
    }
}

/// Parses `--inject-slowdown OP=PCT` values; OP is `SUITE/OP` or a bare op name (every suite's op
/// of that name).
enum SlowdownSpec {
    static func parse(_ values: [String]) throws -> [String: Double] {
        var out: [String: Double] = [:]
        for v in values {
            let parts = v.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty,
                  let pct = Double(parts[1].hasSuffix("%") ? String(parts[1].dropLast()) : parts[1]), pct > 0, pct <= 1000 else {
                throw UsageError("--inject-slowdown expects OP=PCT with 0 < PCT ≤ 1000 (e.g. gemm_128=5), got '\(v)'")
            }
            out[parts[0]] = pct / 100
        }
        return out
    }

    /// Throws naming every `--inject-slowdown` op that is not in the plan: OP matches a planned
    /// op's name, SUITE/OP its qualified name (the runner looks both up).
    static func requirePlanned(_ slowdown: [String: Double], plan: BenchPlan, filter: String?) throws {
        let unknown = slowdown.keys.filter { name in !plan.ops.contains { $0.key.matches(name) } }.sorted()
        guard unknown.isEmpty else {
            let planned = plan.ops.map(\.qualifiedName).joined(separator: ", ")
            throw UsageError("--inject-slowdown: no op \(unknown.map { "'\($0)'" }.joined(separator: ", ")) in this run\(filter == nil ? "" : " (after --filter)") (planned: \(planned))")
        }
    }
}

/// Checks of a loaded plan that need modules the suite loader does not depend on.
enum PlanChecks {
    /// Every event a suite's `counters` names must be known (libpfm4, a `perf list` alias or a
    /// simulated event) in every counter mode — not only when hardware counters will be opened.
    static func counterEvents(_ suites: [SuiteFile]) throws {
        for s in suites where s.defaults.countersExplicit {
            for e in s.defaults.counters {
                if let why = EventNames.unknownReason(e) { throw s.unknownEventError(e, reason: why) }
            }
        }
    }
}

/// Finds suite files from names or paths.
enum SuiteResolver {
    static func resolve(_ args: [String]) throws -> [String] {
        try args.map { a in
            if FileManager.default.fileExists(atPath: a) { return a }
            let candidate = "suites/\(a).toml"
            if !a.contains("/"), !a.hasSuffix(".toml"), FileManager.default.fileExists(atPath: candidate) { return candidate }
            throw UsageError("\(a): no such suite file (looked for '\(a)'\(a.contains("/") ? "" : " and '\(candidate)'"))")
        }
    }

    /// All suite files in `suites/`.
    static func all() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "suites")) ?? []).filter { $0.hasSuffix(".toml") }.sorted().map { "suites/\($0)" }
    }
}
