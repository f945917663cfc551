// Counters — ReadCost: what one `read()` of an enabled counter group costs on this machine
// (≈ 8–9 µs on a Zen 3 guest), so the runner can size batches to keep it negligible.
import BenchModel
import CPerfEvent

/// Measures the cost of reading a counter group.
public enum ReadCost {
    /// Durations in ns (CLOCK_MONOTONIC_RAW) of `trials` single reads of group `group`, taken while the
    /// group is enabled (it is enabled for the measurement if it was not, and left as it was found).
    /// Three untimed reads warm up first.
    /// - Throws: `CounterError` when the group cannot be enabled or read.
    public static func samples(session: CounterSession, group: Int, trials: Int) throws -> [Double] {
        let wasEnabled = session.isEnabled(group: group)
        if !wasEnabled { try session.enable(group: group) }
        defer { if !wasEnabled { try? session.disable(group: group) } }
        for _ in 0..<3 { _ = try session.read(group: group) }
        var out: [Double] = []
        out.reserveCapacity(max(0, trials))
        for _ in 0..<max(0, trials) {
            let t0 = fb_monotonic_raw_ns()
            _ = try session.read(group: group)
            let t1 = fb_monotonic_raw_ns()
            out.append(Double(t1 &- t0))
        }
        return out
    }

    /// Median ns of one `read()` of the enabled group `group` over `trials` reads.
    /// Returns NaN when nothing could be measured (no trials, or the group cannot be read), so a
    /// failed measurement is never mistaken for a cost.
    public static func measure(session: CounterSession, group: Int, trials: Int) -> Double {
        guard let s = try? samples(session: session, group: group, trials: trials) else { return .nan }
        return median(s)
    }

    /// Median of `values` (mean of the middle two for an even count); NaN when empty.
    static func median(_ values: [Double]) -> Double { Median.of(values) }
}
