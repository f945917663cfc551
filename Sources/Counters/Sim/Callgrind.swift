import BenchModel
import Foundation
import ProcessIO

/// Runs a worker process under `valgrind --tool=callgrind` and returns its counts.
///
/// The worker (fusebench itself, re-executed) toggles collection around exactly the measured
/// iterations with callgrind client requests, so set-up and the harness are not counted.
/// valgrind 3.19 cannot read the DWARF 5 debug info Swift 6.3 emits ("unhandled dwarf2 abbrev
/// form"), so the worker runs from a `strip --strip-debug` copy of the executable, cached next to
/// it (or in the temporary directory when that folder is read-only) and refreshed when the
/// executable changes. Each run writes its output in a `fusebench-cg-*` directory under `$TMPDIR`
/// (checked when preparing) and removes it, also when interrupted.
public struct Callgrind: Sendable {
    /// Path of valgrind.
    public var valgrind: String
    /// Executable to run (the stripped copy).
    public var executable: String
    /// Directory for the per-run output folders (`$TMPDIR`, else `/tmp`).
    public var temporaryDirectory: String
    /// The executable `executable` is a stripped copy of (what the simulated-counter cache hashes);
    /// nil when not known (then `executable` itself).
    public var sourceExecutable: String?

    /// A runner of `executable` under `valgrind`, writing its output under `temporaryDirectory`.
    public init(valgrind: String, executable: String, temporaryDirectory: String = "/tmp") {
        self.valgrind = valgrind
        self.executable = executable
        self.temporaryDirectory = temporaryDirectory
    }

    /// Why the sim backend cannot run here.
    public struct Unavailable: Error, CustomStringConvertible, Sendable {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// The run was stopped because `shouldStop` said so; the callgrind process was killed and
    /// reaped and its output folder removed.
    public struct Interrupted: Error, Sendable {}
    /// The worker died of SIGILL under valgrind: the code has instructions valgrind cannot execute
    /// (e.g. a user's plug-in built with `-march=native` on an AVX-512 machine). Its counts are
    /// unavailable; nothing is wrong with the run.
    public struct CannotExecute: Error, CustomStringConvertible, Sendable {
        /// valgrind's last lines.
        public let stderrTail: String
        public var description: String { "valgrind cannot execute this code (SIGILL): \(stderrTail)" }
    }

    /// Finds valgrind and prepares the stripped copy of `executable` (default: this process).
    public static func prepare(executable: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Callgrind {
        guard let valgrind = findInPath("valgrind", environment: environment) else {
            throw Unavailable(description: "valgrind is not installed (run tools/setup, or apt-get install valgrind)")
        }
        let exe = executable ?? Harness.executablePath
        let tmp = try usableTemporaryDirectory(environment: environment)
        var cg = Callgrind(valgrind: valgrind, executable: try strippedCopy(of: exe, temporaryDirectory: tmp, environment: environment),
                           temporaryDirectory: tmp)
        cg.sourceExecutable = exe
        return cg
    }

    /// `$TMPDIR` (else `/tmp`) when it is a directory this process can write into.
    ///
    /// - Throws: `Unavailable` naming the directory and what is wrong with it.
    public static func usableTemporaryDirectory(environment: [String: String]) throws -> String {
        let dir = environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        let name = environment["TMPDIR"] == nil ? "temporary directory \(dir)" : "TMPDIR \(dir)"
        var st = stat()
        guard stat(dir, &st) == 0 else {
            throw Unavailable(description: "\(name) is not usable: \(String(cString: strerror(errno))); set TMPDIR to a writable directory")
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw Unavailable(description: "\(name) is not usable: not a directory; set TMPDIR to a writable directory")
        }
        guard access(dir, W_OK | X_OK) == 0 else {
            throw Unavailable(description: "\(name) is not usable: \(String(cString: strerror(errno))); set TMPDIR to a writable directory")
        }
        return dir
    }

    /// The callgrind options every run uses (what they count is part of the simulated-counter
    /// cache key; the cache geometry is valgrind's default for the host CPU, see `simulatorIdentity`).
    public static let options = ["--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no", "--cache-sim=yes", "--branch-sim=yes"]

    /// The base callgrind command line (without the worker's own arguments).
    public func command(outputFile: String) -> [String] {
        [valgrind] + Self.options + ["--callgrind-out-file=\(outputFile)", executable]
    }

    /// `valgrind --version` (e.g. `valgrind-3.19.0`), or `valgrind (version unknown)` when it
    /// cannot be asked: part of the simulated-counter cache key, as a newer valgrind may count
    /// differently.
    public func version() -> String {
        guard let out = try? ChildProcess(executable: valgrind, arguments: ["--version"], stdout: .pipe, stderr: .null).communicate(limit: 4096),
              out.termination == .exited(0) else { return "valgrind (version unknown)" }
        let text = String(decoding: out.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "valgrind (version unknown)" : text
    }

    /// Runs the worker with `arguments` under callgrind and parses the totals. `shouldStop` is
    /// asked every 50 ms; when it says yes the callgrind process is killed and reaped, its output
    /// folder removed, and `Interrupted` thrown.
    public func run(arguments: [String], shouldStop: () -> Bool = { false }) throws -> CallgrindOutput {
        let dir = URL(fileURLWithPath: temporaryDirectory).appendingPathComponent("fusebench-cg-\(getpid())-\(UUID().uuidString)")
        guard mkdir(dir.path, 0o700) == 0 else {
            throw Unavailable(description: "cannot create \(dir.path) for callgrind's output: \(String(cString: strerror(errno)))")
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("callgrind.out").path
        let cmd = command(outputFile: out) + arguments
        let child: ChildProcess
        do {
            // A worker that crashes under valgrind (e.g. a user's plug-in built with instructions
            // valgrind cannot execute) must die at once: the Swift runtime's backtracer would start a
            // process that holds the stderr pipe and waits on the dead worker (seen: a hung run).
            var environment = ProcessInfo.processInfo.environment
            if environment["SWIFT_BACKTRACE"] == nil { environment["SWIFT_BACKTRACE"] = "enable=no" }
            child = try ChildProcess(executable: cmd[0], arguments: Array(cmd.dropFirst()), environment: environment,
                                     stdout: .null, stderr: .pipe)
        } catch let e as ProcessIOError {
            throw Unavailable(description: e.description)
        }
        var stopped = false
        let result: ChildProcess.Output
        do {
            result = try child.communicate(limit: 1 << 24) { child in
                // Ended, but something it started still holds its stderr: take what arrived.
                child.stopReadingOnceEnded(graceMilliseconds: 2000)
                if !stopped, shouldStop() {
                    stopped = true
                    child.signal(SIGKILL)
                }
            }
        } catch let e as ProcessIOError {
            throw Unavailable(description: "callgrind worker: \(e.description)")
        }
        if stopped || shouldStop() { throw Interrupted() }
        guard result.termination == .exited(0) else {
            let tail = String(decoding: result.stderr, as: UTF8.self).split(separator: "\n").suffix(6).joined(separator: "\n")
            if result.termination == .signaled(SIGILL) { throw CannotExecute(stderrTail: tail) }
            throw Unavailable(description: "callgrind worker \(result.termination):\n\(tail)")
        }
        guard let data = FileManager.default.contents(atPath: out) else {
            throw Unavailable(description: "callgrind wrote no output file (\(out))")
        }
        return try CallgrindOutput(text: String(decoding: data, as: UTF8.self), source: out)
    }

    /// Stripped copy of `exe` for valgrind, refreshed when `exe` is newer.
    static func strippedCopy(of exe: String, temporaryDirectory: String, environment: [String: String]) throws -> String {
        guard let strip = findInPath("strip", environment: environment) else {
            throw Unavailable(description: "strip (binutils) is not installed; valgrind cannot read Swift's DWARF 5 debug info without a stripped copy")
        }
        let fm = FileManager.default
        let exeDate = (try? fm.attributesOfItem(atPath: exe)[.modificationDate] as? Date) ?? Date.distantFuture
        let besides = exe + ".valgrind"
        let fallback = URL(fileURLWithPath: temporaryDirectory).appendingPathComponent("fusebench-\(ContentHash.fnv1a64Hex(Data(exe.utf8))).valgrind").path
        for target in [besides, fallback] {
            if let d = try? fm.attributesOfItem(atPath: target)[.modificationDate] as? Date, d >= exeDate { return target }
            let tmp = target + ".\(getpid()).tmp"
            let stripped: Termination
            do {
                stripped = try ChildProcess(executable: strip, arguments: ["--strip-debug", "-o", tmp, exe], stdout: .null, stderr: .null).wait()
            } catch {
                continue
            }
            if stripped == .exited(0), rename(tmp, target) == 0 { return target }
            try? fm.removeItem(atPath: tmp)
        }
        throw Unavailable(description: "could not write a stripped copy of \(exe) for valgrind (tried \(besides) and \(fallback))")
    }

    static func findInPath(_ name: String, environment: [String: String]) -> String? {
        let path = environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
