// `fusebench report [RUN] --html OUT.html`: renders one stored run as a self-contained HTML page
// (see docs/reports.md). The output is written atomically (temporary file + rename): on any error
// nothing is written and the command exits 3.
import ArgumentParser
import FuseBench
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Render a stored run as a self-contained HTML page (charts, tables, verdicts, history).",
        discussion: """
            RUN is a run id, baseline name, 'latest' or 'latest~N' (default latest). --html writes one HTML file with \
            inline SVG and CSS (no script, nothing fetched), replaced atomically. --markdown writes a pull-request comment \
            (gate verdicts against --baseline/--base, differential profiles of regressed ops, a link to --html-url) within \
            GitHub's 65536-character limit. Exit 0 ok, 3 error (unknown run, \
            run without samples, output that cannot be written — nothing is written then).
            """)

    @Argument(help: "Run id, baseline name, latest or latest~N.")
    var runRef: String = "latest"

    @Option(help: "Write the HTML report to this file.")
    var html: String?

    @Option(help: "Show the gate verdict per op against this baseline (name or run).")
    var baseline: String?

    @Option(help: "Show the gate verdict per op against this run (id, latest~N).")
    var base: String?

    @Option(help: "History charts: how many recent runs of each series to draw (1 to 10000).")
    var history: Int = 30

    @Option(help: "Write a pull-request comment (Markdown) to this file: gate verdicts against --baseline/--base, differential profiles of regressed ops, within GitHub's comment size limit.")
    var markdown: String?

    @Option(name: .customLong("html-url"), help: "URL of the HTML report (e.g. the CI artifact), linked from the --markdown comment.")
    var htmlURL: String?

    @Option(help: "With --baseline/--base: regression threshold for every op, in percent (default: each op's threshold from its suite), as compare and gate take it.")
    var threshold: Double?

    @Option(name: .customLong("instructions-threshold"), help: "With --baseline/--base: instruction-count threshold in percent (default 1).")
    var instructionsThreshold: Double?

    @Flag(name: .customLong("exclude-throttled"), help: "With --baseline/--base: leave out samples flagged as taken while throttled or descheduled.")
    var excludeThrottled = false

    @OptionGroup var database: DatabaseOptions

    func run() throws {
        guard html != nil || markdown != nil else { throw UsageError("report needs an output: --html OUT.html and/or --markdown OUT.md") }
        guard baseline == nil || base == nil else { throw UsageError("give --baseline or --base, not both") }
        try OptionRange.check(history, "--history", in: 1...10_000)
        try ReportComparisonParts.check(markdown: markdown, htmlURL: htmlURL, against: baseline ?? base)
        let store = try database.openForReading()
        if baseline == nil && base == nil && (threshold != nil || instructionsThreshold != nil || excludeThrottled) {
            throw UsageError("--threshold, --instructions-threshold and --exclude-throttled need --baseline NAME or --base RUN")
        }
        let verdictOptions = try VerdictOptions.options(threshold: threshold, instructionsThreshold: instructionsThreshold,
                                                        excludeThrottled: excludeThrottled)
        let input = try Self.load(store: store, runRef: runRef, against: baseline ?? base, history: history, options: verdictOptions)
        let parts = try ReportComparisonParts(store: store, input: input)
        var outputs: [(text: String, path: String)] = []
        if let html {
            var page = HTMLRunReport.build(input)
            parts.addProfiles(to: &page)
            outputs.append((page.render(), html))
        }
        if let markdown { outputs.append((parts.markdown(runID: input.run.info.id, htmlURL: htmlURL), markdown)) }
        do {
            // Everything rendered first, every target checked before the first is replaced: an
            // error above, or a target that cannot be written, writes nothing.
            for o in outputs { try OutputFile.preflight(o.path, what: "report") }
            for o in outputs { try OutputFile.write(o.text, to: o.path, what: "report") }
        } catch let e as OutputFile.Failure {
            throw UsageError(e.description)
        }
    }

    /// Loads what the report of `runRef` needs (`HTMLRunReportInput.load`): that run's rows, its
    /// comparison when `against` is given, and the newest `history` runs of each of its series.
    static func load(store: ResultStore, runRef: String, against: String?, history: Int,
                     options: CompareReport.Options = CompareReport.Options()) throws -> HTMLRunReportInput {
        try HTMLRunReportInput.load(store: store, runID: try store.resolve(runRef), against: against.map { try store.resolve($0) },
                                    history: history, options: options)
    }
}
