// tools/gate-downstream's own process handling: a SIGTERM sent to the script alone reaches the
// build command it is running (the build is its direct child, not a subshell's), and a gate
// that dies of a signal or ends with a code outside 0/1/2/130 makes the script exit 3.
import Foundation
import ProcessIO
import Testing

@Suite(.serialized) struct GateDownstreamScriptTests {
    /// A temporary directory holding a one-commit git repository `repo` (with `bench/suite.toml`).
    struct Scratch {
        let dir: URL
        var repo: URL { dir.appendingPathComponent("repo") }

        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-gate-downstream-\(UUID().uuidString)")
            let bench = dir.appendingPathComponent("repo/bench")
            try FileManager.default.createDirectory(at: bench, withIntermediateDirectories: true)
            try "[suite]\nname = \"s\"\n".write(to: bench.appendingPathComponent("suite.toml"), atomically: true, encoding: .utf8)
            for args in [["init", "-q", "-b", "main"], ["add", "."],
                         ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "suite"]] {
                let r = try ChildProcess(executable: "/usr/bin/env", arguments: ["git", "-C", repo.path] + args).communicate()
                guard r.termination == .exited(0) else {
                    throw ProcessIOError("git \(args.joined(separator: " "))", code: 0, message: String(decoding: r.stderr, as: UTF8.self))
                }
            }
        }

        func remove() { try? FileManager.default.removeItem(at: dir) }

        /// `git worktree list` of the repository: one line when the script removed its worktrees.
        func worktrees() throws -> [String] {
            let r = try ChildProcess(executable: "/usr/bin/env", arguments: ["git", "-C", repo.path, "worktree", "list"]).communicate()
            return String(decoding: r.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        }
    }

    static let script = CLI.packageRoot.appendingPathComponent("tools/gate-downstream").path

    /// Starts the script (its own process group) with `arguments`; `tick` is called about every
    /// 50 ms with its pid. Everything left in the group is SIGKILLed after `timeout` seconds.
    func runScript(_ arguments: [String], env extra: [String: String] = [:], timeout: Double,
                   tick: (Int32) -> Void = { _ in }) throws -> ChildProcess.Output {
        var env = ProcessInfo.processInfo.environment
        for (k, v) in extra { env[k] = v }
        let child = try ChildProcess(executable: Self.script, arguments: arguments, environment: env, newProcessGroup: true)
        let start = Date()
        return try child.communicate { c in
            tick(c.pid)
            if Date().timeIntervalSince(start) > timeout { kill(-c.pid, SIGKILL) }
        }
    }

    @Test func sigtermToTheScriptReachesTheBuild() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let fusebench = try #require(CLI.binary).path
        let pidFile = scratch.dir.appendingPathComponent("build.pid").path
        var buildPID: Int32 = 0
        var signalled = false
        // The build records its pid and sleeps far longer than the test may take.
        let out = try runScript(["--repo", scratch.repo.path, "--base", "main", "--head", "main", "--suite", "bench/suite.toml",
                                 "--fusebench", fusebench, "--build", #"echo $$ >"$FB_TEST_BUILD_PID"; exec sleep 120"#],
                                env: ["FB_TEST_BUILD_PID": pidFile], timeout: 30) { pid in
            guard !signalled, let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
                  let p = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return }
            buildPID = p
            signalled = true
            kill(pid, SIGTERM)
        }
        if buildPID > 0, kill(buildPID, 0) == 0 { kill(buildPID, SIGKILL) }   // the old script's orphan
        let stderr = String(decoding: out.stderr, as: UTF8.self)
        #expect(signalled, "the build never started:\n\(stderr)")
        #expect(out.termination == .exited(130), "\(out.termination)\n\(stderr)")
        #expect(stderr.contains("gate-downstream: interrupted"), "\(stderr)")
        let worktrees = try scratch.worktrees()
        #expect(worktrees.count == 1, "\(worktrees)")
    }

    @Test func gateDyingOfASignalExits3() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        // A "fusebench" whose gate is killed by a signal (status 137 from the shell's view).
        let fake = scratch.dir.appendingPathComponent("fusebench")
        try "#!/bin/sh\nkill -KILL $$\n".write(to: fake, atomically: true, encoding: .utf8)
        guard chmod(fake.path, 0o755) == 0 else { throw ProcessIOError("chmod \(fake.path)", code: errno) }
        let out = try runScript(["--repo", scratch.repo.path, "--base", "main", "--head", "main", "--suite", "bench/suite.toml",
                                 "--fusebench", fake.path, "--build", "true"], timeout: 30)
        let stderr = String(decoding: out.stderr, as: UTF8.self)
        #expect(out.termination == .exited(3), "\(out.termination)\n\(stderr)")
        #expect(stderr.contains("verdict error (gate exit 137)"), "\(stderr)")
        let worktrees = try scratch.worktrees()
        #expect(worktrees.count == 1, "\(worktrees)")
    }
}
