// Per-function profiles of simulated (callgrind) sample batches: the self cost of the functions
// that executed the measured iterations, kept compactly (the top functions and the rest summed),
// so that two runs of an op can be compared function by function ("why is it slower").
import Foundation

/// Self cost of one function (or, for `FunctionProfile.rest`, of several summed) over one
/// simulated sample batch: totals over the batch's iterations, like the sample's counters.
public struct FunctionCost: Codable, Sendable, Hashable {
    /// Function name: demangled (`swift demangle --simplified`) when it was a Swift symbol and a
    /// demangler was available, else as callgrind names it. `(other functions)` for the rest.
    public var function: String
    /// The symbol as callgrind names it (mangled for Swift): the function's identity when two
    /// profiles are compared, whatever demangler each run had.
    public var symbol: String
    /// The binary or library the function is in (callgrind `ob=`), `???` when unknown.
    public var object: String
    /// Its source file (callgrind `fl=`), `???` without debug information.
    public var file: String
    /// How many functions this cost sums: 1, or the number of functions in the rest.
    public var count: Int
    /// Instructions executed (callgrind `Ir`).
    public var instructions: UInt64
    /// L1 data cache misses, reads and writes (`D1mr + D1mw`); nil without cache simulation.
    public var d1Misses: UInt64?
    /// Last-level cache misses, instruction and data (`ILmr + DLmr + DLmw`, the same sum as the
    /// `cache-misses` counter of a sim sample); nil without cache simulation.
    public var llMisses: UInt64?
    /// Mispredicted branches, conditional and indirect (`Bcm + Bim`); nil without branch simulation.
    public var branchMisses: UInt64?

    /// Memberwise initialiser.
    public init(function: String, symbol: String? = nil, object: String = "???", file: String = "???", count: Int = 1, instructions: UInt64,
                d1Misses: UInt64? = nil, llMisses: UInt64? = nil, branchMisses: UInt64? = nil) {
        self.function = function
        self.symbol = symbol ?? function
        self.object = object
        self.file = file
        self.count = count
        self.instructions = instructions
        self.d1Misses = d1Misses
        self.llMisses = llMisses
        self.branchMisses = branchMisses
    }

    /// The name of the row that sums the functions a profile did not keep.
    public static let restName = "(other functions)"

    /// Adds `other`'s costs (and count) to this one; a miss count stays nil only when both are nil.
    public mutating func add(_ other: FunctionCost) {
        count += other.count
        instructions &+= other.instructions
        func sum(_ a: UInt64?, _ b: UInt64?) -> UInt64? { a == nil && b == nil ? nil : (a ?? 0) &+ (b ?? 0) }
        d1Misses = sum(d1Misses, other.d1Misses)
        llMisses = sum(llMisses, other.llMisses)
        branchMisses = sum(branchMisses, other.branchMisses)
    }
}

/// The per-function profile of one simulated sample batch, kept compactly: the functions with
/// the most instructions plus any function with a noticeable share of the cache misses, most
/// instructions first, and everything else summed in `rest`. The kept costs plus `rest` add up to
/// the batch's totals.
public struct FunctionProfile: Codable, Sendable, Hashable {
    /// Kept functions, most instructions first (ties by symbol).
    public var functions: [FunctionCost]
    /// The functions not kept, summed (`count` says how many); nil when every function was kept.
    public var rest: FunctionCost?

    /// Functions kept by instructions (the top N by `Ir`).
    public static let defaultTop = 25
    /// A function with at least this share of the batch's L1d or LL misses is kept too.
    public static let defaultMissShare = 0.01
    /// At most this many functions are kept for their misses, beyond the top by instructions.
    public static let defaultMissExtra = 25

    /// Memberwise initialiser (`functions` are kept in the given order).
    public init(functions: [FunctionCost], rest: FunctionCost?) {
        self.functions = functions
        self.rest = rest
    }

    /// Selects from every function of a batch: the `top` with the most instructions, plus (at
    /// most `missExtra`, most misses first) any other with at least `missShare` of the batch's
    /// L1d or LL misses; the others are summed into `rest`.
    public init(selecting all: [FunctionCost], top: Int = defaultTop, missShare: Double = defaultMissShare,
                missExtra: Int = defaultMissExtra) {
        let sorted = all.sorted { ($0.instructions, $1.symbol) > ($1.instructions, $0.symbol) }
        var kept = Array(sorted.prefix(max(0, top)))
        var others = Array(sorted.dropFirst(max(0, top)))
        let d1Total = all.reduce(UInt64(0)) { $0 &+ ($1.d1Misses ?? 0) }
        let llTotal = all.reduce(UInt64(0)) { $0 &+ ($1.llMisses ?? 0) }
        func share(_ v: UInt64?, _ total: UInt64) -> Double { total == 0 ? 0 : Double(v ?? 0) / Double(total) }
        func missWeight(_ f: FunctionCost) -> Double { max(share(f.d1Misses, d1Total), share(f.llMisses, llTotal)) }
        let byMisses = others.enumerated()
            .filter { missWeight($0.element) >= missShare && missWeight($0.element) > 0 }
            .sorted { missWeight($0.element) > missWeight($1.element) }
            .prefix(max(0, missExtra))
        let extra = Set(byMisses.map(\.offset))
        kept += others.enumerated().filter { extra.contains($0.offset) }.map(\.element)
        others = others.enumerated().filter { !extra.contains($0.offset) }.map(\.element)
        var rest: FunctionCost?
        for f in others {
            if rest == nil {
                rest = FunctionCost(function: FunctionCost.restName, object: "", file: "", count: 0, instructions: 0,
                                    d1Misses: f.d1Misses.map { _ in 0 }, llMisses: f.llMisses.map { _ in 0 },
                                    branchMisses: f.branchMisses.map { _ in 0 })
            }
            rest?.add(f)
        }
        self.init(functions: kept, rest: rest)
    }

    /// Shows each kept function whose symbol `names` maps under that name (e.g. demangled);
    /// symbols stay as they were, so profiles still compare by symbol.
    public mutating func rename(_ names: [String: String]) {
        for i in functions.indices {
            if let n = names[functions[i].symbol] { functions[i].function = n }
        }
    }

    /// Every function's cost summed (kept and rest): the batch's totals.
    public var total: FunctionCost {
        var t = FunctionCost(function: "(total)", object: "", file: "", count: 0, instructions: 0)
        for f in functions + (rest.map { [$0] } ?? []) { t.add(f) }
        return t
    }

    /// How many functions executed in the batch (kept plus those summed in `rest`).
    public var functionCount: Int { functions.count + (rest?.count ?? 0) }
}

/// The per-function profile of one simulated sample batch, with the benchmark and the batch it
/// belongs to (as the store returns them).
public struct ProfiledSample: Sendable, Hashable, BenchmarkIdentified {
    /// Suite of the op.
    public var suite: String
    /// Op name within its suite.
    public var op: String
    /// Variant name.
    public var variant: String
    /// The sample's position in its run's measurement order.
    public var sequence: Int
    /// Iterations of the batch (the profile's costs are totals over them).
    public var iterations: Int
    /// The profile.
    public var profile: FunctionProfile

    /// A profile of benchmark `key`'s batch `sequence` of `iterations` iterations.
    public init(key: BenchmarkKey, sequence: Int, iterations: Int, profile: FunctionProfile) {
        suite = key.suite
        op = key.op
        variant = key.variant
        self.sequence = sequence
        self.iterations = iterations
        self.profile = profile
    }
}
