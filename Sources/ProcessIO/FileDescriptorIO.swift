// ProcessIO: child processes and their pipes with plain POSIX calls. Every call a signal can
// interrupt (read, write, poll, waitpid) is retried on EINTR, and every failure is reported as a
// `ProcessIOError` — never a trap. This file: reading and writing whole file descriptors.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call, with the error number it set.
public struct ProcessIOError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What was attempted, e.g. `read from fd 0` or `start /usr/bin/valgrind`.
    public var operation: String
    /// `errno` of the failure (0 when the failure is not a system error, see `message`).
    public var code: Int32
    /// Text used instead of `strerror(code)` when `code` is 0.
    public var message: String

    /// Creates an error for `operation` with `errno` `code` (or 0 and a `message`).
    public init(_ operation: String, code: Int32, message: String = "") {
        self.operation = operation
        self.code = code
        self.message = message
    }

    /// `operation: reason`, the reason being `strerror(code)` or `message`.
    public var description: String {
        "\(operation): \(code != 0 ? String(cString: strerror(code)) : message)"
    }
}

/// Whole-descriptor reads and writes.
public enum FileDescriptorIO {
    /// Reads `fd` until end of file, retrying on EINTR (and waiting when the descriptor is
    /// non-blocking and empty).
    ///
    /// - Throws: `ProcessIOError` on a read error, or when more than `limit` bytes arrive.
    public static func readToEnd(_ fd: Int32, limit: Int = Int.max) throws -> [UInt8] {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                guard data.count + n <= limit else {
                    throw ProcessIOError("read from fd \(fd)", code: 0, message: "more than \(limit) bytes")
                }
                data.append(contentsOf: chunk[0..<n])
            } else if n == 0 {
                return data
            } else if errno == EINTR {
                continue
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                try waitUntilReady(fd, events: Int16(POLLIN))
            } else {
                throw ProcessIOError("read from fd \(fd)", code: errno)
            }
        }
    }

    /// Writes all of `bytes` to `fd`, retrying on EINTR and after short writes. Writing to a pipe
    /// whose reader is gone fails with EPIPE instead of killing the process with SIGPIPE.
    ///
    /// - Throws: `ProcessIOError` on a write error.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        try withSIGPIPEBlocked {
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n >= 0 {
                    offset += n
                } else if errno == EINTR {
                    continue
                } else if errno == EAGAIN || errno == EWOULDBLOCK {
                    try waitUntilReady(fd, events: Int16(POLLOUT))
                } else {
                    throw ProcessIOError("write to fd \(fd)", code: errno)
                }
            }
        }
    }

    /// Takes stdout over for a protocol: returns a private, close-on-exec copy of file descriptor 1
    /// and points descriptor 1 at stderr, so whatever else writes to stdout afterwards (a C
    /// library's `printf`, Swift's `print`, a child process inheriting it) lands on stderr instead
    /// of in the protocol stream. Call it before anything is written to stdout.
    ///
    /// - Throws: `ProcessIOError` when the descriptor cannot be copied or redirected.
    public static func divertStandardOutput() throws -> Int32 {
        let copy = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, Int32(3))
        guard copy >= 0 else { throw ProcessIOError("copy stdout (fd 1)", code: errno) }
        while dup2(STDERR_FILENO, STDOUT_FILENO) < 0 {
            guard errno == EINTR else {
                let code = errno
                close(copy)
                throw ProcessIOError("redirect stdout (fd 1) to stderr", code: code)
            }
        }
        return copy
    }

    /// One `write` (retried on EINTR) for a non-blocking pipe: returns the bytes written, 0 when the
    /// pipe is full, nil when its reader is gone (EPIPE, SIGPIPE suppressed).
    static func writeSome(_ fd: Int32, _ bytes: ArraySlice<UInt8>) throws -> Int? {
        try withSIGPIPEBlocked {
            while true {
                let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n >= 0 { return n }
                switch errno {
                case EINTR: continue
                case EAGAIN, EWOULDBLOCK: return 0
                case EPIPE: return nil
                default: throw ProcessIOError("write to fd \(fd)", code: errno)
                }
            }
        }
    }

    /// Waits (poll, retrying EINTR) until `fd` is ready for `events`.
    static func waitUntilReady(_ fd: Int32, events: Int16) throws {
        var p = pollfd(fd: fd, events: events, revents: 0)
        while poll(&p, 1, -1) < 0 {
            guard errno == EINTR else { throw ProcessIOError("poll fd \(fd)", code: errno) }
        }
    }

    /// Runs `body` with SIGPIPE blocked in this thread; a SIGPIPE it raises is consumed, so a
    /// write to a closed pipe returns EPIPE instead of ending the process.
    static func withSIGPIPEBlocked<T>(_ body: () throws -> T) rethrows -> T {
        var block = sigset_t(), old = sigset_t(), pending = sigset_t()
        sigemptyset(&block)
        sigaddset(&block, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &block, &old)
        sigpending(&pending)
        let wasPending = sigismember(&pending, SIGPIPE) == 1
        defer {
            if !wasPending {
                sigpending(&pending)
                if sigismember(&pending, SIGPIPE) == 1 {
                    var zero = timespec(tv_sec: 0, tv_nsec: 0)
                    while sigtimedwait(&block, nil, &zero) < 0 && errno == EINTR {}
                }
            }
            pthread_sigmask(SIG_SETMASK, &old, nil)
        }
        return try body()
    }
}
