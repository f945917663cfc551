import BenchModel
import Foundation
import FuseBench
import Kernels
import Testing
@testable import Suite

/// A valid two-op suite; tests mutate it to hit each error path.
let validSuite = """
[suite]
name = "t"
description = "test"

[defaults]
batch_ms = 1.5
samples = 7
threshold = "4%"
counters = ["instructions"]

[[op]]
name = "g"
kind = "gemm"
shape = { m = 7, n = 33, k = 129 }

[[op]]
name = "b"
kind = "bias_relu"
shape = { rows = 3, cols = 5 }
variants = ["optimized"]
samples = 3
tolerance = { abs = 1e-6, rel = 1e-5 }
"""

func expectSuiteError(_ text: String, line: Int, column: Int? = nil, contains fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        _ = try SuiteLoader.parse(text: text, path: "x.toml")
        Issue.record("expected a SuiteError containing '\(fragment)'", sourceLocation: sourceLocation)
    } catch let e as SuiteError {
        #expect(e.file == "x.toml", sourceLocation: sourceLocation)
        #expect(e.line == line, "\(e)", sourceLocation: sourceLocation)
        if let c = column { #expect(e.column == c, "\(e)", sourceLocation: sourceLocation) }
        #expect(e.message.contains(fragment), "\(e)", sourceLocation: sourceLocation)
        #expect(e.description.hasPrefix("x.toml:\(e.line):\(e.column): "), sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct SuiteLoaderTests {
    /// The shipped suites use `[[model]]` and `[[edge]]` tables: their entry types must be
    /// registered in this process whatever order the tests run in.
    init() { OpFamilies.registerBuiltIn() }

    @Test func parsesValidSuite() throws {
        let s = try SuiteLoader.parse(text: validSuite, path: "x.toml")
        #expect(s.name == "t")
        #expect(s.defaults.batchNs == 1_500_000)
        #expect(s.defaults.samples == 7)
        #expect(abs(s.defaults.threshold - 0.04) < 1e-12)
        #expect(s.defaults.counters == ["instructions"])
        #expect(s.defaults.countersExplicit)
        #expect(s.ops.count == 2)
        #expect(s.ops[0].shape == ["m": 7, "n": 33, "k": 129])
        #expect(s.ops[0].variants == ["reference", "optimized"])
        #expect(s.ops[0].settings.samples == 7)
        #expect(s.ops[0].line == 11)
        #expect(s.ops[1].variants == ["optimized"])
        #expect(s.ops[1].settings.samples == 3)
        #expect(s.ops[1].tolerance == Tolerance(abs: 1e-6, rel: 1e-5, minCosine: s.ops[1].tolerance!.minCosine))
    }

    @Test func shippedSuitesAreValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = root.appendingPathComponent("suites")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".toml") }
        #expect(files.contains("smoke.toml") && files.contains("default.toml"))
        for f in files {
            let s = try SuiteLoader.load(path: dir.appendingPathComponent(f).path)
            #expect(!s.ops.isEmpty, "\(f)")
        }
    }

    @Test func tomlSyntaxErrorHasLineAndColumn() {
        expectSuiteError("[suite]\nname = \"t\"\nbad = = 3\n", line: 3, contains: "invalid TOML")
    }

    @Test func missingSuiteTable() {
        expectSuiteError("[[op]]\nname = \"g\"\nkind = \"gemm\"\n", line: 1, contains: "missing [suite]")
    }

    @Test func unknownKind() {
        expectSuiteError(validSuite.replacingOccurrences(of: "kind = \"gemm\"", with: "kind = \"gemmm\""), line: 13, column: 1,
                         contains: "unknown kind 'gemmm'")
    }

    @Test func zeroDimensionNamesShapeKey() {
        expectSuiteError(validSuite.replacingOccurrences(of: "k = 129", with: "k = 0"), line: 14, column: 26, contains: "shape.k must be positive")
    }

    @Test func missingShapeKey() {
        expectSuiteError(validSuite.replacingOccurrences(of: "m = 7, ", with: ""), line: 14, contains: "missing 'm'")
    }

    @Test func unknownShapeKey() {
        expectSuiteError(validSuite.replacingOccurrences(of: "k = 129", with: "k = 129, z = 1"), line: 14, contains: "unknown shape key 'z'")
    }

    @Test func unknownVariant() {
        expectSuiteError(validSuite.replacingOccurrences(of: "[\"optimized\"]", with: "[\"fast\"]"), line: 20, contains: "no variant 'fast'")
    }

    @Test func unknownKeyIsATypo() {
        expectSuiteError(validSuite.replacingOccurrences(of: "samples = 7", with: "sample = 7"), line: 7, contains: "unknown key 'sample'")
    }

    @Test func wrongTypes() {
        expectSuiteError(validSuite.replacingOccurrences(of: "samples = 7", with: "samples = \"7\""), line: 7, contains: "must be an integer")
        expectSuiteError(validSuite.replacingOccurrences(of: "samples = 7", with: "samples = 1"), line: 7, contains: "must be between 2 and 100000")
        expectSuiteError(validSuite.replacingOccurrences(of: "batch_ms = 1.5", with: "batch_ms = -1"), line: 6, contains: "greater than 0")
        expectSuiteError(validSuite.replacingOccurrences(of: "\"4%\"", with: "\"lots\""), line: 8, contains: "fraction")
        expectSuiteError(validSuite.replacingOccurrences(of: "shape = { rows = 3, cols = 5 }", with: "shape = 3"), line: 19, contains: "must be a table")
    }

    @Test func duplicateOpName() {
        expectSuiteError(validSuite.replacingOccurrences(of: "name = \"b\"", with: "name = \"g\""), line: 17, contains: "duplicate op name 'g'")
    }

    @Test func countersOnlyInDefaults() {
        expectSuiteError(validSuite + "\ncounters = [\"cycles\"]\n", line: 23, contains: "unknown key 'counters'")
    }

    @Test func negativeTolerance() {
        expectSuiteError(validSuite.replacingOccurrences(of: "abs = 1e-6", with: "abs = -1.0"), line: 22, contains: "not negative")
    }

    @Test func missingFileIsAnError() {
        #expect(throws: SuiteError.self) { try SuiteLoader.load(path: "/nonexistent/suite.toml") }
    }
}

@Suite struct PlanTests {
    /// Edge ops alternate timed and plain batches; each kind must run in both variant orders
    /// (the decisions use the plain ones). The old schedule ran every timed batch forward and
    /// every plain batch reversed (reference last).
    @Test func timedAndPlainBatchesEachSeeBothOrders() throws {
        let s = try SuiteLoader.parse(text: validSuite, path: "x.toml")
        let g = try BenchPlan(suites: [s]).ops[0]
        let schedules = (0..<8).map { g.batchSchedule(repetition: $0, timesIterations: true) }
        for timing in [BatchSchedule.Timing.perIteration, .plain] {
            let orders = schedules.filter { $0.timing == timing }.map(\.order)
            #expect(orders.count == 4)
            #expect(orders.filter { $0 == ["reference", "optimized"] }.count == 2, "\(timing) forward")
            #expect(orders.filter { $0 == ["optimized", "reference"] }.count == 2, "\(timing) reversed")
        }
        // Half the batches of each repetition pair are plain, so decisions have data from the start.
        #expect(schedules[0].timing == .perIteration && schedules[1].timing == .plain)
    }

    @Test func abbaOrderAndFilter() throws {
        let s = try SuiteLoader.parse(text: validSuite, path: "x.toml")
        let plan = try BenchPlan(suites: [s])
        #expect(plan.ops.map(\.qualifiedName) == ["t/g", "t/b"])
        let g = plan.ops[0]
        #expect(g.variantOrder(repetition: 0) == ["reference", "optimized"])
        #expect(g.variantOrder(repetition: 1) == ["optimized", "reference"])
        #expect(g.variantOrder(repetition: 2) == ["reference", "optimized"])

        // Plain-only ops keep ABBA.
        #expect((0..<4).map { g.batchSchedule(repetition: $0, timesIterations: false).order } == (0..<4).map { g.variantOrder(repetition: $0) })
        #expect((0..<4).allSatisfy { g.batchSchedule(repetition: $0, timesIterations: false).timing == .plain })

        let filtered = try BenchPlan(suites: [s], filter: "t/g/opt")
        #expect(filtered.ops.count == 1)
        // The reference is kept so the optimized variant can be verified against it.
        #expect(filtered.ops[0].spec.variants == ["reference", "optimized"])
        let refOnly = try BenchPlan(suites: [s], filter: "t/g/reference")
        #expect(refOnly.ops[0].spec.variants == ["reference"])
        #expect(try BenchPlan(suites: [s], filter: "nomatch").ops.isEmpty)
        #expect(throws: PlanError.self) { try BenchPlan(suites: [s], filter: "(") }
    }

    /// Two suites with an op of the same name: two planned ops keyed SUITE/OP; `--filter` takes
    /// the qualified name (one suite's op) or the bare name (the op in every suite).
    @Test func sameOpNameInTwoSuitesAndFilter() throws {
        func suite(_ name: String) throws -> SuiteFile {
            try SuiteLoader.parse(text: validSuite.replacingOccurrences(of: "name = \"t\"", with: "name = \"\(name)\""), path: "\(name).toml")
        }
        let suites = [try suite("alpha"), try suite("beta")]
        #expect(try BenchPlan(suites: suites).ops.map(\.key.description) == ["alpha/g", "alpha/b", "beta/g", "beta/b"])
        #expect(try BenchPlan(suites: suites, filter: "beta/g/").ops.map(\.key.description) == ["beta/g"])
        #expect(try BenchPlan(suites: suites, filter: "/g/").ops.map(\.key.description) == ["alpha/g", "beta/g"])
        let plan = try BenchPlan(suites: suites)
        #expect(plan.ops[0].benchmarkKey(variant: "reference").description == "alpha/g/reference")
        // The same suite twice is still refused.
        #expect(throws: PlanError.self) { try BenchPlan(suites: [suites[0], suites[0]]) }
    }

    @Test func quickCapsSamples() throws {
        let s = try SuiteLoader.parse(text: validSuite, path: "x.toml")
        let plan = try BenchPlan(suites: [s], quick: true)
        #expect(plan.ops[0].spec.settings.samples == 6)
        #expect(plan.ops[1].spec.settings.samples == 3)
    }

    @Test func suiteHashChangesWithContent() throws {
        let a = try SuiteLoader.parse(text: validSuite, path: "x.toml")
        let b = try SuiteLoader.parse(text: validSuite + "\n# comment\n", path: "x.toml")
        #expect(try BenchPlan(suites: [a]).suiteHash != BenchPlan(suites: [b]).suiteHash)
        #expect(try BenchPlan(suites: [a]).suiteHash == BenchPlan(suites: [a]).suiteHash)
    }

    @Test func locatorFindsInlineKeys() {
        let loc = SourceLocator(text: "[[op]]\nname = \"a\"\n[[op]]\n  shape = { m = 1, n = 2 }\n")
        #expect(loc.position(of: "op[1].shape.n") == .init(line: 4, column: 20))
        #expect(loc.position(of: "op[1].shape") == .init(line: 4, column: 3))
        #expect(loc.position(of: "op[0].name") == .init(line: 2, column: 1))
        #expect(loc.position(of: "op[1].missing") == .init(line: 3, column: 1))
        #expect(loc.position(of: "nothing") == .init(line: 1, column: 1))
    }
}
