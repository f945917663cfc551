import ArgumentParser
import FuseBench
import Foundation

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Export a stored run (gbench, bmf, gab, junit, markdown, csv).")

    @Argument(help: "Run id, 'latest' or 'latest~N'.")
    var runRef: String

    @Option(help: "gbench | csv | bmf | gab | junit | markdown")
    var format: String

    @Option(help: "junit: compare with this baseline (name or run) and fail regressed benchmarks.")
    var baseline: String?

    @Option(help: "Write to this file instead of stdout (replaced atomically; a FIFO or character device is written through, never replaced).")
    var output: String?

    @OptionGroup var database: DatabaseOptions

    func run() throws {
        guard let f = ExportFormat(rawValue: format) else {
            throw UsageError("--format must be one of \(ExportFormat.allCases.map(\.rawValue).joined(separator: ", ")), got '\(format)'")
        }
        let store = try database.openForReading()
        let id = try store.resolve(runRef)
        var comparison: CompareReport?
        if let b = baseline {
            comparison = try CompareReport(store: store, baseIDs: [try store.resolve(b)], headIDs: [id])
        }
        // Edge ops: the variants tables (markdown) / decisions (gbench JSON), computed as
        // `fusebench variants` does (an export never writes to the store).
        let variants = f == .markdown || f == .gbench ? try VariantsReport.rows(store: store, runID: id) : []
        let text = try Exporter.export(try RunReport(store: store, runID: id), format: f, comparison: comparison, variants: variants)
        if let path = output {
            do {
                try OutputFile.write(text, to: path)
            } catch let e as OutputFile.Failure {
                throw UsageError(e.description)
            }
        } else {
            print(text, terminator: "")
        }
    }
}

struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runs", abstract: "List stored runs, newest first.")

    @OptionGroup var database: DatabaseOptions

    @Option(help: "How many runs to show (1 to 1000000).")
    var limit: Int = 20

    func run() throws {
        try OptionRange.check(limit, "--limit", in: OptionRange.runsLimit)
        let store = try database.openForReading()
        let rows = try store.runs(limit: limit).map { r in
            [String(r.id), r.status.rawValue, ISO8601DateFormatter().string(from: r.startedAt), r.suites.joined(separator: ","),
             r.label ?? "", String((r.gitCommit ?? "").prefix(10)) + (r.gitDirty == true ? "+" : ""), r.counterMode.rawValue,
             String(r.uuid.prefix(8))]
        }
        print(Format.table(header: ["id", "status", "started", "suites", "label", "commit", "counters", "uuid"], rows: rows))
    }
}
