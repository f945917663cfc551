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
        throttled/descheduled, or CV > 20%). Rejections roll back to the reference (fp32). Decisions are \
        stored in the run's run_meta as `variant_decision/OP/VARIANT`.
        """)

    @Argument(help: "Run id, baseline name, latest or latest~N.")
    var runRef: String = "latest"

    @OptionGroup var database: DatabaseOptions

    func run() throws {
        let store = try database.open()
        let id = try store.resolve(runRef)
        let rows = try VariantsReport.rows(store: store, runID: id)
        try VariantsReport.store(rows, store: store, runID: id)
        print("run \(id)")
        print(VariantsReport.render(rows), terminator: "")
    }
}
