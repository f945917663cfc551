// End to end: a small fusion run fills the decision log's measured unfused→fused column for every
// decision, and `fusebench fusion latest` shows predicted vs measured and the decision.
import Foundation
import Testing

@Suite(.serialized) struct FusionSpeedCLITests {
    /// A tiny chain (three elementwise layers) and a refusal (an intermediate read twice).
    static let suite = """
        [suite]
        name = "tinyfuse"

        [defaults]
        batch_ms = 0.2
        samples = 2
        warmup_ms = 2

        [[model]]
        name = "chain"
        input = { elements = 2048 }
        variants = ["unfused", "fused"]
        [[model.layer]]
        name = "scale"
        op = "scale"
        value = 0.5
        [[model.layer]]
        name = "shift"
        op = "add"
        value = 0.1
        [[model.layer]]
        name = "act"
        op = "relu"
        [[model.layer]]
        name = "residual"
        op = "add"
        inputs = ["act", "shift"]
        """

    @Test func measuredColumnIsFilledForEveryDecision() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("tiny.toml").path
        try Self.suite.write(toFile: path, atomically: true, encoding: .utf8)
        let db = dir.appendingPathComponent("fusion.sqlite").path
        let run = try CLI.run(["run", path, "--quiet", "--counters", "none", "--db", db])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        let fusion = try CLI.run(["fusion", "latest", "--db", db])
        #expect(fusion.status == 0, "\(fusion.stderr)")
        let lines = fusion.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.contains("measured unfused→fused [95% CI]") }, "\(fusion.stdout)")
        // Decision rows name their rule; each has a measured cell (never the pre-check `not measured`).
        let rows = lines.filter { $0.contains("elementwise-chain") }
        #expect(rows.count >= 2, "\(fusion.stdout)")
        for row in rows {
            #expect(!row.contains("not measured"), "\(row)")
            #expect(row.contains(" → "), "\(row)")
        }
        // The legal group shows its measured change with an interval, next to the prediction.
        let legal = rows.filter { !$0.contains("rejected: illegal") }
        #expect(!legal.isEmpty)
        for row in legal {
            #expect(row.contains("%, "), "measured change with CI: \(row)")
            #expect(row.contains("predicted"), "reason compares with the prediction: \(row)")
        }
        #expect(rows.contains { $0.contains("rejected: illegal") && $0.contains("no fused kernel") }, "\(fusion.stdout)")
    }
}
