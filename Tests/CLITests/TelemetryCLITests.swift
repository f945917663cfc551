import Foundation
import Testing
@testable import FuseBench

@Suite(.serialized) struct TelemetryCLITests {
    /// A fake sysfs tree with one hot k10temp sensor and a powercap energy counter.
    func hotTree(celsius: Int) throws -> String {
        let root = try CLI.tempDir().path
        let files = [
            "proc/cpuinfo": "processor\t: 0\nmodel name\t: Fake CPU\nflags\t\t: fpu avx2\n",
            "sys/class/hwmon/hwmon0/name": "k10temp\n",
            "sys/class/hwmon/hwmon0/temp1_input": "\(celsius * 1000)\n",
            "sys/class/hwmon/hwmon0/temp1_label": "Tctl\n",
            "sys/class/powercap/intel-rapl:0/name": "package-0\n",
            "sys/class/powercap/intel-rapl:0/energy_uj": "1000000\n",
            "sys/class/powercap/intel-rapl:0/max_energy_range_uj": "262143328850\n",
        ]
        for (path, text) in files {
            let url = URL(fileURLWithPath: root).appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        return root
    }

    @Test func hotSensorFlagsSamplesAndStoresReadings() throws {
        let dir = try CLI.tempDir()
        let suite = dir.appendingPathComponent("tiny.toml")
        try tinySuite.write(to: suite, atomically: true, encoding: .utf8)
        let db = dir.appendingPathComponent("x.sqlite").path
        let r = try CLI.run(["run", suite.path, "--db", db, "--quiet", "--temperature-limit", "90"],
                            env: ["FUSEBENCH_SYSFS_ROOT": try hotTree(celsius: 99)])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("flagged as throttled"))
        let store = try ResultStore(path: db)
        let id = try store.resolve("latest")
        let samples = try store.samples(runID: id)
        #expect(!samples.isEmpty && samples.allSatisfy { $0.flags.contains(.throttled) })
        let rows = try store.telemetry(runID: id)
        let temps = rows.filter { $0.kind == "temperature" }
        #expect(temps.count == samples.count)
        #expect(temps.allSatisfy { $0.value == 99 && $0.label.contains("Tctl") })
        // The energy counter did not move: 0 J per batch, stored as measured (not invented).
        #expect(rows.filter { $0.kind == "energy" }.allSatisfy { $0.value == 0 })
        // Unavailable categories are recorded with a reason.
        #expect(rows.contains { $0.kind == "frequency" && $0.value == nil && !$0.note.isEmpty })
    }

    @Test func coolMachineIsNotFlagged() throws {
        let dir = try CLI.tempDir()
        let suite = dir.appendingPathComponent("tiny.toml")
        try tinySuite.write(to: suite, atomically: true, encoding: .utf8)
        let db = dir.appendingPathComponent("x.sqlite").path
        let r = try CLI.run(["run", suite.path, "--db", db, "--quiet"], env: ["FUSEBENCH_SYSFS_ROOT": try hotTree(celsius: 45)])
        #expect(r.status == 0, "\(r.stderr)")
        let store = try ResultStore(path: db)
        let samples = try store.samples(runID: try store.resolve("latest"))
        #expect(!samples.contains { $0.flags.contains(.throttled) })
    }

    @Test func machineWithoutSensorsSaysSo() throws {
        let dir = try CLI.tempDir()
        let suite = dir.appendingPathComponent("tiny.toml")
        try tinySuite.write(to: suite, atomically: true, encoding: .utf8)
        let empty = try CLI.tempDir().path
        let r = try CLI.run(["run", suite.path, "--db", dir.appendingPathComponent("x.sqlite").path, "--quiet"],
                            env: ["FUSEBENCH_SYSFS_ROOT": empty])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("no thermal zones"))
        #expect(r.stdout.contains("energy per inference: unavailable"))
    }

    @Test func doctorJSON() throws {
        let r = try CLI.run(["doctor", "--format", "json", "--no-peak", "--db", try CLI.tempDir().appendingPathComponent("x.sqlite").path])
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let checks = try #require(doc["checks"] as? [[String: Any]])
        #expect(checks.count >= 14)
        for c in checks where (c["status"] as? String) != "pass" { #expect(c["fix"] is String, "\(c)") }
        #expect(["pass", "warn", "fail"].contains(doc["verdict"] as? String ?? ""))
        #expect(try CLI.run(["doctor", "--format", "yaml"]).status == 3)
    }
}
