// `--worker-timeout`: how long a worker process may stay silent before it counts as hung (shared
// by `run` and `gate`; the environment variable FUSEBENCH_WORKER_TIMEOUT sets it when the option
// is not given). README "Crashes and hangs" documents it.
import ArgumentParser
import FuseBench

/// The worker watchdog option of `run` and `gate`.
struct WorkerTimeoutOption: ParsableArguments {
    @Option(name: .customLong("worker-timeout"),
            help: "Seconds a worker process may send nothing before it is killed and its op fails as hung (1 to 86400; default $FUSEBENCH_WORKER_TIMEOUT, else 120 for ops that require isolation such as plug-ins and no watchdog for other ops).")
    var seconds: Double?

    /// Sets `config.workerTimeoutSeconds` from the option, else the environment; neither leaves it
    /// nil (the default watchdog then covers isolated ops only, see `RunConfig.workerTimeout(isolated:)`).
    ///
    /// - Throws: `UsageError` for a value out of range (option or environment variable).
    func apply(to config: inout RunConfig) throws {
        if let s = seconds {
            try OptionRange.check(s, "--worker-timeout", in: RunConfig.workerTimeoutRange, unit: " s")
            config.workerTimeoutSeconds = s
        } else {
            do {
                if let s = try RunConfig.workerTimeout(environment: config.environment) { config.workerTimeoutSeconds = s }
            } catch let e as RunError {
                throw UsageError(e.description)
            }
        }
    }
}

/// The failed ops of a run as the command's error (exit 3), after everything else was stored.
enum OpFailures {
    /// Throws a `RunError` listing `failures` (nothing when empty).
    static func check(_ failures: [OpFailure], runIDs: [Int64]) throws {
        guard !failures.isEmpty else { return }
        let list = failures.map { f in
            f.message.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n")
        }.joined(separator: "\n")
        throw RunError("\(failures.count) op(s) failed in run \(runIDs.map(String.init).joined(separator: ", ")) (status 'failed'; every other op and every sample received is stored):\n\(list)")
    }
}
