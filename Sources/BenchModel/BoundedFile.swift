// Bounded, non-blocking reads of small files fusebench does not control: procfs/sysfs attributes
// (possibly a fake tree under FUSEBENCH_SYSFS_ROOT) and suite files. One helper so every such read
// has the same guarantees: the open never blocks (O_NONBLOCK, so a FIFO cannot hang the run), only
// regular files are read (fstat; FIFOs, devices, sockets and directories are refused), at most
// `limit` bytes are read (a huge file cannot grow memory without bound) and EINTR is retried.
import Foundation

/// Why a bounded read failed.
public enum BoundedFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// `open` failed with this errno (ENOENT, EACCES, ...).
    case open(errno: Int32)
    /// The path is not a regular file; the string names what it is (`FIFO`, `character device`, ...).
    case notRegular(kind: String)
    /// `read` failed with this errno.
    case read(errno: Int32)
    /// The file holds more than `limit` bytes (only when truncation was not allowed); `size` is what
    /// `fstat` reported (0 for procfs/sysfs, whose size is not known in advance).
    case tooLarge(size: Int64, limit: Int)

    /// Human-readable reason, e.g. `not a regular file (FIFO)`.
    public var description: String {
        switch self {
        case let .open(code): return "cannot open: \(String(cString: strerror(code)))"
        case let .notRegular(kind): return "not a regular file (\(kind))"
        case let .read(code): return "read failed: \(String(cString: strerror(code)))"
        case let .tooLarge(size, limit):
            return size > Int64(limit) ? "\(size) bytes, more than the limit of \(limit) bytes" : "more than the limit of \(limit) bytes"
        }
    }
}

/// Reads files with a size bound, refusing anything that is not a regular file.
public enum BoundedFile {
    /// Default bound for one sysfs/procfs attribute (64 KiB; real ones are at most a page).
    public static let attributeLimit = 64 << 10

    /// Name of the file type in `mode` (for messages).
    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: return "FIFO"
        case S_IFCHR: return "character device"
        case S_IFBLK: return "block device"
        case S_IFDIR: return "directory"
        case S_IFSOCK: return "socket"
        case S_IFLNK: return "symbolic link"
        default: return "special file"
        }
    }

    /// Opens `path` read-only without blocking and returns the descriptor of a regular file.
    /// The caller closes it. O_NONBLOCK stays set: it has no effect on regular files (sysfs and
    /// procfs attributes are regular files too).
    public static func openRegular(_ path: String) -> Result<Int32, BoundedFileError> {
        var fd: Int32
        repeat {
            fd = path.withCString { open($0, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC) }
        } while fd < 0 && errno == EINTR
        if fd < 0 { return .failure(.open(errno: errno)) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let code = errno
            _ = close(fd)
            return .failure(.open(errno: code))
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            _ = close(fd)
            return .failure(.notRegular(kind: kind(st.st_mode)))
        }
        return .success(fd)
    }

    /// Reads at most `limit` bytes of `path`.
    ///
    /// - Parameter truncate: when true a longer file yields its first `limit` bytes and `truncated`
    ///   is set; when false it is an error (`.tooLarge`).
    public static func read(_ path: String, limit: Int = attributeLimit, truncate: Bool = true)
        -> Result<(bytes: [UInt8], truncated: Bool), BoundedFileError> {
        let fd: Int32
        switch openRegular(path) {
        case let .success(f): fd = f
        case let .failure(e): return .failure(e)
        }
        defer { _ = close(fd) }
        var st = stat()
        let size = fstat(fd, &st) == 0 ? Int64(st.st_size) : 0
        // Read one byte more than allowed, to tell "exactly limit" from "longer".
        let capacity = max(0, limit) + 1
        var buffer = [UInt8](repeating: 0, count: min(capacity, max(4096, Int(clamping: size) + 1)))
        var used = 0
        while used < capacity {
            if used == buffer.count { buffer.append(contentsOf: repeatElement(0, count: min(buffer.count, capacity - buffer.count))) }
            let n = buffer.withUnsafeMutableBytes { raw in
                Foundation.read(fd, raw.baseAddress.map { $0 + used }, raw.count - used)
            }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(.read(errno: errno))
            }
            if n == 0 { break }
            used += n
        }
        if used > limit {
            guard truncate else { return .failure(.tooLarge(size: size, limit: limit)) }
            return .success((Array(buffer[0..<limit]), true))
        }
        return .success((Array(buffer[0..<used]), false))
    }
}
