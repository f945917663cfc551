// `fusebench doctor`: a checklist of everything about the machine that affects measurement quality
// (perf permissions, counters, frequency scaling, load, isolation, virtualization, SMT, telemetry,
// ASLR, database). Reads only through `SystemFiles`, so every check runs against fake trees in
// tests; facts it cannot read itself (counter probe, libpfm4 PMUs, database) come from the caller.
import Foundation

/// Result level of one doctor check.
public enum DoctorStatus: String, Sendable, Hashable, Codable {
    case pass, warn, fail
}

/// One line of the doctor checklist. Every `warn` and `fail` carries a `fix`.
public struct DoctorCheck: Sendable, Hashable, Codable {
    /// Short name, e.g. `perf_event_paranoid`, `cpufreq governor`.
    public var name: String
    /// pass / warn / fail.
    public var status: DoctorStatus
    /// What was found.
    public var detail: String
    /// What to do about a warn/fail (nil for pass).
    public var fix: String?

    /// Creates a check.
    public init(name: String, status: DoctorStatus, detail: String, fix: String? = nil) {
        self.name = name
        self.status = status
        self.detail = detail
        self.fix = fix
    }
}

/// CPU use of one process over the doctor's sampling interval.
public struct ProcessActivity: Sendable, Hashable, Codable {
    /// Process id.
    public var pid: Int32
    /// `comm` from `/proc/PID/stat`.
    public var name: String
    /// Share of one CPU used over the interval, in percent.
    public var cpuPercent: Double

    /// Creates an activity record.
    public init(pid: Int32, name: String, cpuPercent: Double) {
        self.pid = pid
        self.name = name
        self.cpuPercent = cpuPercent
    }
}

/// The doctor checklist.
public enum Doctor {
    /// Produces the checklist.
    ///
    /// - Parameters:
    ///   - files: procfs/sysfs tree.
    ///   - counterStatus: the counter probe's description (e.g. `available` or the reason they are not).
    ///   - counterSlots: usable counters per group when hardware counters work, nil when they don't.
    ///   - pmus: PMUs libpfm4 detected (empty when none or libpfm4 is missing).
    ///   - dbPath: database path in use, nil when none is configured.
    ///   - dbHealth: the store's verdict: `ok…` (healthy), `absent…` (not created yet, will be on first run),
    ///     anything else is a problem description; nil when not checked.
    ///   - isRoot: whether the process has root privileges (bypasses perf_event_paranoid).
    ///   - selfPID: excluded from the busiest-process list.
    ///   - sampleInterval: seconds between the two `/proc/PID/stat` snapshots.
    ///   - sleep: waits between the snapshots (tests inject one that changes the fake tree instead).
    ///   - telemetry: discovered telemetry sources; discovered from `files` (without opening perf) when nil.
    public static func checks(files: SystemFiles, counterStatus: String, counterSlots: Int?, pmus: [String],
                              dbPath: String?, dbHealth: String?, isRoot: Bool = geteuid() == 0,
                              selfPID: Int32 = getpid(), sampleInterval: Double = 0.1,
                              sleep: (Double) -> Void = Cooldown.systemSleep,
                              telemetry: TelemetrySources? = nil) -> [DoctorCheck] {
        let telemetry = telemetry ?? TelemetrySources.discover(files: files, openPowerPMU: false)
        let cpuinfo = files.read("/proc/cpuinfo", limit: SystemFiles.cpuinfoLimit) ?? ""
        let flags = Set((MachineProbe.field(cpuinfo, "flags") ?? "").split(separator: " ").map(String.init))
        let virtualized = flags.contains("hypervisor")
        let paranoid = files.read("/proc/sys/kernel/perf_event_paranoid")
        var out: [DoctorCheck] = []
        out.append(paranoidCheck(paranoid, isRoot: isRoot))
        out.append(countersCheck(counterStatus, slots: counterSlots, paranoid: paranoid.flatMap { Int($0) },
                                 isRoot: isRoot, virtualized: virtualized))
        out.append(pmuCheck(pmus))
        out.append(governorCheck(telemetry))
        out.append(boostCheck(telemetry.boost, virtualized: virtualized))
        let cpus = cpuCount(files: files, cpuinfo: cpuinfo)
        out.append(loadCheck(files: files, cpus: cpus))
        let busy = busiestProcesses(files: files, interval: sampleInterval, excluding: selfPID, sleep: sleep)
        out.append(processCheck(busy))
        out.append(isolationCheck(files: files, cpus: cpus))
        out.append(virtualizationCheck(virtualized, files: files))
        out.append(smtCheck(files: files))
        out.append(thermalCheck(telemetry))
        out.append(energyCheck(telemetry))
        out.append(aslrCheck(files.read("/proc/sys/kernel/randomize_va_space")))
        out.append(databaseCheck(path: dbPath, health: dbHealth))
        return out
    }

    /// Renders one line per check: `[pass] name: detail` or `[warn] name: detail — fix: ...`.
    public static func render(_ checks: [DoctorCheck]) -> String {
        checks.map { c in
            var line = "[\(c.status.rawValue)] \(c.name): \(c.detail)"
            if let fix = c.fix, c.status != .pass { line += " — fix: \(fix)" }
            return line
        }.joined(separator: "\n")
    }

    // MARK: individual checks

    static let paranoidFix = "sudo sysctl -w kernel.perf_event_paranoid=2 (persist in /etc/sysctl.d/)"

    static func paranoidCheck(_ text: String?, isRoot: Bool) -> DoctorCheck {
        let name = "perf_event_paranoid"
        guard let text else {
            return DoctorCheck(name: name, status: .warn, detail: "unavailable (/proc/sys/kernel/perf_event_paranoid missing: kernel without perf events?)",
                               fix: "use a kernel with CONFIG_PERF_EVENTS for counters; timing-only runs still work")
        }
        guard let level = Int(text) else {
            return DoctorCheck(name: name, status: .warn, detail: "unreadable value \"\(text)\"", fix: "check /proc/sys/kernel/perf_event_paranoid")
        }
        let allows: String
        switch level {
        case ..<0: allows = "everything (per-process, system-wide, kernel, raw tracepoints)"
        case 0: allows = "per-process and system-wide counting (perf power PMU energy works)"
        case 1: allows = "per-process user+kernel counting; system-wide (perf power PMU energy) needs ≤ 0 or root"
        case 2: allows = "per-process user-space counting (what fusebench needs); system-wide (perf power PMU energy) needs ≤ 0 or root"
        default: allows = "no perf_event_open for unprivileged users"
        }
        if level > 2 {
            if isRoot {
                return DoctorCheck(name: name, status: .pass, detail: "\(level): \(allows); running as root, so not restricted")
            }
            return DoctorCheck(name: name, status: .fail, detail: "\(level): \(allows) — no hardware counters", fix: paranoidFix)
        }
        return DoctorCheck(name: name, status: .pass, detail: "\(level): allows \(allows)\(isRoot ? " (running as root: unrestricted)" : "")")
    }

    static func countersCheck(_ status: String, slots: Int?, paranoid: Int?, isRoot: Bool, virtualized: Bool) -> DoctorCheck {
        let name = "counters"
        if let slots, slots > 0 {
            return DoctorCheck(name: name, status: .pass, detail: "hardware counters work: \(slots) per group (\(status))")
        }
        if let paranoid, paranoid > 2, !isRoot {
            return DoctorCheck(name: name, status: .fail, detail: "unavailable: \(status) (perf_event_paranoid \(paranoid) denies perf_event_open)",
                               fix: paranoidFix)
        }
        let fix = virtualized
            ? "enable the guest's virtual PMU (QEMU/KVM `-cpu host,pmu=on`, libvirt `<pmu state='on'/>`) or run on bare metal; timing-only runs still work"
            : "check `perf stat -e instructions true`; timing-only runs still work"
        return DoctorCheck(name: name, status: .warn, detail: "unavailable: \(status)", fix: fix)
    }

    static func pmuCheck(_ pmus: [String]) -> DoctorCheck {
        if pmus.isEmpty {
            return DoctorCheck(name: "libpfm4 PMUs", status: .warn, detail: "none detected (libpfm4 missing, or no PMU exposed)",
                               fix: "install libpfm4 (apt install libpfm4) for named CPU events; generic perf events still work")
        }
        return DoctorCheck(name: "libpfm4 PMUs", status: .pass, detail: pmus.joined(separator: ", "))
    }

    static func governorCheck(_ t: TelemetrySources) -> DoctorCheck {
        let name = "cpufreq governor"
        let govs = t.governors
        if govs.isEmpty {
            return DoctorCheck(name: name, status: .warn, detail: "unavailable (VM?): no cpufreq governor exposed",
                               fix: "frequency is controlled outside this OS (hypervisor/firmware); set the host's governor to performance if you can, and compare only runs from the same machine")
        }
        let byGov = Dictionary(grouping: govs.keys.sorted(), by: { govs[$0]! })
        let desc = byGov.keys.sorted().map { "\($0) on \(cpuList(byGov[$0]!))" }.joined(separator: ", ")
        if byGov.keys.allSatisfy({ $0 == "performance" }) {
            return DoctorCheck(name: name, status: .pass, detail: desc)
        }
        return DoctorCheck(name: name, status: .warn, detail: desc, fix: "sudo cpupower frequency-set -g performance")
    }

    static func boostCheck(_ b: BoostState, virtualized: Bool) -> DoctorCheck {
        let name = "turbo/boost"
        switch b {
        case .disabled(let src): return DoctorCheck(name: name, status: .pass, detail: "off (\(src))")
        case .enabled(let src):
            let fix = src.hasSuffix("no_turbo") ? "echo 1 | sudo tee \(src)" : "echo 0 | sudo tee \(src)"
            return DoctorCheck(name: name, status: .warn, detail: "on (\(src)): clock varies with temperature and load", fix: fix)
        case .unavailable(let reason):
            return DoctorCheck(name: name, status: .warn, detail: "unavailable\(virtualized ? " (VM?)" : ""): \(reason)",
                               fix: "disable turbo/boost in firmware or on the host for stable clocks; expect more run-to-run variance")
        }
    }

    /// Online CPUs from `/sys/devices/system/cpu/online`, else `processor` lines of cpuinfo, else the process's view.
    static func cpuCount(files: SystemFiles, cpuinfo: String) -> Int {
        if let online = files.read("/sys/devices/system/cpu/online"), let cpus = parseCPUList(online), !cpus.isEmpty { return cpus.count }
        let n = MachineProbe.processorCount(cpuinfo)
        return n > 0 ? n : ProcessInfo.processInfo.activeProcessorCount
    }

    /// Parses a kernel CPU list such as `0-3,8,10-11`; nil when malformed, empty for an empty list.
    public static func parseCPUList(_ text: String) -> [Int]? {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if t.isEmpty || t == "(null)" { return [] }
        var out: [Int] = []
        for part in t.split(separator: ",") {
            let r = part.split(separator: "-")
            if r.count == 1, let a = Int(r[0]) { out.append(a) }
            else if r.count == 2, let a = Int(r[0]), let b = Int(r[1]), a <= b { out.append(contentsOf: a...b) }
            else { return nil }
        }
        return out
    }

    static func cpuList(_ cpus: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        let s = cpus.sorted()
        while i < s.count {
            var j = i
            while j + 1 < s.count, s[j + 1] == s[j] + 1 { j += 1 }
            parts.append(i == j ? "cpu\(s[i])" : "cpu\(s[i])-\(s[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    static func loadCheck(files: SystemFiles, cpus: Int) -> DoctorCheck {
        let name = "load average"
        guard let text = files.read("/proc/loadavg"), let load1 = text.split(separator: " ").first.flatMap({ Double($0) }) else {
            return DoctorCheck(name: name, status: .warn, detail: "unavailable (/proc/loadavg unreadable)", fix: "make sure the machine is idle before measuring")
        }
        let detail = String(format: "%.2f (1 min) on %d CPUs", load1, cpus)
        if load1 > 0.5 * Double(cpus) {
            return DoctorCheck(name: name, status: .warn, detail: detail + ": other work competes for the CPUs",
                               fix: "wait for or stop other workloads (see busiest processes) before measuring")
        }
        return DoctorCheck(name: name, status: .pass, detail: detail)
    }

    /// CPU ticks (utime + stime) and `comm` of every process in `/proc`.
    static func processTicks(files: SystemFiles, excluding selfPID: Int32) -> [Int32: (name: String, ticks: UInt64)] {
        var out: [Int32: (name: String, ticks: UInt64)] = [:]
        for entry in files.list("/proc") {
            guard let pid = Int32(entry), pid != selfPID, let stat = files.read("/proc/\(entry)/stat"),
                  let parsed = parseStat(stat) else { continue }
            out[pid] = parsed
        }
        return out
    }

    /// Parses `comm` and utime+stime from a `/proc/PID/stat` line (comm may contain spaces and parentheses).
    static func parseStat(_ line: String) -> (name: String, ticks: UInt64)? {
        guard let open = line.firstIndex(of: "("), let close = line.lastIndex(of: ")"), open < close else { return nil }
        let name = String(line[line.index(after: open)..<close])
        let rest = line[line.index(after: close)...].split(separator: " ")
        // rest[0] is field 3 (state); utime is field 14, stime field 15.
        guard rest.count > 12, let u = UInt64(rest[11]), let s = UInt64(rest[12]) else { return nil }
        return (name, u + s)
    }

    /// The processes (other than `selfPID`) that used the most CPU between two snapshots `interval` seconds apart.
    public static func busiestProcesses(files: SystemFiles, interval: Double = 0.1, excluding selfPID: Int32 = getpid(),
                                        limit: Int = 3, sleep: (Double) -> Void = Cooldown.systemSleep) -> [ProcessActivity] {
        let a = processTicks(files: files, excluding: selfPID)
        sleep(interval)
        let b = processTicks(files: files, excluding: selfPID)
        let hz = Double(max(1, sysconf(Int32(_SC_CLK_TCK))))
        let span = max(interval, 1e-3)
        return b.compactMap { pid, now -> ProcessActivity? in
            guard let before = a[pid], now.ticks > before.ticks else { return nil }
            return ProcessActivity(pid: pid, name: now.name, cpuPercent: Double(now.ticks - before.ticks) / hz / span * 100)
        }
        .sorted { $0.cpuPercent != $1.cpuPercent ? $0.cpuPercent > $1.cpuPercent : $0.pid < $1.pid }
        .prefix(limit).map { $0 }
    }

    static func processCheck(_ busy: [ProcessActivity]) -> DoctorCheck {
        let name = "other processes"
        if busy.isEmpty { return DoctorCheck(name: name, status: .pass, detail: "none used CPU during the sample") }
        let desc = busy.map { String(format: "%@ (pid %d) %.0f%%", $0.name, $0.pid, $0.cpuPercent) }.joined(separator: ", ")
        if let top = busy.first, top.cpuPercent >= 25 {
            return DoctorCheck(name: name, status: .warn, detail: "busiest: \(desc)",
                               fix: "stop or pause \(top.name) (pid \(top.pid)) while measuring, or pin the benchmark to an isolated CPU")
        }
        return DoctorCheck(name: name, status: .pass, detail: "busiest: \(desc)")
    }

    static func isolationCheck(files: SystemFiles, cpus: Int) -> DoctorCheck {
        let name = "CPUs and isolation"
        let isolated = files.read("/sys/devices/system/cpu/isolated").flatMap(parseCPUList) ?? []
        let nohz = files.read("/sys/devices/system/cpu/nohz_full").flatMap(parseCPUList) ?? []
        var detail = "\(cpus) CPUs online; isolated: \(isolated.isEmpty ? "none" : cpuList(isolated)); nohz_full: \(nohz.isEmpty ? "none" : cpuList(nohz))"
        if cpus <= 2 { detail += " (few CPUs: the OS and the harness share them with the benchmark)" }
        if isolated.isEmpty {
            return DoctorCheck(name: name, status: .warn, detail: detail,
                               fix: "boot with isolcpus=N nohz_full=N rcu_nocbs=N and pin the benchmark there (taskset -c N)")
        }
        return DoctorCheck(name: name, status: .pass, detail: detail + "; pin the benchmark to an isolated CPU")
    }

    static func virtualizationCheck(_ virtualized: Bool, files: SystemFiles) -> DoctorCheck {
        if virtualized {
            let type = files.label("/sys/hypervisor/type").map { " (\($0))" } ?? ""
            return DoctorCheck(name: "virtualization", status: .warn,
                               detail: "running under a hypervisor\(type): noisy neighbours, host-controlled frequency, usually no PMU or sensors",
                               fix: "take final numbers on bare metal; compare only runs with the same machine fingerprint")
        }
        return DoctorCheck(name: "virtualization", status: .pass, detail: "bare metal (no hypervisor flag in /proc/cpuinfo)")
    }

    static func smtCheck(files: SystemFiles) -> DoctorCheck {
        let name = "SMT"
        let control = files.read("/sys/devices/system/cpu/smt/control")
        switch files.read("/sys/devices/system/cpu/smt/active") {
        case "0":
            return DoctorCheck(name: name, status: .pass, detail: "inactive\(control.map { " (control: \($0))" } ?? "")")
        case "1":
            return DoctorCheck(name: name, status: .warn, detail: "active: sibling hyperthreads share a core's execution units and caches",
                               fix: "keep the sibling of the benchmark CPU idle, or `echo off | sudo tee /sys/devices/system/cpu/smt/control`")
        case let other:
            return DoctorCheck(name: name, status: .warn, detail: "unknown (/sys/devices/system/cpu/smt/active \(other.map { "is \"\($0)\"" } ?? "missing"))",
                               fix: "check /sys/devices/system/cpu/*/topology/thread_siblings_list and keep the benchmark CPU's siblings idle")
        }
    }

    static func thermalCheck(_ t: TelemetrySources) -> DoctorCheck {
        let name = "thermal telemetry"
        var found: [String] = []
        if !t.temperatures.isEmpty { found.append("\(t.temperatures.count) temperature sensors (\(t.temperatures.map(\.key).joined(separator: ", ")))") }
        if !t.frequencies.isEmpty { found.append("cpufreq on \(t.frequencies.count) CPUs") }
        if !t.throttleCounters.isEmpty { found.append("throttle counters on \(Set(t.throttleCounters.map(\.cpu)).count) CPUs") }
        let failures = t.probeFailures.filter { !$0.key.hasPrefix("energy") }
        if t.temperatures.isEmpty || !failures.isEmpty {
            var detail = found.isEmpty ? "none: no thermal zones, no hwmon temperatures, no cpufreq, no throttle counters" : found.joined(separator: "; ")
            if t.temperatures.isEmpty, !found.isEmpty { detail += "; no temperature sensors" }
            if !failures.isEmpty { detail += "; unreadable: " + failures.keys.sorted().map { "\($0) (\(failures[$0]!))" }.joined(separator: ", ") }
            return DoctorCheck(name: name, status: .warn, detail: detail + "; throttling is detected only from effective GHz when counters work",
                               fix: "on bare metal load the sensor driver (modprobe k10temp / coretemp) and make its files readable; in a VM this is expected")
        }
        return DoctorCheck(name: name, status: .pass, detail: found.joined(separator: "; "))
    }

    static func energyCheck(_ t: TelemetrySources) -> DoctorCheck {
        let name = "energy (RAPL)"
        let failures = t.probeFailures.filter { $0.key.hasPrefix("energy") }
        let readable = t.energyDomains.filter { failures["energy:\($0.key)"] == nil }
        let pmu = t.powerPMU.usable ? "perf power PMU usable"
            : t.powerPMU.present ? "perf power PMU present, unusable: \(t.powerPMU.reason ?? "unknown")" : "no perf power PMU"
        if !readable.isEmpty || t.powerPMU.usable {
            let domains = readable.isEmpty ? "" : "powercap \(readable.map(\.key).joined(separator: ", ")); "
            return DoctorCheck(name: name, status: .pass, detail: domains + pmu)
        }
        if !t.energyDomains.isEmpty {
            return DoctorCheck(name: name, status: .warn,
                               detail: "powercap zones unreadable: " + failures.keys.sorted().map { "\($0) (\(failures[$0]!))" }.joined(separator: ", ") + "; \(pmu)",
                               fix: "run as root or `sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj` (root-only since Linux 5.10)")
        }
        return DoctorCheck(name: name, status: .warn, detail: "none: no powercap RAPL zones; \(pmu)",
                           fix: t.powerPMU.present
                               ? "sudo sysctl -w kernel.perf_event_paranoid=0 (or run as root) so the perf power PMU can be opened system-wide"
                               : "energy needs RAPL (bare-metal Intel/AMD with the intel_rapl driver: modprobe intel_rapl_msr); unavailable in most VMs")
    }

    static func aslrCheck(_ text: String?) -> DoctorCheck {
        let name = "ASLR"
        switch text {
        case "0": return DoctorCheck(name: name, status: .pass, detail: "disabled (randomize_va_space 0): stable addresses between runs")
        case "1", "2":
            return DoctorCheck(name: name, status: .warn,
                               detail: "randomize_va_space \(text!): addresses (and so alignment/aliasing) change between runs",
                               fix: "run the benchmark under `setarch -R` (e.g. `setarch -R fusebench run ...`) to disable ASLR for that run only")
        case nil:
            return DoctorCheck(name: name, status: .warn, detail: "unavailable (/proc/sys/kernel/randomize_va_space missing)",
                               fix: "run the benchmark under `setarch -R` to be sure ASLR is off")
        case let other?:
            return DoctorCheck(name: name, status: .warn, detail: "unrecognised randomize_va_space \"\(other)\"",
                               fix: "run the benchmark under `setarch -R` to be sure ASLR is off")
        }
    }

    static func databaseCheck(path: String?, health: String?) -> DoctorCheck {
        let name = "database"
        guard let path else {
            return DoctorCheck(name: name, status: .warn, detail: "no database path configured",
                               fix: "pass --db PATH or set FUSEBENCH_DB (default results/fusebench.sqlite)")
        }
        guard let health else {
            return DoctorCheck(name: name, status: .warn, detail: "\(path): not checked", fix: "open it with `fusebench list` to check it")
        }
        let h = health.lowercased()
        if h.hasPrefix("ok") { return DoctorCheck(name: name, status: .pass, detail: "\(path): \(health)") }
        if h.hasPrefix("absent") { return DoctorCheck(name: name, status: .pass, detail: "\(path): \(health) (created on the first run)") }
        return DoctorCheck(name: name, status: .fail, detail: "\(path): \(health)",
                           fix: "check the path and its permissions; a newer schema needs a newer fusebench — or move the file aside to start a new database")
    }
}
