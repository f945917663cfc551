import Foundation
import Testing
@testable import Telemetry

/// A `/proc/PID/stat` line with the given CPU ticks (utime, stime).
func statLine(pid: Int, comm: String, utime: Int, stime: Int) -> String {
    "\(pid) (\(comm)) R 1 1 1 0 -1 4194304 96 0 0 0 \(utime) \(stime) 0 0 20 0 1 0 707133 3133440 360\n"
}

/// A tuned bare-metal machine: every check passes.
func goodMachine() throws -> String {
    try fakeTree([
        "proc/cpuinfo": "processor\t: 0\nflags\t\t: fpu avx2\n\nprocessor\t: 1\nflags\t\t: fpu avx2\n",
        "proc/sys/kernel/perf_event_paranoid": "0\n",
        "proc/sys/kernel/randomize_va_space": "0\n",
        "proc/loadavg": "0.10 0.20 0.30 1/200 1234\n",
        "proc/100/stat": statLine(pid: 100, comm: "sshd", utime: 5, stime: 5),
        "sys/devices/system/cpu/online": "0-3\n",
        "sys/devices/system/cpu/isolated": "3\n",
        "sys/devices/system/cpu/nohz_full": "3\n",
        "sys/devices/system/cpu/smt/active": "0\n",
        "sys/devices/system/cpu/smt/control": "off\n",
        "sys/devices/system/cpu/cpufreq/boost": "0\n",
        "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq": "3500000\n",
        "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": "performance\n",
        "sys/class/hwmon/hwmon0/name": "k10temp\n",
        "sys/class/hwmon/hwmon0/temp1_input": "52125\n",
        "sys/class/hwmon/hwmon0/temp1_label": "Tctl\n",
        "sys/class/powercap/intel-rapl:0/name": "package-0\n",
        "sys/class/powercap/intel-rapl:0/energy_uj": "1000\n",
    ])
}

func doctor(_ root: String, counterStatus: String = "available", slots: Int? = 6, isRoot: Bool = false,
            sleep: (Double) -> Void = { _ in }) -> [String: DoctorCheck] {
    let checks = Doctor.checks(files: SystemFiles(root: root), counterStatus: counterStatus, counterSlots: slots,
                               pmus: ["amd64_fam1ah_zen5", "perf"], dbPath: "results/fusebench.sqlite", dbHealth: "ok (schema 3)",
                               isRoot: isRoot, selfPID: 1, sleep: sleep)
    return Dictionary(uniqueKeysWithValues: checks.map { ($0.name, $0) })
}

@Suite struct DoctorTests {
    @Test func tunedMachinePassesEverything() throws {
        let checks = doctor(try goodMachine())
        #expect(checks.count == 14)
        for c in checks.values { #expect(c.status == .pass, "\(c.name): \(c.detail)") }
        #expect(checks["perf_event_paranoid"]?.detail.hasPrefix("0: allows per-process and system-wide") == true)
        #expect(checks["CPUs and isolation"]?.detail.hasPrefix("4 CPUs online; isolated: cpu3; nohz_full: cpu3") == true)
        #expect(checks["energy (RAPL)"]?.detail == "powercap package-0; no perf power PMU")
    }

    @Test func everyWarnAndFailHasAFix() throws {
        for root in [try fakeTree([:]), try goodMachine()] {
            let all = Doctor.checks(files: SystemFiles(root: root), counterStatus: "no PMU", counterSlots: nil, pmus: [],
                                    dbPath: nil, dbHealth: nil, isRoot: false, selfPID: 1, sleep: { _ in })
            for c in all where c.status != .pass { #expect(c.fix?.isEmpty == false, "\(c.name) lacks a fix") }
        }
    }

    @Test func powersaveGovernorWarnsWithFix() throws {
        let root = try goodMachine()
        try put(root, "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "powersave\n")
        try put(root, "sys/devices/system/cpu/cpu1/cpufreq/scaling_cur_freq", "3500000\n")
        try put(root, "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor", "powersave\n")
        let c = try #require(doctor(root)["cpufreq governor"])
        #expect(c.status == .warn)
        #expect(c.detail == "powersave on cpu0-1")
        #expect(c.fix == "sudo cpupower frequency-set -g performance")
    }

    @Test func aslrTwoWarnsWithSetarch() throws {
        let root = try goodMachine()
        try put(root, "proc/sys/kernel/randomize_va_space", "2\n")
        let c = try #require(doctor(root)["ASLR"])
        #expect(c.status == .warn)
        #expect(c.fix?.contains("setarch -R") == true)
    }

    @Test func paranoidThreeFailsCountersUnlessRoot() throws {
        let root = try goodMachine()
        try put(root, "proc/sys/kernel/perf_event_paranoid", "3\n")
        let user = doctor(root, counterStatus: "perf_event_open: EACCES", slots: nil)
        #expect(user["perf_event_paranoid"]?.status == .fail)
        #expect(user["perf_event_paranoid"]?.fix?.contains("perf_event_paranoid=2") == true)
        #expect(user["counters"]?.status == .fail)
        #expect(user["counters"]?.detail.contains("EACCES") == true)
        let root0 = doctor(root, isRoot: true)
        #expect(root0["perf_event_paranoid"]?.status == .pass)
        #expect(root0["counters"]?.status == .pass)
    }

    @Test func countersUnavailableInVMWarnsWithVPMUFix() throws {
        let root = try goodMachine()
        try put(root, "proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu hypervisor\n")
        let checks = doctor(root, counterStatus: "no hardware PMU (perf_event_open cycles: ENOENT)", slots: nil)
        #expect(checks["counters"]?.status == .warn)
        #expect(checks["counters"]?.fix?.contains("pmu=on") == true)
        #expect(checks["virtualization"]?.status == .warn)
    }

    @Test func highLoadAndBusyProcessWarn() throws {
        let root = try goodMachine()
        try put(root, "proc/loadavg", "3.50 2.00 1.00 3/200 1234\n")
        try put(root, "proc/200/stat", statLine(pid: 200, comm: "swift-frontend (x)", utime: 1000, stime: 10))
        try put(root, "proc/1/stat", statLine(pid: 1, comm: "fusebench", utime: 0, stime: 0))
        var snapshots = 0
        let checks = doctor(root) { interval in
            #expect(interval == 0.1)
            snapshots += 1
            // 100 ms later: swift-frontend used 9 ticks, sshd 1, ourselves (pid 1, excluded) 10.
            try? put(root, "proc/200/stat", statLine(pid: 200, comm: "swift-frontend (x)", utime: 1008, stime: 11))
            try? put(root, "proc/100/stat", statLine(pid: 100, comm: "sshd", utime: 6, stime: 5))
            try? put(root, "proc/1/stat", statLine(pid: 1, comm: "fusebench", utime: 10, stime: 0))
        }
        #expect(snapshots == 1)
        let load = try #require(checks["load average"])
        #expect(load.status == .warn)
        #expect(load.detail.hasPrefix("3.50 (1 min) on 4 CPUs"))
        let busy = try #require(checks["other processes"])
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        #expect(busy.status == (9 / hz / 0.1 * 100 >= 25 ? .warn : .pass))
        #expect(busy.detail.hasPrefix("busiest: swift-frontend (x) (pid 200)"))
        #expect(!busy.detail.contains("fusebench"))
        #expect(busy.fix?.contains("pid 200") == true)
    }

    @Test func emptyTreeLikeThisVM() throws {
        let checks = Dictionary(uniqueKeysWithValues: Doctor.checks(
            files: SystemFiles(root: try fakeTree(["proc/cpuinfo": "processor\t: 0\nflags\t\t: fpu hypervisor\n",
                                                   "sys/devices/system/cpu/smt/control": "notsupported\n"])),
            counterStatus: "no PMU", counterSlots: nil, pmus: [], dbPath: "db.sqlite", dbHealth: "newer schema 9 (this fusebench knows 3)",
            isRoot: false, selfPID: 1, sleep: { _ in }).map { ($0.name, $0) })
        #expect(checks["cpufreq governor"]?.status == .warn)
        #expect(checks["cpufreq governor"]?.detail.hasPrefix("unavailable (VM?)") == true)
        #expect(checks["turbo/boost"]?.status == .warn)
        #expect(checks["thermal telemetry"]?.detail.hasPrefix("none: no thermal zones") == true)
        #expect(checks["energy (RAPL)"]?.status == .warn)
        #expect(checks["SMT"]?.status == .warn)
        #expect(checks["database"]?.status == .fail)
        #expect(checks["libpfm4 PMUs"]?.status == .warn)
        #expect(checks["perf_event_paranoid"]?.status == .warn)
    }

    @Test func unreadableRAPLWarns() throws {
        let root = try goodMachine()
        try put(root, "sys/class/powercap/intel-rapl:0/energy_uj", "")
        let c = try #require(doctor(root)["energy (RAPL)"])
        #expect(c.status == .warn)
        #expect(c.fix?.contains("chmod o+r") == true)
    }

    @Test func databaseHealthStates() {
        #expect(Doctor.databaseCheck(path: "a", health: "ok").status == .pass)
        #expect(Doctor.databaseCheck(path: "a", health: "absent").status == .pass)
        #expect(Doctor.databaseCheck(path: "a", health: "locked").status == .fail)
        #expect(Doctor.databaseCheck(path: "a", health: nil).status == .warn)
        #expect(Doctor.databaseCheck(path: nil, health: nil).status == .warn)
    }

    @Test func renderAndJSON() throws {
        let checks = [DoctorCheck(name: "ASLR", status: .warn, detail: "randomize_va_space 2", fix: "setarch -R"),
                      DoctorCheck(name: "SMT", status: .pass, detail: "inactive")]
        #expect(Doctor.render(checks) == "[warn] ASLR: randomize_va_space 2 — fix: setarch -R\n[pass] SMT: inactive")
        let data = try JSONEncoder().encode(checks)
        #expect(try JSONDecoder().decode([DoctorCheck].self, from: data) == checks)
        #expect(String(decoding: data, as: UTF8.self).contains("\"status\":\"warn\""))
    }

    @Test func cpuListParsing() {
        #expect(Doctor.parseCPUList("0-3,8,10-11") == [0, 1, 2, 3, 8, 10, 11])
        #expect(Doctor.parseCPUList("") == [])
        #expect(Doctor.parseCPUList("(null)") == [])
        #expect(Doctor.parseCPUList("x") == nil)
        #expect(Doctor.cpuList([0, 1, 2, 5, 7, 8]) == "cpu0-2,cpu5,cpu7-8")
    }

    @Test func statParsingHandlesParensInComm() {
        let p = Doctor.parseStat(statLine(pid: 5, comm: "a) (b", utime: 7, stime: 3))
        #expect(p?.name == "a) (b")
        #expect(p?.ticks == 10)
        #expect(Doctor.parseStat("garbage") == nil)
    }
}
