// Who owns a running run, and whether that owner still exists: the basis of stale-run detection.
// The owner holds a lock for the run's life (an open-file-description lock on one byte of the
// database file, far beyond any data); the kernel drops it when the process dies, in whatever PID
// namespace or container it ran. Runs recorded without a lock fall back to boot id + pid + the
// process start time, and runs from before schema v4 to the pid alone.
import BenchModel
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The recorded owner of a run (columns `pid`, `boot_id`, `pid_start`, `owner_lock` of `runs`).
public struct RunOwner: Sendable, Hashable {
    /// Process id as the owner saw it (meaningless in another PID namespace).
    public var pid: Int32
    /// The owner host's boot id (`/proc/sys/kernel/random/boot_id`); nil when unknown.
    public var bootID: String?
    /// The owner's start time in clock ticks since boot (`/proc/PID/stat` field 22); nil when unknown.
    public var startTicks: UInt64?
    /// Byte offset of the lock the owner holds on the database file; nil when none was taken.
    public var lockOffset: Int64?

    /// Memberwise initialiser.
    public init(pid: Int32, bootID: String? = nil, startTicks: UInt64? = nil, lockOffset: Int64? = nil) {
        self.pid = pid
        self.bootID = bootID
        self.startTicks = startTicks
        self.lockOffset = lockOffset
    }
}

/// Facts about processes on this host, read from `/proc` (nil where `/proc` has no answer).
public enum ProcessIdentity {
    /// This host's boot id, or nil without `/proc`.
    public static func bootID() -> String? {
        guard let text = readSmallFile("/proc/sys/kernel/random/boot_id") else { return nil }
        let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return id.isEmpty ? nil : id
    }

    /// Start time of process `pid` in clock ticks since boot (`/proc/PID/stat` field 22), or nil
    /// when there is no such process (or no `/proc`).
    public static func startTicks(pid: Int32) -> UInt64? {
        guard pid > 0, let stat = readSmallFile("/proc/\(pid)/stat") else { return nil }
        // Field 2 (the command) is in parentheses and may contain spaces: fields 3... follow the last ')'.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // fields[0] is field 3 (state), so field 22 is fields[19].
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// Whether this host has `/proc` with per-process start times.
    static var hasProc: Bool { startTicks(pid: getpid()) != nil }

    /// Reads up to 4 KiB of a small text file (a `/proc` entry) through `BoundedFile`; nil on failure.
    static func readSmallFile(_ path: String) -> String? {
        guard case let .success(read) = BoundedFile.read(path, limit: 4096) else { return nil }
        return String(decoding: read.bytes, as: UTF8.self)
    }
}

/// The per-run owner locks of one database file in this process.
///
/// One descriptor per file and process, opened read-only with `O_CLOEXEC` and never closed:
/// closing any descriptor of a SQLite file drops the POSIX locks SQLite holds on it in this process,
/// so the descriptor lives as long as the process. Run `id` is locked at byte `base + id` with an
/// open-file-description lock (`F_OFD_SETLK`, shared), which conflicts with no SQLite lock (SQLite
/// locks bytes near 1 GiB) and is released by the kernel when its last holder exits. Linux only;
/// elsewhere no lock is taken and liveness falls back to the recorded process identity.
final class RunLockFile: @unchecked Sendable {
    /// Offset of run 0's lock byte (2^62: beyond any SQLite file and any SQLite lock).
    static let base: Int64 = 1 << 62

    /// Guards `heldHere`, and the registry below.
    private let mutex = NSLock()
    private let fd: Int32
    /// Lock offsets taken through this descriptor (OFD locks do not conflict with their own holder,
    /// so a probe through `fd` cannot see them).
    private var heldHere: Set<Int64> = []

    private init(fd: Int32) {
        self.fd = fd
    }

    nonisolated(unsafe) private static var registry: [String: RunLockFile] = [:]
    private static let registryMutex = NSLock()

    /// The lock file of the database at `databasePath` (shared by every store of this process on
    /// that file), or nil when it cannot be opened or the platform has no OFD locks.
    static func shared(databasePath: String) -> RunLockFile? {
        #if os(Linux)
        var st = stat()
        guard stat(databasePath, &st) == 0 else { return nil }
        let key = "\(st.st_dev):\(st.st_ino)"
        registryMutex.lock()
        defer { registryMutex.unlock() }
        if let existing = registry[key] { return existing }
        let fd = open(databasePath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        let file = RunLockFile(fd: fd)
        registry[key] = file
        return file
        #else
        return nil
        #endif
    }

    /// Takes the owner lock of run `runID`; returns its offset, or nil when it cannot be taken.
    func acquire(runID: Int64) -> Int64? {
        let offset = Self.base + runID
        mutex.lock()
        defer { mutex.unlock() }
        guard lock(offset, type: Int16(F_RDLCK)) else { return nil }
        heldHere.insert(offset)
        return offset
    }

    /// Releases the owner lock at `offset` (when this process holds it).
    func release(offset: Int64) {
        mutex.lock()
        defer { mutex.unlock() }
        guard heldHere.remove(offset) != nil else { return }
        _ = lock(offset, type: Int16(F_UNLCK))
    }

    /// Whether some live process holds the lock at `offset`: true when this process does, or
    /// when another open file description holds it; nil when the kernel cannot tell.
    func isHeld(offset: Int64) -> Bool? {
        mutex.lock()
        defer { mutex.unlock() }
        if heldHere.contains(offset) { return true }
        #if os(Linux)
        var probe = flock()
        probe.l_type = Int16(F_WRLCK)
        probe.l_whence = Int16(SEEK_SET)
        probe.l_start = off_t(offset)
        probe.l_len = 1
        probe.l_pid = 0
        guard fcntl(fd, Self.getLock, &probe) == 0 else { return nil }
        return probe.l_type != Int16(F_UNLCK)
        #else
        return nil
        #endif
    }

    #if os(Linux)
    /// `F_OFD_GETLK` / `F_OFD_SETLK` (linux/fcntl.h; not exported by Glibc's Swift module).
    private static let getLock: Int32 = 36
    private static let setLock: Int32 = 37
    #endif

    /// Sets (`F_RDLCK`) or clears (`F_UNLCK`) the OFD lock on byte `offset`, without waiting.
    private func lock(_ offset: Int64, type: Int16) -> Bool {
        #if os(Linux)
        var request = flock()
        request.l_type = type
        request.l_whence = Int16(SEEK_SET)
        request.l_start = off_t(offset)
        request.l_len = 1
        request.l_pid = 0
        while true {
            if fcntl(fd, Self.setLock, &request) == 0 { return true }
            if errno != EINTR { return false }
        }
        #else
        return false
        #endif
    }
}
