// ProcessIO: the one way fusebench writes diagnostics (errors, notes, progress) to standard error.
// `FileHandle.standardError.write(_:)` traps inside Foundation when the write fails (stderr on a
// full disk, `2>/dev/full`, a closed descriptor); this writes with `FileDescriptorIO.writeAll`
// (EINTR and short writes retried) and ignores failures, since there is nowhere left to report them.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Diagnostics on file descriptor 2 that never trap.
public enum StandardError {
    /// Writes `text` (UTF-8) to stderr unbuffered; a write error (ENOSPC, EBADF, EPIPE, ...) is
    /// ignored, and never kills or traps the process.
    public static func write(_ text: String) {
        try? FileDescriptorIO.writeAll(STDERR_FILENO, Array(text.utf8))
    }
}
