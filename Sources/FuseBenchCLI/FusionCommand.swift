import ArgumentParser
import FuseBench
import Foundation

struct FusionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fusion", abstract: "Print the runtime fusion planner's decision log of a run.")

    @Argument(help: "Run id, baseline name, latest or latest~N.")
    var runRef: String = "latest"

    @OptionGroup var database: DatabaseOptions

    func run() throws {
        let store = try database.openForReading()
        let id = try store.resolve(runRef)
        print("run \(id)")
        print(FusionRenderer.render(decisions: try store.fusionDecisions(runID: id), meta: try store.runMeta(runID: id)))
    }
}
