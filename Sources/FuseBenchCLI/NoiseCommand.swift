// `fusebench noise`: what this machine's stored history says about each benchmark's run-to-run
// noise (A/A pairs, sigmaAA, sigmaProcess) and the smallest threshold a gate against a stored
// baseline can resolve; see docs/history.md, "Learned noise".
import ArgumentParser
import FuseBench
import Foundation

/// `fusebench noise [SUITES…] [--machine KEY] [--threshold PCT] [--format text|json]`.
struct NoiseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "noise",
        abstract: "Show each benchmark's run-to-run noise learned from this machine's stored A/A runs.",
        discussion: """
            Per benchmark of the suites: the A/A pairs found (consecutive complete runs of one unchanged binary on this \
            machine, no injected slowdown; the newest \(NoiseHistory.window) are used, \(NoiseHistory.minimumPairs) are \
            needed), sigmaAA (RMS of the log ratio of two such runs: heavy tails count), sigmaProcess (robust SD of one worker \
            process's median within a run), and the smallest threshold a gate against a stored baseline can resolve \
            here — marked "too noisy for the threshold" when it exceeds the op's threshold. With too little history it \
            says how many more runs of one unchanged build are needed. Exit 0; 3 on bad input.
            """)

    @Argument(help: "Suite files or names (default: default).")
    var suites: [String] = []

    @Option(help: "Machine: its key (cpu|cores|isa|pmu), m<ID>, or part of the CPU model (default: this machine).")
    var machine: String?

    @Option(help: "Regression threshold for every op, in percent, above 0 and below 1000 (default: each op's threshold from its suite).")
    var threshold: Double?

    @Option(help: "text | json")
    var format: String = "text"

    @OptionGroup var database: DatabaseOptions

    func run() throws {
        guard let f = NoiseReport.Format(rawValue: format) else {
            throw UsageError("--format must be one of \(NoiseReport.Format.allCases.map(\.rawValue).joined(separator: ", ")), got '\(format)'")
        }
        if let threshold { try OptionRange.check(threshold, "--threshold", above: 0, below: 1000, unit: " (percent)") }
        let files = try SuiteResolver.resolve(suites.isEmpty ? ["default"] : suites)
        let plan = try BenchPlan(suites: try files.map { try SuiteLoader.load(path: $0) }, filter: nil, quick: false)
        // Reading only: a missing database is an error, not a new empty file.
        guard database.isPostgres || FileManager.default.fileExists(atPath: database.path) else {
            throw UsageError("\(database.path): no results database there (run `\(programName) run` first, or pass --db)")
        }
        let store = try database.openForReading()
        let machineKey: String
        if let machine {
            let keys = try store.machineKeys(matching: machine)
            guard keys.count == 1, let key = keys.first else {
                throw UsageError(keys.isEmpty ? "--machine \(machine): no stored machine matches"
                                              : "--machine \(machine): matches \(keys.count) machines (\(keys.joined(separator: "; "))); give its key")
            }
            machineKey = key
        } else {
            machineKey = Self.thisMachineKey()
        }
        var benchmarks: [(key: BenchmarkKey, threshold: Double)] = []
        for op in plan.ops {
            for variant in op.spec.variants {
                benchmarks.append((op.benchmarkKey(variant: variant), threshold.map { $0 / 100 } ?? op.spec.settings.threshold))
            }
        }
        // This executable's hash, as runs record it (says whether its first run would already pair);
        // computed only when a benchmark lacks history.
        let report = try NoiseReport(store: store, machineKey: machineKey, benchmarks: benchmarks,
                                     currentBinaryHash: try? ContentHash.file(atPath: Harness.executablePath))
        print(report.render(f), terminator: "")
    }

    /// `MachineFingerprint.key` of this machine as a run records it: the PMU is probed whatever
    /// `FUSEBENCH_NO_COUNTERS` says (as the runner does), since the fingerprint must not depend on it.
    static func thisMachineKey() -> String {
        let pmu: Bool
        if case .available = CounterSession.probeMachine(syscalls: LinuxPerf(), encoder: LibpfmEncoder(),
                                                         environment: ProcessInfo.processInfo.environment) {
            pmu = true
        } else {
            pmu = false
        }
        return MachineProbe.fingerprint(isaHost: ISA.host.names, pmuAvailable: pmu).key
    }
}
