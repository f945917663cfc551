// The `sim` counter backend: counts from callgrind (valgrind) instead of a hardware PMU, for
// machines without one. Deterministic instruction counts plus simulated cache and branch
// behaviour. Values carry backend `.sim` and are never compared with `.hw` values.
import BenchModel
import Foundation

/// Totals, and the self cost of every function, parsed from a callgrind output file (`callgrind.out.*`).
public struct CallgrindOutput: Sendable, Hashable {
    /// Event name → total over the collected region (`Ir`, `D1mr`, `Bcm`, ...).
    public var totals: [String: UInt64]
    /// The simulated cache hierarchy, from the `desc:` lines (e.g. `D1 cache: 49152 B, 64 B, 12-way associative`).
    public var caches: [String]
    /// The event names, in the order of the `events:` line (the columns of `CallgrindFunction.cost`).
    public var events: [String]
    /// Self cost of every function that executed in the collected region, most instructions first;
    /// empty when `functionsProblem` is set.
    public var functions: [CallgrindFunction]
    /// Why the per-function costs could not be read (the totals can still be), else nil.
    public var functionsProblem: String?

    /// Error for a file that is not a callgrind output.
    public struct ParseError: Error, CustomStringConvertible, Sendable {
        /// What is wrong, starting with the source (and line, for the body).
        public var description: String
    }

    /// Parses callgrind's text format: `events:` names the columns, `totals:` (or, in older
    /// files, `summary:`) holds the sums; trailing zero columns may be omitted. The body is read
    /// for each function's self cost (`CallgrindFunctionParser`); a body it cannot read leaves
    /// `functions` empty and says why in `functionsProblem` instead of failing the totals.
    public init(text: String, source: String = "callgrind output") throws {
        var events: [String] = []
        var totalsLine: [UInt64]?
        var summaryLine: [UInt64]?
        var caches: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("events:") {
                if events.isEmpty { events = line.dropFirst("events:".count).split(separator: " ").map(String.init) }
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
        self.events = events
        do {
            functions = try CallgrindFunctionParser.parse(text: text, source: source)
            functionsProblem = nil
        } catch let e as ParseError {
            functions = []
            functionsProblem = e.description
        }
    }

    private static func numbers(_ s: Substring, source: String) throws -> [UInt64] {
        try s.split(separator: " ").map {
            guard let v = UInt64($0) else { throw ParseError(description: "\(source): non-numeric total '\($0)'") }
            return v
        }
    }

    /// The compact per-function profile of this output (see `FunctionProfile.init(selecting:)`),
    /// with names as callgrind gives them; nil when the functions could not be read.
    public func functionProfile(top: Int = FunctionProfile.defaultTop, missShare: Double = FunctionProfile.defaultMissShare) -> FunctionProfile? {
        guard functionsProblem == nil else { return nil }
        let index = Dictionary(events.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { a, _ in a })
        func sum(_ f: CallgrindFunction, _ names: [String]) -> UInt64? {
            let columns = names.compactMap { index[$0] }
            guard !columns.isEmpty else { return nil }
            return columns.reduce(UInt64(0)) { $0 &+ f.cost[$1] }
        }
        let costs = functions.map { f in
            FunctionCost(function: f.name, object: f.object, file: f.file, instructions: sum(f, ["Ir"]) ?? 0,
                         d1Misses: sum(f, ["D1mr", "D1mw"]), llMisses: sum(f, ["ILmr", "DLmr", "DLmw"]),
                         branchMisses: sum(f, ["Bcm", "Bim"]))
        }
        return FunctionProfile(selecting: costs, top: top, missShare: missShare)
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
