import BenchModel
import Foundation
import FuseBench
import Fusion
import Kernels
import Testing
@testable import Suite

/// A suite with one op and one model (lines matter: errors are checked by line).
let modelSuite = """
[suite]
name = "m"

[[op]]
name = "g"
kind = "gemm"
shape = { m = 4, n = 4, k = 4 }

[[model]]
name = "mlp"
input = { rows = 4, cols = 8 }
variants = ["unfused", "fused", "fused_autotuned"]
[[model.layer]]
name = "fc1"
op = "linear"
out = 16
[[model.layer]]
name = "act"
op = "gelu"
[[model.layer]]
name = "res"
op = "add"
inputs = ["act", "act"]

[[model]]
name = "second"
input = { elements = 100 }
[[model.layer]]
name = "a"
op = "scale"
value = 0.5
"""

@Suite struct ModelSuiteTests {
    init() { OpFamilies.registerBuiltIn() }

    @Test func parsesModelsIntoModelOps() throws {
        let s = try SuiteLoader.parse(text: modelSuite, path: "x.toml")
        #expect(s.ops.map(\.name) == ["g", "mlp", "second"])
        let mlp = s.ops[1]
        #expect(mlp.kind == "model")
        #expect(mlp.line == 9)
        #expect(mlp.variants == ["unfused", "fused", "fused_autotuned"])
        #expect(mlp.model?.layers.map(\.name) == ["fc1", "act", "res"])
        #expect(mlp.model?.layers[0].attributes["out"] == .int(16))
        #expect(mlp.model?.layers[2].key == "model[0].layer[2]")
        #expect(s.ops[2].variants == ["unfused", "fused"])
        #expect(s.ops[2].model?.layers[0].key == "model[1].layer[0]")
        let plan = try BenchPlan(suites: [s])
        #expect(plan.ops.map(\.qualifiedName) == ["m/g", "m/mlp", "m/second"])
        let f = try #require(plan.ops[1].factory as? ModelFactory)
        #expect(f.graph.layer("fc1")?.shape == [4, 16])
        #expect(plan.ops[1].record.flops > 0)
        let instance = try f.make(variant: "fused", shape: [:], dtype: "f32", seed: 1)
        instance.run()
        #expect(instance.output().count == 64)
        #expect((plan.ops[1].factory as? any FusionDecisionSource) != nil)
    }

    @Test func locatorNumbersLayersPerModel() {
        let loc = SourceLocator(text: modelSuite)
        #expect(loc.position(of: "model[0]").line == 9)
        #expect(loc.position(of: "model[0].layer[1].op").line == 19)
        #expect(loc.position(of: "model[1].layer[0].value").line == 31)
        #expect(loc.position(of: "model[0].input.cols").line == 11)
    }

    @Test func danglingInputHasFileLine() {
        expectSuiteError(modelSuite.replacingOccurrences(of: "inputs = [\"act\", \"act\"]", with: "inputs = [\"act\", \"nope\"]"),
                         line: 23, column: 1, contains: "dangling input 'nope'")
    }

    @Test func cycleHasFileLine() {
        expectSuiteError(modelSuite.replacingOccurrences(of: "op = \"gelu\"", with: "op = \"gelu\"\ninputs = [\"res\"]"),
                         line: 20, contains: "cycle")
    }

    @Test func unknownOpHasFileLine() {
        expectSuiteError(modelSuite.replacingOccurrences(of: "op = \"gelu\"", with: "op = \"gelux\""), line: 19, column: 1,
                         contains: "unknown op 'gelux'")
    }

    @Test func shapeMismatchHasFileLine() {
        expectSuiteError(modelSuite.replacingOccurrences(of: "inputs = [\"act\", \"act\"]", with: "inputs = [\"act\", \"x\"]"),
                         line: 23, contains: "mismatched shapes")
    }

    @Test func badAttributeAndVariant() {
        expectSuiteError(modelSuite.replacingOccurrences(of: "out = 16", with: "out = \"16\""), line: 16, contains: "must be an integer")
        expectSuiteError(modelSuite.replacingOccurrences(of: "value = 0.5", with: "value = [1]"), line: 31, contains: "must be a number")
        expectSuiteError(modelSuite.replacingOccurrences(of: "\"fused_autotuned\"]", with: "\"turbo\"]"), line: 12, contains: "no variant 'turbo'")
        expectSuiteError(modelSuite.replacingOccurrences(of: "name = \"second\"", with: "name = \"g\""), line: 26, contains: "duplicate op name 'g'")
        expectSuiteError(modelSuite.replacingOccurrences(of: "input = { elements = 100 }", with: "input = { elements = 100 }\nlayers = 3"),
                         line: 28, contains: "unknown key 'layers'")
    }

    @Test func modelOnlySuiteIsValid() throws {
        let text = modelSuite.replacingOccurrences(of: "[[op]]\nname = \"g\"\nkind = \"gemm\"\nshape = { m = 4, n = 4, k = 4 }\n", with: "")
        let s = try SuiteLoader.parse(text: text, path: "x.toml")
        #expect(s.ops.map(\.name) == ["mlp", "second"])
    }
}

/// `[[edge]]` entries: paths relative to the suite file, located errors.
@Suite struct EdgeSuiteTests {
    init() { OpFamilies.registerBuiltIn() }

    static let suitesDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("suites")
    var suitePath: String { Self.suitesDir.appendingPathComponent("edge-test.toml").path }

    func suite(_ extra: String = "", data: String = "../data/digits/digits.csv") -> String {
        """
        [suite]
        name = "e"

        [[edge]]
        name = "digits"
        model = "../data/digits/mlp.json"
        data = "\(data)"
        variants = ["fp32", "int8_mse"]
        \(extra)
        """
    }

    @Test func parsesEdgeEntry() throws {
        let s = try SuiteLoader.parse(text: suite("exit_threshold = 0.8"), path: suitePath)
        #expect(s.ops.count == 1 && s.ops[0].kind == "edge" && s.ops[0].variants == ["fp32", "int8_mse"])
        #expect(s.ops[0].edge?.exitThreshold == 0.8)
        #expect(s.ops[0].edge?.modelPath.hasSuffix("/data/digits/mlp.json") == true)
        #expect(throws: Never.self) { try s.ops[0].factory() }
    }

    @Test func thresholdOutsideUnitIntervalIsLocated() {
        #expect { try SuiteLoader.parse(text: suite("exit_threshold = 1.5"), path: suitePath) } throws: {
            "\($0)".hasPrefix("\(suitePath):9:") && "\($0)".contains("exit_threshold must be in [0, 1]")
        }
    }

    @Test func badDataFileIsLocatedAtTheDataKeyAndNamesTheFileLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("edge-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let header = "split,label," + (0..<64).map { "p\($0)" }.joined(separator: ",")
        try (header + "\ntest,1,1,2\n").write(to: dir.appendingPathComponent("d.csv"), atomically: true, encoding: .utf8)
        let bad = dir.appendingPathComponent("d.csv").path
        #expect { try SuiteLoader.parse(text: suite(data: bad), path: suitePath) } throws: {
            "\($0)".hasPrefix("\(suitePath):7:") && "\($0)".contains("\(bad):2: wrong shape")
        }
        // A data file without calibration rows.
        try (header + "\ntest,1," + Array(repeating: "0", count: 64).joined(separator: ",") + "\n").write(to: dir.appendingPathComponent("d.csv"), atomically: true, encoding: .utf8)
        #expect { try SuiteLoader.parse(text: suite(data: bad), path: suitePath) } throws: {
            "\($0)".contains("\(bad): the calibration split is empty")
        }
    }
}
