// `fusebench history`: the runs of each series (one benchmark on one machine, counter backend and
// built ISA) with median, CI, instructions per op and marks; see docs/history.md.
import ArgumentParser
import FuseBench
import Foundation

/// `fusebench history [PATTERN] [--branch B] [--machine M] [--last N] [--format F]`.
struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show how each series (benchmark × machine × counter backend × built ISA) moved over the stored runs.",
        discussion: """
            Per series: a header, then per run (oldest first) its id, start time, commit (+ when dirty), branch, \
            median time per iteration with its 95% CI (exact order-statistic interval for one-process runs, \
            bootstrap over processes then batches for runs with worker processes), instructions per op and marks (status when not \
            complete, dirty, baselines pointing at it, tags). Exit 3 when nothing matches.
            """)

    @Argument(help: "Regular expression on SUITE/OP/VARIANT, as run --filter (default: every series).")
    var pattern: String?

    @Option(help: "Only runs of this git branch.")
    var branch: String?

    @Option(help: "Only this machine: its key (cpu|cores|isa|pmu), m<ID>, or part of the CPU model.")
    var machine: String?

    @Option(help: "Only the newest N runs of each series (1 to 1000000).")
    var last: Int?

    @Option(help: "text | markdown | json | csv")
    var format: String = "text"

    @OptionGroup var database: DatabaseOptions

    @OptionGroup(title: "Change points") var changePoints: ChangePointOptionsGroup

    func run() throws {
        guard let f = HistoryReport.OutputFormat(rawValue: format) else {
            throw UsageError("--format must be one of \(HistoryReport.OutputFormat.allCases.map(\.rawValue).joined(separator: ", ")), got '\(format)'")
        }
        if let last { try OptionRange.check(last, "--last", in: OptionRange.historyLast) }
        if let pattern { _ = try BenchmarkPattern(pattern) }
        // Reading only: a missing database is an error, not a new empty file.
        guard database.isPostgres || FileManager.default.fileExists(atPath: database.path) else {
            throw UsageError("\(database.path): no results database there (run `\(programName) run` first, or pass --db)")
        }
        if try changePoints.run(pattern: pattern, branch: branch, machine: machine, last: last, format: f, database: database) { return }
        let store = try database.openForReading()
        let report = try HistoryReport(store: store, pattern: pattern, branch: branch, machine: machine, last: last)
        print(report.render(f), terminator: "")
    }
}
