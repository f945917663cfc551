// Hostile FUSEBENCH_SYSFS_ROOT trees: FIFOs where attributes should be, huge files, absurd labels
// and physically impossible values. Every read must return promptly, bounded, and impossible values
// must become "unavailable" with a reason instead of measurements (or throttle flags).
import BenchModel
import Foundation
import Testing
@testable import Telemetry

/// Runs `body` on a thread and waits at most `seconds`; false when it did not finish (it would hang).
private func finishes(within seconds: Double, _ body: @escaping @Sendable () -> Void) -> Bool {
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        body()
        done.signal()
    }
    return done.wait(timeout: .now() + seconds) == .success
}

private func mkfifoAt(_ root: String, _ path: String) throws {
    let full = (root as NSString).appendingPathComponent(path)
    try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try? FileManager.default.removeItem(atPath: full)
    #expect(mkfifo(full, 0o644) == 0, "mkfifo \(full): \(String(cString: strerror(errno)))")
}

@Suite struct HostileTreeTests {
    @Test func fifosInTheTreeDoNotHang() throws {
        let root = try normalTree()
        // A FIFO with no writer blocks a plain open/read forever.
        for p in ["sys/class/thermal/thermal_zone0/temp", "sys/class/thermal/thermal_zone0/type", "proc/cpuinfo",
                  "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", "sys/class/hwmon/hwmon0/name",
                  "proc/sys/kernel/perf_event_paranoid", "sys/devices/system/cpu/cpu0/cache/index0/level"] {
            try mkfifoAt(root, p)
        }
        let finished = finishes(within: 2) {
            let files = SystemFiles(root: root)
            let sources = TelemetrySources.discover(files: files, openPowerPMU: false)
            let sampler = TelemetrySampler(sources: sources)
            let r = sampler.read()
            _ = MachineProbe.fingerprint(files: files, isaHost: [], pmuAvailable: false)
            _ = Doctor.checks(files: files, counterStatus: "none", counterSlots: nil, pmus: [], dbPath: nil, dbHealth: nil,
                              sampleInterval: 0, sleep: { _ in }, telemetry: sources)
            #expect(r.unavailable["temperature:thermal_zone0:unknown"]?.contains("FIFO") == true, "\(r.unavailable)")
            #expect(r.unavailable["frequency:cpu0"]?.contains("FIFO") == true, "\(r.unavailable)")
        }
        #expect(finished, "reading a tree with FIFOs did not finish within 2 s")
    }

    @Test func readsAreBoundedAndLabelsTruncated() throws {
        let hugeType = String(repeating: "x", count: 1 << 20)
        // cpuinfo whose only `model name` line lies beyond the 4 MiB bound: it is not read.
        let padding = String(repeating: "#", count: 5 << 20) + "\n"
        let root = try fakeTree([
            "sys/class/thermal/thermal_zone0/type": hugeType,
            "sys/class/thermal/thermal_zone0/temp": "45000\n",
            "sys/class/hwmon/hwmon0/name": String(repeating: "n", count: 100_000) + "\n",
            "sys/class/hwmon/hwmon0/temp1_input": "50000\n",
            "sys/class/hwmon/hwmon0/temp1_label": "Tctl\u{1}\u{7}with control\nsecond line\n",
            "proc/cpuinfo": padding + "model name\t: Far Away CPU\n",
            "sys/big": String(repeating: "y", count: 200_000),
        ])
        let files = SystemFiles(root: root)
        #expect(files.read("/sys/big")?.utf8.count == BoundedFile.attributeLimit)
        let s = TelemetrySources.discover(files: files, openPowerPMU: false)
        let keys = s.temperatures.map(\.key)
        #expect(keys.count == 2)
        for k in keys { #expect(k.count <= 64 + 20, "key of \(k.count) characters") }
        #expect(keys.contains("thermal_zone0:" + String(repeating: "x", count: SystemFiles.labelLimit)))
        #expect(keys.contains(String(repeating: "n", count: SystemFiles.labelLimit) + ":Tctl  with control"))
        let f = MachineProbe.fingerprint(files: files, isaHost: [], pmuAvailable: false)
        #expect(f.cpuModel == "unknown CPU", "read past the cpuinfo bound: \(f.cpuModel)")
    }

    @Test func impossibleValuesAreUnavailableNotFlagged() throws {
        let root = try fakeTree([
            "sys/class/thermal/thermal_zone0/type": "x86_pkg_temp\n",
            "sys/class/thermal/thermal_zone0/temp": "9200000000000000000\n",   // 9.2e15 °C
            "sys/class/thermal/thermal_zone1/type": "cpu-thermal\n",
            "sys/class/thermal/thermal_zone1/temp": "-273150000\n",            // −273150 °C
            "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq": "50000000000\n",  // 50 PHz in kHz
            "sys/devices/system/cpu/cpu1/cpufreq/scaling_cur_freq": "0\n",
        ])
        let s = TelemetrySources.discover(files: SystemFiles(root: root), openPowerPMU: false)
        #expect(s.probeFailures["temperature:thermal_zone0:x86_pkg_temp"]?.contains("implausible temperature") == true, "\(s.probeFailures)")
        #expect(s.probeFailures["frequency:cpu0"]?.contains("implausible frequency") == true, "\(s.probeFailures)")
        let sampler = TelemetrySampler(sources: s)
        let a = sampler.read(), b = sampler.read()
        #expect(a.temperaturesC.isEmpty, "\(a.temperaturesC)")
        #expect(a.maxTemperatureC == nil)
        #expect(a.frequenciesMHz.isEmpty, "\(a.frequenciesMHz)")
        #expect(a.unavailable["temperature:thermal_zone0:x86_pkg_temp"]?.contains("implausible temperature 9.2e+15 °C") == true, "\(a.unavailable)")
        #expect(a.unavailable["temperature:thermal_zone1:cpu-thermal"]?.contains("implausible temperature -273150") == true, "\(a.unavailable)")
        #expect(a.unavailable["frequency:cpu1"]?.contains("implausible frequency 0 kHz") == true, "\(a.unavailable)")
        let flags = ThrottleFlagger.flag([ThrottleInput(before: a, after: b, cycles: nil, wallNs: 1e6)])
        #expect(flags.isEmpty, "\(flags)")
    }

    @Test func plausibleExtremesAreKept() throws {
        let root = try fakeTree([
            "sys/class/thermal/thermal_zone0/type": "x86_pkg_temp\n",
            "sys/class/thermal/thermal_zone0/temp": "-40000\n",
            "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq": "1000\n",
        ])
        let r = TelemetrySampler(sources: TelemetrySources.discover(files: SystemFiles(root: root), openPowerPMU: false)).read()
        #expect(r.temperaturesC["thermal_zone0:x86_pkg_temp"] == -40)
        #expect(r.frequenciesMHz[0] == 1)
    }
}
