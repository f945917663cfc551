// `fusebench history --changes` and change-point triage (`--acknowledge ID`, `--accept ID`,
// `--note`): the options `history` includes, and what they do. Detection and storage live in
// Report/ChangeScan.swift (over Analysis/ChangePoints.swift and Store/ChangePointStore.swift).
import ArgumentParser
import FuseBench
import Foundation
import ProcessIO

/// Options of `history` for change points. `history` calls ``run(pattern:branch:machine:last:format:database:)``
/// first; it returns false when none of these options was given.
struct ChangePointOptionsGroup: ParsableArguments {
    @Flag(name: .customLong("changes"), help: ArgumentHelp(
        "Detect change points in the matching series, store the new ones and list those not triaged yet; exit 1 when any are listed, else 0.",
        discussion: "For a nightly CI job. Triage with --acknowledge ID or --accept ID."))
    var changes = false

    @Option(name: .customLong("acknowledge"), help: ArgumentHelp("Mark change point ID as seen: it no longer alerts.", valueName: "ID"))
    var acknowledge: Int64?

    @Option(name: .customLong("accept"), help: ArgumentHelp("Accept change point ID as the series' new level: it no longer alerts.", valueName: "ID"))
    var accept: Int64?

    @Option(name: .customLong("note"), help: "With --acknowledge or --accept: a note stored with the change point.")
    var note: String?

    @Option(name: .customLong("state"), help: "With --changes: list change points in this state: new (default), acknowledged, accepted or all.")
    var state: String = "new"

    @Option(name: .customLong("window"), help: "With --changes: newest runs of each series analysed (6 to 2000; time and memory grow with its square). (default: 200)")
    var window: Int = ChangeScan.defaultWindow

    @Option(name: .customLong("significance"), help: "With --changes: permutation p-value a step must reach (0.001 to 0.2). (default: 0.01)")
    var significance: Double = 0.01

    @Option(name: .customLong("min-effect"), help: ArgumentHelp(
        "With --changes: smallest step reported, in multiples of the series' between-run noise (0 to 100). (default: 0, off)",
        valueName: "K"))
    var minEffect: Double = 0

    @Flag(name: .customLong("shape"), help: "With --changes: compare the runs' decile profiles, not only their medians (also sees a new slow mode; less power in heavy-tailed noise).")
    var shape = false

    /// Whether any change-point option was given.
    var requested: Bool { changes || acknowledge != nil || accept != nil }

    /// Runs the change-point action when one was requested; returns false otherwise.
    func run(pattern: String?, branch: String?, machine: String?, last: Int?, format: HistoryReport.OutputFormat,
             database: DatabaseOptions) throws -> Bool {
        if !requested {
            if note != nil { throw UsageError("--note needs --acknowledge ID or --accept ID") }
            if state != "new" || window != ChangeScan.defaultWindow || significance != 0.01 || minEffect != 0 || shape {
                throw UsageError("--state, --window, --significance, --min-effect and --shape need --changes")
            }
            return false
        }
        if last != nil {
            throw UsageError("--last applies to the history listing; with --changes the runs analysed are set by --window")
        }
        if acknowledge != nil && accept != nil { throw UsageError("give either --acknowledge or --accept, not both") }
        if let id = acknowledge ?? accept {
            if changes { throw UsageError("--acknowledge and --accept cannot be combined with --changes") }
            if let note, note.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && $0 != "\n" }) {
                throw UsageError("--note contains a control character")
            }
            let target: ChangePointState = accept != nil ? .accepted : .acknowledged
            try database.open().triageChangePoint(id: id, state: target, note: note)
            print("change point \(id): \(target.rawValue)")
            return true
        }
        let states: Set<ChangePointState>
        if state == "all" {
            states = Set(ChangePointState.allCases)
        } else if let s = ChangePointState(rawValue: state) {
            states = [s]
        } else {
            throw UsageError("--state must be new, acknowledged, accepted or all, got '\(state)'")
        }
        try OptionRange.check(window, "--window", in: 6...ChangeScan.maximumWindow)
        try OptionRange.check(significance, "--significance", in: 0.001...0.2)
        try OptionRange.check(minEffect, "--min-effect", in: 0...100)
        let store = try database.open()
        var options = ChangePointOptions()
        options.significance = significance
        options.minEffectNoise = minEffect
        if shape { options.levels = RunDistribution.levels }
        let result = try ChangeScan.scan(store: store, pattern: pattern, branch: branch, machine: machine, window: window,
                                         options: options, states: states)
        if result.analysed.isEmpty && result.tooShort.isEmpty {
            throw UsageError("no stored series matches \(pattern.map { "'\($0)'" } ?? "the filters")")
        }
        if result.analysed.isEmpty {
            throw UsageError("no matching series has enough runs for change-point detection (at least \(2 * options.minSegment)); "
                + "\(result.tooShort.count) series have fewer")
        }
        switch format {
        case .text: print(ChangePointRenderer.text(result), terminator: "")
        case .markdown: print(ChangePointRenderer.markdown(result), terminator: "")
        case .json: print(try ChangePointRenderer.json(result), terminator: "")
        case .csv: print(ChangePointRenderer.csv(result), terminator: "")
        }
        if !result.tooShort.isEmpty && format == .text {
            StandardError.write("note: \(result.tooShort.count) series have fewer than \(2 * options.minSegment) runs and were not analysed\n")
        }
        let alerting = result.points.contains { $0.state == .new }
        if alerting { throw ExitCode(ExitStatus.regression) }
        return true
    }
}
