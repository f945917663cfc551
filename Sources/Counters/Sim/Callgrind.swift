import BenchModel
import Foundation

/// Runs a worker process under `valgrind --tool=callgrind` and returns its counts.
///
/// The worker (fusebench itself, re-executed) toggles collection around exactly the measured
/// iterations with callgrind client requests, so set-up and the harness are not counted.
/// valgrind 3.19 cannot read the DWARF 5 debug info Swift 6.3 emits ("unhandled dwarf2 abbrev
/// form"), so the worker runs from a `strip --strip-debug` copy of the executable, cached next to
/// it (or in the temporary directory when that folder is read-only) and refreshed when the
/// executable changes.
public struct Callgrind: Sendable {
    /// Path of valgrind.
    public var valgrind: String
    /// Executable to run (the stripped copy).
    public var executable: String

    /// Why the sim backend cannot run here.
    public struct Unavailable: Error, CustomStringConvertible, Sendable {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Finds valgrind and prepares the stripped copy of `executable` (default: this process).
    public static func prepare(executable: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Callgrind {
        guard let valgrind = findInPath("valgrind", environment: environment) else {
            throw Unavailable(description: "valgrind is not installed (run tools/setup, or apt-get install valgrind)")
        }
        let exe = executable ?? Harness.executablePath
        return Callgrind(valgrind: valgrind, executable: try strippedCopy(of: exe, environment: environment))
    }

    /// The base callgrind command line (without the worker's own arguments).
    public func command(outputFile: String) -> [String] {
        [valgrind, "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no", "--cache-sim=yes", "--branch-sim=yes",
         "--callgrind-out-file=\(outputFile)", executable]
    }

    /// Runs the worker with `arguments` under callgrind and parses the totals.
    public func run(arguments: [String], workingDirectory: String? = nil) throws -> CallgrindOutput {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-cg-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("callgrind.out").path
        let cmd = command(outputFile: out) + arguments
        let p = Process()
        p.executableURL = URL(fileURLWithPath: cmd[0])
        p.arguments = Array(cmd.dropFirst())
        if let wd = workingDirectory { p.currentDirectoryURL = URL(fileURLWithPath: wd) }
        let errPipe = Pipe()
        p.standardError = errPipe
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let err = String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let tail = err.split(separator: "\n").suffix(6).joined(separator: "\n")
            throw Unavailable(description: "callgrind worker failed (exit \(p.terminationStatus)):\n\(tail)")
        }
        guard let data = FileManager.default.contents(atPath: out) else {
            throw Unavailable(description: "callgrind wrote no output file (\(out))")
        }
        return try CallgrindOutput(text: String(decoding: data, as: UTF8.self), source: out)
    }

    /// Stripped copy of `exe` for valgrind, refreshed when `exe` is newer.
    static func strippedCopy(of exe: String, environment: [String: String]) throws -> String {
        guard let strip = findInPath("strip", environment: environment) else {
            throw Unavailable(description: "strip (binutils) is not installed; valgrind cannot read Swift's DWARF 5 debug info without a stripped copy")
        }
        let fm = FileManager.default
        let exeDate = (try? fm.attributesOfItem(atPath: exe)[.modificationDate] as? Date) ?? Date.distantFuture
        let besides = exe + ".valgrind"
        let fallback = fm.temporaryDirectory.appendingPathComponent("fusebench-\(ContentHash.fnv1a64Hex(Data(exe.utf8))).valgrind").path
        for target in [besides, fallback] {
            if let d = try? fm.attributesOfItem(atPath: target)[.modificationDate] as? Date, d >= exeDate { return target }
            let tmp = target + ".\(getpid()).tmp"
            let p = Process()
            p.executableURL = URL(fileURLWithPath: strip)
            p.arguments = ["--strip-debug", "-o", tmp, exe]
            p.standardError = FileHandle.nullDevice
            do {
                try p.run()
                p.waitUntilExit()
            } catch {
                continue
            }
            if p.terminationStatus == 0, rename(tmp, target) == 0 { return target }
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
