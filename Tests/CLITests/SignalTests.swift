// The CLI under SIGINT / SIGTERM (and a worker under kill -9) at several moments of each mode
// that reads from child processes: the callgrind pass, `--processes N` workers, `gate` against a
// stored baseline, and `gate --against` another binary. Moments are found by watching the
// database, the process tree and the temporary directory — never by sleeping a fixed time.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProcessIO
import Testing
import TestSupport
@testable import FuseBench

/// The processes of this machine, from /proc.
enum ProcessTable {
    struct Entry {
        var pid: Int32
        var ppid: Int32
        var pgrp: Int32
        var state: Character
        var arguments: [String]
    }

    static func all() -> [Entry] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { name -> Entry? in
            guard let pid = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 3, let state = fields[0].first, let ppid = Int32(fields[1]), let pgrp = Int32(fields[2]) else { return nil }
            let cmdline = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(name)/cmdline"))) ?? Data()
            let args = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return Entry(pid: pid, ppid: ppid, pgrp: pgrp, state: state, arguments: args)
        }
    }

    /// Children of `pid` (zombies included).
    static func children(of pid: Int32) -> [Entry] { all().filter { $0.ppid == pid } }

    /// Processes of group `pgrp` that still run (zombies left to the reaper of the machine
    /// are not running anything).
    static func running(inGroup pgrp: Int32) -> [Entry] { all().filter { $0.pgrp == pgrp && $0.state != "Z" } }
}

/// One fusebench process driven by a test: its own process group, its own TMPDIR.
struct SignalScenario {
    let dir: URL
    let tmp: URL
    let db: String
    let suite: String

    init(ops: Int = 4, samples: Int = 6) throws {
        dir = try CLI.tempDir()
        tmp = dir.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        db = dir.appendingPathComponent("x.sqlite").path
        suite = dir.appendingPathComponent("sig.toml").path
        var text = """
            [suite]
            name = "sig"
            [defaults]
            batch_ms = 1
            samples = \(samples)
            warmup_ms = 5

            """
        for i in 0..<ops {
            text += """
                [[op]]
                name = "op\(i)"
                kind = "bias_relu"
                shape = { rows = 8, cols = \(256 << i) }

                """
        }
        try text.write(toFile: suite, atomically: true, encoding: .utf8)
    }

    struct Outcome {
        var output: ChildProcess.Output
        var pid: Int32
        /// Every process seen below fusebench while it ran.
        var descendants: Set<Int32>
        var fired: Bool
        var stderr: String { String(decoding: output.stderr, as: UTF8.self) }
        var stdout: String { String(decoding: output.stdout, as: UTF8.self) }
    }

    /// Runs `fusebench ARGS` and calls `act` with its pid about every 20 ms until it returns true
    /// (it has sent its signal). Gives up (SIGKILL to the group) after `timeout` seconds.
    func drive(_ args: [String], env extra: [String: String] = [:], timeout: Double = 60,
               act: (Int32) -> Bool) throws -> Outcome {
        let bin = try #require(CLI.binary).path
        var env = ProcessInfo.processInfo.environment
        env["FUSEBENCH_NO_COUNTERS"] = "1"
        env["TMPDIR"] = tmp.path
        for (k, v) in extra { env[k] = v }
        let child = try ChildProcess(executable: bin, arguments: args + ["--db", db, "--quiet"], environment: env, newProcessGroup: true)
        let start = Date()
        var seen = Set<Int32>()
        var fired = false
        let output = try child.communicate(tickMilliseconds: 20) { c in
            var frontier = [c.pid]
            while let p = frontier.popLast() {
                for e in ProcessTable.children(of: p) where !seen.contains(e.pid) {
                    seen.insert(e.pid)
                    frontier.append(e.pid)
                }
            }
            if !fired { fired = act(c.pid) }
            if Date().timeIntervalSince(start) > timeout { kill(-c.pid, SIGKILL) }
        }
        return Outcome(output: output, pid: child.pid, descendants: seen, fired: fired)
    }

    func store() throws -> ResultStore { try ResultStore(path: db) }

    /// Samples of the newest run labelled `label` (any label when nil); empty before it exists.
    func samples(label: String? = nil) -> [Sample] {
        guard FileManager.default.fileExists(atPath: db), let store = try? store(),
              let run = (try? store.runs(limit: 10))?.first(where: { label == nil || $0.label == label }) else { return [] }
        return (try? store.samples(runID: run.id)) ?? []
    }

    /// Workers (`fusebench worker`) running below `pid` now.
    func workers(below pid: Int32) -> [ProcessTable.Entry] {
        let all = ProcessTable.all()
        var ids: Set<Int32> = [pid]
        var grew = true
        while grew {
            grew = false
            for e in all where ids.contains(e.ppid) && !ids.contains(e.pid) {
                ids.insert(e.pid)
                grew = true
            }
        }
        return all.filter { ids.contains($0.pid) && $0.pid != pid && $0.state != "Z" && $0.arguments.contains("worker") }
    }

    /// `fusebench-cg-*` folders in this scenario's TMPDIR.
    var callgrindDirs: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: tmp.path)) ?? []).filter { $0.hasPrefix("fusebench-cg-") }
    }

    /// What every interrupted scenario must show: exit 130, nothing left running, no callgrind folders.
    func expectCleanInterruption(_ o: Outcome, runs expected: Int = 1) throws {
        #expect(o.fired, "the moment to signal never came\n\(o.stderr)")
        #expect(o.output.termination == .exited(130), "\(o.output.termination)\n\(o.stdout)\n\(o.stderr)")
        #expect(!o.stderr.contains("Fatal error"), "\(o.stderr)")
        #expect(ProcessTable.running(inGroup: o.pid).isEmpty, "processes left: \(ProcessTable.running(inGroup: o.pid).map(\.arguments))")
        let alive = ProcessTable.all().filter { o.descendants.contains($0.pid) && $0.state != "Z" }
        #expect(alive.isEmpty, "children still running: \(alive.map(\.arguments))")
        #expect(callgrindDirs.isEmpty, "left behind: \(callgrindDirs)")
        let runs = try store().runs(limit: 10)
        #expect(runs.count == expected)
        for r in runs { #expect(r.status == .interrupted, "run \(r.id) \(r.label ?? ""): \(r.status)") }
    }
}

@Suite(.serialized)
struct SignalTests {
    /// `--processes 2`: one signal while op0's first worker runs (early), one after op0 is stored
    /// while op1's worker runs; op0's samples are kept in full in the second case.
    @Test(arguments: [SIGINT, SIGTERM])
    func workersInterrupted(signal: Int32) throws {
        let s = try SignalScenario()
        let early = signal == SIGINT
        let o = try s.drive(["run", s.suite, "--processes", "2"]) { pid in
            guard !s.workers(below: pid).isEmpty else { return false }
            if !early, s.samples().isEmpty { return false }
            kill(pid, signal)
            return true
        }
        try s.expectCleanInterruption(o)
        let samples = s.samples()
        if !early { #expect(samples.filter { $0.op == "op0" }.count == 12, "op0: 2 workers × 3 batches × 2 variants") }
        #expect(!samples.contains { $0.op == "op3" })
        #expect(o.stdout.contains("interrupted by signal \(signal)"))
    }

    /// The callgrind pass (`--counters sim`, the default on a machine without a PMU): the
    /// callgrind process in flight is killed, its folder removed, and the op's timing samples
    /// and the variants already counted are kept. SIGINT lands in op0's first callgrind run,
    /// SIGTERM in its second (the first variant's count is then kept). One callgrind at a time
    /// (`--sim-jobs 1`); the parallel pass is `parallelCallgrindPassInterrupted`.
    @Test(.enabled(if: SimEnvironment.usable, Comment(rawValue: SimEnvironment.reason)), arguments: [SIGINT, SIGTERM])
    func callgrindPassInterrupted(signal: Int32) throws {
        let s = try SignalScenario(ops: 2)
        var env: [String: String] = [:]
        if let w = SimEnvironment.worker { env["FUSEBENCH_SIM_EXECUTABLE"] = w }
        var first: String?
        let o = try s.drive(["run", s.suite, "--counters", "sim", "--sim-jobs", "1"], env: env, timeout: 120) { pid in
            guard let dir = s.callgrindDirs.first else { return false }
            if first == nil { first = dir }
            if signal == SIGTERM, dir == first { return false }
            kill(pid, signal)
            return true
        }
        try s.expectCleanInterruption(o)
        let samples = s.samples()
        #expect(samples.filter { $0.op == "op0" && !$0.flags.contains(.simulated) }.count == 12, "op0's timing samples are kept")
        #expect(samples.filter { $0.op == "op0" && $0.flags.contains(.simulated) }.count == (signal == SIGINT ? 0 : 1))
        #expect(!samples.contains { $0.op == "op1" })
    }

    /// The parallel callgrind pass (`--sim-jobs 2`): a signal while both of op0's variants run
    /// under callgrind kills and reaps both, removes both folders, keeps op0's timing samples and
    /// stores no partial count; the cache holds nothing from the killed runs.
    @Test(.enabled(if: SimEnvironment.usable, Comment(rawValue: SimEnvironment.reason)), arguments: [SIGINT, SIGTERM])
    func parallelCallgrindPassInterrupted(signal: Int32) throws {
        let s = try SignalScenario(ops: 2)
        var env: [String: String] = [:]
        if let w = SimEnvironment.worker { env["FUSEBENCH_SIM_EXECUTABLE"] = w }
        let o = try s.drive(["run", s.suite, "--counters", "sim", "--sim-jobs", "2"], env: env, timeout: 120) { pid in
            guard s.callgrindDirs.count >= 2 else { return false }
            kill(pid, signal)
            return true
        }
        try s.expectCleanInterruption(o)
        let samples = s.samples()
        #expect(samples.filter { $0.op == "op0" && !$0.flags.contains(.simulated) }.count == 12, "op0's timing samples are kept")
        #expect(!samples.contains { $0.flags.contains(.simulated) })
        #expect(!samples.contains { $0.op == "op1" })
        #expect(try s.store().simCacheCount() == 0)
    }

    /// `gate` against a stored baseline (3 workers per op).
    @Test(arguments: [SIGINT, SIGTERM])
    func gateInterrupted(signal: Int32) throws {
        let s = try SignalScenario()
        let store = try s.store()
        let base = try Synthetic.run(store, suite: "sig", ops: (0..<4).map { Synthetic.op("op\($0)", median: 1e5, seed: UInt64($0)) },
                                     label: "base")
        try store.setBaseline(name: "main", runID: base)
        let o = try s.drive(["gate", s.suite, "--baseline", "main", "--processes", "3"]) { pid in
            guard !s.workers(below: pid).isEmpty else { return false }
            if signal == SIGTERM, s.samples(label: "gate").isEmpty { return false }
            kill(pid, signal)
            return true
        }
        #expect(o.output.termination == .exited(130), "\(o.output.termination)\n\(o.stderr)")
        let gate = try #require(try store.runs(limit: 10).first { $0.label == "gate" })
        #expect(gate.status == .interrupted)
        #expect(try store.run(id: base)?.status == .complete)
        if signal == SIGTERM { #expect(s.samples(label: "gate").filter { $0.op == "op0" }.count == 12) }
        #expect(ProcessTable.running(inGroup: o.pid).isEmpty)
    }

    /// `gate --against` a copy of this binary: both sides' runs end `interrupted`.
    @Test(arguments: [SIGINT, SIGTERM])
    func gateAgainstInterrupted(signal: Int32) throws {
        let s = try SignalScenario()
        let copy = s.dir.appendingPathComponent("fusebench-base").path
        let bin = try #require(CLI.binary).path
        if link(bin, copy) != 0 { try FileManager.default.copyItem(atPath: bin, toPath: copy) }
        let o = try s.drive(["gate", s.suite, "--against", copy, "--processes", "2"]) { pid in
            guard !s.workers(below: pid).isEmpty else { return false }
            if signal == SIGTERM, s.samples(label: "gate [head]").isEmpty { return false }
            kill(pid, signal)
            return true
        }
        try s.expectCleanInterruption(o, runs: 2)
        if signal == SIGTERM {
            #expect(s.samples(label: "gate [base]").filter { $0.op == "op0" }.count == 12)
            #expect(s.samples(label: "gate [head]").filter { $0.op == "op0" }.count == 12)
        }
    }

    /// A worker killed from outside (kill -9) fails its op, naming the worker, the op and the
    /// signal; the ops before stay, the ops after it are still measured, and the run ends
    /// `failed` with exit 3 listing the failed op.
    @Test func workerKilledFromOutsideFailsItsOpAndTheRunGoesOn() throws {
        let s = try SignalScenario()
        var victim: Int32 = 0
        let o = try s.drive(["run", s.suite, "--processes", "2"]) { pid in
            guard !s.samples().isEmpty, let w = s.workers(below: pid).first else { return false }
            victim = w.pid
            kill(w.pid, SIGKILL)
            return true
        }
        #expect(o.output.termination == .exited(3), "\(o.output.termination)\n\(o.stderr)")
        #expect(o.stderr.contains("pid \(victim)"), "\(o.stderr)")
        #expect(o.stderr.contains("sig/op1"), "\(o.stderr)")
        #expect(o.stderr.contains("worker 1/2") || o.stderr.contains("worker 2/2"), "\(o.stderr)")
        #expect(o.stderr.contains("signal 9 (SIGKILL)"), "\(o.stderr)")
        #expect(!o.stderr.contains("interrupted"))
        #expect(o.stderr.contains("1 op(s) failed") && o.stderr.contains("\n  sig/op1: worker"), "\(o.stderr)")
        let run = try #require(try s.store().runs(limit: 1).first)
        #expect(run.status == .failed)
        #expect(s.samples().filter { $0.op == "op0" }.count == 12)
        #expect(s.samples().filter { $0.op == "op2" }.count == 12)
        #expect(s.samples().filter { $0.op == "op3" }.count == 12)
        #expect(ProcessTable.running(inGroup: o.pid).isEmpty)
    }
}
