// Differential profiles: base vs head function by function for one benchmark, from the
// per-function profiles of simulated samples — which functions' instructions or cache misses
// changed most. Pure: no I/O.
import BenchModel
import Foundation

/// Base vs head per function for one benchmark, costs per iteration (one op execution).
public struct ProfileDiff: Sendable, Hashable, Codable {
    /// Per-iteration self cost of a function (or of a whole op) on one side.
    public struct Cost: Sendable, Hashable, Codable {
        /// Instructions (`Ir`) per iteration.
        public var instructions: Double
        /// L1d misses per iteration; nil without cache simulation.
        public var d1Misses: Double?
        /// LL misses per iteration; nil without cache simulation.
        public var llMisses: Double?
        /// Mispredicted branches per iteration; nil without branch simulation.
        public var branchMisses: Double?

        /// Memberwise initialiser.
        public init(instructions: Double, d1Misses: Double? = nil, llMisses: Double? = nil, branchMisses: Double? = nil) {
            self.instructions = instructions
            self.d1Misses = d1Misses
            self.llMisses = llMisses
            self.branchMisses = branchMisses
        }

        static let zero = Cost(instructions: 0)

        func adding(_ c: Cost) -> Cost {
            func sum(_ a: Double?, _ b: Double?) -> Double? { a == nil && b == nil ? nil : (a ?? 0) + (b ?? 0) }
            return Cost(instructions: instructions + c.instructions, d1Misses: sum(d1Misses, c.d1Misses),
                        llMisses: sum(llMisses, c.llMisses), branchMisses: sum(branchMisses, c.branchMisses))
        }

        func scaled(_ f: Double) -> Cost {
            Cost(instructions: instructions * f, d1Misses: d1Misses.map { $0 * f }, llMisses: llMisses.map { $0 * f },
                 branchMisses: branchMisses.map { $0 * f })
        }
    }

    /// One function, base vs head.
    public struct Row: Sendable, Hashable, Codable {
        /// Display name (head's, else base's).
        public var function: String
        /// The symbol the sides were matched by.
        public var symbol: String
        /// Its object (binary or library).
        public var object: String
        /// Base cost; nil when the function was not among base's kept functions although base
        /// dropped some (its cost there is then unknown, at most `ProfileDiff.baseKeptFloor`).
        public var base: Cost?
        /// Head cost; nil likewise (at most `ProfileDiff.headKeptFloor`).
        public var head: Cost?
        /// Share of the op's instructions on base (nil when unknown).
        public var baseShare: Double?
        /// Share of the op's instructions on head (nil when unknown).
        public var headShare: Double?
        /// True when listed for its change in cache misses rather than in instructions.
        public var listedForMisses: Bool

        /// Memberwise initialiser.
        public init(function: String, symbol: String, object: String, base: Cost?, head: Cost?, baseShare: Double?,
                    headShare: Double?, listedForMisses: Bool) {
            self.function = function
            self.symbol = symbol
            self.object = object
            self.base = base
            self.head = head
            self.baseShare = baseShare
            self.headShare = headShare
            self.listedForMisses = listedForMisses
        }

        /// Head − base instructions per iteration, an unknown side counted as 0.
        public var deltaInstructions: Double { (head?.instructions ?? 0) - (base?.instructions ?? 0) }
        /// Head − base L1d misses per iteration (nil when neither side simulated caches).
        public var deltaD1Misses: Double? { Self.delta(base?.d1Misses, head?.d1Misses) }
        /// Head − base LL misses per iteration.
        public var deltaLLMisses: Double? { Self.delta(base?.llMisses, head?.llMisses) }
        /// True when either side's cost is unknown (not kept there), so the delta is a bound.
        public var approximate: Bool { base == nil || head == nil }

        static func delta(_ b: Double?, _ h: Double?) -> Double? { b == nil && h == nil ? nil : (h ?? 0) - (b ?? 0) }
    }

    /// The benchmark (`SUITE/OP/VARIANT`).
    public var key: BenchmarkKey
    /// The functions that changed most: by |Δ instructions|, then (flagged) by Δ misses.
    public var rows: [Row]
    /// Functions with a non-zero instruction change that are not listed.
    public var omitted: Int
    /// Whole-op cost per iteration on base (every function, kept or not).
    public var baseTotal: Cost
    /// Whole-op cost per iteration on head.
    public var headTotal: Cost
    /// Simulated samples averaged on base.
    public var baseSamples: Int
    /// Simulated samples averaged on head.
    public var headSamples: Int
    /// The fewest instructions per iteration of a function kept on each side (nil when that side
    /// kept every function): a function missing there cost at most this much. Base side.
    public var baseKeptFloor: Double?
    /// The same for head.
    public var headKeptFloor: Double?

    /// Memberwise initialiser.
    public init(key: BenchmarkKey, rows: [Row], omitted: Int, baseTotal: Cost, headTotal: Cost, baseSamples: Int, headSamples: Int,
                baseKeptFloor: Double?, headKeptFloor: Double?) {
        self.key = key
        self.rows = rows
        self.omitted = omitted
        self.baseTotal = baseTotal
        self.headTotal = headTotal
        self.baseSamples = baseSamples
        self.headSamples = headSamples
        self.baseKeptFloor = baseKeptFloor
        self.headKeptFloor = headKeptFloor
    }

    /// Functions listed by |Δ instructions|.
    public static let defaultTop = 10
    /// At most this many more functions are listed for their change in cache misses.
    public static let defaultMissExtra = 3
    /// ... when their Δ L1d or LL misses is at least this share of the op's misses.
    public static let missChangeShare = 0.05

    /// Compares the profiles of one benchmark; nil when a side has none. Several samples on a side
    /// (merged runs) are averaged per iteration.
    public static func compute(key: BenchmarkKey, base: [ProfiledSample], head: [ProfiledSample], top: Int = defaultTop,
                               missExtra: Int = defaultMissExtra) -> ProfileDiff? {
        guard let b = SideCosts(base), let h = SideCosts(head) else { return nil }
        var rows: [Row] = []
        for symbol in Set(b.costs.keys).union(h.costs.keys) {
            let bc = b.cost(symbol), hc = h.cost(symbol)
            let names = h.names[symbol] ?? b.names[symbol] ?? (symbol, "")
            rows.append(Row(function: names.function, symbol: symbol, object: names.object, base: bc, head: hc,
                            baseShare: bc.flatMap { share($0.instructions, b.total.instructions) },
                            headShare: hc.flatMap { share($0.instructions, h.total.instructions) }, listedForMisses: false))
        }
        rows.sort { (abs($0.deltaInstructions), $1.symbol) > (abs($1.deltaInstructions), $0.symbol) }
        let changed = rows.filter { $0.deltaInstructions != 0 }
        var listed = Array(changed.prefix(max(0, top)))
        let shown = Set(listed.map(\.symbol))
        let d1Scale = max(b.total.d1Misses ?? 0, h.total.d1Misses ?? 0), llScale = max(b.total.llMisses ?? 0, h.total.llMisses ?? 0)
        func missWeight(_ r: Row) -> Double {
            max(d1Scale > 0 ? abs(r.deltaD1Misses ?? 0) / d1Scale : 0, llScale > 0 ? abs(r.deltaLLMisses ?? 0) / llScale : 0)
        }
        let byMisses = rows.filter { !shown.contains($0.symbol) && missWeight($0) >= missChangeShare }
            .sorted { (missWeight($0), $1.symbol) > (missWeight($1), $0.symbol) }
            .prefix(max(0, missExtra))
        listed += byMisses.map { var r = $0; r.listedForMisses = true; return r }
        let listedSymbols = Set(listed.map(\.symbol))
        return ProfileDiff(key: key, rows: listed, omitted: changed.filter { !listedSymbols.contains($0.symbol) }.count,
                           baseTotal: b.total, headTotal: h.total, baseSamples: base.count, headSamples: head.count,
                           baseKeptFloor: b.keptFloor, headKeptFloor: h.keptFloor)
    }

    static func share(_ v: Double, _ total: Double) -> Double? { total > 0 ? v / total : nil }

    /// One side's per-iteration costs by symbol, averaged over its samples.
    struct SideCosts {
        var costs: [String: Cost] = [:]
        var names: [String: (function: String, object: String)] = [:]
        var total = Cost.zero
        /// Some sample dropped functions into its rest: a symbol absent here is unknown, not 0.
        var dropped = false
        var keptFloor: Double?

        init?(_ samples: [ProfiledSample]) {
            guard !samples.isEmpty else { return nil }
            let weight = 1 / Double(samples.count)
            for s in samples {
                let perIteration = weight / Double(max(1, s.iterations))
                let entries = s.profile.functions + (s.profile.rest.map { [$0] } ?? [])
                for f in entries {
                    let c = Self.cost(f).scaled(perIteration)
                    costs[f.symbol] = (costs[f.symbol] ?? .zero).adding(c)
                    if names[f.symbol] == nil { names[f.symbol] = (f.function, f.object) }
                    total = total.adding(c)
                }
                if s.profile.rest != nil {
                    dropped = true
                    if let least = s.profile.functions.map(\.instructions).min() {
                        let v = Double(least) / Double(max(1, s.iterations))
                        keptFloor = max(keptFloor ?? 0, v)
                    }
                }
            }
        }

        /// The symbol's cost, 0 when it did not run, nil when it may hide in a rest.
        func cost(_ symbol: String) -> Cost? {
            if let c = costs[symbol] { return c }
            return dropped ? nil : .zero
        }

        static func cost(_ f: FunctionCost) -> Cost {
            Cost(instructions: Double(f.instructions), d1Misses: f.d1Misses.map { Double($0) }, llMisses: f.llMisses.map { Double($0) },
                 branchMisses: f.branchMisses.map { Double($0) })
        }
    }
}
