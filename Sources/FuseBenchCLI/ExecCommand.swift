import ArgumentParser
import CPerfEvent
import FuseBench
import Foundation

/// Runs one op variant a fixed number of times and nothing else, so an outside tool
/// (`perf stat`, `valgrind`) can count the same work fusebench measures. Used by
/// `tools/crosscheck-perf`.
struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec", abstract: "Run one op variant N times, silently (for perf stat / valgrind cross-checks).",
        shouldDisplay: false)

    @Argument(help: "Suite file or name.")
    var suite: String

    @Argument(help: "Op name within the suite.")
    var op: String

    @Argument(help: "Variant.")
    var variant: String

    @Option(help: "Iterations to run after one untimed setup iteration.")
    var iterations: Int = 1000

    @Flag(help: "Toggle callgrind collection around exactly the N iterations (the sim counter worker).")
    var callgrind = false

    func run() throws {
        try ISA.check()
        try OptionRange.check(iterations, "--iterations", in: OptionRange.iterations)
        let file = try SuiteLoader.load(path: try SuiteResolver.resolve([suite])[0])
        guard let spec = file.ops.first(where: { $0.name == op }) else { throw UsageError("\(suite): no op named '\(op)'") }
        let factory = try spec.factory(registry: file.registry)
        guard factory.variants.contains(variant) else {
            throw UsageError("op '\(op)' has no variant '\(variant)'")
        }
        let instance = try factory.make(variant: variant, shape: spec.shape, dtype: spec.dtype, seed: spec.settings.seed)
        instance.run()
        if callgrind {
            fb_callgrind_start_instrumentation()
            fb_callgrind_toggle_collect()
        }
        for _ in 0..<iterations { instance.run() }
        if callgrind {
            fb_callgrind_toggle_collect()
            fb_callgrind_stop_instrumentation()
        }
        let out = instance.output()
        // Print a checksum so the work cannot be optimised away and runs can be compared.
        var sum = 0.0
        for v in out { sum += Double(v) }
        print(String(format: "checksum %.6e", sum))
    }
}

/// Measures the store's raw-sample insert rate (release build; the figure the README quotes).
struct StoreBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-store", abstract: "Measure the SQLite insert rate of samples + counter rows.", shouldDisplay: false)

    @Option(help: "Samples to insert (1 to 10000000).") var samples: Int = 200_000
    @Option(help: "Counter values per sample (0 to 64).") var counters: Int = 5
    @Option(help: "Repetitions, a fresh database each (1 to 100).") var repeats: Int = 3
    @Option(help: "Per-iteration latencies per sample (0 to 100000; 0 = none; stored as one iteration_latencies row per sample).")
    var latencies: Int = 0

    func run() throws {
        try OptionRange.check(samples, "--samples", in: 1...10_000_000)
        try OptionRange.check(counters, "--counters", in: 0...64)
        try OptionRange.check(repeats, "--repeats", in: 1...100)
        try OptionRange.check(latencies, "--latencies", in: 0...100_000)
        for r in 0..<repeats {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-bench-store-\(getpid())-\(r).sqlite").path
            defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
            let result = try StoreBenchmark.measureInsertRate(path: path, samples: samples, countersPerSample: counters,
                                                              latenciesPerSample: latencies)
            if latencies > 0 {
                print(String(format: "insert: %d rows (%d samples × (1 + %d counters + 1 latency row of %d iterations)) in %.3f s = %.1f ns per iteration latency (WAL file DB)",
                             result.rows, samples, counters, latencies, result.seconds, result.seconds * 1e9 / Double(samples * latencies)))
            } else {
                print(String(format: "insert: %d rows (%d samples × (1 + %d counters)) in %.3f s = %.2f M rows/s (WAL file DB)",
                             result.rows, samples, counters, result.seconds, Double(result.rows) / result.seconds / 1e6))
            }
        }
    }
}
