// The `sim` counter backend: counts from callgrind (valgrind) instead of a hardware PMU, for
// machines without one. Deterministic instruction counts plus simulated cache and branch
// behaviour. Values carry backend `.sim` and are never compared with `.hw` values.
import BenchModel
import Foundation

/// Totals parsed from a callgrind output file (`callgrind.out.*`).
public struct CallgrindOutput: Sendable, Hashable {
    /// Event name → total over the collected region (`Ir`, `D1mr`, `Bcm`, ...).
    public var totals: [String: UInt64]
    /// The simulated cache hierarchy, from the `desc:` lines (e.g. `D1 cache: 49152 B, 64 B, 12-way associative`).
    public var caches: [String]

    /// Error for a file that is not a callgrind output.
    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Parses callgrind's text format: `events:` names the columns, `totals:` (or, in older
    /// files, `summary:`) holds the sums; trailing zero columns may be omitted.
    public init(text: String, source: String = "callgrind output") throws {
        var events: [String] = []
        var totalsLine: [UInt64]?
        var summaryLine: [UInt64]?
        var caches: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("events:") {
                events = line.dropFirst("events:".count).split(separator: " ").map(String.init)
            } else if line.hasPrefix("totals:") {
                totalsLine = try Self.numbers(line.dropFirst("totals:".count), source: source)
            } else if line.hasPrefix("summary:") {
                summaryLine = try Self.numbers(line.dropFirst("summary:".count), source: source)
            } else if line.hasPrefix("desc:"), line.contains("cache:") {
                caches.append(line.dropFirst("desc:".count).trimmingCharacters(in: .whitespaces))
            }
        }
        guard !events.isEmpty else { throw ParseError(description: "\(source): no 'events:' line (not a callgrind output file?)") }
        guard let values = totalsLine ?? summaryLine else { throw ParseError(description: "\(source): no 'totals:' or 'summary:' line") }
        guard values.count <= events.count else {
            throw ParseError(description: "\(source): \(values.count) totals for \(events.count) events")
        }
        var totals: [String: UInt64] = [:]
        for (i, e) in events.enumerated() { totals[e] = i < values.count ? values[i] : 0 }
        self.totals = totals
        self.caches = caches
    }

    private static func numbers(_ s: Substring, source: String) throws -> [UInt64] {
        try s.split(separator: " ").map {
            guard let v = UInt64($0) else { throw ParseError(description: "\(source): non-numeric total '\($0)'") }
            return v
        }
    }

    /// Counter values for `iterations` collected iterations, named like the hardware events
    /// (`instructions`, `L1-dcache-load-misses`, `cache-misses`, `branch-misses`, ...) plus the raw
    /// callgrind events as `callgrind::NAME`. Values are totals over the batch, like hardware deltas.
    public func counterValues() -> [CounterValue] {
        func t(_ k: String) -> UInt64 { totals[k] ?? 0 }
        var named: [(String, UInt64)] = [("instructions", t("Ir"))]
        if totals["D1mr"] != nil {
            named += [
                ("L1-dcache-loads", t("Dr")), ("L1-dcache-stores", t("Dw")),
                ("L1-dcache-load-misses", t("D1mr")), ("L1-dcache-store-misses", t("D1mw")),
                ("L1-icache-load-misses", t("I1mr")),
                ("LLC-load-misses", t("DLmr")), ("LLC-store-misses", t("DLmw")),
                ("cache-misses", t("ILmr") + t("DLmr") + t("DLmw")),
            ]
        }
        if totals["Bc"] != nil {
            named += [("branches", t("Bc") + t("Bi")), ("branch-misses", t("Bcm") + t("Bim"))]
        }
        named += totals.keys.sorted().map { ("callgrind::\($0)", totals[$0]!) }
        return named.map { CounterValue(event: $0.0, value: Double($0.1), raw: $0.1, timeEnabled: 0, timeRunning: 0, backend: .sim) }
    }
}
