// `fusebench fusion`: the decision log is grouped per `[[model]]` by suite and model, and the
// bytes each plan moves are attributed to the right model.
import BenchModel
import Foundation
import Report
import Store
import Testing

@Suite struct FusionRendererTests {
    func decision(suite: String, model: String, reason: String) -> FusionDecision {
        FusionDecision(suite: suite, model: model, group: ["fc1", "relu1"], rule: "gemm-epilogue", outcome: .accepted, reason: reason,
                       bytesSaved: 4096, launchesSaved: 1)
    }

    /// Two suites, each with a `[[model]]` named `mlp`, stored and read back through the store:
    /// two blocks in `fusion`, each with its own decisions and bytes.
    @Test func sameModelNameInTwoSuitesIsTwoGroups() throws {
        let store = try ResultStore.inMemory()
        let runID = try store.beginRun(RunInfo(startedAt: Date(), status: .running, label: nil, suites: ["a", "b"], suiteHash: "h",
                                               gitCommit: nil, gitBranch: nil, gitDirty: nil, harnessVersion: Harness.version,
                                               machine: MachineFingerprint(cpuModel: "c", logicalCPUs: 1, isaHost: [], caches: [], kernel: "k",
                                                                           governor: "g", perfEventParanoid: 2, virtualization: "none",
                                                                           pmuAvailable: false),
                                               isaBuilt: [], counterMode: .none, counterNote: "", calibration: nil, configJSON: "{}",
                                               pid: getpid()))
        try store.insertFusionDecisions(runID: runID, decisions: [decision(suite: "a", model: "mlp", reason: "from-a"),
                                                                  decision(suite: "b", model: "mlp", reason: "from-b")])
        try store.setRunMeta(runID: runID, key: RunMetaKey.fusionBytes(BenchmarkKey(suite: "a", op: "mlp", variant: "fused")), value: "1000")
        try store.setRunMeta(runID: runID, key: RunMetaKey.fusionBytes(BenchmarkKey(suite: "b", op: "mlp", variant: "fused")), value: "2000")
        let text = FusionRenderer.render(decisions: try store.fusionDecisions(runID: runID), meta: try store.runMeta(runID: runID))
        let blocks = text.trimmingCharacters(in: .whitespacesAndNewlines).components(separatedBy: "\n\n")
        #expect(blocks.count == 2)
        #expect(blocks.first?.hasPrefix("model a/mlp: 1 decision(s), 1 fusion(s) adopted") == true)
        #expect(blocks.last?.hasPrefix("model b/mlp: 1 decision(s), 1 fusion(s) adopted") == true)
        #expect(blocks.first?.contains("from-a") == true && blocks.first?.contains("from-b") == false)
        #expect(blocks.first?.hasSuffix("bytes moved per inference: fused 1kB") == true)
        #expect(blocks.last?.hasSuffix("bytes moved per inference: fused 2kB") == true)
    }

    /// A `SUITE/OP/VARIANT` key of another model whose suite starts with `MODEL.` (suite
    /// `fusion.v2`, model `other`) is not read as the older `MODEL.VARIANT` form of model `fusion`.
    @Test func legacyKeyFormOnlyForKeysThatAreNotBenchmarkKeys() {
        let meta = [
            RunMetaKey.fusionBytes(BenchmarkKey(suite: "fusion.v2", op: "other", variant: "fused")): "500",
            RunMetaKey.fusionBytesPrefix + "fusion.unfused": "700",
        ]
        let text = FusionRenderer.render(decisions: [decision(suite: "s", model: "fusion", reason: "r")], meta: meta)
        #expect(text.contains("bytes moved per inference: unfused 700B"))
        #expect(!text.contains("other") && !text.contains("500"))
    }
}
