import Foundation
import TestSupport
import Testing
@testable import Telemetry

/// Builds a fake procfs/sysfs tree under a temporary root.
func fakeTree(_ files: [String: String]) throws -> String {
    let root = try Scratch.directory("sysfs").path
    for (path, contents) in files {
        let full = (root as NSString).appendingPathComponent(path)
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try contents.write(toFile: full, atomically: true, encoding: .utf8)
    }
    return root
}

@Suite struct MachineProbeTests {
    @Test func fingerprintFromFakeTree() throws {
        let cpuinfo = """
        processor\t: 0
        model name\t: AMD EPYC 7B13
        cpu family\t: 25
        model\t\t: 1
        flags\t\t: fpu avx2 fma hypervisor

        processor\t: 1
        model name\t: AMD EPYC 7B13
        cpu family\t: 25
        model\t\t: 1
        flags\t\t: fpu avx2 fma hypervisor
        """
        let root = try fakeTree([
            "proc/cpuinfo": cpuinfo,
            "proc/sys/kernel/perf_event_paranoid": "2\n",
            "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": "performance\n",
            "sys/devices/system/cpu/cpu0/cache/index0/level": "1", "sys/devices/system/cpu/cpu0/cache/index0/type": "Data",
            "sys/devices/system/cpu/cpu0/cache/index0/size": "32K",
            "sys/devices/system/cpu/cpu0/cache/index3/level": "3", "sys/devices/system/cpu/cpu0/cache/index3/type": "Unified",
            "sys/devices/system/cpu/cpu0/cache/index3/size": "32768K",
        ])
        let files = SystemFiles(environment: ["FUSEBENCH_SYSFS_ROOT": root])
        let f = MachineProbe.fingerprint(files: files, isaHost: ["avx2", "fma"], pmuAvailable: true)
        #expect(f.cpuModel == "AMD EPYC 7B13 (family 25, model 1)")
        #expect(f.logicalCPUs == 2)
        #expect(f.governor == "performance")
        #expect(f.perfEventParanoid == 2)
        #expect(f.virtualization.hasPrefix("hypervisor"))
        #expect(f.caches == ["L1d 32K", "L3 32768K"])
        #expect(MachineProbe.lastLevelCacheBytes(files: files) == 32 << 20)
    }

    @Test func missingAndMalformedFilesAreUnavailable() throws {
        let root = try fakeTree(["proc/cpuinfo": "", "proc/sys/kernel/perf_event_paranoid": "not a number"])
        let f = MachineProbe.fingerprint(files: SystemFiles(root: root), isaHost: [], pmuAvailable: false)
        #expect(f.cpuModel == "unknown CPU")
        #expect(f.governor == "unavailable")
        #expect(f.perfEventParanoid == nil)
        #expect(f.caches.isEmpty)
        #expect(f.virtualization == "none")
    }
}
