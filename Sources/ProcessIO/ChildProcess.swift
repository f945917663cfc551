// ProcessIO: starting a child process with posix_spawn, talking to it over pipes with one poll
// loop (no threads), and reaping it with waitpid — every wait retried on EINTR.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How a child process ended.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
    /// Exited with this status.
    case exited(Int32)
    /// Killed by this signal.
    case signaled(Int32)

    /// `exit 3` or `killed by signal 9 (SIGKILL)`.
    public var description: String {
        switch self {
        case .exited(let status): return "exited with status \(status)"
        case .signaled(let sig): return "was killed by \(ProcessSignal.name(sig))"
        }
    }

    /// Shell-style status: the exit status, or 128 + the signal.
    public var shellStatus: Int32 {
        switch self {
        case .exited(let status): return status
        case .signaled(let sig): return 128 + sig
        }
    }
}

/// Names of signals for messages.
public enum ProcessSignal {
    /// `signal 9 (SIGKILL)`; `signal N` for signals without a common name.
    public static func name(_ sig: Int32) -> String {
        let names: [Int32: String] = [SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGABRT: "SIGABRT",
                                      SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV", SIGPIPE: "SIGPIPE",
                                      SIGALRM: "SIGALRM", SIGTERM: "SIGTERM", SIGTRAP: "SIGTRAP", SIGXCPU: "SIGXCPU"]
        return names[sig].map { "signal \(sig) (\($0))" } ?? "signal \(sig)"
    }
}

/// A child process started with `posix_spawn`. Dropping an instance whose process was not
/// waited for kills (SIGKILL) and reaps it, so no child outlives an error path.
public final class ChildProcess {
    /// What a standard stream of the child is connected to.
    public enum Stream: Sendable {
        /// A pipe to this process.
        case pipe
        /// `/dev/null`.
        case null
        /// This process's own descriptor.
        case inherit
    }

    /// Everything the child wrote, and how it ended.
    public struct Output: Sendable {
        /// Everything the child wrote on its stdout (empty unless it was a pipe).
        public var stdout: [UInt8]
        /// Everything the child wrote on its stderr (empty unless it was a pipe).
        public var stderr: [UInt8]
        /// How the child ended (exit status or signal).
        public var termination: Termination
    }

    /// Direction of an extra pipe (`extraPipes`), seen from the child.
    public enum PipeDirection: Sendable {
        /// The child reads it (this process writes).
        case toChild
        /// The child writes it (this process reads).
        case fromChild
    }

    /// Process id of the child.
    public let pid: pid_t
    /// This process's ends of the extra pipes, by the child's descriptor number (non-blocking,
    /// close-on-exec; closed when the instance is dropped).
    public private(set) var extraFDs: [Int32: Int32] = [:]
    private var stdinFD: Int32 = -1
    private var stdoutFD: Int32 = -1
    private var stderrFD: Int32 = -1
    private var termination: Termination?
    private var abandoned = false
    private var endedAtMs: Int64?

    /// Starts `executable` with `arguments` (argv[0] is `executable`), `environment` (nil: this
    /// process's), and the given streams. `newProcessGroup` makes the child lead a process group
    /// of its own (its pid), so its whole tree can be found and signalled. `extraPipes` connects
    /// more descriptors of the child (3 to 9, e.g. Chromium's `--remote-debugging-pipe` uses 3 and
    /// 4) to pipes whose other ends are in `extraFDs`.
    ///
    /// - Throws: `ProcessIOError` when the pipes cannot be made or the program cannot be started.
    public init(executable: String, arguments: [String], environment: [String: String]? = nil,
                stdin: Stream = .null, stdout: Stream = .pipe, stderr: Stream = .pipe, newProcessGroup: Bool = false,
                extraPipes: [Int32: PipeDirection] = [:]) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        // Parent ends to keep, child ends to close after spawning.
        var parentEnds: [Int32] = [-1, -1, -1]
        var childEnds: [Int32] = []
        func closeAll() {
            for fd in parentEnds + childEnds where fd >= 0 { close(fd) }
        }
        for (target, stream) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
            switch stream {
            case .inherit:
                break
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            case .pipe:
                var fds: [Int32] = [-1, -1]
                guard pipe(&fds) == 0 else {
                    let code = errno
                    closeAll()
                    throw ProcessIOError("pipe for \(executable)", code: code)
                }
                for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
                let (childEnd, parentEnd) = target == 0 ? (fds[0], fds[1]) : (fds[1], fds[0])
                childEnds.append(childEnd)
                parentEnds[Int(target)] = parentEnd
                _ = fcntl(parentEnd, F_SETFL, fcntl(parentEnd, F_GETFL) | O_NONBLOCK)
                posix_spawn_file_actions_adddup2(&actions, childEnd, target)
            }
        }

        var extraParentEnds: [Int32: Int32] = [:]
        func closeExtra() {
            for fd in extraParentEnds.values { close(fd) }
        }
        for (target, direction) in extraPipes.sorted(by: { $0.key < $1.key }) {
            guard (3...9).contains(target) else {
                closeAll()
                closeExtra()
                throw ProcessIOError("extra pipe for \(executable)", code: EINVAL, message: "descriptor \(target) is not between 3 and 9")
            }
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else {
                let code = errno
                closeAll()
                closeExtra()
                throw ProcessIOError("pipe for \(executable)", code: code)
            }
            let (childEnd, parentEnd) = direction == .toChild ? (fds[0], fds[1]) : (fds[1], fds[0])
            // Move the child's end above every target first, so no dup2 below overwrites another
            // pipe's end (and dup2 onto itself would keep close-on-exec set).
            let moved = fcntl(childEnd, F_DUPFD_CLOEXEC, Int32(10))
            close(childEnd)
            _ = fcntl(parentEnd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(parentEnd, F_SETFL, fcntl(parentEnd, F_GETFL) | O_NONBLOCK)
            extraParentEnds[target] = parentEnd
            guard moved >= 0 else {
                let code = errno
                closeAll()
                closeExtra()
                throw ProcessIOError("pipe for \(executable)", code: code)
            }
            childEnds.append(moved)
            posix_spawn_file_actions_adddup2(&actions, moved, target)
        }

        // The child starts with default SIGINT/SIGTERM/SIGPIPE handling and nothing blocked,
        // whatever this process changed.
        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGINT, SIGTERM, SIGPIPE, SIGQUIT, SIGHUP] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) }
        var env: [UnsafeMutablePointer<CChar>?]?
        if let environment {
            env = environment.map { entry -> UnsafeMutablePointer<CChar>? in strdup("\(entry.key)=\(entry.value)") }
        }
        defer {
            for p in argv { free(p) }
            for p in env ?? [] { free(p) }
        }
        var child: pid_t = 0
        let argvZ = argv + [nil]
        let rc: Int32
        if let env {
            rc = posix_spawn(&child, executable, &actions, &attributes, argvZ, env + [nil])
        } else {
            rc = posix_spawn(&child, executable, &actions, &attributes, argvZ, environ)
        }
        for fd in childEnds { close(fd) }
        childEnds = []
        guard rc == 0 else {
            closeAll()
            closeExtra()
            throw ProcessIOError("start \(executable)", code: rc)
        }
        pid = child
        extraFDs = extraParentEnds
        stdinFD = parentEnds[0]
        stdoutFD = parentEnds[1]
        stderrFD = parentEnds[2]
    }

    deinit {
        for fd in [stdinFD, stdoutFD, stderrFD] + Array(extraFDs.values) where fd >= 0 { close(fd) }
        if termination == nil {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
    }

    /// Reaps the child if it has ended (waitpid with WNOHANG, retrying EINTR) and returns how it
    /// ended; nil while it runs.
    public func reapIfEnded() -> Termination? {
        if let t = termination { return t }
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0, errno == EINTR { continue }
            return nil
        }
        let t: Termination = (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
        termination = t
        return t
    }

    /// Makes `communicate` stop reading and return with what arrived (called from its `tick`),
    /// e.g. when the child has ended but a process it started still holds its pipes open.
    public func stopReading() {
        abandoned = true
    }

    /// For `communicate`'s `tick`: reaps the child if it has ended and, once it has been ended for
    /// more than `graceMilliseconds` while something it started still holds its pipes (e.g. the
    /// Swift backtracer of a crashed worker), stops reading (`stopReading`), so `communicate`
    /// returns with what arrived instead of waiting for that process.
    public func stopReadingOnceEnded(graceMilliseconds: Int64) {
        guard reapIfEnded() != nil else { return }
        let now = Self.nowMs()
        if let t = endedAtMs {
            if now - t > graceMilliseconds { stopReading() }
        } else {
            endedAtMs = now
        }
    }

    /// Sends `sig` to the child (nothing once it has been reaped).
    public func signal(_ sig: Int32) {
        guard termination == nil else { return }
        kill(pid, sig)
    }

    /// Writes `input` to the child's stdin (then closes it), reads its stdout and stderr until
    /// both end, and waits for it. `tick` runs about every `tickMilliseconds` and whenever a signal
    /// interrupts the wait — the place to forward an interrupt or give up on the child with
    /// `signal(_:)`. `onStdout` sees each chunk of stdout as it arrives (e.g. to notice progress).
    /// A child that stops reading its stdin early is not an error.
    ///
    /// - Throws: `ProcessIOError` when a pipe fails or more than `limit` bytes arrive on one stream;
    ///   the child is then killed and reaped.
    public func communicate(input: [UInt8] = [], limit: Int = 1 << 30, tickMilliseconds: Int32 = 50,
                            tick: (ChildProcess) -> Void = { _ in },
                            onStdout: (ArraySlice<UInt8>) -> Void = { _ in }) throws -> Output {
        var out: [UInt8] = [], err: [UInt8] = []
        var pending = input[...]
        if pending.isEmpty { closeStdin() }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var lastTick = Self.nowMs()
        while stdoutFD >= 0 || stderrFD >= 0 || stdinFD >= 0 {
            if abandoned {
                closeStdin()
                for fd in [stdoutFD, stderrFD] where fd >= 0 { close(fd) }
                stdoutFD = -1
                stderrFD = -1
                break
            }
            var fds: [pollfd] = []
            if stdinFD >= 0 { fds.append(pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0)) }
            if stdoutFD >= 0 { fds.append(pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)) }
            if stderrFD >= 0 { fds.append(pollfd(fd: stderrFD, events: Int16(POLLIN), revents: 0)) }
            let rc = poll(&fds, nfds_t(fds.count), tickMilliseconds)
            if rc < 0 {
                guard errno == EINTR else { throw ProcessIOError("poll the pipes of pid \(pid)", code: errno) }
            }
            if rc <= 0 || Self.nowMs() - lastTick >= Int64(tickMilliseconds) {
                lastTick = Self.nowMs()
                tick(self)
                if rc <= 0 { continue }
            }
            for p in fds where p.revents != 0 {
                if p.fd == stdinFD {
                    if let n = try FileDescriptorIO.writeSome(stdinFD, pending), p.revents & Int16(POLLERR) == 0 {
                        pending = pending.dropFirst(n)
                        if pending.isEmpty { closeStdin() }
                    } else {
                        closeStdin()   // the child closed its stdin: it wants no more input
                    }
                } else if p.fd == stdoutFD {
                    let before = out.count
                    let read = try drain(&stdoutFD, into: &out, chunk: &chunk, limit: limit, name: "stdout")
                    if out.count > before { onStdout(out[before...]) }
                    if !read { continue }
                } else if p.fd == stderrFD {
                    if try !drain(&stderrFD, into: &err, chunk: &chunk, limit: limit, name: "stderr") { continue }
                }
            }
        }
        return Output(stdout: out, stderr: err, termination: try wait(tickMilliseconds: tickMilliseconds, tick: tick))
    }

    /// Waits for the child to end (waitpid, retrying EINTR), calling `tick` meanwhile.
    ///
    /// - Throws: `ProcessIOError` when waitpid fails.
    public func wait(tickMilliseconds: Int32 = 50, tick: (ChildProcess) -> Void = { _ in }) throws -> Termination {
        if let t = termination { return t }
        var status: Int32 = 0
        var slept: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 {
                guard errno == EINTR else { throw ProcessIOError("wait for pid \(pid)", code: errno) }
                continue
            }
            usleep(5_000)
            slept += 5
            if slept >= tickMilliseconds {
                slept = 0
                tick(self)
            }
        }
        let t: Termination = (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
        termination = t
        return t
    }

    /// Reads what is available on `fd` into `data`; closes it (and sets it to -1) at end of file.
    /// Returns false when nothing could be read right now.
    private func drain(_ fd: inout Int32, into data: inout [UInt8], chunk: inout [UInt8], limit: Int, name: String) throws -> Bool {
        while true {
            let descriptor = fd
            let n = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if n > 0 {
                guard data.count + n <= limit else {
                    throw ProcessIOError("read \(name) of pid \(pid)", code: 0, message: "more than \(limit) bytes")
                }
                data.append(contentsOf: chunk[0..<n])
                return true
            }
            if n == 0 {
                close(fd)
                fd = -1
                return true
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return false
            default: throw ProcessIOError("read \(name) of pid \(pid)", code: errno)
            }
        }
    }

    private func closeStdin() {
        if stdinFD >= 0 { close(stdinFD) }
        stdinFD = -1
    }

    private static func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
