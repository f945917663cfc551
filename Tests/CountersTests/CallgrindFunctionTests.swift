// The per-function self costs read from callgrind output files, checked against
// callgrind_annotate's numbers for the same files (valgrind 3.19, `--inclusive=no`).
import BenchModel
import Foundation
import Testing
@testable import Counters

@Suite struct CallgrindFunctionTests {
    func function(_ out: CallgrindOutput, _ name: String) -> CallgrindFunction? { out.functions.first { $0.name == name } }
    func cost(_ out: CallgrindOutput, _ f: CallgrindFunction, _ event: String) -> UInt64? {
        out.events.firstIndex(of: event).map { f.cost[$0] }
    }

    /// A small C program (fixture `callgrind.out.functions`, `positions: line`): `main` calls
    /// `work` 3 times, which calls `sum_rows` (with `mix` inlined from util.h: `fi=`/`fe=` lines)
    /// and `strided`. callgrind_annotate lists util.h:sum_rows 786,432 Ir and prog.c:sum_rows
    /// 589,851 Ir (one function, split by file), strided 61,464, work 39, main 25, and
    /// `(below main)` with no self cost although its `calls=` line carries 1,437,820.
    @Test(arguments: ["callgrind.out.functions", "callgrind.out.functions-instr"])
    func selfCostsMatchCallgrindAnnotate(file: String) throws {
        let out = try CallgrindOutput(text: try fixture(file), source: file)
        #expect(out.functionsProblem == nil)
        #expect(out.functions.map(\.name) == ["sum_rows", "strided", "work", "main"])
        let sumRows = try #require(function(out, "sum_rows"))
        #expect(cost(out, sumRows, "Ir") == 786_432 + 589_851)
        #expect(cost(out, sumRows, "Dr") == 196_608 + 9)
        #expect(cost(out, sumRows, "D1mr") == 24_579 + 6)
        #expect(cost(out, sumRows, "DLmr") == 8_193 + 1)
        #expect(cost(out, sumRows, "Bcm") == 25)
        #expect(sumRows.file == "/src/prog.c" && sumRows.object == "/src/prog")
        let strided = try #require(function(out, "strided"))
        #expect(cost(out, strided, "Ir") == 61_464 && cost(out, strided, "D1mr") == 12_291 && cost(out, strided, "Bcm") == 19)
        // The call lines' inclusive costs are not self cost: main and work keep only their own.
        #expect(cost(out, try #require(function(out, "work")), "Ir") == 39)
        #expect(cost(out, try #require(function(out, "main")), "Ir") == 25)
        #expect(function(out, "(below main)") == nil)
        // Self costs add up to the totals, event by event.
        for (i, e) in out.events.enumerated() {
            #expect(out.functions.reduce(UInt64(0)) { $0 + $1.cost[i] } == out.totals[e], "event \(e)")
        }
    }

    /// The same check made live: callgrind_annotate (when installed) run on the fixtures, its
    /// per-`file:function` Ir summed per function, equals the parser's self Ir of every function.
    @Test(arguments: ["callgrind.out.functions", "callgrind.out.functions-instr", "callgrind.out.fusebench"])
    func agreesWithCallgrindAnnotate(file: String) throws {
        let tool = "/usr/bin/callgrind_annotate"
        guard FileManager.default.isExecutableFile(atPath: tool) else { return }
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(file)").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = ["--inclusive=no", "--threshold=100", "--auto=no", "--show=Ir", path]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return }   // no perl: nothing to compare with
        // Lines after the "file:function" header: "IR (PCT)  FILE:FUNCTION [OBJECT]" (FILE has no ':').
        var annotated: [String: UInt64] = [:]
        var inTable = false
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            if line.contains("file:function") { inTable = true; continue }
            guard inTable, !line.hasPrefix("-") else { continue }
            var rest = line.drop { $0 == " " }
            let irText = rest.prefix { $0 != " " }
            rest = rest.dropFirst(irText.count).drop { $0 == " " }
            if rest.hasPrefix("("), let close = rest.firstIndex(of: ")") { rest = rest[rest.index(after: close)...].drop { $0 == " " } }
            if let bracket = rest.range(of: " [", options: .backwards), rest.hasSuffix("]") { rest = rest[..<bracket.lowerBound] }
            guard let colon = rest.firstIndex(of: ":") else { continue }
            annotated[String(rest[rest.index(after: colon)...]), default: 0] += UInt64(irText.replacingOccurrences(of: ",", with: "")) ?? 0
        }
        let out = try CallgrindOutput(text: try fixture(file))
        let parsed = Dictionary(out.functions.map { ($0.name, $0.cost[0]) }, uniquingKeysWith: +)
        #expect(!annotated.isEmpty)
        for (name, ir) in annotated where ir > 0 {
            #expect(parsed[name] == ir, "\(name): callgrind_annotate \(ir), parser \(parsed[name] ?? 0)")
        }
        #expect(parsed.values.reduce(0, +) == annotated.values.reduce(0, +))
    }

    /// Real output of the fusebench worker (`exec … bias_relu_64k optimized --iterations 2
    /// --callgrind`): compressed names defined in `cfn=`/`cfi=` lines and used later in `fn=`/`fl=`,
    /// a function listed in two blocks, call costs in between. Numbers from callgrind_annotate.
    @Test func realFusebenchOutput() throws {
        let out = try CallgrindOutput(text: try fixture("callgrind.out.fusebench"))
        let kernel = try #require(out.functions.first)
        #expect(kernel.name == "$s7Kernels13biasReLUFused4rows4cols1x0B01yySi_SiSPySfGAHSpySfGtF")
        #expect(kernel.object == "/build/fusebench.valgrind")
        #expect(cost(out, kernel, "Ir") == 141_274 && cost(out, kernel, "D1mr") == 8_260 && cost(out, kernel, "D1mw") == 8_193)
        #expect(cost(out, kernel, "DLmr") == 4_160 && cost(out, kernel, "DLmw") == 4_096 && cost(out, kernel, "Bcm") == 144)
        let getCache = try #require(out.functions.first { $0.name.hasPrefix("getCache(") })
        #expect(cost(out, getCache, "Ir") == 92 && cost(out, getCache, "ILmr") == 7)
        // memcmp's object and file ids (2) and (4) were defined by `cob=`/`cfi=` lines.
        let memcmp = try #require(function(out, "__memcmp_avx2_movbe"))
        #expect(cost(out, memcmp, "Ir") == 36)
        #expect(memcmp.object == "/usr/lib/x86_64-linux-gnu/libc.so.6")
        #expect(memcmp.file == "./string/../sysdeps/x86_64/multiarch/memcmp-avx2-movbe.S")
        #expect(out.functions.count == 24)
        #expect(out.functions.reduce(UInt64(0)) { $0 + $1.cost[0] } == out.totals["Ir"])

        let profile = try #require(out.functionProfile())
        #expect(profile.functions.count == 24 && profile.rest == nil)   // fewer than 25: all kept
        #expect(profile.functions[0].d1Misses == 8_260 + 8_193)
        #expect(profile.functions[0].llMisses == 5 + 4_160 + 4_096)
        #expect(profile.functions[0].branchMisses == 144)
        #expect(profile.total.instructions == 142_484)
        #expect(profile.total.llMisses == out.totals["ILmr"]! + out.totals["DLmr"]! + out.totals["DLmw"]!)
    }

    @Test func compressionAndCallLinesByHand() throws {
        let text = """
            events: Ir D1mr
            fl=(1) a.c
            fn=(1) f
            1 10 1
            cfl=(2) b.c
            cfn=(2) g
            calls=5 20
            3 1000 100
            +1 5
            fl=(2)
            fn=(2)
            20 200 7
            jump=2 +3
            * 1
            fl=(1)
            fn=(1)
            2 1
            totals: 217 8
            """
        let out = try CallgrindOutput(text: text)
        #expect(out.functionsProblem == nil)
        #expect(out.functions.map(\.name) == ["g", "f"])
        #expect(out.functions[0].cost == [201, 7] && out.functions[0].file == "b.c")
        #expect(out.functions[1].cost == [16, 1] && out.functions[1].file == "a.c")
        #expect(out.functions[1].object == "???")
    }

    /// A body the parser cannot read costs the profile, not the totals; the reason names the line.
    @Test func malformedBodyKeepsTotals() throws {
        let cases: [(String, String)] = [
            ("events: Ir\nfn=(3)\n1 5\ntotals: 5\n", ":2: function id (3) used before it was defined"),
            ("events: Ir\nfn=f\n1 5x\ntotals: 5\n", ":3: non-numeric cost '5x'"),
            ("events: Ir\nfn=f\n1 5 6\ntotals: 5\n", ":3: 2 costs for 1 events"),
            ("events: Ir\nfn=f\nx7 5\ntotals: 5\n", ":3: unrecognised line 'x7 5'"),
            ("events: Ir\nfn=f\n0xZZ 5\ntotals: 5\n", ":3: malformed position '0xZZ'"),
            ("events: Ir\nfn=f\ncalls=1 2\nfn=g\n1 1\ntotals: 1\n", ":4: 'fn=' where the cost line of the preceding 'calls=' was expected"),
            ("events: Ir\nfn=f\ncalls=1 2\ntotals: 5\n", "'calls=' without its cost line"),
            ("1 5\nevents: Ir\ntotals: 5\n", ":1: cost line before the 'events:' line"),
        ]
        for (text, message) in cases {
            let out = try CallgrindOutput(text: text, source: "t.out")
            #expect(out.totals["Ir"] == 5 || out.totals["Ir"] == 1)
            #expect(out.functions.isEmpty)
            #expect(out.functionsProblem?.contains(message) == true, "\(out.functionsProblem ?? "nil") should contain \(message)")
            #expect(out.functionsProblem?.hasPrefix("t.out:") == true)
            #expect(out.functionProfile() == nil)
        }
    }

    /// The selection keeps the top N by instructions plus functions with ≥ 1% of the misses, and
    /// sums the rest so the kept rows plus the rest equal the totals.
    @Test func profileSelection() throws {
        var all = (0..<40).map { i in
            FunctionCost(function: "f\(i)", instructions: UInt64(1000 - i), d1Misses: 0, llMisses: 0, branchMisses: 0)
        }
        all[39].d1Misses = 50      // 50 of 100 L1d misses: kept although 40th by instructions
        all[38].llMisses = 1       // 1 of 200 LL misses: 0.5%, not kept
        all[37].llMisses = 199
        all[0].d1Misses = 50
        let p = FunctionProfile(selecting: all.shuffled(), top: 25)
        #expect(p.functions.prefix(25).map(\.function) == (0..<25).map { "f\($0)" })
        #expect(Set(p.functions.dropFirst(25).map(\.function)) == ["f39", "f37"])
        #expect(p.functions.last?.function == "f39" || p.functions.last?.function == "f37")
        let rest = try #require(p.rest)
        #expect(rest.count == 40 - 27 && rest.function == FunctionCost.restName)
        #expect(p.total.instructions == all.reduce(0) { $0 + $1.instructions })
        #expect(p.total.d1Misses == 100 && p.total.llMisses == 200)
        #expect(p.functionCount == 40)
        // Without cache simulation the misses stay unknown (nil), not 0.
        let plain = FunctionProfile(selecting: [FunctionCost(function: "a", instructions: 5), FunctionCost(function: "b", instructions: 3)], top: 1)
        #expect(plain.rest?.d1Misses == nil && plain.rest?.instructions == 3)
    }

    @Test func demanglerBatchesNames() throws {
        #expect(SwiftDemangler.isMangled("$s7Kernels16BiasReLUInstanceC3runyyF"))
        #expect(!SwiftDemangler.isMangled("getCache(swift::X const&)"))
        let missing = SwiftDemangler(executable: "/nonexistent/swift-demangle")
        #expect(missing.demangle(["$s7Kernels16BiasReLUInstanceC3runyyF"]).isEmpty)   // raw names kept
        guard let tool = SwiftDemangler.find() else { return }   // no Swift toolchain on PATH
        let names = tool.demangle(["$s7Kernels16BiasReLUInstanceC3runyyF", "main", "$s14ArgumentParser6ParsedOMa"])
        #expect(names == ["$s7Kernels16BiasReLUInstanceC3runyyF": "BiasReLUInstance.run()",
                          "$s14ArgumentParser6ParsedOMa": "type metadata accessor for Parsed"])
        var profile = FunctionProfile(functions: [FunctionCost(function: "$s7Kernels16BiasReLUInstanceC3runyyF", instructions: 1)], rest: nil)
        profile.rename(names)
        #expect(profile.functions[0].function == "BiasReLUInstance.run()")
        #expect(profile.functions[0].symbol == "$s7Kernels16BiasReLUInstanceC3runyyF")
    }
}
