import ArgumentParser
import FuseBench
import Foundation

/// `fusebench doctor`: is this machine fit to benchmark on, and what to fix.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor", abstract: "Checklist of the machine's fitness for benchmarking (pass/warn/fail, with fixes).")

    @Option(help: "text | json")
    var format: String = "text"

    @Flag(name: .customLong("no-peak"), help: "Skip measuring the machine's FLOP/s and bandwidth peak.")
    var noPeak = false

    @OptionGroup var database: DatabaseOptions

    func run() throws {
        guard format == "text" || format == "json" else { throw UsageError("--format must be text or json, got '\(format)'") }
        let env = ProcessInfo.processInfo.environment
        let files = SystemFiles(environment: env)
        let availability = CounterSession.probe(syscalls: LinuxPerf(), encoder: LibpfmEncoder(), environment: env)
        let counterStatus: String
        var slots: Int?
        switch availability {
        case .available(let n):
            counterStatus = "hardware PMU: \(n) events count together in one group (probed)"
            slots = n
        case .unavailable(let reason):
            let sim = (try? Callgrind.prepare(environment: env)) != nil ? "; valgrind present, so runs use simulated counters (callgrind)" : ""
            counterStatus = "no hardware counters: \(reason)\(sim)"
        }
        let pmus = EventCatalog.list().map { "\($0.pmu) (\($0.events.count) events)" }
        let dbHealth: String
        if !database.isPostgres, !FileManager.default.fileExists(atPath: database.path) {
            dbHealth = "absent"
        } else {
            do {
                let store = try database.openForReading()
                dbHealth = "ok: schema version \(try store.schemaVersion()), \(try store.runs(limit: 1_000_000).count) runs, journal \(try store.journalMode())"
            } catch {
                dbHealth = "\(error)"
            }
        }
        var checks = Doctor.checks(files: files, counterStatus: counterStatus, counterSlots: slots, pmus: pmus,
                                   dbPath: database.displayPath, dbHealth: dbHealth)
        checks.append(DoctorCheck(name: "kernel ISA", status: (try? ISA.check()) == nil ? .fail : .pass,
                                  detail: "built for \(ISA.built.names.joined(separator: ",")); CPU has \(ISA.host.names.joined(separator: ",")); optimized path \(ISA.kernelPath.rawValue)",
                                  fix: (try? ISA.check()) == nil ? "rebuild on this machine: swift build -c release" : nil))
        var peak: PeakFigures?
        if !noPeak {
            let p = MachinePeak.measure(budgetSeconds: 0.5)
            peak = p
            let bw = p.bandwidth.map { String(format: "%@ %.0f GB/s", $0.level, $0.readGBps) }.joined(separator: ", ")
            checks.append(DoctorCheck(name: "machine peak", status: .pass,
                                      detail: String(format: "FMA %.0f GFLOP/s (%@, one thread); read bandwidth %@", p.flopsPerSecond / 1e9, p.kernelPath.rawValue, bw)))
        }
        let fingerprint = MachineProbe.fingerprint(files: files, isaHost: ISA.host.names, pmuAvailable: slots != nil)
        if format == "json" {
            struct Doc: Encodable {
                var checks: [DoctorCheck]
                var machine: MachineFingerprint
                var peak: PeakFigures?
                var verdict: String
            }
            let verdict = checks.contains { $0.status == .fail } ? "fail" : checks.contains { $0.status == .warn } ? "warn" : "pass"
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try e.encode(Doc(checks: checks, machine: fingerprint, peak: peak, verdict: verdict)), as: UTF8.self))
        } else {
            print("machine: \(fingerprint.cpuModel) · \(fingerprint.logicalCPUs) CPUs · kernel \(fingerprint.kernel) · caches \(fingerprint.caches.joined(separator: ", "))")
            print(Doctor.render(checks))
        }
    }
}
