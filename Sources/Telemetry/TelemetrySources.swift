// Discovery of the telemetry a machine exposes: temperatures (thermal zones, hwmon), cpufreq,
// boost/turbo state, thermal-throttle counters, RAPL energy (powercap and the perf `power` PMU).
// Discovery runs once (it lists directories and probe-reads each file); `TelemetrySampler` then
// reads only the files found here. Anything absent is recorded with a reason, never invented.
import CPerfEvent
import Foundation

/// The kinds of telemetry fusebench samples; used as keys for "nothing of this kind exists" reasons.
public enum TelemetryCategory: String, Sendable, Codable, CaseIterable {
    case temperature, frequency, throttle, energy
}

/// One temperature sensor (a thermal zone or an hwmon `temp*_input`), in millidegrees Celsius on disk.
public struct TemperatureSensor: Sendable, Hashable, Codable {
    /// Where the sensor was found.
    public enum Origin: String, Sendable, Hashable, Codable {
        case thermalZone, hwmon
    }

    /// Stable label used as the reading key, e.g. `k10temp:Tctl`, `coretemp:Package id 0`, `thermal_zone0:x86_pkg_temp`.
    public var key: String
    /// Path of the value file (absolute, without the tree root).
    public var path: String
    /// Thermal zone or hwmon.
    public var origin: Origin
    /// True for sensors of the CPU package or cores (k10temp, coretemp, zenpower, x86_pkg_temp, cpu-thermal).
    public var isCPU: Bool

    /// Creates a sensor description.
    public init(key: String, path: String, origin: Origin, isCPU: Bool) {
        self.key = key
        self.path = path
        self.origin = origin
        self.isCPU = isCPU
    }
}

/// cpufreq files of one logical CPU (frequencies in kHz on disk).
public struct CPUFrequencySource: Sendable, Hashable, Codable {
    /// Logical CPU number.
    public var cpu: Int
    /// Path of `scaling_cur_freq`.
    public var currentPath: String
    /// `scaling_governor` at discovery, nil when unreadable.
    public var governor: String?
    /// `scaling_max_freq` at discovery in kHz, nil when unreadable.
    public var maxKHz: Int64?

    /// Creates a cpufreq source.
    public init(cpu: Int, currentPath: String, governor: String?, maxKHz: Int64?) {
        self.cpu = cpu
        self.currentPath = currentPath
        self.governor = governor
        self.maxKHz = maxKHz
    }
}

/// One `thermal_throttle/*_count` file of one CPU.
public struct ThrottleCounterSource: Sendable, Hashable, Codable {
    /// Reading key, e.g. `cpu0/core_throttle_count`.
    public var key: String
    /// Logical CPU number.
    public var cpu: Int
    /// Path of the counter file.
    public var path: String

    /// Creates a throttle counter source.
    public init(key: String, cpu: Int, path: String) {
        self.key = key
        self.cpu = cpu
        self.path = path
    }
}

/// One powercap RAPL zone (`/sys/class/powercap/intel-rapl:*`; AMD uses the same naming).
public struct EnergyDomainSource: Sendable, Hashable, Codable {
    /// Reading key: the zone `name` (`package-0`), prefixed by the parent zone's name for subzones (`package-0/core`).
    public var key: String
    /// Zone directory name, e.g. `intel-rapl:0:0`.
    public var zone: String
    /// Path of `energy_uj`.
    public var energyPath: String
    /// `max_energy_range_uj` (the wrap-around point), nil when unreadable.
    public var maxRangeUJ: Int64?

    /// Creates an energy domain description.
    public init(key: String, zone: String, energyPath: String, maxRangeUJ: Int64?) {
        self.key = key
        self.zone = zone
        self.energyPath = energyPath
        self.maxRangeUJ = maxRangeUJ
    }
}

/// Turbo/boost state as the kernel reports it.
public enum BoostState: Sendable, Hashable, Codable {
    /// Boost/turbo is on; `source` is the file that said so.
    case enabled(source: String)
    /// Boost/turbo is off.
    case disabled(source: String)
    /// No boost control file (or an unreadable one); the reason says which.
    case unavailable(reason: String)
}

/// The perf `power` PMU (RAPL through perf_event): whether it exists and whether this process can open it.
public struct PowerPMUStatus: Sendable, Hashable, Codable {
    /// `/sys/bus/event_source/devices/power` exists.
    public var present: Bool
    /// PMU type number from `type`.
    public var type: UInt32?
    /// `energy-pkg` event config (from `events/energy-pkg`, e.g. `event=0x02`).
    public var config: UInt64?
    /// Joules per count from `events/energy-pkg.scale`.
    public var scaleJoules: Double?
    /// True when a system-wide (`pid=-1, cpu=0`) `perf_event_open` of `energy-pkg` succeeded.
    public var usable: Bool
    /// Why it is not usable (absent, unparsable files, or the errno of the failed open).
    public var reason: String?

    /// Creates a status.
    public init(present: Bool, type: UInt32? = nil, config: UInt64? = nil, scaleJoules: Double? = nil,
                usable: Bool = false, reason: String? = nil) {
        self.present = present
        self.type = type
        self.config = config
        self.scaleJoules = scaleJoules
        self.usable = usable
        self.reason = reason
    }

    /// The reading key perf energy is reported under.
    public static let readingKey = "perf:energy-pkg"

    /// Opens `energy-pkg` system-wide on CPU 0. Returns the fd, or the reason it failed.
    func open(paranoid: Int?) -> Result<Int32, TelemetryOpenError> {
        guard let type, let config else { return .failure(TelemetryOpenError(reason: reason ?? "power PMU not described")) }
        var attr = fb_event_attr()
        attr.type = type
        attr.config = config
        let fd = fb_perf_event_open(&attr, -1, 0, -1)
        if fd >= 0 { return .success(fd) }
        let code = -fd
        var why = "perf_event_open(power/energy-pkg, pid -1, cpu 0) failed: \(errnoText(code))"
        if code == EACCES || code == EPERM {
            why += "; system-wide events need perf_event_paranoid ≤ 0 (now \(paranoid.map(String.init) ?? "unknown")) or CAP_PERFMON"
        } else if code == ENOENT || code == EINVAL || code == ENODEV || code == EOPNOTSUPP {
            why += "; the kernel does not support this event here"
        }
        return .failure(TelemetryOpenError(reason: why))
    }
}

/// Why a perf event could not be opened.
struct TelemetryOpenError: Error {
    var reason: String
}

/// Everything telemetry-related found under a `SystemFiles` root.
public struct TelemetrySources: Sendable {
    /// The tree that was searched (the sampler reads from it too).
    public var files: SystemFiles
    /// Temperature sensors, thermal zones first, then hwmon.
    public var temperatures: [TemperatureSensor]
    /// cpufreq per logical CPU, by CPU number.
    public var frequencies: [CPUFrequencySource]
    /// Turbo/boost state at discovery.
    public var boost: BoostState
    /// Throttle counters per CPU.
    public var throttleCounters: [ThrottleCounterSource]
    /// Powercap RAPL domains.
    public var energyDomains: [EnergyDomainSource]
    /// The perf `power` PMU.
    public var powerPMU: PowerPMUStatus
    /// `perf_event_paranoid` at discovery (nil when unreadable).
    public var perfEventParanoid: Int?
    /// Number of thermal zones seen (including ones without a usable temperature).
    public var thermalZoneCount: Int
    /// hwmon devices seen, by name.
    public var hwmonNames: [String]
    /// Sources that exist but failed their probe read at discovery: reading key → reason.
    public var probeFailures: [String: String]

    /// Creates a description directly (tests, or a caller that filters sources).
    public init(files: SystemFiles, temperatures: [TemperatureSensor] = [], frequencies: [CPUFrequencySource] = [],
                boost: BoostState = .unavailable(reason: "not probed"), throttleCounters: [ThrottleCounterSource] = [],
                energyDomains: [EnergyDomainSource] = [], powerPMU: PowerPMUStatus = PowerPMUStatus(present: false),
                perfEventParanoid: Int? = nil, thermalZoneCount: Int = 0, hwmonNames: [String] = [],
                probeFailures: [String: String] = [:]) {
        self.files = files
        self.temperatures = temperatures
        self.frequencies = frequencies
        self.boost = boost
        self.throttleCounters = throttleCounters
        self.energyDomains = energyDomains
        self.powerPMU = powerPMU
        self.perfEventParanoid = perfEventParanoid
        self.thermalZoneCount = thermalZoneCount
        self.hwmonNames = hwmonNames
        self.probeFailures = probeFailures
    }

    /// Governor per CPU (only CPUs whose governor was readable).
    public var governors: [Int: String] {
        Dictionary(frequencies.compactMap { f in f.governor.map { (f.cpu, $0) } }, uniquingKeysWith: { a, _ in a })
    }

    /// Searches `files` for every telemetry source.
    ///
    /// The perf `power` PMU is opened (then closed) only when `openPowerPMU` is true and the tree is the
    /// real root `/`: a fake tree's PMU type number means nothing to the running kernel.
    public static func discover(files: SystemFiles = SystemFiles(), openPowerPMU: Bool = true) -> TelemetrySources {
        var s = TelemetrySources(files: files)
        s.perfEventParanoid = files.read("/proc/sys/kernel/perf_event_paranoid").flatMap { Int($0) }
        discoverThermalZones(&s)
        discoverHwmon(&s)
        discoverCPUs(&s)
        s.boost = boostState(files: files)
        discoverPowercap(&s)
        s.powerPMU = powerPMU(files: files, open: openPowerPMU, paranoid: s.perfEventParanoid)
        return s
    }

    // MARK: discovery steps

    private func probe(_ path: String) -> SysfsValue {
        SysfsReader.integer(resolvedPath: files.resolve(path), logicalPath: path)
    }

    /// Why a temperature file is unusable at discovery (unreadable or an impossible value), or nil.
    private func probeTemperature(_ path: String) -> String? {
        switch probe(path) {
        case let .unavailable(why): return why
        case let .value(milli):
            if case let .failure(why) = PlausibleRange.temperature(milli: milli, path: path) { return why.reason }
            return nil
        }
    }

    /// Why a cpufreq file is unusable at discovery, or nil.
    private func probeFrequency(_ path: String) -> String? {
        switch probe(path) {
        case let .unavailable(why): return why
        case let .value(khz):
            if case let .failure(why) = PlausibleRange.frequency(kHz: khz, path: path) { return why.reason }
            return nil
        }
    }

    private static func numbered(_ names: [String], prefix: String) -> [(Int, String)] {
        names.compactMap { n in
            guard n.hasPrefix(prefix), let i = Int(n.dropFirst(prefix.count)) else { return nil }
            return (i, n)
        }.sorted { $0.0 < $1.0 }
    }

    private static let cpuZoneTypes = ["x86_pkg_temp", "cpu-thermal", "cpu_thermal", "cpu0-thermal", "soc_thermal", "k10temp"]
    private static let cpuHwmonNames = ["k10temp", "coretemp", "zenpower", "cpu_thermal", "cpu-thermal", "soc_thermal"]

    private static func discoverThermalZones(_ s: inout TelemetrySources) {
        let base = "/sys/class/thermal"
        for (n, dir) in numbered(s.files.list(base), prefix: "thermal_zone") {
            s.thermalZoneCount += 1
            let type = s.files.label("\(base)/\(dir)/type") ?? "unknown"
            let path = "\(base)/\(dir)/temp"
            let key = "thermal_zone\(n):\(type)"
            let sensor = TemperatureSensor(key: key, path: path, origin: .thermalZone,
                                           isCPU: cpuZoneTypes.contains(type) || type.hasPrefix("cpu"))
            if let r = s.probeTemperature(path) { s.probeFailures["temperature:\(key)"] = r }
            s.temperatures.append(sensor)
        }
    }

    private static func discoverHwmon(_ s: inout TelemetrySources) {
        let base = "/sys/class/hwmon"
        var seen = Set(s.temperatures.map(\.key))
        for (_, dir) in numbered(s.files.list(base), prefix: "hwmon") {
            // Older drivers keep their attributes in `device/`.
            var d = "\(base)/\(dir)"
            if s.files.label("\(d)/name") == nil, s.files.label("\(d)/device/name") != nil { d += "/device" }
            let name = s.files.label("\(d)/name") ?? dir
            s.hwmonNames.append(name)
            let inputs = s.files.list(d).compactMap { f -> (Int, String)? in
                guard f.hasPrefix("temp"), f.hasSuffix("_input"), let i = Int(f.dropFirst(4).dropLast(6)) else { return nil }
                return (i, f)
            }.sorted { $0.0 < $1.0 }
            for (i, f) in inputs {
                let label = s.files.label("\(d)/temp\(i)_label") ?? "temp\(i)"
                var key = "\(name):\(label)"
                if seen.contains(key) { key = "\(name)[\(dir)]:\(label)" }
                seen.insert(key)
                let path = "\(d)/\(f)"
                if let r = s.probeTemperature(path) { s.probeFailures["temperature:\(key)"] = r }
                s.temperatures.append(TemperatureSensor(key: key, path: path, origin: .hwmon, isCPU: cpuHwmonNames.contains(name)))
            }
        }
    }

    private static func discoverCPUs(_ s: inout TelemetrySources) {
        let base = "/sys/devices/system/cpu"
        for (cpu, dir) in numbered(s.files.list(base), prefix: "cpu") {
            let freq = "\(base)/\(dir)/cpufreq"
            let cur = "\(freq)/scaling_cur_freq"
            if FileManager.default.fileExists(atPath: s.files.resolve(cur)) {
                if let r = s.probeFrequency(cur) { s.probeFailures["frequency:cpu\(cpu)"] = r }
                s.frequencies.append(CPUFrequencySource(cpu: cpu, currentPath: cur, governor: s.files.label("\(freq)/scaling_governor"),
                                                        maxKHz: s.files.read("\(freq)/scaling_max_freq").flatMap { Int64($0) }.flatMap { PlausibleRange.frequencyKHz.contains($0) ? $0 : nil }))
            }
            let tt = "\(base)/\(dir)/thermal_throttle"
            for f in s.files.list(tt) where f.hasSuffix("_count") {
                let key = "\(dir)/\(f)"
                let path = "\(tt)/\(f)"
                if let r = s.probe(path).reason { s.probeFailures["throttle:\(key)"] = r }
                s.throttleCounters.append(ThrottleCounterSource(key: key, cpu: cpu, path: path))
            }
        }
    }

    /// Reads the boost/turbo state: `cpufreq/boost` (acpi-cpufreq, amd-pstate), per-policy `boost`, or intel_pstate `no_turbo`.
    public static func boostState(files: SystemFiles) -> BoostState {
        let candidates: [(String, Bool)] = [
            ("/sys/devices/system/cpu/cpufreq/boost", false),
            ("/sys/devices/system/cpu/intel_pstate/no_turbo", true),
            ("/sys/devices/system/cpu/cpufreq/policy0/boost", false),
        ]
        for (path, inverted) in candidates where FileManager.default.fileExists(atPath: files.resolve(path)) {
            switch SysfsReader.integer(resolvedPath: files.resolve(path), logicalPath: path) {
            case let .value(v):
                let on = inverted ? v == 0 : v != 0
                return on ? .enabled(source: path) : .disabled(source: path)
            case let .unavailable(reason):
                return .unavailable(reason: reason)
            }
        }
        return .unavailable(reason: "no boost control (cpufreq/boost, intel_pstate/no_turbo)")
    }

    private static func discoverPowercap(_ s: inout TelemetrySources) {
        let base = "/sys/class/powercap"
        let zones = s.files.list(base).filter { $0.hasPrefix("intel-rapl:") }
        var names: [String: String] = [:]
        for z in zones { names[z] = s.files.label("\(base)/\(z)/name") ?? z }
        for z in zones {
            let energy = "\(base)/\(z)/energy_uj"
            guard FileManager.default.fileExists(atPath: s.files.resolve(energy)) else { continue }
            let parts = z.split(separator: ":")
            var key = names[z] ?? z
            if parts.count > 2, let parent = names[parts.dropLast().joined(separator: ":")] { key = "\(parent)/\(key)" }
            let maxRange = SysfsReader.integer(resolvedPath: s.files.resolve("\(base)/\(z)/max_energy_range_uj"),
                                               logicalPath: "\(base)/\(z)/max_energy_range_uj").integer
            if var r = s.probe(energy).reason {
                if r.hasPrefix("permission denied") { r += " — energy_uj is root-only since Linux 5.10 (run as root or chmod o+r)" }
                s.probeFailures["energy:\(key)"] = r
            }
            s.energyDomains.append(EnergyDomainSource(key: key, zone: z, energyPath: energy, maxRangeUJ: maxRange.flatMap { $0 > 0 ? $0 : nil }))
        }
    }

    private static func powerPMU(files: SystemFiles, open: Bool, paranoid: Int?) -> PowerPMUStatus {
        let dir = "/sys/bus/event_source/devices/power"
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: files.resolve(dir), isDirectory: &isDir), isDir.boolValue else {
            return PowerPMUStatus(present: false, reason: "no perf power PMU (\(dir) absent)")
        }
        var st = PowerPMUStatus(present: true)
        st.type = files.read("\(dir)/type").flatMap { UInt32($0) }
        st.config = files.read("\(dir)/events/energy-pkg").flatMap(parseEventConfig)
        st.scaleJoules = files.read("\(dir)/events/energy-pkg.scale").flatMap { Double($0) }
        guard st.type != nil, st.config != nil, st.scaleJoules != nil else {
            st.reason = "power PMU present but type, events/energy-pkg or its scale is missing or unparsable"
            return st
        }
        guard open else { st.reason = "not opened (probe disabled)"; return st }
        guard files.root == "/" else {
            st.reason = "not opened: fake sysfs root \(files.root) (perf_event_open talks to the running kernel)"
            return st
        }
        switch st.open(paranoid: paranoid) {
        case let .success(fd):
            _ = fb_close(fd)
            st.usable = true
        case let .failure(e):
            st.reason = e.reason
        }
        return st
    }

    /// Parses a perf sysfs event description such as `event=0x02` into a config value (only `event=` terms).
    static func parseEventConfig(_ text: String) -> UInt64? {
        var config: UInt64?
        for term in text.split(separator: ",") {
            let kv = term.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, kv[0] == "event" else { return nil }
            let v = kv[1].lowercased()
            config = v.hasPrefix("0x") ? UInt64(v.dropFirst(2), radix: 16) : UInt64(v)
        }
        return config
    }

    // MARK: summary

    /// Whether any source of `category` was found (energy counts the perf power PMU only when usable).
    public func has(_ category: TelemetryCategory) -> Bool {
        switch category {
        case .temperature: return !temperatures.isEmpty
        case .frequency: return !frequencies.isEmpty
        case .throttle: return !throttleCounters.isEmpty
        case .energy: return !energyDomains.isEmpty || powerPMU.usable
        }
    }

    /// Reason a whole category is unavailable, or nil when something of it was found.
    public func missingReason(_ category: TelemetryCategory) -> String? {
        guard !has(category) else { return nil }
        switch category {
        case .temperature:
            return thermalZoneCount == 0 && hwmonNames.isEmpty ? "no thermal zones and no hwmon devices"
                : "no temperature inputs in \(thermalZoneCount) thermal zones / hwmon \(hwmonNames.joined(separator: ", "))"
        case .frequency: return "no cpufreq (scaling_cur_freq) for any CPU"
        case .throttle: return "no thermal_throttle counters"
        case .energy:
            return "no powercap RAPL zones; " + (powerPMU.reason ?? (powerPMU.present ? "perf power PMU unusable" : "no perf power PMU"))
        }
    }

    /// One line listing what is available and what is not, e.g.
    /// `telemetry: no thermal zones, no hwmon temperatures, no cpufreq, ... — only effective GHz from cycles (when counters work)`.
    public var summary: String {
        var parts: [String] = []
        let zones = temperatures.filter { $0.origin == .thermalZone }
        let hw = temperatures.filter { $0.origin == .hwmon }
        parts.append(zones.isEmpty ? "no thermal zones" : "thermal zones: " + zones.map { $0.key.split(separator: ":", maxSplits: 1).last.map(String.init) ?? $0.key }.joined(separator: ", "))
        parts.append(hw.isEmpty ? "no hwmon temperatures" : "hwmon: " + hw.map(\.key).joined(separator: ", "))
        if frequencies.isEmpty {
            parts.append("no cpufreq")
        } else {
            let govs = Set(frequencies.compactMap(\.governor)).sorted()
            parts.append("cpufreq on \(frequencies.count) CPUs (governor \(govs.isEmpty ? "unknown" : govs.joined(separator: "/")))")
        }
        switch boost {
        case .enabled: parts.append("boost on")
        case .disabled: parts.append("boost off")
        case .unavailable: parts.append("no boost control")
        }
        let ttCPUs = Set(throttleCounters.map(\.cpu))
        parts.append(ttCPUs.isEmpty ? "no throttle counters" : "throttle counters on \(ttCPUs.count) CPUs")
        parts.append(energyDomains.isEmpty ? "no RAPL energy" : "RAPL energy (powercap): " + energyDomains.map(\.key).joined(separator: ", "))
        if powerPMU.usable {
            parts.append("perf power PMU usable")
        } else if powerPMU.present {
            parts.append("perf power PMU present but unusable (\(powerPMU.reason ?? "unknown"))")
        } else {
            parts.append("no perf power PMU")
        }
        var line = "telemetry: " + parts.joined(separator: ", ")
        if !probeFailures.isEmpty {
            line += "; unreadable: " + probeFailures.keys.sorted().map { "\($0) (\(probeFailures[$0]!))" }.joined(separator: ", ")
        }
        if TelemetryCategory.allCases.allSatisfy({ !has($0) }) {
            line += " — only effective GHz from cycles (when counters work)"
        }
        return line
    }
}
