// Where command output goes and how its failure is reported: standard output is flushed and
// checked once, at the end of every command (a full disk or a closed descriptor is exit 3, never a
// silent exit 0), and `export --output PATH` writes a file without ever replacing what is not a
// regular file (a device, a FIFO, a symlink's own inode).
#if canImport(Glibc)
// `stdout` is a C global; reading the pointer is safe (it never changes after startup).
// (Imported before Foundation, which re-exports Glibc without @preconcurrency.)
@preconcurrency import Glibc
#endif
import Foundation
import ProcessIO

/// The end of every command: stdout flushed and checked.
enum StandardOutput {
    /// Flushes stdout; when anything written to it during the command failed (ENOSPC on
    /// `> /dev/full`, EIO, EBADF, ...) prints `error: cannot write to standard output: ...` on
    /// stderr and returns exit 3, else returns `status`.
    ///
    /// A reader that closes the pipe early (`fusebench runs | head -1`) is not an error: with the
    /// default SIGPIPE disposition the write ends the process silently, as it ends `ls` or `grep`;
    /// when SIGPIPE is ignored, EPIPE is likewise not reported and `status` is kept (also when the
    /// EPIPE came from an earlier write: `readerIsGone`).
    static func finish(status: Int32) -> Int32 {
        errno = 0
        let flushFailed = fflush(stdout) != 0
        let code = errno
        let failed = flushFailed || ferror(stdout) != 0
        guard failed else { return status }
        if code == EPIPE || readerIsGone(STDOUT_FILENO) { return status }
        let why = flushFailed && code != 0 ? String(cString: strerror(code)) : "a write failed"
        StandardError.write("error: cannot write to standard output: \(why)\n")
        return ExitStatus.error
    }
}

extension StandardOutput {
    /// Whether `fd` is a pipe or FIFO whose reader has gone: with SIGPIPE ignored (a parent that
    /// ignores it passes that on), an earlier write failed with EPIPE that the final flush no longer
    /// reports, and the write end of such a pipe polls as POLLERR.
    static func readerIsGone(_ fd: Int32) -> Bool {
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFIFO else { return false }
        var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        var ready: Int32
        repeat { ready = poll(&entry, 1, 0) } while ready < 0 && errno == EINTR
        return ready > 0 && (entry.revents & Int16(POLLERR)) != 0
    }
}

/// Writes an export to a path given with `--output`.
///
/// - Missing path or regular file: the text goes to a temporary file in the same directory, which is
///   then renamed over the path (readers never see half a file; the old file stays if anything fails).
/// - Symbolic link: followed. If it ends at a regular file (or nowhere yet, in an existing directory),
///   that file is replaced as above — the link itself stays a link.
/// - FIFO or character device (`/dev/stdout`, `/dev/null`, a pipe to another program): written
///   through, opened `O_WRONLY` without truncation or creation, so the node is never replaced.
/// - Anything else (directory, block device, socket): refused, untouched.
enum OutputFile {
    /// An `--output` target that cannot be written; the CLI prints it and exits 3.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Checks, without writing, that `path` can be written: not a directory, and for a new or
    /// regular file, its directory exists and is writable. A command writing several files checks
    /// them all first, so a target that cannot be written refuses the command before any file is
    /// replaced (a write can still fail later, e.g. on a full disk).
    static func preflight(_ path: String, what: String = "export") throws {
        let resolved = realpath(path, nil).map { p -> String in defer { free(p) }; return String(cString: p) } ?? path
        var st = stat()
        if stat(resolved, &st) == 0 {
            switch st.st_mode & S_IFMT {
            case S_IFDIR: throw Failure(description: "\(path): cannot write \(what): is a directory")
            case S_IFIFO, S_IFCHR: return
            default: break
            }
        }
        let dir = URL(fileURLWithPath: resolved).deletingLastPathComponent().path
        var dst = stat()
        guard stat(dir, &dst) == 0, dst.st_mode & S_IFMT == S_IFDIR else {
            throw Failure(description: "\(path): cannot write \(what): directory \(dir) does not exist")
        }
        guard access(dir, W_OK) == 0 else {
            throw Failure(description: "\(path): cannot write \(what): \(String(cString: strerror(errno))) (directory \(dir))")
        }
    }

    /// Writes `text` to `path`; failures read `PATH: cannot write WHAT: why` (`what`: "export", "report").
    static func write(_ text: String, to path: String, what: String = "export") throws {
        let data = Array(text.utf8)
        var target = path
        var st = stat()
        if lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFLNK {
            // Follow the link to its final target; a dangling link names where the file should be.
            if let real = realpath(path, nil) {
                target = String(cString: real)
                free(real)
            } else if let dest = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
                target = dest.hasPrefix("/") ? dest : (URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(dest).path)
                guard lstat(target, &st) != 0, errno == ENOENT else {
                    throw Failure(description: "\(path): cannot write \(what): symbolic link to \(dest) cannot be resolved")
                }
            }
        }
        if lstat(target, &st) != 0 {
            guard errno == ENOENT else { throw Failure(description: "\(path): cannot write \(what): \(String(cString: strerror(errno)))") }
            try replace(target, with: data, shownAs: path, what: what)
            return
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            try replace(target, with: data, shownAs: path, what: what)
        case S_IFIFO, S_IFCHR:
            try writeThrough(target, data, shownAs: path, what: what)
        case S_IFDIR:
            throw Failure(description: "\(path): cannot write \(what): is a directory")
        default:
            throw Failure(description: "\(path): cannot write \(what): not a regular file, FIFO or character device (left untouched)")
        }
    }

    /// Temporary file in the target's directory, fsync'd, then renamed over `target`.
    private static func replace(_ target: String, with data: [UInt8], shownAs path: String, what: String) throws {
        let dir = URL(fileURLWithPath: target).deletingLastPathComponent().path
        var template = Array("\(dir)/.fusebench-export-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { buf -> Int32 in
            guard let base = buf.baseAddress else { return -1 }
            return mkstemp(base)
        }
        guard fd >= 0 else { throw Failure(description: "\(path): cannot write \(what): \(String(cString: strerror(errno))) (creating a temporary file in \(dir))") }
        let temp = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var ok = false
        defer {
            if !ok { _ = unlink(temp) }
        }
        // mkstemp creates 0600; an export is an ordinary file (0666 minus the umask).
        let mask = umask(0)
        umask(mask)
        _ = fchmod(fd, 0o666 & ~mask)
        do {
            try writeAll(fd, data)
        } catch let e as Failure {
            _ = close(fd)
            throw Failure(description: "\(path): cannot write \(what): \(e.description)")
        }
        let synced = fsync(fd) == 0 || errno == EINVAL
        let closed = close(fd) == 0
        guard synced, closed else { throw Failure(description: "\(path): cannot write \(what): \(String(cString: strerror(errno)))") }
        guard rename(temp, target) == 0 else { throw Failure(description: "\(path): cannot write \(what): \(String(cString: strerror(errno)))") }
        ok = true
    }

    /// Writes into an existing FIFO or character device without truncating or replacing it.
    private static func writeThrough(_ target: String, _ data: [UInt8], shownAs path: String, what: String) throws {
        var fd: Int32
        repeat {
            fd = open(target, O_WRONLY | O_NOCTTY | O_CLOEXEC)
        } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw Failure(description: "\(path): cannot write \(what): \(String(cString: strerror(errno)))") }
        defer { _ = close(fd) }
        do {
            try writeAll(fd, data)
        } catch let e as Failure {
            throw Failure(description: "\(path): cannot write \(what): \(e.description)")
        }
    }

    /// `write` until everything is written, retrying EINTR and short writes.
    private static func writeAll(_ fd: Int32, _ data: [UInt8]) throws {
        var offset = 0
        while offset < data.count {
            let n = data.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Foundation.write(fd, base + offset, raw.count - offset)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(description: String(cString: strerror(errno)))
            }
            offset += n
        }
    }
}
