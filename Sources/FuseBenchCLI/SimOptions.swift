// The simulated-counter options of `run` and `gate`: how many callgrind processes run at once,
// the run's callgrind budget and the database cache of simulated samples. README "Counters"
// documents them.
import ArgumentParser
import FuseBench

/// `--sim-jobs`, `--sim-budget` and `--sim-cache` (used when counters are simulated).
struct SimOptions: ParsableArguments {
    @Option(name: .customLong("sim-jobs"),
            help: "Callgrind processes at once in the simulated-counter pass, run after each op's timed batches (1 to 256; default: the online CPUs).")
    var jobs: Int?

    @Option(name: .customLong("sim-budget"),
            help: "Seconds of callgrind time for the whole run (1 to 86400; default 120); a variant estimated beyond its share is counted over fewer iterations or skipped, and the run says which.")
    var budget: Double?

    @Option(name: .customLong("sim-cache"),
            help: "on: reuse simulated counts stored for the same binary (content hash), op, variant, seed, iterations and callgrind; off: always run callgrind (default on).")
    var cache: String = "on"

    /// Sets the sim fields of `config`.
    ///
    /// - Throws: `UsageError` for a value out of range or a `--sim-cache` other than on/off.
    func apply(to config: inout RunConfig) throws {
        if let jobs {
            try OptionRange.check(jobs, "--sim-jobs", in: RunConfig.simJobsRange)
            config.simJobs = jobs
        }
        if let budget {
            try OptionRange.check(budget, "--sim-budget", in: RunConfig.simBudgetRange, unit: " s")
            config.simBudgetSeconds = budget
        }
        switch cache {
        case "on": config.simCache = true
        case "off": config.simCache = false
        default: throw UsageError("--sim-cache must be on or off, got '\(cache)'")
        }
    }
}
