import BenchModel
import Foundation
import Report
import Store
import TestSupport
import Testing

@Suite struct VariantsReportTests {
    @Test func decisionsAndRollback() throws {
        let store = try ResultStore.inMemory()
        let base = 100_000.0
        let op = Synthetic.Op(name: "mlp", kind: "edge", values: [
            "reference": Synthetic.values(median: base, seed: 1),
            "fast": Synthetic.values(median: base / 2, seed: 2),
            "same": Synthetic.values(median: base, seed: 3),
            "noisy": Synthetic.values(median: base / 2, noise: 0.9, seed: 4),
        ])
        let other = Synthetic.op("gemm_x", median: 1000, seed: 5)
        let id = try Synthetic.run(store, ops: [op, other], checks: ["mlp/fast": true, "mlp/same": true, "mlp/noisy": true, "mlp/bad": false])
        let rows = try VariantsReport.rows(store: store, runID: id)
        #expect(rows.map(\.op) == Array(repeating: "mlp", count: 5), "only edge ops")
        let decision = Dictionary(uniqueKeysWithValues: rows.map { ($0.variant, $0.decision.description) })
        #expect(decision["reference"] == "reference")
        #expect(decision["fast"] == "adopt")
        #expect(decision["same"] == "reject: not faster → reference (rollback)")
        #expect(decision["noisy"] == "reject: throttled/unstable → reference (rollback)")
        #expect(decision["bad"] == "reject: accuracy → reference (rollback)")
        let fast = try #require(rows.first { $0.variant == "fast" })
        #expect(abs(fast.speedup! - 2) < 0.05 && fast.lower! > 1.9 && fast.upper! < 2.1)
        #expect(rows.first { $0.variant == "bad" }?.p50 == nil)
        try VariantsReport.store(rows, store: store, runID: id)
        #expect(try store.variantDecisions(runID: id).first { $0.variant == "fast" }?.decision == "adopt")
        let text = VariantsReport.markdown(rows)
        #expect(text.contains("| bad | not timed | not timed | not timed | unavailable |"))
        #expect(text.contains("| fast |") && text.contains("2.00× ["))
    }
}

/// A model's parts timed alone (`layer:NAME`, `layer:A+B`) are not variants: they get no row and so
/// no adopt / reject decision (they used to be "adopted" with a speedup of a layer over the model).
@Suite struct VariantPartsTests {
    @Test func partsAreNotVariants() throws {
        let store = try ResultStore.inMemory()
        let op = Synthetic.Op(name: "model", kind: "model", values: [
            "reference": Synthetic.values(median: 100_000, seed: 1),
            "fused": Synthetic.values(median: 50_000, seed: 2),
            "layer:fc": Synthetic.values(median: 40_000, seed: 3),
            "layer:fc+gelu": Synthetic.values(median: 41_000, seed: 4),
        ])
        let id = try Synthetic.run(store, ops: [op], checks: ["model/fused": true])
        let rows = try VariantsReport.rows(store: store, runID: id)
        #expect(rows.map(\.variant) == ["reference", "fused"])
        #expect(BenchmarkKey.isPart(variant: "layer:fc+gelu") && !BenchmarkKey.isPart(variant: "fused"))
        #expect(TextRenderer.partDescription("layer:fc+gelu") == "fused group, alone")
        #expect(TextRenderer.partDescription("layer:fc") == "one layer, unfused")
        #expect(TextRenderer.partDescription("fused") == nil)
    }
}

/// Decisions are an enum whose texts are the stored strings: every case survives the trip through
/// its text and through JSON, and the kind/rollback target come from the case, not from splitting
/// the text at " → " (a reference variant named with an arrow used to break the split).
@Suite struct VariantDecisionTests {
    @Test func textsRoundTripAndKindsComeFromTheCase() throws {
        let all: [VariantDecision] = [.reference, .adopt, .timingOnly, .undecidedInterrupted, .undecidedFewSamples(minimum: 5)]
            + VariantDecision.RejectReason.allCases.map { .reject($0, rollbackTo: "fp32") }
        for d in all {
            #expect(VariantDecision(text: d.description) == d)
            let data = try JSONEncoder().encode([d])
            #expect(try JSONDecoder().decode([VariantDecision].self, from: data) == [d])
        }
        #expect(VariantDecision.reject(.notFaster, rollbackTo: "fp32").description == "reject: not faster → fp32 (rollback)")
        let odd = VariantDecision.reject(.accuracy, rollbackTo: "a → b")
        #expect(odd.kind == "reject: accuracy" && odd.rollbackTo == "a → b")
        #expect(VariantDecision(text: odd.description) == odd)
        #expect(VariantDecision(text: "maybe") == nil)
    }
}
