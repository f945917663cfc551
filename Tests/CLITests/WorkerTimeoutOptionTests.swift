// The worker watchdog decision: `--worker-timeout` / FUSEBENCH_WORKER_TIMEOUT apply to every
// worker op; without them only ops that require isolation (plug-ins) get the 120 s default, so a
// long verification or batch of a built-in op in a worker is never killed as hung.
import ArgumentParser
@testable import FuseBench
@testable import FuseBenchCLI
import Testing

@Suite struct WorkerTimeoutOptionTests {
    /// `config` after `run`'s worker-timeout option parsed from `arguments` with `environment`.
    func config(_ arguments: [String], environment: [String: String] = [:]) throws -> RunConfig {
        var config = RunConfig()
        config.environment = environment
        try WorkerTimeoutOption.parse(arguments).apply(to: &config)
        return config
    }

    @Test func defaultWatchdogCoversOnlyOpsThatRequireIsolation() throws {
        let config = try config([])
        #expect(config.workerTimeoutSeconds == nil)
        #expect(config.workerTimeout(isolated: true) == RunConfig.defaultWorkerTimeout)
        #expect(config.workerTimeout(isolated: false) == nil)
    }

    @Test func explicitWatchdogCoversEveryWorkerOp() throws {
        let option = try config(["--worker-timeout", "9"], environment: ["FUSEBENCH_WORKER_TIMEOUT": "7"])
        #expect(option.workerTimeout(isolated: false) == 9)
        #expect(option.workerTimeout(isolated: true) == 9)
        let variable = try config([], environment: ["FUSEBENCH_WORKER_TIMEOUT": "7"])
        #expect(variable.workerTimeout(isolated: false) == 7)
        #expect(variable.workerTimeout(isolated: true) == 7)
        let empty = try config([], environment: ["FUSEBENCH_WORKER_TIMEOUT": ""])
        #expect(empty.workerTimeout(isolated: false) == nil)
    }
}
