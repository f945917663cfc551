// Differential profiles: matching functions by symbol, per-iteration scaling, ordering by the
// change in instructions, functions listed for their misses, and unknown (not kept) sides.
import BenchModel
import Testing
@testable import Analysis

@Suite struct ProfileDiffTests {
    static let key = BenchmarkKey(suite: "s", op: "op", variant: "optimized")

    static func cost(_ symbol: String, _ ir: UInt64, d1: UInt64 = 0, ll: UInt64 = 0, name: String? = nil) -> FunctionCost {
        FunctionCost(function: name ?? symbol, symbol: symbol, object: "bin", file: "???", instructions: ir, d1Misses: d1, llMisses: ll, branchMisses: 0)
    }

    static func sample(_ functions: [FunctionCost], rest: FunctionCost? = nil, iterations: Int = 1) -> ProfiledSample {
        ProfiledSample(key: key, sequence: 0, iterations: iterations, profile: FunctionProfile(functions: functions, rest: rest))
    }

    @Test func orderedByAbsoluteInstructionChangePerIteration() throws {
        // Base: 2 iterations; head: 4 iterations. Per iteration: a 100 → 100, b 50 → 10 (−40),
        // c 10 → 70 (+60), d 0 → 5 (new function, base kept everything so it was 0 there).
        let base = Self.sample([Self.cost("a", 200), Self.cost("b", 100), Self.cost("c", 20)], iterations: 2)
        let head = Self.sample([Self.cost("a", 400), Self.cost("c", 280), Self.cost("b", 40), Self.cost("d", 20)], iterations: 4)
        let d = try #require(ProfileDiff.compute(key: Self.key, base: [base], head: [head]))
        #expect(d.rows.map(\.symbol) == ["c", "b", "d"])   // a did not change: not listed
        #expect(d.rows.map(\.deltaInstructions) == [60, -40, 5])
        #expect(d.rows.allSatisfy { !$0.approximate })
        #expect(d.baseTotal.instructions == 160 && d.headTotal.instructions == 185)
        #expect(d.rows[0].baseShare == 10.0 / 160 && d.rows[0].headShare == 70.0 / 185)
        #expect(d.omitted == 0)
        // Only the top N by |Δ| are listed; the others are counted.
        let top1 = try #require(ProfileDiff.compute(key: Self.key, base: [base], head: [head], top: 1))
        #expect(top1.rows.map(\.symbol) == ["c"] && top1.omitted == 2)
    }

    @Test func matchedBySymbolNotDisplayName() throws {
        // The same symbol demangled on one side only is one function; two symbols that demangle
        // to the same text stay two.
        let base = Self.sample([Self.cost("$sX", 10), Self.cost("$sY", 10, name: "f()")])
        let head = Self.sample([Self.cost("$sX", 30, name: "g()"), Self.cost("$sY", 10, name: "g()")])
        let d = try #require(ProfileDiff.compute(key: Self.key, base: [base], head: [head]))
        #expect(d.rows.count == 1)
        #expect(d.rows[0].symbol == "$sX" && d.rows[0].function == "g()" && d.rows[0].deltaInstructions == 20)
    }

    @Test func functionNotKeptOnOneSideIsUnknownNotZero() throws {
        let rest = FunctionCost(function: FunctionCost.restName, object: "", file: "", count: 30, instructions: 90, d1Misses: 0, llMisses: 0, branchMisses: 0)
        let base = Self.sample([Self.cost("a", 100), Self.cost("b", 20)], rest: rest)
        let head = Self.sample([Self.cost("a", 100), Self.cost("n", 60), Self.cost("b", 20)], rest: rest)
        let d = try #require(ProfileDiff.compute(key: Self.key, base: [base], head: [head]))
        let n = try #require(d.rows.first { $0.symbol == "n" })
        #expect(n.base == nil && n.approximate && n.baseShare == nil)
        // A function missing from a side that dropped some cost at most that side's smallest kept one.
        #expect(d.baseKeptFloor == 20 && d.headKeptFloor == 20)
        let full = try #require(ProfileDiff.compute(key: Self.key, base: [Self.sample([Self.cost("a", 1)])], head: [head]))
        #expect(full.baseKeptFloor == nil && full.rows.first { $0.symbol == "n" }?.base?.instructions == 0)
    }

    @Test func missChangesAreListedToo() throws {
        // Instructions change in many functions a little; one function's LL misses jump.
        var base: [FunctionCost] = (0..<12).map { Self.cost("f\($0)", 1000, ll: 1) }
        var head: [FunctionCost] = (0..<12).map { Self.cost("f\($0)", UInt64(1000 + 10 * ($0 + 1)), ll: 1) }
        base.append(Self.cost("cachey", 500, d1: 10, ll: 10))
        head.append(Self.cost("cachey", 500, d1: 10, ll: 400))
        let d = try #require(ProfileDiff.compute(key: Self.key, base: [Self.sample(base)], head: [Self.sample(head)]))
        #expect(d.rows.count == 11)
        #expect(d.rows.prefix(10).allSatisfy { !$0.listedForMisses })
        #expect(d.rows.last?.symbol == "cachey" && d.rows.last?.listedForMisses == true)
        #expect(d.rows.last?.deltaLLMisses == 390)
        #expect(d.omitted == 2)
    }

    @Test func noProfileOnASideGivesNoDiff() {
        #expect(ProfileDiff.compute(key: Self.key, base: [], head: [Self.sample([Self.cost("a", 1)])]) == nil)
    }

    @Test func samplesOfASideAreAveraged() throws {
        let base = [Self.sample([Self.cost("a", 100)]), Self.sample([Self.cost("a", 300)])]
        let head = [Self.sample([Self.cost("a", 200)])]
        let d = try #require(ProfileDiff.compute(key: Self.key, base: base, head: head))
        #expect(d.rows.isEmpty && d.baseTotal.instructions == 200 && d.baseSamples == 2)
    }
}
