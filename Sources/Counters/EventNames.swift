// Counters — is an event name known at all? Checked for every suite `counters` entry in every
// counter mode, before anything runs, so a typo is an error even on a machine (or in a mode) that
// would not count it: a name is known when libpfm4 can encode it (without a PMU, libpfm4 still
// knows the kernel's generic events), when it is a `perf list` alias, or when the simulated
// backend (callgrind) provides it. Whether this machine can *count* a known event is decided later,
// when the counter session opens it.
import Foundation

/// Validation of counter event names.
public enum EventNames {
    /// Names the simulated backend (`--counters sim`) reports: the `perf list` spellings
    /// `CallgrindOutput.counterValues()` maps callgrind's totals onto, and the raw callgrind events.
    public static let simulated: Set<String> = {
        let mapped = ["instructions", "L1-dcache-loads", "L1-dcache-stores", "L1-dcache-load-misses", "L1-dcache-store-misses",
                      "L1-icache-load-misses", "LLC-load-misses", "LLC-store-misses", "cache-misses", "branches", "branch-misses"]
        let raw = ["Ir", "Dr", "Dw", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw", "Bc", "Bcm", "Bi", "Bim"].map { "callgrind::\($0)" }
        return Set(mapped + raw)
    }()

    /// Nil when `name` is a known event; otherwise why not (libpfm4's answer, plus a hint for the
    /// simulated backend's names).
    public static func unknownReason(_ name: String, encoder: EventEncoder = LibpfmEncoder()) -> String? {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return "empty event name" }
        if simulated.contains(trimmed) || EventAliases.alias(for: trimmed) != nil { return nil }
        if trimmed.hasPrefix("callgrind::") {
            return "callgrind provides \(simulated.filter { $0.hasPrefix("callgrind::") }.sorted().joined(separator: ", "))"
        }
        do {
            _ = try encoder.encode(trimmed)
            return nil
        } catch let CounterError.unknownEvent(_, reason) {
            return "\(reason); not a perf event name (`fusebench list events`) nor a simulated one"
        } catch {
            return "\(error)"
        }
    }
}
