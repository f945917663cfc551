// Fast, allocation-light reads of small numeric sysfs/procfs files with plain syscalls (no
// Foundation). Discovery uses one `open`/`read`/`close` per value; the sampler keeps files open and
// re-reads them with `pread` at offset 0 (sysfs regenerates the value on every read from offset 0),
// which is 5–10× cheaper than reopening on this VM. Every failure becomes a human-readable reason.
import BenchModel
import Foundation

/// Outcome of reading one numeric sysfs file.
public enum SysfsValue: Sendable, Hashable {
    /// The file held an integer.
    case value(Int64)
    /// The file could not be used; the string says why (missing, permission denied, empty, non-numeric, I/O error).
    case unavailable(String)

    /// The integer, or nil when unavailable.
    public var integer: Int64? {
        if case let .value(v) = self { return v }
        return nil
    }

    /// The reason, or nil when a value was read.
    public var reason: String? {
        if case let .unavailable(r) = self { return r }
        return nil
    }
}

/// Ranges outside of which a sensor reading is physically impossible (a broken driver or a corrupt
/// tree): such a reading is reported "unavailable" with the value and the range, never stored as a
/// measurement nor used to flag samples.
public enum PlausibleRange {
    /// Temperatures in °C (below any cooling a benchmark machine has, above any silicon survives).
    public static let temperatureC: ClosedRange<Double> = -60...200
    /// Core clock in kHz as cpufreq reports it: 1 MHz ... 20 GHz.
    public static let frequencyKHz: ClosedRange<Int64> = 1_000...20_000_000

    /// The temperature in °C of a millidegree reading, or the reason it is impossible.
    static func temperature(milli: Int64, path: String) -> Result<Double, SysfsImplausible> {
        let c = Double(milli) / 1000
        guard temperatureC.contains(c) else {
            return .failure(SysfsImplausible(reason: "implausible temperature \(c) °C outside \(Int(temperatureC.lowerBound))…\(Int(temperatureC.upperBound)) °C (\(path))"))
        }
        return .success(c)
    }

    /// The frequency in MHz of a kHz reading, or the reason it is impossible.
    static func frequency(kHz: Int64, path: String) -> Result<Double, SysfsImplausible> {
        guard frequencyKHz.contains(kHz) else {
            return .failure(SysfsImplausible(reason: "implausible frequency \(kHz) kHz outside 1 MHz…20 GHz (\(path))"))
        }
        return .success(Double(kHz) / 1000)
    }
}

/// Why a reading was rejected as impossible.
struct SysfsImplausible: Error { var reason: String }

/// Reads numeric sysfs files with plain syscalls.
enum SysfsReader {
    /// Reads `resolvedPath` (already under the tree root) and parses one integer; `logicalPath` is used in reasons.
    static func integer(resolvedPath: String, logicalPath: String) -> SysfsValue {
        let fd: Int32
        switch open(resolvedPath, logicalPath: logicalPath) {
        case let .success(f): fd = f
        case let .failure(why): return .unavailable(why.reason)
        }
        defer { _ = close(fd) }
        return integer(fd: fd, logicalPath: logicalPath).value
    }

    /// A reason a sysfs file could not be opened.
    struct OpenFailure: Error { var reason: String }

    /// Opens a sysfs file through `BoundedFile.openRegular` (non-blocking; a FIFO, device or
    /// directory in place of an attribute is refused instead of hanging or being read).
    static func open(_ resolvedPath: String, logicalPath: String) -> Result<Int32, OpenFailure> {
        switch BoundedFile.openRegular(resolvedPath) {
        case let .success(fd): return .success(fd)
        case let .failure(.open(code)): return .failure(OpenFailure(reason: openFailure(code, logicalPath)))
        case let .failure(e): return .failure(OpenFailure(reason: "\(e) (\(logicalPath))"))
        }
    }

    /// Reads up to 64 bytes of `fd` at offset 0 and parses them (64 bytes hold any counter or
    /// temperature; longer contents are not a single number anyway). EINTR is retried.
    static func integer(fd: Int32, logicalPath: String) -> (value: SysfsValue, readFailed: Bool) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buf -> (SysfsValue, Bool) in
            var n: Int
            repeat { n = pread(fd, buf.baseAddress, 64, 0) } while n < 0 && errno == EINTR
            if n < 0 { return (.unavailable("read failed: \(errnoText(errno)) (\(logicalPath))"), true) }
            if n == 0 { return (.unavailable("empty file (\(logicalPath))"), false) }
            return (parse(UnsafeBufferPointer(rebasing: buf[0..<n]), logicalPath: logicalPath), false)
        }
    }

    /// Parses an optionally signed decimal integer surrounded by whitespace.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, logicalPath: String) -> SysfsValue {
        var i = 0, end = bytes.count
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x09 || c == 0x0D || c == 0 }
        while i < end, isSpace(bytes[i]) { i += 1 }
        while end > i, isSpace(bytes[end - 1]) { end -= 1 }
        if i == end { return .unavailable("empty file (\(logicalPath))") }
        var negative = false
        if bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") {
            negative = bytes[i] == UInt8(ascii: "-")
            i += 1
        }
        var value: Int64 = 0
        var digits = 0
        var overflow = false
        while i < end {
            let c = bytes[i]
            guard c >= 0x30, c <= 0x39 else { digits = -1; break }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(c - 0x30))
            overflow = overflow || o1 || o2
            value = a
            digits += 1
            i += 1
        }
        if digits <= 0 || overflow {
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[0..<min(bytes.count, 32)]), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            return .unavailable("\(overflow ? "out-of-range" : "non-numeric") contents \"\(text)\" (\(logicalPath))")
        }
        return .value(negative ? -value : value)
    }

    static func openFailure(_ code: Int32, _ path: String) -> String {
        switch code {
        case ENOENT, ENODEV, ENXIO: return "missing (\(path)): sensor disappeared or not present"
        case EACCES, EPERM: return "permission denied (\(path))"
        default: return "open failed: \(errnoText(code)) (\(path))"
        }
    }
}

/// `strerror` text with the symbolic name for the common codes, e.g. `EACCES (Permission denied)`.
func errnoText(_ code: Int32) -> String {
    let names: [Int32: String] = [EACCES: "EACCES", EPERM: "EPERM", ENOENT: "ENOENT", ENODEV: "ENODEV",
                                  EINVAL: "EINVAL", EOPNOTSUPP: "EOPNOTSUPP", EBUSY: "EBUSY", EIO: "EIO",
                                  ENODATA: "ENODATA", EAGAIN: "EAGAIN", ENXIO: "ENXIO", ENOSYS: "ENOSYS"]
    let text = String(cString: strerror(code))
    return names[code].map { "\($0) (\(text))" } ?? "errno \(code) (\(text))"
}

/// A numeric file the sampler keeps open between reads.
///
/// The file is reopened when `reopen` is passed (periodic revalidation, so a sensor that disappears
/// or is replaced is noticed), after a read error, and — only at revalidation — after a failed open
/// (a permanently unreadable file then costs nothing between revalidations; its last reason is repeated).
struct SysfsFile {
    let resolved: String
    let logical: String
    private(set) var fd: Int32 = -1
    private var openFailure: String?

    init(resolved: String, logical: String) {
        self.resolved = resolved
        self.logical = logical
    }

    mutating func read(reopen: Bool) -> SysfsValue {
        if reopen { close(); openFailure = nil }
        if fd < 0 {
            if let openFailure { return .unavailable(openFailure) }
            switch SysfsReader.open(resolved, logicalPath: logical) {
            case let .success(f):
                fd = f
            case let .failure(why):
                openFailure = why.reason
                return .unavailable(why.reason)
            }
        }
        let (value, readFailed) = SysfsReader.integer(fd: fd, logicalPath: logical)
        if readFailed { close() }  // retried with a fresh open on the next read
        return value
    }

    mutating func close() {
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
    }
}
