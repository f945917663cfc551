// Counters — the perf_event system-call boundary: the `PerfSyscalls` protocol, the real
// implementation over the CPerfEvent shim, errno values, and the group read-buffer layout.
import CPerfEvent
import Foundation

/// An errno value returned by a perf_event call, printable as `ENOENT (No such file or directory)`.
public struct PerfErrno: Error, Sendable, Hashable, CustomStringConvertible {
    /// The positive errno code.
    public var code: Int32

    /// Wraps a positive errno code (a negative one, as the shim returns, is negated).
    public init(_ code: Int32) { self.code = code < 0 ? -code : code }

    /// No such event on this PMU (what hardware events give without a PMU, and `LLC-load-misses` on Zen 3).
    public static let ENOENT = PerfErrno(Foundation.ENOENT)
    /// The PMU cannot do what the attribute asks (e.g. no hardware PMU for this event type).
    public static let EOPNOTSUPP = PerfErrno(Foundation.EOPNOTSUPP)
    /// Not permitted (perf_event_paranoid).
    public static let EACCES = PerfErrno(Foundation.EACCES)
    /// Not permitted (capabilities).
    public static let EPERM = PerfErrno(Foundation.EPERM)
    /// Invalid attribute, or a group that can never be scheduled.
    public static let EINVAL = PerfErrno(Foundation.EINVAL)
    /// No such device (PMU type unknown to the kernel).
    public static let ENODEV = PerfErrno(Foundation.ENODEV)
    /// Bad file descriptor.
    public static let EBADF = PerfErrno(Foundation.EBADF)
    /// Read buffer too small.
    public static let ENOSPC = PerfErrno(Foundation.ENOSPC)

    private static let symbols: [Int32: String] = [
        Foundation.ENOENT: "ENOENT", Foundation.EOPNOTSUPP: "EOPNOTSUPP", Foundation.EACCES: "EACCES",
        Foundation.EPERM: "EPERM", Foundation.EINVAL: "EINVAL", Foundation.ENODEV: "ENODEV",
        Foundation.EBADF: "EBADF", Foundation.ENOSPC: "ENOSPC", Foundation.EBUSY: "EBUSY",
        Foundation.EMFILE: "EMFILE", Foundation.E2BIG: "E2BIG", Foundation.ESRCH: "ESRCH",
        Foundation.EFAULT: "EFAULT", Foundation.EINTR: "EINTR",
    ]

    /// Symbolic name (`ENOENT`), or `errno N` when not in the table.
    public var symbol: String { Self.symbols[code] ?? "errno \(code)" }

    /// `ENOENT (No such file or directory)`.
    public var description: String { "\(symbol) (\(String(cString: strerror(code))))" }

    /// True for the errors that mean "not permitted" rather than "not supported".
    public var isPermissionError: Bool { code == Foundation.EACCES || code == Foundation.EPERM }
}

/// One read of a counter group opened with
/// `PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING | PERF_FORMAT_ID`.
///
/// Kernel layout (all u64): `nr, time_enabled, time_running, { value, id } × nr`.
public struct GroupRead: Sendable, Hashable {
    /// Counter values in group order (leader first).
    public var values: [UInt64]
    /// Nanoseconds the group has been enabled.
    public var timeEnabled: UInt64
    /// Nanoseconds the group has actually been counting (less than `timeEnabled` when multiplexed).
    public var timeRunning: UInt64
    /// Kernel event ids in group order (empty when not known, e.g. built by hand).
    public var ids: [UInt64]

    /// Creates a read result.
    public init(values: [UInt64], timeEnabled: UInt64, timeRunning: UInt64, ids: [UInt64] = []) {
        self.values = values
        self.timeEnabled = timeEnabled
        self.timeRunning = timeRunning
        self.ids = ids
    }

    /// Number of u64 words a read of an `count`-member group returns.
    public static func wordCount(members count: Int) -> Int { 3 + 2 * count }

    /// Parses the kernel's read buffer given as u64 words. Returns nil when the buffer is shorter
    /// than its `nr` field says, or when `expectedCount` is given and `nr` differs.
    public static func parse(words: [UInt64], expectedCount: Int? = nil) -> GroupRead? {
        parseWords(words, expectedCount: expectedCount)
    }

    /// Shared parser over any random-access word buffer (no intermediate copy on the read path).
    static func parseWords<C: RandomAccessCollection>(_ words: C, expectedCount: Int?) -> GroupRead?
    where C.Element == UInt64, C.Index == Int {
        let s = words.startIndex
        guard words.count >= 3 else { return nil }
        guard words[s] <= UInt64(Int.max / 2 - 2) else { return nil }
        let nr = Int(words[s])
        if let expected = expectedCount, expected != nr { return nil }
        guard words.count >= wordCount(members: nr) else { return nil }
        var values: [UInt64] = []
        var ids: [UInt64] = []
        values.reserveCapacity(nr)
        ids.reserveCapacity(nr)
        for i in 0..<nr {
            values.append(words[s + 3 + 2 * i])
            ids.append(words[s + 4 + 2 * i])
        }
        return GroupRead(values: values, timeEnabled: words[s + 1], timeRunning: words[s + 2], ids: ids)
    }

    /// Parses the kernel's read buffer given as raw bytes (native byte order, as `read(2)` returns it).
    public static func parse(bytes: UnsafeRawBufferPointer, expectedCount: Int? = nil) -> GroupRead? {
        let n = bytes.count / 8
        var words = [UInt64](repeating: 0, count: n)
        for i in 0..<n { words[i] = bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) }
        return parse(words: words, expectedCount: expectedCount)
    }

    /// Serialises to the kernel's layout (the inverse of `parse(words:)`; ids default to 0).
    public var words: [UInt64] {
        var w: [UInt64] = [UInt64(values.count), timeEnabled, timeRunning]
        for (i, v) in values.enumerated() {
            w.append(v)
            w.append(i < ids.count ? ids[i] : 0)
        }
        return w
    }
}

/// The perf_event operations counters need. `LinuxPerf` is the real kernel; `FakePMU` a test double.
///
/// Implementations open events for the calling thread on any CPU, user space only
/// (`exclude_kernel`, `exclude_hv`), with the group read format. A leader (`groupFD == -1`) is
/// opened disabled; members (`groupFD` = leader fd) follow their leader.
public protocol PerfSyscalls: AnyObject {
    /// Opens one event; returns its fd or the errno.
    func open(attr: PerfEventAttr, groupFD: Int32) -> Result<Int32, PerfErrno>
    /// Enables the whole group of the leader `fd`.
    func enableGroup(_ fd: Int32) -> Result<Void, PerfErrno>
    /// Disables the whole group of the leader `fd`.
    func disableGroup(_ fd: Int32) -> Result<Void, PerfErrno>
    /// Resets the counts of the whole group of the leader `fd` (times keep running).
    func resetGroup(_ fd: Int32) -> Result<Void, PerfErrno>
    /// Reads the group of the leader `fd`, which has `count` members; nil on failure or a malformed read.
    func readGroup(_ fd: Int32, count: Int) -> GroupRead?
    /// Closes one fd.
    func close(_ fd: Int32)
}

/// The real perf_event syscalls through the CPerfEvent shim.
public final class LinuxPerf: PerfSyscalls, Sendable {
    /// Creates the (stateless) real implementation.
    public init() {}

    /// The read_format every fusebench event uses.
    public static let readFormat: UInt64 =
        fb_format_group() | fb_format_total_time_enabled() | fb_format_total_time_running() | fb_format_id()

    /// `perf_event_open(attr, pid 0, cpu -1, groupFD)` user space only; leaders start disabled.
    public func open(attr: PerfEventAttr, groupFD: Int32) -> Result<Int32, PerfErrno> {
        var a = fb_event_attr()
        a.type = attr.type
        a.config = attr.config
        a.config1 = attr.config1
        a.config2 = attr.config2
        a.read_format = Self.readFormat
        a.disabled = groupFD == -1 ? 1 : 0
        a.exclude_kernel = 1
        a.exclude_hv = 1
        a.exclude_idle = 0
        a.inherit = 0
        a.pinned = 0
        let fd = fb_perf_event_open(&a, 0, -1, groupFD)
        return fd >= 0 ? .success(fd) : .failure(PerfErrno(fd))
    }

    private func ioctlResult(_ rc: Int32) -> Result<Void, PerfErrno> { rc == 0 ? .success(()) : .failure(PerfErrno(rc)) }

    /// `PERF_EVENT_IOC_ENABLE` with `PERF_IOC_FLAG_GROUP`.
    public func enableGroup(_ fd: Int32) -> Result<Void, PerfErrno> { ioctlResult(fb_perf_enable_group(fd)) }
    /// `PERF_EVENT_IOC_DISABLE` with `PERF_IOC_FLAG_GROUP`.
    public func disableGroup(_ fd: Int32) -> Result<Void, PerfErrno> { ioctlResult(fb_perf_disable_group(fd)) }
    /// `PERF_EVENT_IOC_RESET` with `PERF_IOC_FLAG_GROUP`.
    public func resetGroup(_ fd: Int32) -> Result<Void, PerfErrno> { ioctlResult(fb_perf_reset_group(fd)) }

    /// One `read(2)` of the group into a stack-sized buffer, parsed.
    public func readGroup(_ fd: Int32, count: Int) -> GroupRead? {
        let words = GroupRead.wordCount(members: count)
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: words) { buf -> GroupRead? in
            guard let base = buf.baseAddress else { return nil }
            let n = fb_read(fd, base, words * 8)
            guard n == words * 8 else { return nil }
            return GroupRead.parseWords(UnsafeBufferPointer(buf), expectedCount: count)
        }
    }

    /// `close(2)`.
    public func close(_ fd: Int32) { _ = fb_close(fd) }
}
