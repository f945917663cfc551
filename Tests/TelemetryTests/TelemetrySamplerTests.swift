import Foundation
import Testing
@testable import Telemetry

/// Overwrites one file of a fake tree in place (same inode, like a sysfs value changing), or creates it.
func put(_ root: String, _ path: String, _ contents: String) throws {
    let full = (root as NSString).appendingPathComponent(path)
    try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    guard let h = FileHandle(forWritingAtPath: full) else {
        try contents.write(toFile: full, atomically: false, encoding: .utf8)
        return
    }
    try h.truncate(atOffset: 0)
    try h.write(contentsOf: Data(contents.utf8))
    try h.close()
}

/// A machine with every source: a thermal zone, k10temp + nvme hwmon, cpufreq and throttle counters on
/// 2 CPUs, boost, and powercap package + core zones.
func normalTree(energyMax: String = "262143328850") throws -> String {
    try fakeTree([
        "sys/class/thermal/thermal_zone0/type": "x86_pkg_temp\n",
        "sys/class/thermal/thermal_zone0/temp": "45000\n",
        "sys/class/hwmon/hwmon0/name": "k10temp\n",
        "sys/class/hwmon/hwmon0/temp1_input": "52125\n",
        "sys/class/hwmon/hwmon0/temp1_label": "Tctl\n",
        "sys/class/hwmon/hwmon0/temp3_input": "48000\n",
        "sys/class/hwmon/hwmon0/temp3_label": "Tccd1\n",
        "sys/class/hwmon/hwmon1/name": "nvme\n",
        "sys/class/hwmon/hwmon1/temp1_input": "61000\n",
        "sys/class/hwmon/hwmon1/temp1_label": "Composite\n",
        "sys/devices/system/cpu/online": "0-1\n",
        "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq": "3500000\n",
        "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": "performance\n",
        "sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq": "5000000\n",
        "sys/devices/system/cpu/cpu1/cpufreq/scaling_cur_freq": "2900000\n",
        "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor": "performance\n",
        "sys/devices/system/cpu/cpu1/cpufreq/scaling_max_freq": "5000000\n",
        "sys/devices/system/cpu/cpufreq/boost": "1\n",
        "sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count": "0\n",
        "sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_total_time_ms": "0\n",
        "sys/devices/system/cpu/cpu0/thermal_throttle/package_throttle_count": "2\n",
        "sys/devices/system/cpu/cpu1/thermal_throttle/core_throttle_count": "0\n",
        "sys/devices/system/cpu/cpu1/thermal_throttle/package_throttle_count": "2\n",
        "sys/class/powercap/intel-rapl/enabled": "1\n",
        "sys/class/powercap/intel-rapl:0/name": "package-0\n",
        "sys/class/powercap/intel-rapl:0/energy_uj": "1000000\n",
        "sys/class/powercap/intel-rapl:0/max_energy_range_uj": energyMax + "\n",
        "sys/class/powercap/intel-rapl:0:0/name": "core\n",
        "sys/class/powercap/intel-rapl:0:0/energy_uj": "500000\n",
        "sys/class/powercap/intel-rapl:0:0/max_energy_range_uj": energyMax + "\n",
    ])
}

/// A clock that advances one second per call.
func steppingClock() -> () -> UInt64 {
    var t: UInt64 = 0
    return {
        t += 1_000_000_000
        return t
    }
}

@Suite struct TelemetrySourcesTests {
    @Test func discoversEverySourceInNormalTree() throws {
        let s = TelemetrySources.discover(files: SystemFiles(root: try normalTree()))
        #expect(s.temperatures.map(\.key) == ["thermal_zone0:x86_pkg_temp", "k10temp:Tctl", "k10temp:Tccd1", "nvme:Composite"])
        #expect(s.temperatures.map(\.isCPU) == [true, true, true, false])
        #expect(s.frequencies.map(\.cpu) == [0, 1])
        #expect(s.governors == [0: "performance", 1: "performance"])
        #expect(s.frequencies.first?.maxKHz == 5_000_000)
        #expect(s.boost == .enabled(source: "/sys/devices/system/cpu/cpufreq/boost"))
        #expect(s.throttleCounters.map(\.key).sorted() == ["cpu0/core_throttle_count", "cpu0/package_throttle_count",
                                                         "cpu1/core_throttle_count", "cpu1/package_throttle_count"])
        #expect(s.energyDomains.map(\.key) == ["package-0", "package-0/core"])
        #expect(s.energyDomains.first?.maxRangeUJ == 262_143_328_850)
        #expect(!s.powerPMU.present)
        #expect(s.probeFailures.isEmpty)
        #expect(s.summary == "telemetry: thermal zones: x86_pkg_temp, hwmon: k10temp:Tctl, k10temp:Tccd1, nvme:Composite, "
            + "cpufreq on 2 CPUs (governor performance), boost on, throttle counters on 2 CPUs, "
            + "RAPL energy (powercap): package-0, package-0/core, no perf power PMU")
    }

    @Test func emptyTreeLikeThisVMReportsEverythingUnavailable() throws {
        let root = try fakeTree(["proc/sys/kernel/perf_event_paranoid": "2\n"])
        let s = TelemetrySources.discover(files: SystemFiles(root: root))
        #expect(s.summary == "telemetry: no thermal zones, no hwmon temperatures, no cpufreq, no boost control, "
            + "no throttle counters, no RAPL energy, no perf power PMU — only effective GHz from cycles (when counters work)")
        let r = TelemetrySampler(sources: s).read()
        #expect(r.temperaturesC.isEmpty && r.frequenciesMHz.isEmpty && r.throttleCounts.isEmpty && r.energyJoules.isEmpty)
        #expect(r.maxTemperatureC == nil)
        #expect(Set(r.unavailable.keys) == ["temperature", "frequency", "throttle", "energy"])
        #expect(r.unavailable["energy"]?.contains("no perf power PMU") == true)
    }

    @Test func powerPMUIsDescribedButNotOpenedOnAFakeTree() throws {
        let root = try fakeTree([
            "sys/bus/event_source/devices/power/type": "24\n",
            "sys/bus/event_source/devices/power/events/energy-pkg": "event=0x02\n",
            "sys/bus/event_source/devices/power/events/energy-pkg.scale": "2.3283064365386962890625e-10\n",
        ])
        let s = TelemetrySources.discover(files: SystemFiles(root: root))
        #expect(s.powerPMU.present)
        #expect(s.powerPMU.type == 24)
        #expect(s.powerPMU.config == 2)
        #expect(s.powerPMU.scaleJoules == 2.3283064365386962890625e-10)
        #expect(!s.powerPMU.usable)
        #expect(s.powerPMU.reason?.contains("fake sysfs root") == true)
        #expect(s.summary.contains("perf power PMU present but unusable"))
        #expect(TelemetrySources.parseEventConfig("event=0x1f") == 31)
        #expect(TelemetrySources.parseEventConfig("umask=0x1") == nil)
    }

    @Test func intelNoTurboIsInverted() throws {
        let on = try fakeTree(["sys/devices/system/cpu/intel_pstate/no_turbo": "0\n"])
        let off = try fakeTree(["sys/devices/system/cpu/intel_pstate/no_turbo": "1\n"])
        #expect(TelemetrySources.boostState(files: SystemFiles(root: on)) == .enabled(source: "/sys/devices/system/cpu/intel_pstate/no_turbo"))
        #expect(TelemetrySources.boostState(files: SystemFiles(root: off)) == .disabled(source: "/sys/devices/system/cpu/intel_pstate/no_turbo"))
    }

    @Test func hwmonDuplicateNamesGetDistinctKeys() throws {
        let root = try fakeTree([
            "sys/class/hwmon/hwmon0/name": "nvme", "sys/class/hwmon/hwmon0/temp1_input": "30000",
            "sys/class/hwmon/hwmon0/temp1_label": "Composite",
            "sys/class/hwmon/hwmon1/name": "nvme", "sys/class/hwmon/hwmon1/temp1_input": "31000",
            "sys/class/hwmon/hwmon1/temp1_label": "Composite",
            "sys/class/hwmon/hwmon2/device/name": "coretemp", "sys/class/hwmon/hwmon2/device/temp1_input": "40000",
        ])
        let s = TelemetrySources.discover(files: SystemFiles(root: root))
        #expect(s.temperatures.map(\.key) == ["nvme:Composite", "nvme[hwmon1]:Composite", "coretemp:temp1"])
    }
}

@Suite struct TelemetrySamplerTests {
    @Test func readsNormalTree() throws {
        let root = try normalTree()
        let sampler = TelemetrySampler(sources: .discover(files: SystemFiles(root: root)), clock: steppingClock())
        let a = sampler.read()
        #expect(a.timestampNs == 1_000_000_000)
        #expect(a.temperaturesC == ["thermal_zone0:x86_pkg_temp": 45, "k10temp:Tctl": 52.125, "k10temp:Tccd1": 48, "nvme:Composite": 61])
        #expect(a.maxTemperatureC == 52.125, "the nvme sensor is not a CPU sensor")
        #expect(a.frequenciesMHz == [0: 3500, 1: 2900])
        #expect(a.meanFrequencyMHz == 3200)
        #expect(a.throttleCounts == ["cpu0/core_throttle_count": 0, "cpu0/package_throttle_count": 2,
                                     "cpu1/core_throttle_count": 0, "cpu1/package_throttle_count": 2])
        #expect(a.energyJoules == ["package-0": 0, "package-0/core": 0])
        #expect(a.unavailable.isEmpty)

        try put(root, "sys/class/powercap/intel-rapl:0/energy_uj", "3500000\n")
        try put(root, "sys/class/powercap/intel-rapl:0:0/energy_uj", "1500000\n")
        let b = sampler.read()
        #expect(b.energyJoules == ["package-0": 2.5, "package-0/core": 1.0])
        #expect(Energy.joules(from: a, to: b) == 2.5)
        #expect(Energy.joules(from: a, to: b, domain: "package-0/core") == 1.0)
        #expect(Energy.averageWatts(from: a, to: b) == 2.5)
        #expect(Energy.averageWatts(joules: 2.5, seconds: 0.5) == 5)
        #expect(Energy.joulesPerInference(joules: Energy.joules(from: a, to: b), iterations: 1000) == 0.0025)
    }

    @Test func cpuFilterRestrictsPerCPUFiles() throws {
        let sampler = TelemetrySampler(sources: .discover(files: SystemFiles(root: try normalTree())), cpus: [1])
        let r = sampler.read()
        #expect(r.frequenciesMHz == [1: 2900])
        #expect(Set(r.throttleCounts.keys) == ["cpu1/core_throttle_count", "cpu1/package_throttle_count"])
        #expect(sampler.filesPerRead == 4 + 1 + 2 + 2)
        let none = TelemetrySampler(sources: sampler.sources, cpus: [7]).read()
        #expect(none.frequenciesMHz.isEmpty)
        #expect(none.unavailable["frequency"] == "no cpufreq for the selected CPUs (7)")
        #expect(none.unavailable["throttle"] == "no throttle counters for the selected CPUs (7)")
    }

    @Test func throttlingMidRunIsFlagged() throws {
        let root = try normalTree()
        let sampler = TelemetrySampler(sources: .discover(files: SystemFiles(root: root)), clock: steppingClock())
        var readings = [sampler.read()]
        readings.append(sampler.read())                       // sample 0: quiet
        try put(root, "sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count", "3\n")
        readings.append(sampler.read())                       // sample 1: 3 throttle events
        try put(root, "sys/class/hwmon/hwmon0/temp1_input", "97500\n")
        readings.append(sampler.read())                       // sample 2: hot
        try put(root, "sys/class/hwmon/hwmon0/temp1_input", "60000\n")
        readings.append(sampler.read())                       // sample 3: cooled down, still hot at its start
        readings.append(sampler.read())                       // sample 4: quiet
        let cycles: [Double?] = [4e6, 4e6, 4e6, 4e6, 3e6]      // sample 4 at 3 GHz vs median 4 GHz
        let inputs = (0..<5).map { ThrottleInput(before: readings[$0], after: readings[$0 + 1], cycles: cycles[$0], wallNs: 1e6) }
        #expect(inputs[1].throttleCountDelta == 3)
        #expect(inputs[0].effectiveGHz == 4)
        let flags = ThrottleFlagger.flag(inputs)
        #expect(flags.map(\.index) == [1, 2, 3, 4])
        #expect(flags[0].reasons == [.throttleEvents(count: 3)])
        #expect(flags[1].reasons == [.temperature(celsius: 97.5, limit: 95)])
        #expect(flags[3].reasons == [.lowFrequency(ghz: 3, medianGHz: 4, fraction: 0.9)])
        #expect(flags[0].reasons[0].description == "3 thermal throttle events")
        // Without counters or sensors nothing can be flagged.
        #expect(ThrottleFlagger.flag([ThrottleInput(), ThrottleInput()]).isEmpty)
        // A custom limit and fraction.
        let custom = ThrottleFlagger.flag([ThrottleInput(maxTemperatureC: 80, effectiveGHz: 4), ThrottleInput(effectiveGHz: 4),
                                           ThrottleInput(effectiveGHz: 3.7)],
                                          temperatureLimitC: 80, frequencyFraction: 0.95)
        #expect(custom.map(\.index) == [0, 2])
    }

    @Test func sensorDisappearingMidRunIsUnavailableOthersIntact() throws {
        let root = try normalTree()
        let sampler = TelemetrySampler(sources: .discover(files: SystemFiles(root: root)), reopenEvery: 1)
        #expect(sampler.read().unavailable.isEmpty)
        try FileManager.default.removeItem(atPath: root + "/sys/class/hwmon/hwmon1")
        try FileManager.default.removeItem(atPath: root + "/sys/devices/system/cpu/cpu1/cpufreq")
        let r = sampler.read()
        #expect(r.unavailable["temperature:nvme:Composite"]?.hasPrefix("missing (/sys/class/hwmon/hwmon1/temp1_input)") == true)
        #expect(r.unavailable["frequency:cpu1"]?.hasPrefix("missing") == true)
        #expect(r.unavailable.count == 2)
        #expect(r.temperaturesC["k10temp:Tctl"] == 52.125)
        #expect(r.temperaturesC["nvme:Composite"] == nil)
        #expect(r.frequenciesMHz == [0: 3500])
        #expect(r.energyJoules["package-0"] == 0)
        // It comes back: readable again.
        try put(root, "sys/class/hwmon/hwmon1/temp1_input", "40000\n")
        #expect(sampler.read().temperaturesC["nvme:Composite"] == 40)
    }

    /// With files kept open, a deleted file is noticed at its staggered reopen, within `reopenEvery` reads;
    /// values changing in place are seen on every read.
    @Test func keptOpenFilesAreRevalidated() throws {
        let root = try normalTree()
        let sampler = TelemetrySampler(sources: .discover(files: SystemFiles(root: root)), reopenEvery: 4)
        #expect(sampler.read().temperaturesC["nvme:Composite"] == 61)
        try put(root, "sys/class/hwmon/hwmon1/temp1_input", "62000\n")
        #expect(sampler.read().temperaturesC["nvme:Composite"] == 62)
        try FileManager.default.removeItem(atPath: root + "/sys/class/hwmon/hwmon1")
        var last = sampler.read()
        for _ in 0..<3 { last = sampler.read() }
        #expect(last.unavailable["temperature:nvme:Composite"]?.hasPrefix("missing") == true)
        #expect(last.temperaturesC["nvme:Composite"] == nil)
        try put(root, "sys/class/hwmon/hwmon1/temp1_input", "40000\n")
        for _ in 0..<4 { last = sampler.read() }
        #expect(last.temperaturesC["nvme:Composite"] == 40)
        #expect(last.unavailable.isEmpty)
    }

    @Test func energyWrapAroundAddsTheRange() throws {
        let root = try normalTree(energyMax: "1000000")
        let path = "sys/class/powercap/intel-rapl:0/energy_uj"
        try put(root, path, "900000\n")
        let sampler = TelemetrySampler(sources: .discover(files: SystemFiles(root: root)))
        let a = sampler.read()
        try put(root, path, "100000\n")                       // wrapped: 100000 µJ to the top, 100000 after
        let b = sampler.read()
        try put(root, path, "400000\n")
        let c = sampler.read()
        #expect(a.energyJoules["package-0"] == 0)
        #expect(abs(b.energyJoules["package-0"]! - 0.2) < 1e-12)
        #expect(abs(c.energyJoules["package-0"]! - 0.5) < 1e-12)
        #expect(abs(Energy.joules(from: a, to: c)! - 0.5) < 1e-12)
    }

    @Test func energyGoingBackwardsWithoutRangeIsUnavailableThenRebased() throws {
        let root = try normalTree()
        try FileManager.default.removeItem(atPath: root + "/sys/class/powercap/intel-rapl:0/max_energy_range_uj")
        let path = "sys/class/powercap/intel-rapl:0/energy_uj"
        let sampler = TelemetrySampler(sources: .discover(files: SystemFiles(root: root)))
        let a = sampler.read()
        try put(root, path, "10\n")
        let b = sampler.read()
        #expect(b.energyJoules["package-0"] == nil)
        #expect(b.unavailable["energy:package-0"]?.contains("went backwards") == true)
        #expect(Energy.joules(from: a, to: b) == nil)
        #expect(Energy.joules(from: a, to: b, domain: "package-0/core") == 0)
        try put(root, path, "1000010\n")
        let c = sampler.read()
        #expect(c.energyJoules["package-0"] == 1.0)
    }

    @Test func malformedFilesAreUnavailableWithReason() throws {
        let root = try normalTree()
        let sampler = TelemetrySampler(sources: .discover(files: SystemFiles(root: root)), reopenEvery: 1)
        try put(root, "sys/class/hwmon/hwmon0/temp1_input", "N/A\n")
        try put(root, "sys/class/thermal/thermal_zone0/temp", "")
        try put(root, "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", "   \n")
        try put(root, "sys/devices/system/cpu/cpu1/thermal_throttle/core_throttle_count", "12abc\n")
        try put(root, "sys/class/powercap/intel-rapl:0:0/energy_uj", "99999999999999999999999\n")
        let r = sampler.read()
        #expect(r.unavailable["temperature:k10temp:Tctl"] == "non-numeric contents \"N/A\" (/sys/class/hwmon/hwmon0/temp1_input)")
        #expect(r.unavailable["temperature:thermal_zone0:x86_pkg_temp"] == "empty file (/sys/class/thermal/thermal_zone0/temp)")
        #expect(r.unavailable["frequency:cpu0"] == "empty file (/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq)")
        #expect(r.unavailable["throttle:cpu1/core_throttle_count"]?.hasPrefix("non-numeric contents \"12abc\"") == true)
        #expect(r.unavailable["energy:package-0/core"]?.hasPrefix("out-of-range contents") == true)
        #expect(r.unavailable.count == 5)
        #expect(r.temperaturesC["k10temp:Tccd1"] == 48)
        #expect(r.maxTemperatureC == 48)
        #expect(r.frequenciesMHz == [1: 2900])
        #expect(r.energyJoules == ["package-0": 0])
        // A directory where a file should be: refused when opened (only regular files are read).
        try FileManager.default.removeItem(atPath: root + "/sys/class/hwmon/hwmon0/temp3_input")
        try FileManager.default.createDirectory(atPath: root + "/sys/class/hwmon/hwmon0/temp3_input", withIntermediateDirectories: true)
        #expect(sampler.read().unavailable["temperature:k10temp:Tccd1"] == "not a regular file (directory) (/sys/class/hwmon/hwmon0/temp3_input)")
        #expect(sampler.read().maxTemperatureC == nil)
    }

    @Test func malformedFilesAtDiscoveryAppearInSummary() throws {
        let root = try normalTree()
        try put(root, "sys/class/powercap/intel-rapl:0/energy_uj", "")
        let s = TelemetrySources.discover(files: SystemFiles(root: root))
        #expect(s.energyDomains.count == 2, "still sampled: it may become readable")
        #expect(s.probeFailures == ["energy:package-0": "empty file (/sys/class/powercap/intel-rapl:0/energy_uj)"])
        #expect(s.summary.hasSuffix("; unreadable: energy:package-0 (empty file (/sys/class/powercap/intel-rapl:0/energy_uj))"))
    }

    /// Permission denied via the errno mapping: runs everywhere, including as root.
    @Test func permissionDeniedReasonFromErrno() {
        #expect(SysfsReader.openFailure(EACCES, "/x") == "permission denied (/x)")
        #expect(SysfsReader.openFailure(EPERM, "/x") == "permission denied (/x)")
        #expect(SysfsReader.openFailure(ENOENT, "/x").hasPrefix("missing (/x)"))
        #expect(SysfsReader.openFailure(EIO, "/x") == "open failed: EIO (Input/output error) (/x)")
    }

    /// Permission denied on a real file (chmod 000). Skipped when running as root: root's
    /// CAP_DAC_OVERRIDE reads the file anyway, so chmod cannot make it unreadable.
    @Test(.enabled(if: geteuid() != 0, "running as root: chmod 000 does not deny root, so this case is skipped"))
    func permissionDeniedMidRun() throws {
        let root = try normalTree()
        let sampler = TelemetrySampler(sources: .discover(files: SystemFiles(root: root)), reopenEvery: 1)
        #expect(sampler.read().energyJoules["package-0"] == 0)
        let file = root + "/sys/class/powercap/intel-rapl:0/energy_uj"
        try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: file)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file) }
        let r = sampler.read()
        #expect(r.unavailable["energy:package-0"]?.hasPrefix("permission denied (/sys/class/powercap/intel-rapl:0/energy_uj)") == true)
        #expect(r.unavailable["energy:package-0"]?.contains("root-only") == true)
        #expect(r.energyJoules["package-0/core"] == 0)
    }

    @Test func parserAcceptsSignsAndWhitespace() {
        func parse(_ s: String) -> SysfsValue {
            Array(s.utf8).withUnsafeBufferPointer { SysfsReader.parse($0, logicalPath: "/p") }
        }
        #expect(parse("  -5000\n") == .value(-5000))
        #expect(parse("+7") == .value(7))
        #expect(parse("-") == .unavailable("non-numeric contents \"-\" (/p)"))
        #expect(parse("\n") == .unavailable("empty file (/p)"))
        #expect(parse("1 2") == .unavailable("non-numeric contents \"1 2\" (/p)"))
    }

    /// Cost of one `read()`. Prints numbers, asserts nothing about time.
    @Test func readCost() throws {
        func measure(_ sampler: TelemetrySampler, _ n: Int = 2000) -> Double {
            _ = sampler.read()
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<n { _ = sampler.read() }
            return Double(DispatchTime.now().uptimeNanoseconds - start) / Double(n)
        }
        let fake = TelemetrySampler(sources: .discover(files: SystemFiles(root: try normalTree())))
        let real = TelemetrySampler(sources: .discover(files: SystemFiles(root: "/")))
        print(String(format: "read() cost: fake tree with all sources (%d files) %.0f ns; this machine (%d files) %.0f ns",
                     fake.filesPerRead, measure(fake), real.filesPerRead, measure(real)))
        print("this machine: \(real.sources.summary)")
    }
}

@Suite struct EnergyTests {
    @Test func unavailableEnergyIsNil() {
        let a = TelemetryReading(timestampNs: 1)
        let b = TelemetryReading(timestampNs: 2)
        #expect(Energy.joules(from: a, to: b) == nil)
        #expect(Energy.averageWatts(from: a, to: b) == nil)
        #expect(Energy.averageWatts(joules: nil, seconds: 1) == nil)
        #expect(Energy.averageWatts(joules: 1, seconds: 0) == nil)
        #expect(Energy.joulesPerInference(joules: nil, iterations: 10) == nil)
        #expect(Energy.joulesPerInference(joules: 1, iterations: 0) == nil)
    }

    @Test func packagesAreSummedAndPerfIsTheFallback() {
        let a = TelemetryReading(timestampNs: 0, energyJoules: ["package-0": 1, "package-1": 2, "package-0/core": 0.5])
        let b = TelemetryReading(timestampNs: 2_000_000_000, energyJoules: ["package-0": 3, "package-1": 6, "package-0/core": 1])
        #expect(Energy.joules(from: a, to: b) == 6)
        #expect(Energy.averageWatts(from: a, to: b) == 3)
        let c = TelemetryReading(timestampNs: 0, energyJoules: [PowerPMUStatus.readingKey: 10])
        let d = TelemetryReading(timestampNs: 1_000_000_000, energyJoules: [PowerPMUStatus.readingKey: 14])
        #expect(Energy.joules(from: c, to: d) == 4)
        // A package missing from one reading: no total.
        let e = TelemetryReading(timestampNs: 3_000_000_000, energyJoules: ["package-0": 4])
        #expect(Energy.joules(from: a, to: e) == nil)
    }
}

@Suite struct CooldownTests {
    @Test func waitsUntilBelowTarget() throws {
        let root = try normalTree()
        try put(root, "sys/class/hwmon/hwmon0/temp1_input", "90000\n")
        let sampler = TelemetrySampler(sources: .discover(files: SystemFiles(root: root)))
        var temp = 90
        var sleeps: [Double] = []
        let result = Cooldown.waitUntil(belowCelsius: 70, timeout: 60, sampler: sampler, pollInterval: 2) { s in
            sleeps.append(s)
            temp -= 5
            try? put(root, "sys/class/hwmon/hwmon0/temp1_input", "\(temp * 1000)\n")
        }
        #expect(result.reachedTarget)
        #expect(sleeps == [2, 2, 2, 2, 2])
        #expect(result.waitedSeconds == 10)
        #expect(result.finalTemperatureC == 65)
    }

    @Test func timesOut() throws {
        let root = try normalTree()
        try put(root, "sys/class/hwmon/hwmon0/temp1_input", "90000\n")
        let sampler = TelemetrySampler(sources: .discover(files: SystemFiles(root: root)))
        var total = 0.0
        let result = Cooldown.waitUntil(belowCelsius: 70, timeout: 5, sampler: sampler, pollInterval: 2) { total += $0 }
        #expect(!result.reachedTarget)
        #expect(total == 5)
        #expect(result.waitedSeconds == 5)
        #expect(result.note.contains("timeout"))
    }

    @Test func noSensorsReturnsImmediatelyWithNote() throws {
        let sampler = TelemetrySampler(sources: .discover(files: SystemFiles(root: try fakeTree([:]))))
        var slept = false
        let result = Cooldown.waitUntil(belowCelsius: 70, timeout: 60, sampler: sampler) { _ in slept = true }
        #expect(!slept)
        #expect(!result.reachedTarget)
        #expect(result.waitedSeconds == 0)
        #expect(result.note.hasPrefix("no temperature sensors"))
    }

    @Test func sensorsVanishingStopsTheWait() throws {
        let root = try normalTree()
        try FileManager.default.removeItem(atPath: root + "/sys/class/hwmon")
        try FileManager.default.removeItem(atPath: root + "/sys/class/thermal")
        let sampler = TelemetrySampler(sources: .discover(files: SystemFiles(root: try normalTree())))
        let broken = TelemetrySampler(sources: TelemetrySources(files: SystemFiles(root: root), temperatures: sampler.sources.temperatures))
        let result = Cooldown.waitUntil(belowCelsius: 70, timeout: 60, sampler: broken) { _ in Issue.record("must not sleep") }
        #expect(!result.reachedTarget)
        #expect(result.note.hasPrefix("temperature unreadable"))
    }

    @Test func fixedCooldownSleepsOnce() {
        var slept: [Double] = []
        let r = Cooldown.fixed(seconds: 3) { slept.append($0) }
        #expect(slept == [3])
        #expect(r.reachedTarget && r.waitedSeconds == 3)
    }
}
