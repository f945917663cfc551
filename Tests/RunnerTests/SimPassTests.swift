// The simulated-counter pass's parts: the binary content hash, the cache key, the budget and the
// parallel callgrind runner (driven by a fake `valgrind` script, so these tests need no valgrind
// and take about a second).
import Foundation
import Testing
import BenchModel
import Counters
import Kernels
@testable import Runner
import Suite

@Suite struct SimPassTests {
    // MARK: content hash

    @Test func fileHashEqualsTheHashOfItsBytes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-hash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = SystemRandomNumberGenerator()
        // Empty, shorter than a word, unaligned tails, and across the 1 MiB read block.
        for size in [0, 7, 8, 13, (1 << 20) + 3] {
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let path = dir.appendingPathComponent("f\(size)").path
            #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
            #expect(try ContentHash.file(atPath: path) == ContentHash.fnv1a64Hex(Data(bytes)), "size \(size)")
        }
        #expect(try ContentHash.file(atPath: dir.appendingPathComponent("f0").path) == "cbf29ce484222325")
        // A FIFO is refused instead of blocking; a missing file names the path.
        let fifo = dir.appendingPathComponent("fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(throws: ContentHash.FileError.self) { try ContentHash.file(atPath: fifo) }
        do {
            _ = try ContentHash.file(atPath: dir.appendingPathComponent("missing").path)
            Issue.record("a missing file was hashed")
        } catch let e as ContentHash.FileError {
            #expect(e.description.contains("missing"))
        }
    }

    // MARK: cache key

    static func op(name: String = "br", shape: [String: Int] = ["rows": 64, "cols": 1024], seed: UInt64 = 42) throws -> PlannedOp {
        var settings = MeasurementSettings()
        settings.seed = seed
        let spec = OpSpec(name: name, kind: "bias_relu", shape: shape, dtype: "f32", variants: ["reference", "optimized"], tolerance: nil,
                          settings: settings, line: 1)
        return PlannedOp(suite: "s", suitePath: "/s.toml", spec: spec, factory: try spec.factory(), tolerance: Tolerance(abs: 0, rel: 0))
    }

    static let identity = SimIdentity(binaryHash: "00000000000000aa", simulator: "valgrind-3.19.0 --tool=callgrind host X", isaPath: "avx2")

    @Test func cacheKeyCoversEverythingThatChangesTheCounts() throws {
        func key(_ id: SimIdentity, _ op: PlannedOp, variant: String = "optimized", iterations: Int = 4) -> String {
            SimCacheKey(identity: id, op: op, variant: variant, iterations: iterations, suiteHash: nil).text
        }
        let base = key(Self.identity, try Self.op())
        #expect(base == key(Self.identity, try Self.op()))
        // The op's content, not its name: a renamed op keeps its counts.
        #expect(base == key(Self.identity, try Self.op(name: "renamed")))
        var other = Self.identity
        other.binaryHash = "00000000000000bb"
        #expect(base != key(other, try Self.op()), "another binary")
        other = Self.identity
        other.simulator = "valgrind-3.22.0 --tool=callgrind host X"
        #expect(base != key(other, try Self.op()), "another valgrind")
        other = Self.identity
        other.isaPath = "scalar"
        #expect(base != key(other, try Self.op()), "another ISA path")
        #expect(base != key(Self.identity, try Self.op(), iterations: 2), "another iteration count")
        #expect(base != key(Self.identity, try Self.op(), variant: "reference"))
        #expect(base != key(Self.identity, try Self.op(shape: ["rows": 64, "cols": 2048])))
        #expect(base != key(Self.identity, try Self.op(seed: 7)))
        // A registered family's entry (e.g. `[[model]]`) is keyed by its suite file's content.
        let plain = try Self.op()
        var family = plain
        family.spec.family = OpFamilyEntry(spec: "model") { try plain.spec.factory() }
        let f1 = SimCacheKey(identity: Self.identity, op: family, variant: "fused", iterations: 1, suiteHash: "1111").text
        let f2 = SimCacheKey(identity: Self.identity, op: family, variant: "fused", iterations: 1, suiteHash: "2222").text
        #expect(f1 != f2)
    }

    // MARK: budget

    static func item(iterations: Int, perIterationNs: Double?) throws -> SimWorkItem {
        SimWorkItem(request: SimRequest(side: 0, op: try op(), timed: [], timing: []), variant: "optimized", iterations: iterations,
                    perIterationNs: perIterationNs)
    }

    @Test func budgetRunsReducesOrSkips() throws {
        // 100 s for 10 variants on 1 job: a share of 10 s each.
        var budget = SimBudget(seconds: 100, jobs: 1, items: 10)
        #expect(budget.share == 10)
        // 1 ms × 5 iterations × 60 + 1.5 s: well within.
        #expect(budget.plan(item: try Self.item(iterations: 4, perIterationNs: 1e6)) == .run(4, nil))
        // 10 ms per iteration × 64: ~40 s. The largest power of two within ~10 s: 8 (9 × 0.6 s + 1.5 s = 6.9 s).
        guard case let .run(n, reason?) = budget.plan(item: try Self.item(iterations: 64, perIterationNs: 1e7)) else {
            Issue.record("not reduced")
            return
        }
        #expect(n == 8)
        #expect(reason.contains("64 → 8 iteration(s)") && reason.contains("--sim-budget 100 s"), "\(reason)")
        // 1 s per iteration: 2 × 60 s + start-up for even one iteration: skipped, saying why.
        guard case let .skip(why) = budget.plan(item: try Self.item(iterations: 1, perIterationNs: 1e9)) else {
            Issue.record("not skipped")
            return
        }
        #expect(why.hasPrefix("skipped: estimated 121.5 s"), "\(why)")
        // Not timed: counted as planned.
        #expect(budget.plan(item: try Self.item(iterations: 3, perIterationNs: nil)) == .run(3, nil))
        // An exhausted budget skips everything timed.
        budget.spent(seconds: 1000)
        if case .run = budget.plan(item: try Self.item(iterations: 1, perIterationNs: 1)) { Issue.record("ran beyond the budget") }
    }

    @Test func budgetLearnsTheSlowdownAndReadsTimedSamples() throws {
        var budget = SimBudget(seconds: 100, jobs: 2, items: 4)
        // Two processes at once: twice the per-process share while at least two variants are left.
        #expect(budget.share == 50)
        // 10 ms/iteration, 4 + 1 iterations, took 1.5 s + 10 s: slowdown 200.
        budget.observe(item: try Self.item(iterations: 4, perIterationNs: 1e7), wallNs: 11.5e9)
        #expect(abs(budget.slowdown - 200) < 1e-9)
        #expect(abs(budget.estimate(perIterationNs: 1e7, iterations: 4) - 11.5) < 1e-9)
        let key = BenchmarkKey(suite: "s", op: "br", variant: "optimized")
        let samples = [
            Sample(key: key, sequence: 0, iterations: 10, wallNs: 1_000, cpuNs: 0, overheadNs: 100),
            Sample(key: key, sequence: 1, iterations: 10, wallNs: 3_000, cpuNs: 0, overheadNs: 0),
            Sample(key: key, sequence: 2, iterations: 10, wallNs: 2_000, cpuNs: 0, overheadNs: 0),
            Sample(key: key, sequence: 3, iterations: 1, wallNs: 9e9, cpuNs: 0, overheadNs: 0, counters: [], flags: .simulated),
        ]
        #expect(SimBudget.perIterationNs(samples, variant: "optimized") == 200)
        #expect(SimBudget.perIterationNs(samples, variant: "reference") == nil)
    }

    @Test func avx512BuildsNeedASimBuild() {
        #expect(SimPass.needsSimBuild(isaBuilt: ["sse4.2", "avx2", "fma", "avx512f", "avx512bw"]))
        #expect(!SimPass.needsSimBuild(isaBuilt: ["sse4.2", "avx2", "fma"]))
    }

    // MARK: parallel callgrind (fake valgrind)

    /// A directory with a fake `valgrind`: it writes a callgrind output whose `Ir` total is
    /// `iterations × 1000 + length of the variant`, after sleeping by variant (`slow`: 0.4 s,
    /// `hang…`: 30 s as `sleep` itself, else 0.05 s), and appends its pid to `SUITE.pids`.
    struct FakeValgrind {
        let dir: URL
        let callgrind: Callgrind

        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-fakecg-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let script = dir.appendingPathComponent("valgrind").path
            try """
            #!/bin/sh
            out=""
            for a in "$@"; do case "$a" in --callgrind-out-file=*) out="${a#--callgrind-out-file=}";; esac; done
            while [ "$1" != "exec" ]; do shift; done
            suite=$2; variant=$4; n=$6
            echo $$ >> "$suite.pids"
            case "$variant" in
              hang*) exec sleep 30;;
              slow) sleep 0.4;;
              *) sleep 0.05;;
            esac
            ir=$((n * 1000 + ${#variant}))
            printf 'events: Ir\\nsummary: %s\\n\\nfl=(1) x.c\\nfn=(1) %s\\n3 %s\\n' "$ir" "$variant" "$ir" > "$out"
            """.write(toFile: script, atomically: true, encoding: .utf8)
            #expect(chmod(script, 0o755) == 0)
            callgrind = Callgrind(valgrind: script, executable: "/bin/true", temporaryDirectory: dir.path)
        }

        var suite: String { dir.appendingPathComponent("suite").path }

        func job(_ variant: String, iterations: Int = 4) -> SimJob {
            SimJob(callgrind: callgrind, arguments: ["exec", suite, "op", variant, "--iterations", String(iterations), "--callgrind"])
        }

        var outputDirectories: [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasPrefix("fusebench-cg-") }
        }

        var pids: [Int32] {
            ((try? String(contentsOfFile: suite + ".pids", encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int32($0) }
        }

        func remove() { try? FileManager.default.removeItem(at: dir) }
    }

    static func totals(_ outcomes: [SimOutcome]) -> [UInt64?] {
        outcomes.map { if case let .counted(out, _) = $0 { return out.totals["Ir"] } else { return nil } }
    }

    /// Parallel runs give exactly the serial results, in job order, whatever order they finish in.
    @Test func parallelEqualsSerialInJobOrder() throws {
        let fake = try FakeValgrind()
        defer { fake.remove() }
        let jobs = [fake.job("slow", iterations: 1), fake.job("a", iterations: 2), fake.job("bb", iterations: 3), fake.job("ccc", iterations: 4)]
        let serial = SimJobs.run(jobs, parallel: 1, shouldStop: { false })
        let parallel = SimJobs.run(jobs, parallel: 3, shouldStop: { false })
        let expected: [UInt64?] = [1004, 2001, 3002, 4003]
        #expect(Self.totals(serial) == expected)
        #expect(Self.totals(parallel) == expected)
        #expect(fake.pids.count == 8)
        #expect(fake.outputDirectories.isEmpty)
    }

    /// Stopping (Ctrl-C) kills and reaps every running callgrind, starts no further one, keeps
    /// what was counted and leaves no output folder behind.
    @Test func stopKillsEveryRunningProcess() throws {
        let fake = try FakeValgrind()
        defer { fake.remove() }
        let deadline = Date().addingTimeInterval(1.0)
        let jobs = [fake.job("a"), fake.job("hang1"), fake.job("hang2"), fake.job("d")]
        let t0 = Date()
        let outcomes = SimJobs.run(jobs, parallel: 2, shouldStop: { Date() > deadline })
        #expect(Date().timeIntervalSince(t0) < 10, "the hanging processes were not killed")
        #expect(Self.totals(outcomes) == [4001, nil, nil, nil])
        if case .interrupted = outcomes[1] {} else { Issue.record("\(outcomes[1])") }
        if case .interrupted = outcomes[2] {} else { Issue.record("\(outcomes[2])") }
        if case .notStarted = outcomes[3] {} else { Issue.record("\(outcomes[3])") }
        #expect(fake.pids.count == 3)
        for pid in fake.pids { #expect(kill(pid, 0) == -1 && errno == ESRCH, "process \(pid) still exists") }
        #expect(fake.outputDirectories.isEmpty, "left behind: \(fake.outputDirectories)")
    }
}
