import ArgumentParser
import FuseBench
import Foundation

struct VariantsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "variants",
        abstract: "Edge-inference variants of a run: latency, energy, top-1, speedup with CI, adopt / reject (rollback).",
        discussion: """
        One table per op of kind `edge` (suite `[[edge]]` entries). Decision: adopt (top-1 within the band \
        and the 95% bootstrap CI of the speedup, grouped by process, above 1); reject: accuracy; reject: not \
        faster (CI includes 1 or lies below); reject: throttled/unstable (> 20% of samples flagged \
        throttled/descheduled, or CV > 20%). Rejections roll back to the op's reference variant (fp32 for the MLP, nchw for the CNN). p50/p90/p99 are \
        per inference, over every timed inference when the run recorded per-iteration latencies; early exit \
        also shows the share of inferences per exit head and each head's p50. Decisions are stored in the \
        table `variant_decisions` (view `v_variant_decisions`).
        """)

    @Argument(help: "Run id, baseline name, latest or latest~N.")
    var runRef: String = "latest"

    @Option(help: "text | markdown | json")
    var format: String = "markdown"

    @OptionGroup var database: DatabaseOptions

    func run() throws {
        guard let f = VariantsFormat(rawValue: format) else {
            throw UsageError("--format must be one of \(VariantsFormat.allCases.map(\.rawValue).joined(separator: ", ")), got '\(format)'")
        }
        let store = try database.open()
        let id = try store.resolve(runRef)
        let rows = try VariantsReport.rows(store: store, runID: id)
        try VariantsReport.store(rows, store: store, runID: id)
        if f != .json { print("run \(id)") }
        print(try VariantsReport.render(rows, format: f), terminator: "")
    }
}
