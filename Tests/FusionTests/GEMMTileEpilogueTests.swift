// The fusion runtime's GEMM groups hand a leading bias / GELU to the GEMM micro-kernel's
// tile epilogue (`GEMMKernel.split` → `GEMMTileEpilogue`) and keep the rest as a per-tile
// program; fused GEMM + bias + GELU stays bit-identical to the unfused layers.
import BenchModel
@testable import Fusion
import Kernels
import Testing

@Suite struct GEMMTileEpilogueTests {
    @Test func splitTakesLeadingBiasAndGelu() throws {
        let b = UnsafeMutablePointer<Float>.allocate(capacity: 4)
        defer { b.deallocate() }
        let (te, rest) = GEMMKernel.split(EWProgram([.bias(UnsafePointer(b)), .gelu, .mulC(0.5)]))
        let t = try #require(te)
        #expect(t.bias == UnsafePointer(b))
        #expect(t.activation == .gelu)
        #expect(rest?.count == 1)
        if case .mulC(let c)? = rest?.stepBuffer.first { #expect(c == 0.5) } else { Issue.record("rest is not [mulC]") }

        let (te2, rest2) = GEMMKernel.split(EWProgram([.gelu]))
        #expect(te2?.bias == nil && te2?.activation == .gelu && rest2 == nil)
        // A bias after another step cannot move into the registers.
        let (te3, rest3) = GEMMKernel.split(EWProgram([.relu, .bias(UnsafePointer(b))]))
        #expect(te3 == nil && rest3?.count == 2)
        let (te4, rest4) = GEMMKernel.split(nil)
        #expect(te4 == nil && rest4 == nil)
    }

    /// The fused group timed alone (`fusedGroupInstances`, the model's extra part `layer:fc+b+g`)
    /// runs the GEMM with its tile epilogue and nothing else, and gives the unfused model's output;
    /// the model's `fc` layer alone (`layerInstances`) is the same GEMM without one.
    @Test func fusedGroupPartIsTheGEMMWithItsEpilogue() throws {
        let s = spec(input: ["rows": 13, "cols": 300], [
            L("fc", "linear", ["out": .int(37), "bias": .bool(false)]),
            L("b", "bias_add"),
            L("g", "gelu"),
        ])
        let f = try ModelFactory(spec: s)
        let groups = try f.fusedGroupInstances(seed: 5)
        #expect(groups.map(\.name) == ["fc+b+g"])
        let u = try f.makeModel(variant: "unfused", seed: 5)
        u.run()
        let group = try #require(groups.first).instance
        group.run()
        #expect(Array(group.output()) == Array(u.output()))
        #expect(try f.extraTimedParts(seed: 5).map(\.name) == ["fc", "b", "g", "fc+b+g"])
        // A model without a legal fusion has no group parts.
        let lone = try ModelFactory(spec: spec(input: ["rows": 2, "cols": 3], [L("g", "gelu")]))
        #expect(try lone.fusedGroupInstances(seed: 5).isEmpty)
    }

    /// linear → bias → GELU fused into the micro-kernel equals the three unfused layers bit for bit,
    /// with edge tiles (n, rows not multiples of 16 / 6 / 14) and k over one 256-deep block.
    @Test(arguments: [(6, 16, 8), (13, 37, 300), (64, 100, 70), (3, 20, 9)])
    func gemmBiasGeluBitIdentical(shape: (rows: Int, out: Int, cols: Int)) throws {
        let s = spec(input: ["rows": shape.rows, "cols": shape.cols], [
            L("fc", "linear", ["out": .int(shape.out), "bias": .bool(false)]),
            L("b", "bias_add"),
            L("g", "gelu"),
        ])
        let r = try compareVariants(s)
        #expect(r.check.maxAbsError == 0, "fused \(r.check.maxAbsError)")
        #expect(r.fused.passes == 1)
    }
}
