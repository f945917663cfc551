// Telemetry owns reading the machine's state from procfs/sysfs: the fingerprint stored with every
// run (CPU, ISA, caches, kernel, governor, paranoid level, virtualization), discovery and per-batch
// sampling of temperatures, frequencies, throttle counters and RAPL energy (`TelemetrySources`,
// `TelemetrySampler`, `Energy`), throttled-sample flagging (`ThrottleFlagger`), cooldowns
// (`Cooldown`) and the `fusebench doctor` checklist (`Doctor`). All paths go through an injectable
// root (`FUSEBENCH_SYSFS_ROOT`) so tests run against a fake tree; a file that is missing or
// malformed yields "unavailable" with a reason, never an invented value.
import BenchModel
import Foundation

/// Reads files under a root directory (`/` normally, a fake tree in tests).
public struct SystemFiles: Sendable {
    /// Root prepended to every absolute path.
    public var root: String

    /// Uses `FUSEBENCH_SYSFS_ROOT` from `environment` when set, else `/`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        root = environment["FUSEBENCH_SYSFS_ROOT"] ?? "/"
    }

    /// Uses `root` as the tree root (`/` for the real system).
    public init(root: String) { self.root = root }

    /// Full path of `path` under the root.
    public func resolve(_ path: String) -> String {
        root == "/" ? path : (root as NSString).appendingPathComponent(path)
    }

    /// Bound for `/proc/cpuinfo` (4 MiB: a few KiB per logical CPU on real machines).
    public static let cpuinfoLimit = 4 << 20
    /// Longest label kept from a sysfs name/type/label file (longer ones are truncated).
    public static let labelLimit = 64

    /// Trimmed contents of a file, or nil when missing, unreadable or not a regular file.
    ///
    /// Reads through `BoundedFile`: the open never blocks (a FIFO is refused, not waited on) and at
    /// most `limit` bytes are read (64 KiB by default; longer contents are cut there).
    public func read(_ path: String, limit: Int = BoundedFile.attributeLimit) -> String? {
        guard case let .success((bytes, _)) = BoundedFile.read(resolve(path), limit: limit) else { return nil }
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A sysfs label (`type`, `name`, `temp*_label`): its first line, control characters replaced,
    /// at most `labelLimit` characters (a corrupt or hostile tree cannot put megabytes into every
    /// reading key); nil when missing or empty.
    public func label(_ path: String) -> String? {
        guard let text = read(path, limit: 4096) else { return nil }
        let line = text.prefix { $0 != "\n" && $0 != "\r\n" }
        let clean = String(line.prefix(Self.labelLimit).map { $0.isASCII && ($0.asciiValue ?? 0) < 0x20 ? " " : $0 })
            .trimmingCharacters(in: .whitespaces)
        return clean.isEmpty ? nil : clean
    }

    /// Names in a directory (sorted), empty when missing.
    public func list(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: resolve(path))) ?? []).sorted()
    }
}

/// Builds the machine fingerprint.
public enum MachineProbe {
    /// Fingerprint of this machine. `isaHost` comes from the caller (cpuid), `pmuAvailable` from the counter probe.
    public static func fingerprint(files: SystemFiles = SystemFiles(), isaHost: [String], pmuAvailable: Bool) -> MachineFingerprint {
        let cpuinfo = files.read("/proc/cpuinfo", limit: SystemFiles.cpuinfoLimit) ?? ""
        let model = field(cpuinfo, "model name") ?? "unknown CPU"
        let family = field(cpuinfo, "cpu family").map { " (family \($0), model \(field(cpuinfo, "model") ?? "?"))" } ?? ""
        let logical = processorCount(cpuinfo)
        let flags = Set((field(cpuinfo, "flags") ?? "").split(separator: " ").map(String.init))
        let virt = flags.contains("hypervisor") ? (files.label("/sys/hypervisor/type") ?? "hypervisor (KVM or other)") : "none"
        var uts = utsname()
        uname(&uts)
        let kernel = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return MachineFingerprint(
            cpuModel: model + family,
            logicalCPUs: logical > 0 ? logical : ProcessInfo.processInfo.activeProcessorCount,
            isaHost: isaHost,
            caches: caches(files: files),
            kernel: kernel,
            governor: files.label("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") ?? "unavailable",
            perfEventParanoid: files.read("/proc/sys/kernel/perf_event_paranoid").flatMap { Int($0) },
            virtualization: virt,
            pmuAvailable: pmuAvailable)
    }

    /// Caches of CPU 0 as `L1d 48K`, `L2 1024K`, ... from sysfs.
    public static func caches(files: SystemFiles) -> [String] {
        let base = "/sys/devices/system/cpu/cpu0/cache"
        return files.list(base).filter { $0.hasPrefix("index") }.compactMap { idx in
            guard let level = files.label("\(base)/\(idx)/level"), let type = files.label("\(base)/\(idx)/type"),
                  let size = files.label("\(base)/\(idx)/size") else { return nil }
            let t = type == "Data" ? "d" : type == "Instruction" ? "i" : ""
            return "L\(level)\(t) \(size)"
        }
    }

    /// Size in bytes of the last-level cache (for cold-cache flushing), if known.
    public static func lastLevelCacheBytes(files: SystemFiles = SystemFiles()) -> Int? {
        caches(files: files).compactMap { c -> Int? in
            guard let s = c.split(separator: " ").last else { return nil }
            let digits = s.prefix { $0.isNumber }
            guard let n = Int(digits) else { return nil }
            return s.hasSuffix("M") ? n << 20 : s.hasSuffix("K") ? n << 10 : n
        }.max()
    }

    /// The value of the first `name : value` line of `cpuinfo` (scanned as bytes: cpuinfo may be
    /// megabytes on a large machine or in a hostile tree, and only matching lines are decoded).
    static func field(_ cpuinfo: String, _ name: String) -> String? {
        for line in cpuinfo.utf8.split(separator: UInt8(ascii: "\n")) {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let key = String(decoding: line[..<colon], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            guard key == name else { continue }
            return String(decoding: line[line.index(after: colon)...], as: UTF8.self).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    /// Number of `processor` lines in `cpuinfo` (one per logical CPU).
    static func processorCount(_ cpuinfo: String) -> Int {
        let prefix = Array("processor".utf8)
        return cpuinfo.utf8.split(separator: UInt8(ascii: "\n")).filter { $0.starts(with: prefix) }.count
    }
}
