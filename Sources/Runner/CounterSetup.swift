import BenchModel
import Counters

/// Outcome of choosing counters for a run.
struct CounterChoice {
    var session: CounterSession?
    /// `hw` or `none`.
    var mode: String
    /// Human-readable statement printed at the start of the run and stored with it.
    var note: String
    var unsupported: [String: String]
}

enum CounterSetup {
    /// Opens the requested events according to `mode`; never silently drops anything.
    /// Explicitly requested events that are unknown or unsupported are errors; unsupported
    /// default events are reported by name and skipped.
    static func choose(mode: CounterMode, events: [String], explicit: Bool, environment: [String: String],
                       syscalls: PerfSyscalls = LinuxPerf(), encoder: EventEncoder = LibpfmEncoder()) throws -> CounterChoice {
        if mode == .none {
            return CounterChoice(session: nil, mode: "none", note: "counters off (--counters none): timing-only run", unsupported: [:])
        }
        switch CounterSession.probe(syscalls: syscalls, encoder: encoder, environment: environment) {
        case .unavailable(let reason):
            if mode == .hw { throw RunError("--counters hw: hardware counters are unavailable: \(reason)") }
            return CounterChoice(session: nil, mode: "none", note: "counters unavailable (\(reason)): timing-only run", unsupported: [:])
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
            return CounterChoice(session: session, mode: "hw", note: note, unsupported: session.plan.unsupported)
        }
    }
}
