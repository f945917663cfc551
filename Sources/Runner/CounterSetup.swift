import BenchModel
import Counters
import Foundation
import Kernels

/// Outcome of choosing counters for a run.
struct CounterChoice {
    var session: CounterSession?
    /// Callgrind runner when counts come from the `sim` backend.
    var simulator: Callgrind?
    /// The counters the run uses.
    var mode: CounterSource
    /// Whether this machine has a usable hardware PMU — probed whatever the mode, so that the
    /// machine fingerprint does not depend on `--counters`.
    var pmuAvailable: Bool
    /// Human-readable statement printed at the start of the run and stored with it.
    var note: String
    var unsupported: [String: String]
}

enum CounterSetup {
    /// Opens the requested events according to `mode`; never silently drops anything.
    /// Explicitly requested events that are unknown or unsupported are errors; unsupported
    /// default events are reported by name and skipped. `auto` without a PMU falls back to
    /// simulated counters (callgrind) when valgrind is usable, else to a timing-only run.
    static func choose(mode: CounterMode, events: [String], explicit: Bool, environment: [String: String],
                       syscalls: PerfSyscalls = LinuxPerf(), encoder: EventEncoder = LibpfmEncoder()) throws -> CounterChoice {
        // The machine's capability, independent of the mode and of FUSEBENCH_NO_COUNTERS (which only
        // selects the mode): part of the machine fingerprint.
        let machine = CounterSession.probeMachine(syscalls: syscalls, encoder: encoder, environment: environment)
        let pmu: Bool
        if case .available = machine { pmu = true } else { pmu = false }
        // What this run may use: unavailable when the variable disables counters.
        let availability = environment[CounterSession.disableVariable] == nil
            ? machine : CounterSession.probe(syscalls: syscalls, encoder: encoder, environment: environment)
        switch mode {
        case .none:
            return CounterChoice(session: nil, simulator: nil, mode: .none, pmuAvailable: pmu,
                                 note: "counters off (--counters none): timing-only run", unsupported: [:])
        case .sim:
            do {
                let sim = try SimWorker.prepare(environment: environment)
                return CounterChoice(session: nil, simulator: sim.callgrind, mode: .sim, pmuAvailable: pmu, note: sim.note, unsupported: [:])
            } catch let e as Callgrind.Unavailable {
                throw RunError("--counters sim: \(e.description)")
            }
        case .auto, .hw:
            break
        }
        switch availability {
        case .unavailable(let reason):
            if mode == .hw { throw RunError("--counters hw: hardware counters are unavailable: \(reason)") }
            if environment[CounterSession.disableVariable] == "1" {
                return CounterChoice(session: nil, simulator: nil, mode: .none, pmuAvailable: pmu,
                                     note: "counters unavailable (\(reason)): timing-only run", unsupported: [:])
            }
            do {
                let sim = try SimWorker.prepare(environment: environment)
                return CounterChoice(session: nil, simulator: sim.callgrind, mode: .sim, pmuAvailable: pmu,
                                     note: "no hardware counters (\(reason)); using simulated counters: \(sim.note)", unsupported: [:])
            } catch let e as Callgrind.Unavailable {
                return CounterChoice(session: nil, simulator: nil, mode: .none, pmuAvailable: pmu,
                                     note: "counters unavailable (\(reason)); simulated counters unavailable too (\(e.description)): timing-only run",
                                     unsupported: [:])
            }
        case .available(let slots):
            let session: CounterSession
            do {
                session = try CounterSession(events: events, slots: slots, syscalls: syscalls, encoder: encoder, strict: explicit)
            } catch let e as CounterError {
                throw RunError("counters: \(e.description)")
            }
            var note = "hardware counters: \(session.plan.groups.count) group(s) of ≤ \(slots) events (probed), rotated across repetitions"
            if !session.plan.unsupported.isEmpty {
                let list = session.plan.unsupported.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
                note += "; not supported here, skipped: \(list)"
            }
            return CounterChoice(session: session, simulator: nil, mode: .hw, pmuAvailable: pmu, note: note,
                                 unsupported: session.plan.unsupported)
        }
    }
}

/// Chooses the executable the callgrind pass runs.
///
/// valgrind 3.19 cannot execute AVX-512 instructions (it raises SIGILL), so when this binary's
/// kernels were built for AVX-512 the sim pass needs a second build of this executable (fusebench,
/// or a user's executable of the same name) for an AVX2 CPU: `tools/setup` makes it in
/// `.build-sim/` (`FUSEBENCH_TARGET_CPU=znver2`), or point
/// `FUSEBENCH_SIM_EXECUTABLE` at one. Its counts are then those of the AVX2 code path, and the run
/// says so; a worker older than this binary is used with a warning in the run's note (it may
/// count stale code).
enum SimWorker {
    static func prepare(environment: [String: String]) throws -> (callgrind: Callgrind, note: String) {
        let me = Harness.executablePath
        guard ISA.built.contains(.avx512f) else {
            let cg = try Callgrind.prepare(executable: me, environment: environment)
            return (cg, "callgrind (instructions, simulated caches and branches; this binary, \(ISA.kernelPath.rawValue) path), one extra pass per variant")
        }
        var candidates: [String] = []
        if let e = environment["FUSEBENCH_SIM_EXECUTABLE"] { candidates.append(e) }
        candidates += defaultCandidates(executable: me)
        guard let worker = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw Callgrind.Unavailable(description: "this binary's kernels use AVX-512, which valgrind 3.19 cannot execute, and no AVX2 sim worker was found (\(buildHint(executable: me)), or set FUSEBENCH_SIM_EXECUTABLE)")
        }
        var stale = ""
        let fm = FileManager.default
        if let wd = try? fm.attributesOfItem(atPath: worker)[.modificationDate] as? Date,
           let md = try? fm.attributesOfItem(atPath: me)[.modificationDate] as? Date, wd < md.addingTimeInterval(-120) {
            stale = " WARNING: the sim worker was built before this binary; if kernels changed since, rebuild it (\(buildHint(executable: me)))."
        }
        let cg = try Callgrind.prepare(executable: worker, environment: environment)
        return (cg, "callgrind (instructions, simulated caches and branches) on the AVX2 build \(worker) — valgrind cannot run AVX-512, so counts are of the AVX2 code path; one extra pass per variant" + stale)
    }

    /// How to build the sim worker for `executable`: `tools/setup --sim` for fusebench itself, the
    /// equivalent `swift build` in a user's package for an executable of another name.
    static func buildHint(executable: String) -> String {
        let name = URL(fileURLWithPath: executable).lastPathComponent
        if name == "fusebench" { return "build it with `tools/setup --sim`" }
        return "build it in your package with `FUSEBENCH_TARGET_CPU=znver2 swift build -c release --scratch-path .build-sim --product \(name)`"
    }

    /// Where `tools/setup --sim` (or the same command for a user's package) puts the AVX2 build of
    /// `executable`: `<root>/.build/<triple>/release/NAME` → `<root>/.build-sim/release/NAME`, with
    /// NAME this executable's own file name (`fusebench`, or a user's executable built with
    /// `FuseBenchCLI`), looked for in the 4 folders above it.
    static func defaultCandidates(executable: String) -> [String] {
        let name = URL(fileURLWithPath: executable).lastPathComponent
        var candidates: [String] = []
        var dir = URL(fileURLWithPath: executable).deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir.appendingPathComponent(".build-sim/release").appendingPathComponent(name).path)
            dir = dir.deletingLastPathComponent()
        }
        return candidates
    }
}
