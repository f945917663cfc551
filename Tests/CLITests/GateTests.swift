import Foundation
import GRDB
import TestSupport
import Testing
@testable import FuseBench

/// `fusebench gate`, `compare`, `baseline` and `export` end to end. Verdicts come from synthetic
/// runs written through `ResultStore`, so they are deterministic; only the two tests at the end
/// measure (tiny suite, `--quick`) and they assert nothing about timing.
@Suite(.serialized) struct GateTests {
    /// A temp directory with a database path and the tiny suite written out.
    struct Workspace {
        let dir: URL
        var db: String { dir.appendingPathComponent("gate.sqlite").path }
        var suite: String { dir.appendingPathComponent("tiny.toml").path }

        init() throws {
            dir = try CLI.tempDir()
            try tinySuite.write(toFile: suite, atomically: true, encoding: .utf8)
        }

        func store() throws -> ResultStore { try ResultStore(path: db) }

        /// Runs fusebench with `--db` appended.
        func run(_ args: [String]) throws -> CLI.Result { try CLI.run(args + ["--db", db]) }
    }

    /// Two ops × two variants, tight noise, 5 processes × 8 batches each.
    static func steady(factor: Double = 1, seed: UInt64) -> [Synthetic.Op] {
        [Synthetic.op("gemm_16", median: 10_000 * factor, seed: seed),
         Synthetic.op("bias_relu_small", median: 40_000 * factor, seed: seed &+ 100)]
    }

    static func noisy(seed: UInt64) -> [Synthetic.Op] {
        [Synthetic.op("gemm_16", median: 10_000, noise: 0.4, processSpread: 0.6, seed: seed),
         Synthetic.op("bias_relu_small", median: 40_000, noise: 0.4, processSpread: 0.6, seed: seed &+ 100)]
    }

    /// A database with baseline `main` → a steady run, plus a same-distribution head, a 30%
    /// slower head and a very noisy head.
    static func fixture() throws -> (ws: Workspace, base: Int64, same: Int64, slow: Int64, noisy: Int64) {
        let ws = try Workspace()
        let store = try ws.store()
        let base = try Synthetic.run(store, ops: steady(seed: 1), label: "base")
        let same = try Synthetic.run(store, ops: steady(seed: 7), label: "same")
        let slow = try Synthetic.run(store, ops: steady(factor: 1.3, seed: 9), label: "slow")
        let noisy = try Synthetic.run(store, ops: noisy(seed: 3), label: "noisy")
        try store.setBaseline(name: "main", runID: base)
        return (ws, base, same, slow, noisy)
    }

    // MARK: - Exit codes

    @Test func gatePassesOnSameDistributionAndOnItself() throws {
        let f = try Self.fixture()
        let r = try f.ws.run(["gate", "--run", String(f.same), "--baseline", "main"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("ratio [95% CI]"))
        #expect(r.stdout.contains("PASS — 4 pass"))
        // A run compared with itself.
        let selfGate = try f.ws.run(["gate", "--run", String(f.base), "--baseline", String(f.base)])
        #expect(selfGate.status == 0, "\(selfGate.stdout)")
        let selfCompare = try f.ws.run(["compare", "main", "main", "--fail-on-regression"])
        #expect(selfCompare.status == 0)
    }

    @Test func gateExitsOneOnARegression() throws {
        let f = try Self.fixture()
        let r = try f.ws.run(["gate", "--run", String(f.slow), "--baseline", "main"])
        #expect(r.status == 1, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("REGRESSION — 4 regression"))
        #expect(r.stdout.contains("tiny/gemm_16/optimized"))
        // A threshold above the slowdown lets it pass.
        let lenient = try f.ws.run(["gate", "--run", String(f.slow), "--baseline", "main", "--threshold", "50"])
        #expect(lenient.status == 0, "\(lenient.stdout)")
        // Markdown output for a PR comment, with the same exit code.
        let md = try f.ws.run(["gate", "--run", "latest~1", "--baseline", "main", "--format", "markdown"])
        #expect(md.status == 1)
        #expect(md.stdout.hasPrefix("### fusebench: ❌ regression"))
    }

    @Test func gateExitsTwoWhenTooNoisyToTell() throws {
        let f = try Self.fixture()
        let r = try f.ws.run(["gate", "--run", String(f.noisy), "--baseline", "main", "--format", "json"])
        #expect(r.status == 2, "\(r.stdout)\n\(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(doc["verdict"] as? String == "inconclusive")
        #expect(doc["exitCode"] as? Int == 2)
    }

    @Test func gateErrorsExitThree() throws {
        let f = try Self.fixture()
        let store = try f.ws.store()
        let empty = try Synthetic.run(store, ops: [], label: "empty")
        let other = try Synthetic.run(store, suite: "other", ops: Self.steady(seed: 5), label: "other suite")
        let head = String(f.same)
        let cases: [(String, [String], String)] = [
            ("unknown baseline", ["gate", "--run", head, "--baseline", "nosuchbaseline"], "nosuchbaseline"),
            ("unknown run", ["gate", "--run", "999", "--baseline", "main"], "'999'"),
            ("empty run", ["gate", "--run", String(empty), "--baseline", "main"], "no samples"),
            ("empty baseline", ["gate", "--run", head, "--baseline", String(empty)], "no samples"),
            ("different suites", ["gate", "--run", String(other), "--baseline", "main"], "different suites"),
            ("no baseline", ["gate", "--run", head], "--baseline"),
            ("bad format", ["gate", "--run", head, "--baseline", "main", "--format", "yaml"], "--format"),
            ("bad threshold", ["gate", "--run", head, "--baseline", "main", "--threshold", "0"], "--threshold"),
            ("against is no executable", ["gate", f.ws.suite, "--against", f.ws.suite], "not an executable"),
            ("run and against", ["gate", "--run", head, "--against", CLI.binary?.path ?? "/bin/true"], "exclude"),
            ("compare unknown", ["compare", "main", "nosuchrun"], "nosuchrun"),
            ("compare different suites", ["compare", "main", String(other)], "different suites"),
            ("compare bad format", ["compare", "main", head, "--format", "html"], "--format"),
        ]
        for (what, args, message) in cases {
            let r = try f.ws.run(args)
            #expect(r.status == 3, "\(what): exit \(r.status)\n\(r.stdout)\n\(r.stderr)")
            #expect(r.stderr.contains(message), "\(what): \(r.stderr)")
            #expect(!r.stderr.contains("Fatal error"), "\(what)")
        }
    }

    @Test func newerSchemaDatabaseExitsThree() throws {
        let f = try Self.fixture()
        try DatabaseQueue(path: f.ws.db).writeWithoutTransaction { db in try db.execute(sql: "PRAGMA user_version = 99") }
        for args in [["gate", "--run", "latest", "--baseline", "main"], ["compare", "main", "latest"], ["baseline", "list"]] {
            let r = try f.ws.run(args)
            #expect(r.status == 3, "\(args): \(r.stderr)")
            #expect(r.stderr.contains("newer than this fusebench"), "\(r.stderr)")
        }
        // Refused, not modified.
        let version = try DatabaseQueue(path: f.ws.db).read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") }
        #expect(version == 99)
    }

    // MARK: - compare

    @Test func compareFormatsAndFailOnRegression() throws {
        let f = try Self.fixture()
        let base = String(f.base), slow = String(f.slow)
        let text = try f.ws.run(["compare", base, slow])
        #expect(text.status == 0, "without --fail-on-regression compare reports and exits 0")
        #expect(text.stdout.contains("REGRESSION"))
        #expect(!text.stdout.contains("\u{1B}["), "no colour when stdout is not a TTY")
        #expect(try f.ws.run(["compare", base, slow, "--fail-on-regression"]).status == 1)
        #expect(try f.ws.run(["compare", base, String(f.noisy), "--fail-on-regression"]).status == 2)
        #expect(try f.ws.run(["compare", base, String(f.same), "--fail-on-regression"]).status == 0)

        let md = try f.ws.run(["compare", "main", slow, "--format", "markdown"])
        #expect(md.status == 0)
        #expect(md.stdout.contains("| benchmark | base p50 | head p50 | ratio [95% CI] | p (Holm) |"))
        #expect(md.stdout.split(separator: "\n").filter { $0.hasPrefix("| tiny/") }.count == 4)

        let json = try f.ws.run(["compare", "main", slow, "--format", "json"])
        #expect(json.status == 0)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(doc["verdict"] as? String == "regression")
        #expect(doc["exitCode"] as? Int == 1)
        let comparisons = try #require(doc["comparisons"] as? [[String: Any]])
        #expect(comparisons.count == 4)
        for c in comparisons {
            for key in ["ratio", "ciLower", "ciUpper", "pValueAdjusted", "verdict"] { #expect(c[key] != nil, "missing \(key)") }
            #expect(c["verdict"] as? String == "regression")
            #expect((c["ratio"] as? Double).map { abs($0 - 1.3) < 0.02 } == true)
        }
        #expect(doc["warnings"] as? [String] == [])
    }

    @Test func compareReportsOpsInOneSideAndEnvironmentChanges() throws {
        let ws = try Workspace()
        let store = try ws.store()
        var machine = Synthetic.machine
        machine.cpuModel = "Elsewhere CPU"
        let base = try Synthetic.run(store, ops: Self.steady(seed: 1) + [Synthetic.op("dropped", median: 1_000, seed: 2)])
        let head = try Synthetic.run(store, ops: Self.steady(seed: 3) + [Synthetic.op("added", median: 1_000, seed: 4)],
                                     harness: "0.0.1-old", machine: machine)
        let r = try ws.run(["compare", String(base), String(head), "--format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let warnings = try #require(doc["warnings"] as? [String]).joined(separator: "\n")
        #expect(warnings.contains("only in base (not compared): tiny/dropped/reference, tiny/dropped/optimized"))
        #expect(warnings.contains("only in head (not compared): tiny/added/reference, tiny/added/optimized"))
        #expect(warnings.contains("different machines"))
        #expect(warnings.contains("different harness versions"))
        #expect(doc["onlyInBase"] as? [String] == ["tiny/dropped/reference", "tiny/dropped/optimized"])
        #expect((doc["comparisons"] as? [Any])?.count == 4)
        let text = try ws.run(["compare", String(base), String(head)])
        #expect(text.stdout.contains("warning: only in head"))
        #expect(text.stdout.contains("warning: different machines"))
    }

    // MARK: - baselines

    @Test func baselineSetListShowRemoveAndRollBack() throws {
        let ws = try Workspace()
        let store = try ws.store()
        let r1 = try Synthetic.run(store, ops: Self.steady(seed: 1), label: "first")
        let r2 = try Synthetic.run(store, ops: Self.steady(seed: 2), label: "second")
        _ = try Synthetic.run(store, ops: Self.steady(seed: 3), label: "broken", status: .interrupted)

        // Default: the latest *complete* run.
        let set = try ws.run(["baseline", "set", "main"])
        #expect(set.status == 0, "\(set.stderr)")
        #expect(set.stdout.contains("baseline main → run \(r2)"))
        #expect(try store.baseline(name: "main")?.runID == r2)
        #expect(try ws.run(["baseline", "set", "main", String(r1)]).status == 0)
        #expect(try ws.run(["baseline", "set", "release/1.0", "main"]).status == 0, "a baseline can point at another's run")
        #expect(try store.baseline(name: "release/1.0")?.runID == r1)

        let list = try ws.run(["baseline", "list"])
        #expect(list.status == 0)
        let rows = list.stdout.split(separator: "\n").filter { $0.hasPrefix("main") || $0.hasPrefix("release/1.0") }
        #expect(rows.count == 2, "\(list.stdout)")
        #expect(rows.first { $0.hasPrefix("main") }?.contains("first") == true)

        let rolled = try ws.run(["baseline", "set", "main", "--to-previous"])
        #expect(rolled.status == 0, "\(rolled.stderr)")
        #expect(rolled.stdout.contains("baseline main → run \(r2) (rolled back)"))
        #expect(try store.baseline(name: "main")?.runID == r2)

        let show = try ws.run(["baseline", "show", "main"])
        #expect(show.status == 0)
        #expect(show.stdout.hasPrefix("baseline main → run \(r2)"))
        #expect(show.stdout.contains("(new) → run \(r2)"))
        #expect(show.stdout.contains("run \(r2) → run \(r1)"))
        #expect(show.stdout.contains("run \(r1) → run \(r2)  (rolled back from run \(r1))"))
        #expect(try store.baseline(name: "main")?.history.count == 3)

        // Baseline names resolve wherever a run is expected.
        #expect(try ws.run(["compare", "main", "release/1.0", "--fail-on-regression"]).status == 0)

        let rm = try ws.run(["baseline", "rm", "main"])
        #expect(rm.status == 0)
        #expect(try store.baseline(name: "main") == nil)
        #expect(try ws.run(["baseline", "show", "main"]).status == 3)
        #expect(try ws.run(["baseline", "rm", "main"]).status == 3)
        #expect(try ws.run(["gate", "--run", "latest", "--baseline", "main"]).status == 3)
        // History survives removal; setting it again continues it.
        #expect(try ws.run(["baseline", "set", "main", String(r1)]).status == 0)
        let history = try #require(try store.baseline(name: "main")?.history)
        #expect(history.count == 5)
        #expect(history[3].runID == nil && history[3].note == "removed")
    }

    @Test func baselineErrorsExitThree() throws {
        let ws = try Workspace()
        let store = try ws.store()
        let r1 = try Synthetic.run(store, ops: Self.steady(seed: 1))
        for name in ["42", "latest", "latest~1", "has space", ""] {
            let r = try ws.run(["baseline", "set", name, String(r1)])
            #expect(r.status == 3, "name '\(name)': \(r.stdout)")
            #expect(r.stderr.contains("cannot name a baseline"), "\(r.stderr)")
        }
        #expect(try ws.run(["baseline", "set", "main", "999"]).status == 3)
        #expect(try ws.run(["baseline", "set", "main", "--to-previous"]).status == 3, "no such baseline")
        #expect(try ws.run(["baseline", "set", "main", String(r1)]).status == 0)
        let single = try ws.run(["baseline", "set", "main", "--to-previous"])
        #expect(single.status == 3, "nothing earlier to roll back to")
        #expect(single.stderr.contains("no earlier run"))
        #expect(try ws.run(["baseline", "set", "main", String(r1), "--to-previous"]).status == 3)
        #expect(try store.baseline(name: "main")?.runID == r1)
    }

    // MARK: - exports through the CLI

    @Test func exportFormatsThroughTheCLI() throws {
        let f = try Self.fixture()
        let slow = String(f.slow)
        for format in ["gbench", "bmf", "gab"] {
            let r = try f.ws.run(["export", slow, "--format", format])
            #expect(r.status == 0, "\(format): \(r.stderr)")
            #expect((try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) != nil, "\(format) is JSON")
        }
        let junit = try f.ws.run(["export", slow, "--format", "junit", "--baseline", "main"])
        #expect(junit.status == 0)
        #expect(junit.stdout.components(separatedBy: "<failure type=\"regression\"").count - 1 == 4)
        #expect(junit.stdout.contains("<testsuites name=\"fusebench\" tests=\"4\" failures=\"4\">"))
        let clean = try f.ws.run(["export", String(f.same), "--format", "junit", "--baseline", "main"])
        #expect(clean.stdout.contains("failures=\"0\""))
        #expect(!clean.stdout.contains("<failure"))

        let out = f.ws.dir.appendingPathComponent("run.csv").path
        #expect(try f.ws.run(["export", "main", "--format", "csv", "--output", out]).status == 0)
        #expect(try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").count == 1 + 4 * 40)
        let md = try f.ws.run(["export", "main", "--format", "markdown"])
        #expect(md.stdout.split(separator: "\n").filter { $0.hasPrefix("| tiny/") }.count == 4)
        #expect(try f.ws.run(["export", slow, "--format", "junit", "--baseline", "nosuch"]).status == 3)
    }

    // MARK: - measuring (tiny suite, --quick)

    // Why these two can never exit 1: with --quick the tiny suite takes 2 batches per worker,
    // so with --processes 2 each side has 4 batches per variant. The verdict's p-value is at
    // least the Mann–Whitney p, whose smallest value for 4 vs 4 is 2/70 ≈ 0.029; Holm over the
    // 4 variants multiplies the smallest by 4 (≥ 0.11 > 0.05), so no variant can be significant.
    // They check the mechanics, never the machine's noise.

    @Test func gateMeasuresAgainstAStoredBaseline() throws {
        let ws = try Workspace()
        let run = try ws.run(["run", ws.suite, "--quick", "--quiet", "--processes", "2", "--label", "tiny-base"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try ws.run(["baseline", "set", "main", "latest"]).status == 0)

        // The stored samples (the baseline's build is kept too: KeptBuildTests measure that path).
        let r = try ws.run(["gate", ws.suite, "--baseline", "main", "--stored-samples", "--processes", "2", "--quick", "--quiet"])
        #expect([0, 2].contains(r.status), "exit \(r.status)\n\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("ratio [95% CI]"))
        for name in ["tiny/gemm_16/reference", "tiny/gemm_16/optimized", "tiny/bias_relu_small/reference",
                     "tiny/bias_relu_small/optimized"] {
            #expect(r.stdout.contains(name), "\(name) missing from\n\(r.stdout)")
        }
        #expect(r.stdout.contains(r.status == 0 ? "PASS" : "INCONCLUSIVE"))
        #expect(r.stderr.contains("gate: verdict"), "progress and notes go to stderr")
        let store = try ws.store()
        let head = try #require(try store.runs(limit: 1).first)
        #expect(head.label == "gate")
        #expect(head.status == .complete)
    }

    @Test func gateAgainstAnotherBinaryInterleavesBothBuilds() throws {
        let ws = try Workspace()
        let binary = try #require(CLI.binary).path
        let r = try ws.run(["gate", ws.suite, "--against", binary, "--processes", "2", "--quick", "--quiet", "--format", "json",
                            "--max-time", "0"])
        #expect([0, 2].contains(r.status), "exit \(r.status)\n\(r.stdout)\n\(r.stderr)")
        #expect(r.stderr.contains("interleaving base = \(binary)"))
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(doc["exitCode"] as? Int == Int(r.status))
        #expect((doc["comparisons"] as? [Any])?.count == 4)

        let store = try ws.store()
        let runs = try store.runs(limit: 10)
        #expect(runs.count == 2)
        let base = try #require(runs.first { $0.label == "gate [base]" })
        let head = try #require(runs.first { $0.label == "gate [head]" })
        #expect(doc["baseRuns"] as? [Int] == [Int(base.id)])
        #expect(doc["headRuns"] as? [Int] == [Int(head.id)])
        for info in [base, head] {
            #expect(info.status == .complete)
            let samples = try store.samples(runID: info.id)
            for op in ["gemm_16", "bias_relu_small"] {
                for variant in ["reference", "optimized"] {
                    let own = samples.filter { $0.op == op && $0.variant == variant }
                    #expect(Set(own.map(\.process)) == [0, 1], "\(info.label ?? "") \(op)/\(variant): processes \(own.map(\.process))")
                }
            }
        }
        #expect(try store.runMeta(runID: base.id)["worker.executable"] == binary)
        #expect(try store.runMeta(runID: head.id)["worker.executable"] == nil)
    }

    // MARK: - compare of one-process runs: a regression is confirmed by a second head run

    /// One-process runs (`run`'s default) with a learned noise history: `compare` of one slower head
    /// run leaves the ops undecided ("shown by 1 of 1 head run(s)"); two slower head runs, given as
    /// `HEAD1,HEAD2`, confirm the regression. Bad lists are usage errors (exit 2 from the parser).
    @Test func compareConfirmsAOneProcessRegressionWithTwoHeadRuns() throws {
        let ws = try Workspace()
        let store = try ws.store()
        func oneProcess(_ factor: Double, seed: UInt64) -> [Synthetic.Op] {
            [Synthetic.op("gemm_16", median: 10_000 * factor, processes: 1, samples: 8, seed: seed)]
        }
        var history: [Int64] = []
        for i in 0..<8 {
            let id = try Synthetic.run(store, ops: oneProcess(1 + 0.002 * Double(i % 3), seed: UInt64(10 + i)), label: "history")
            try store.setRunMeta(runID: id, key: RunMetaKey.binaryHash, value: "h1")
            history.append(id)
        }
        let base = try Synthetic.run(store, ops: oneProcess(1, seed: 40), label: "base")
        let slow1 = try Synthetic.run(store, ops: oneProcess(1.3, seed: 41), label: "slow1")
        let slow2 = try Synthetic.run(store, ops: oneProcess(1.3, seed: 42), label: "slow2")

        let one = try ws.run(["compare", String(base), String(slow1), "--fail-on-regression"])
        #expect(one.status == 2, "\(one.stdout)\n\(one.stderr)")
        #expect(one.stdout.contains("shown by 1 of 1 head run(s)"), "\(one.stdout)")
        #expect(one.stdout.contains("learned from"), "the noise history must be used: \(one.stdout)")

        let two = try ws.run(["compare", String(base), "\(slow1),\(slow2)", "--fail-on-regression", "--format", "json"])
        #expect(two.status == 1, "\(two.stdout)\n\(two.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(two.stdout.utf8)) as? [String: Any])
        #expect(doc["headRuns"] as? [Int] == [Int(slow1), Int(slow2)])
        let c = try #require((doc["comparisons"] as? [[String: Any]])?.first)
        let d = try #require(c["decision"] as? [String: Any])
        #expect(d["confirmingRuns"] as? Int == 2 && d["headRuns"] as? Int == 2, "\(d)")

        for bad in ["\(slow1),,\(slow2)", "\(slow1),\(slow1)"] {
            let r = try ws.run(["compare", String(base), bad])
            #expect(r.status != 0 && r.status != 1, "\(bad): exit \(r.status)")
            #expect(r.stderr.contains("HEAD '\(bad)'"), "\(r.stderr)")
        }
    }

    // MARK: - The sequential gate (the contract)

    /// A stored one-process baseline (its samples) and no noise history on this machine: no honest estimate, and
    /// more head rounds cannot change that, so the gate stops after one round despite --max-time,
    /// and says why — under the table and on stderr.
    @Test func gateStopsEarlyWhenMeasuringMoreCannotHelp() throws {
        let ws = try Workspace()
        let first = try ws.run(["run", ws.suite, "--quick", "--quiet", "--counters", "none", "--filter", "tiny/gemm_16/optimized"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try ws.run(["baseline", "set", "main", "latest"]).status == 0)
        let r = try ws.run(["gate", ws.suite, "--baseline", "main", "--stored-samples", "--quick", "--quiet", "--counters", "none",
                            "--filter", "tiny/gemm_16/optimized", "--processes", "1", "--max-time", "600"])
        #expect(r.status == 2, "exit \(r.status)\n\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("undecided: tiny/gemm_16/optimized: one process per side and no noise history on this machine: 0 of 5 A/A pairs"),
                "\(r.stdout)")
        #expect(r.stdout.contains("noise: no estimate: one process per side"), "\(r.stdout)")
        #expect(r.stderr.contains("round 1: undecided tiny/gemm_16/optimized"), "\(r.stderr)")
        #expect(r.stderr.contains("no undecided op can be decided by measuring more"), "\(r.stderr)")
        #expect(r.stderr.contains("after 1 round(s)"), "\(r.stderr)")
        #expect(try ws.store().runs(limit: 10).filter { $0.label == "gate" }.count == 1)
    }

    /// A baseline recorded by `run`'s default (one process) is gated with the head measured in one
    /// process too (not in fresh workers, which some ops run at another speed); a baseline recorded
    /// with workers keeps the worker default; an explicit --processes wins.
    @Test func gateMeasuresTheHeadTheWayTheBaselineWasMeasured() throws {
        let ws = try Workspace()
        // The stored samples: with a kept build (KeptBuildTests) both sides are measured in workers.
        let filter = ["--quick", "--quiet", "--counters", "none", "--filter", "tiny/gemm_16/optimized", "--stored-samples", "--max-time", "0"]
        #expect(try ws.run(["run", ws.suite] + filter.dropLast(3)).status == 0)
        #expect(try ws.run(["baseline", "set", "one", "latest"]).status == 0)
        #expect(try ws.run(["run", ws.suite, "--processes", "3"] + filter.dropLast(3)).status == 0)
        #expect(try ws.run(["baseline", "set", "workers", "latest"]).status == 0)
        func headProcesses() throws -> String? {
            let gate = try #require(try ws.store().runs(limit: 1).first)
            let config = try JSONSerialization.jsonObject(with: Data(gate.configJSON.utf8)) as? [String: Any]
            return config?["processes"] as? String
        }
        let one = try ws.run(["gate", ws.suite, "--baseline", "one"] + filter)
        #expect(one.stderr.contains("was measured in one process"), "\(one.stderr)")
        #expect(try headProcesses() == "1")
        let workers = try ws.run(["gate", ws.suite, "--baseline", "workers"] + filter)
        #expect(!workers.stderr.contains("was measured in one process"), "\(workers.stderr)")
        #expect(try headProcesses() == String(DecisionContract.processesPerLook))
        let explicit = try ws.run(["gate", ws.suite, "--baseline", "one", "--processes", "2"] + filter)
        #expect(!explicit.stderr.contains("was measured in one process"), "\(explicit.stderr)")
        #expect(try headProcesses() == "2")
    }

    /// `--against` with a tripled op: the gate stops at the look where the op is decided (usually
    /// the first, 10 back-to-back pairs; later only when the machine is very noisy), although
    /// --max-time would allow more rounds; the JSON carries the decision.
    @Test func gateAgainstStopsAtTheLookWhereItDecides() throws {
        let ws = try Workspace()
        let binary = try #require(CLI.binary).path
        let r = try ws.run(["gate", ws.suite, "--against", binary, "--quick", "--quiet", "--counters", "none",
                            "--filter", "tiny/bias_relu_small/optimized", "--inject-slowdown", "bias_relu_small=200",
                            "--max-time", "600", "--format", "json"])
        #expect(r.status == 1, "exit \(r.status)\n\(r.stdout)\n\(r.stderr)")
        #expect(!r.stderr.contains("still undecided"), "\(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let c = try #require((doc["comparisons"] as? [[String: Any]])?.first)
        #expect(c["gateVerdict"] as? String == "regression")
        let d = try #require(c["decision"] as? [String: Any])
        #expect(d["method"] as? String == "paired")
        let look = try #require(d["look"] as? Int)
        #expect(r.stderr.contains("after \(look) round(s)"), "stopped at the deciding look \(look)\n\(r.stderr)")
        // The default --processes in round 1, growing by as many each round.
        let pairs = DecisionContract.pairs(throughLook: look, first: DecisionContract.processesPerLook)
        #expect(d["observations"] as? Int == pairs)
        #expect((doc["headRuns"] as? [Any])?.count == look)
        #expect((doc["noise"] as? [String])?.first?.hasPrefix("paired: \(pairs) back-to-back") == true)
    }
}
