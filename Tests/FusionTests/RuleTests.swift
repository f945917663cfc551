import BenchModel
import Foundation
@testable import Fusion
import Kernels
import Testing

/// Each rule: fused output equals unfused within tolerance on odd sizes, and the decision is logged.
@Suite struct RuleTests {
    static let odd = [1, 7, 33, 1000]

    func accepted(_ x: ModelInstance, _ rule: FusionRule) -> [FusionDecision] {
        x.fusionDecisions.filter { $0.rule == rule.rawValue && $0.outcome == .accepted }
    }

    @Test(arguments: odd)
    func elementwiseChain(n: Int) throws {
        let r = try compareVariants(sixOpChain(elements: n))
        #expect(r.check.passed, "\(r.check.reason ?? "")")
        #expect(r.check.maxAbsError == 0, "the chain does the same IEEE operations in the same order")
        let d = accepted(r.fused, .elementwiseChain)
        #expect(d.count == 1)
        #expect(d.first?.group == ["m1", "a1", "m2", "s1", "r", "res"])
        #expect(d.first?.launchesSaved == 5)
        #expect(d.first?.maxAbsError == 0)
        #expect(r.fused.passes == 1)
        #expect(r.unfused.passes == 6)
        #expect(r.fused.bytesMoved < r.unfused.bytesMoved / 5)
    }

    @Test(arguments: odd)
    func gemmEpilogue(n: Int) throws {
        let s = spec(input: ["rows": n, "cols": 33], [
            L("fc", "linear", ["out": .int(33), "bias": .bool(false)]),
            L("b", "bias_add"),
            L("g", "gelu"),
            L("s", "scale", ["value": .double(0.5)]),
            L("res", "add", inputs: ["x", "s"]),
            L("m", "sub", inputs: ["x", "res"]),
        ])
        let r = try compareVariants(s)
        #expect(r.check.passed, "\(r.check.reason ?? "")")
        #expect(accepted(r.fused, .gemmEpilogue).first?.group == ["fc", "b", "g", "s", "res", "m"])
        #expect(r.fused.passes == 1)
    }

    @Test(arguments: [1, 7, 33, 100])
    func matmulAndLayernormEpilogue(n: Int) throws {
        let s = spec(input: ["rows": 5, "cols": n], [
            L("ln", "layernorm"),
            L("r", "relu"),
            L("s", "mul", ["value": .double(2)]),
            L("p", "matmul", ["transpose_b": .bool(true)], inputs: ["s", "x"]),
            L("a", "silu"),
        ])
        let r = try compareVariants(s)
        #expect(r.check.passed, "\(r.check.reason ?? "")")
        #expect(accepted(r.fused, .layernormEpilogue).first?.group == ["ln", "r", "s"])
        #expect(accepted(r.fused, .gemmEpilogue).first?.group == ["p", "a"])
    }

    @Test(arguments: [1, 7, 33, 100, 300])   // 300 > one 256-key tile: exercises the online rescaling
    func streamingAttention(seq: Int) throws {
        for causal in [false, true] {
            let s = spec(input: ["rows": seq, "cols": 24], [
                L("q", "linear", ["out": .int(24)], inputs: ["x"]),
                L("k", "linear", ["out": .int(24)], inputs: ["x"]),
                L("v", "linear", ["out": .int(24)], inputs: ["x"]),
                L("att", "attention", ["heads": .int(2), "causal": .bool(causal)], inputs: ["q", "k", "v"]),
            ])
            let r = try compareVariants(s)
            #expect(r.check.passed, "seq \(seq) causal \(causal): \(r.check.reason ?? "")")
            let d = accepted(r.fused, .streamingAttention)
            #expect(d.count == 1, "\(r.fused.fusionDecisions)")
            #expect(d.first?.group.last == "att")
            #expect((d.first?.maxAbsError ?? 1) < 2e-5)
        }
    }

    @Test(arguments: [1, 7])
    func convEpilogue(size: Int) throws {
        let s = spec(input: ["h": size, "w": size + 2, "c": 5], [
            L("expand", "conv2d", ["out": .int(17), "kernel": .int(1)]),
            L("a1", "relu6"),
            L("dw", "conv2d", ["depthwise": .bool(true), "kernel": .int(3), "bias": .bool(false)]),
            L("b", "bias_add"),
            L("a2", "relu6"),
            L("full", "conv2d", ["out": .int(5), "kernel": .int(3)]),
            L("res", "add", inputs: ["full", "x"]),
            L("pool", "pool", ["type": .string("avg"), "global": .bool(true)]),
        ])
        let r = try compareVariants(s)
        #expect(r.check.passed, "\(r.check.reason ?? "")")
        let groups = accepted(r.fused, .convEpilogue).map(\.group)
        #expect(groups == [["expand", "a1"], ["dw", "b", "a2"], ["full", "res"]])
    }

    @Test(arguments: odd)
    func quantizeChain(n: Int) throws {
        let s = spec(input: ["rows": 1, "cols": n], [
            L("g", "gelu"),
            L("q", "quantize"),
            L("dq", "dequantize"),
            L("r", "relu"),
        ])
        let r = try compareVariants(s)
        #expect(r.check.passed, "\(r.check.reason ?? "")")
        #expect(accepted(r.fused, .elementwiseChain).first?.group == ["q", "dq", "r"])
        // gelu → quantize cannot fuse: quantize needs the whole tensor's absmax first.
        let refused = r.fused.fusionDecisions.first { $0.outcome == .rejectedIllegal }
        #expect(refused?.group == ["g", "q"])
        #expect(refused?.reason.contains("absmax") == true)
    }

    @Test func stridedConvAndMaxPool() throws {
        let s = spec(input: ["n": 2, "h": 9, "w": 8, "c": 3], [
            L("c", "conv2d", ["out": .int(20), "stride": .int(2)]),
            L("r", "relu"),
            L("p", "pool", ["size": .int(2)]),
            L("sm", "softmax"),
        ])
        let r = try compareVariants(s)
        #expect(r.check.passed)
        #expect(r.fused.graph.layer("p")!.shape == [2, 2, 2, 20])
    }
}

@Suite struct PlannerTests {
    /// Residual read from the middle of a chain: 'b' is also read by 'd', so [a, b, c] must not fuse.
    @Test func refusesIntermediateReadByAnotherNode() throws {
        let s = spec(input: ["rows": 3, "cols": 33], [
            L("a", "mul", ["value": .double(2)]),
            L("b", "add", ["value": .double(1)]),
            L("c", "gelu"),
            L("d", "add", inputs: ["c", "b"]),
        ])
        let r = try compareVariants(s)
        #expect(r.check.passed)
        let refused = r.fused.fusionDecisions.filter { $0.outcome == .rejectedIllegal }
        #expect(refused.count == 1)
        #expect(refused.first?.group == ["a", "b", "c"])
        #expect(refused.first?.reason.contains("'b' has another consumer ('d' also reads it)") == true, "\(refused)")
        // What is legal still fuses around the materialized 'b'.
        let ok = r.fused.fusionDecisions.filter { $0.outcome == .accepted }.map(\.group)
        #expect(ok == [["a", "b"], ["c", "d"]])
        #expect(r.fused.plan.map(\.layers) == [["a", "b"], ["c", "d"]])
    }

    @Test func refusesObservedIntermediate() throws {
        let s = spec(input: ["rows": 3, "cols": 20], outputs: ["b", "c"], [
            L("a", "linear", ["out": .int(20)]),
            L("b", "relu"),
            L("c", "scale", ["value": .double(3)]),
        ])
        let r = try compareVariants(s)
        #expect(r.check.passed)
        #expect(r.fused.output().count == 120)
        let refused = r.fused.fusionDecisions.first { $0.outcome == .rejectedIllegal }
        #expect(refused?.group == ["a", "b", "c"])
        #expect(refused?.reason.contains("model output (observed)") == true)
        #expect(r.fused.plan.map(\.layers) == [["a", "b"], ["c"]])
    }

    /// A deliberately wrong fused kernel is caught by validation, logged, and not adopted.
    @Test func rejectsWrongFusedKernelForAccuracy() throws {
        var o = outputTestOptions
        o.faultyRule = .elementwiseChain
        let r = try compareVariants(sixOpChain(elements: 1000), options: o)
        #expect(r.check.passed, "the rejected group runs unfused, so the output is still right")
        let d = r.fused.fusionDecisions
        #expect(d.count == 1)
        #expect(d.first?.outcome == .rejectedAccuracy)
        #expect(d.first?.reason.contains("out of tolerance") == true, "\(d)")
        #expect((d.first?.maxAbsError ?? 0) >= 0.2)
        #expect(r.fused.passes == 6)
    }

    @Test func rejectsWhenPredictedGainIsTooSmall() throws {
        let f = try ModelFactory(spec: sixOpChain(elements: 7), options: PlannerOptions(minSavingNs: 1e9))
        let d = try f.decisions(variant: "fused", seed: 1)
        #expect(d.map(\.outcome) == [.rejectedNoGain])
        #expect(d[0].reason.contains("below"))
    }

    @Test func autotuneMeasuresBothPlans() throws {
        let r = try compareVariants(sixOpChain(elements: 4096), variant: "fused_autotuned")
        #expect(r.check.passed)
        let d = r.fused.fusionDecisions[0]
        #expect(d.measuredFusedNs != nil && d.measuredUnfusedNs != nil)
        #expect([.accepted, .rejectedSlower].contains(d.outcome))
    }

    @Test func reshapeReplans() throws {
        let f = try ModelFactory(spec: sixOpChain(elements: 64))
        let big = try f.makeModel(variant: "fused", shape: ["elements": 100], seed: 1)
        #expect(big.output().count == 100)
        #expect(throws: KernelSpecError.self) { try f.makeModel(variant: "fused", shape: ["rows": 3], seed: 1) }
    }

    @Test func layerInstancesRunOneLayerEach() throws {
        let f = try ModelFactory(spec: sixOpChain(elements: 50))
        let layers = try f.layerInstances(seed: 3)
        #expect(layers.map(\.name) == ["m1", "a1", "m2", "s1", "r", "res"])
        let u = try f.makeModel(variant: "unfused", seed: 3)
        u.run()
        layers.last!.instance.run()
        #expect(Array(layers.last!.instance.output()) == Array(u.output()))
    }

    @Test func bytesMovedDropsWhenFused() throws {
        let f = try ModelFactory(spec: sixOpChain(elements: 1 << 16))
        let n = Double(1 << 16)
        #expect(f.bytesMoved(variant: "unfused") == n * 4 * 13)   // 5×(read+write) + residual (2 reads + write)
        #expect(f.bytesMoved(variant: "fused") == n * 8)           // read x once, write once
        #expect(f.bytes(shape: [:], dtype: "f32") == f.bytesMoved(variant: "unfused"))
    }
}

@Suite struct VectorMathTests {
    @Test func expAndActivationsMatchDouble() {
        var worstExp = 0.0, worstGelu = 0.0, worstSilu = 0.0
        var x = -30.0
        while x < 30 {
            var v = SIMD16<Float>()
            for i in 0..<16 { v[i] = Float(x + Double(i) * 0.0007) }
            let e = VMath.exp(v), g = VMath.gelu(v), s = VMath.silu(v)
            for i in 0..<16 {
                let xi = Double(v[i])
                worstExp = max(worstExp, abs(Double(e[i]) - Foundation.exp(xi)) / Foundation.exp(xi))
                let gx = 0.5 * xi * (1 + Foundation.tanh(0.7978845608028654 * (xi + 0.044715 * xi * xi * xi)))
                worstGelu = max(worstGelu, abs(Double(g[i]) - gx) / max(abs(gx), 1e-3))
                let sx = xi / (1 + Foundation.exp(-xi))
                worstSilu = max(worstSilu, abs(Double(s[i]) - sx) / max(abs(sx), 1e-3))
            }
            x += 0.0113
        }
        #expect(worstExp < 5e-7)
        #expect(worstGelu < 2e-6)
        #expect(worstSilu < 2e-6)
        #expect(VMath.exp(SIMD16<Float>(repeating: -.infinity)) == SIMD16<Float>())
    }
}

/// The fusion executors and the kernels share one exp: the same edge behaviour (overflow to +inf,
/// underflow to 0, NaN kept) and the same bits in range.
@Suite struct SharedExpTests {
    @Test func expEdgesMatchTheKernelsExp() {
        let x = SIMD16<Float>(.nan, .infinity, -.infinity, 89, 88.5, -100, -86.5, 0,
                              1, -1, 20, -20, 88.7, -85.9, 0.5, -0.5)
        let e = VMath.exp(x)
        #expect(e[0].isNaN)
        #expect(e[1] == .infinity)            // the old fusion copy saturated at ≈ 2.4e38
        #expect(e[2] == 0)
        #expect(e[3] == .infinity)            // beyond Float range
        #expect(abs(Double(e[4]) - Foundation.exp(88.5)) / Foundation.exp(88.5) < 1e-6)  // no early clamp
        #expect(e[5] == 0)
        #expect(e[7] == 1)
        let shared = VectorMath.exp(x)
        #expect((0..<16).allSatisfy { e[$0].bitPattern == shared[$0].bitPattern })
        #expect(VMath.silu(SIMD16<Float>(repeating: -100))[0] == 0)
    }
}
