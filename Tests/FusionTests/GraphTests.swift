import BenchModel
@testable import Fusion
import Testing

@Suite struct GraphValidationTests {
    @Test func buildsChainWithResidualAndShapes() throws {
        let g = try ModelGraph.build(spec(input: ["rows": 4, "cols": 8], [
            L("fc", "linear", ["out": .int(16)]),
            L("act", "gelu"),
            L("down", "linear", ["out": .int(8), "bias": .bool(false)]),
            L("res", "add", inputs: ["down", "x"]),
            L("ln", "layernorm"),
        ]))
        #expect(g.layers.map(\.name) == ["fc", "act", "down", "res", "ln"])
        #expect(g.layer("fc")!.shape == [4, 16])
        #expect(g.layer("res")!.inputs == ["down", "x"])
        #expect(g.outputs == ["ln"])
    }

    @Test func forwardReferencesAreSortedTopologically() throws {
        let g = try ModelGraph.build(spec(input: ["rows": 2, "cols": 4], [
            L("b", "relu", inputs: ["a"]),
            L("a", "scale", ["value": .double(2)], inputs: ["x"]),
        ]))
        #expect(g.layers.map(\.name) == ["a", "b"])
    }

    @Test func cycleNamesTheInputsKey() {
        let e = expectModelError(spec(input: ["rows": 2, "cols": 4], [
            L("a", "relu", inputs: ["c"]),
            L("b", "gelu", inputs: ["a"]),
            L("c", "silu", inputs: ["b"]),
        ]))
        #expect(e?.key == "model[0].layer[0].inputs")
        #expect(e?.message.contains("cycle") == true, "\(String(describing: e))")
        #expect(e?.message.contains("a → b → c → a") == true, "\(String(describing: e))")
        let selfLoop = expectModelError(spec(input: ["rows": 2, "cols": 4], [L("a", "relu", inputs: ["a"])]))
        #expect(selfLoop?.key == "model[0].layer[0].inputs")
    }

    @Test func danglingInput() {
        let e = expectModelError(spec(input: ["rows": 2, "cols": 4], [
            L("a", "relu"),
            L("b", "add", inputs: ["a", "nope"]),
        ]))
        #expect(e?.key == "model[0].layer[1].inputs")
        #expect(e?.message.contains("dangling input 'nope'") == true)
    }

    @Test func unknownOpAndAttribute() {
        let e = expectModelError(spec(input: ["rows": 2, "cols": 4], [L("a", "relu"), L("b", "gelux")]))
        #expect(e?.key == "model[0].layer[1].op")
        #expect(e?.message.contains("unknown op 'gelux'") == true)
        let attr = expectModelError(spec(input: ["rows": 2, "cols": 4], [L("a", "relu", ["out": .int(3)])]))
        #expect(attr?.key == "model[0].layer[0].out")
        let type = expectModelError(spec(input: ["rows": 2, "cols": 4], [L("a", "linear", ["out": .string("8")])]))
        #expect(type?.key == "model[0].layer[0].out")
        let missing = expectModelError(spec(input: ["rows": 2, "cols": 4], [L("a", "linear")]))
        #expect(missing?.key == "model[0].layer[0]")
    }

    @Test func shapeMismatch() {
        let e = expectModelError(spec(input: ["rows": 2, "cols": 4], [
            L("fc", "linear", ["out": .int(8)]),
            L("res", "add", inputs: ["fc", "x"]),
        ]))
        #expect(e?.key == "model[0].layer[1].inputs")
        #expect(e?.message.contains("mismatched shapes") == true, "\(String(describing: e))")
        let mm = expectModelError(spec(input: ["rows": 2, "cols": 4], [
            L("a", "linear", ["out": .int(3)]),
            L("p", "matmul", inputs: ["a", "x"]),
        ]))
        #expect(mm?.key == "model[0].layer[1].inputs")
        let heads = expectModelError(spec(input: ["rows": 4, "cols": 10], [L("att", "attention", ["heads": .int(3)])]))
        #expect(heads?.key == "model[0].layer[0].heads")
    }

    @Test func dtypeMismatch() {
        let e = expectModelError(spec(input: ["rows": 2, "cols": 4], [L("q", "quantize"), L("r", "relu")]))
        #expect(e?.key == "model[0].layer[1].input")
        #expect(e?.message.contains("mismatched dtype") == true)
        let d = expectModelError(spec(input: ["rows": 2, "cols": 4], [L("d", "dequantize")]))
        #expect(d?.message.contains("mismatched dtype") == true)
    }

    @Test func badInputAndOutputs() {
        #expect(expectModelError(spec(input: ["rows": 2], [L("a", "relu")]))?.key == "model[0].input")
        #expect(expectModelError(spec(input: ["rows": 2, "cols": 0], [L("a", "relu")]))?.key == "model[0].input.cols")
        #expect(expectModelError(spec(input: ["rows": 2, "cols": 2], outputs: ["zz"], [L("a", "relu")]))?.key == "model[0].outputs")
        #expect(expectModelError(spec(input: ["rows": 2, "cols": 2], [L("a", "relu"), L("a", "gelu")]))?.key == "model[0].layer[1].name")
    }

    @Test func attentionIsLowered() throws {
        let g = try ModelGraph.build(spec(input: ["rows": 8, "cols": 12], [
            L("q", "linear", ["out": .int(12)], inputs: ["x"]),
            L("k", "linear", ["out": .int(12)], inputs: ["x"]),
            L("v", "linear", ["out": .int(12)], inputs: ["x"]),
            L("att", "attention", ["heads": .int(3), "causal": .bool(true)], inputs: ["q", "k", "v"]),
        ]))
        #expect(g.layers.map(\.name) == ["q", "k", "v", "att.scores", "att.scale", "att.mask", "att.softmax", "att"])
        #expect(g.layer("att.scores")!.shape == [24, 8])
        #expect(g.layer("att")!.shape == [8, 12])
    }
}
