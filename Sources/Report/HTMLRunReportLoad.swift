// Loading the HTML report of one stored run from the store: the run's rows, its comparison, its
// variant and fusion decisions and the history of its series with their change points. Shared by
// `fusebench report --html` and the dashboard's run pages (`fusebench serve`), so both show the
// same report.
import Analysis
import BenchModel
import Foundation
import Store

extension HTMLRunReportInput {
    /// Loads the report of run `runID`: its rows (with per-iteration latencies), its comparison
    /// against run `against` when given, and the newest `history` runs of each of its series
    /// (nothing else is read).
    ///
    /// - Throws: `CompareError` when the run has no samples; `StoreError` for an unknown run or an
    ///   unreadable database.
    public static func load(store: ResultStore, runID id: Int64, against: Int64?, history: Int,
                            options: CompareReport.Options = CompareReport.Options()) throws -> HTMLRunReportInput {
        let run = try RunReport(store: store, runID: id, iterationLatencies: true)
        guard !run.samples.isEmpty else { throw CompareError("run \(id) has no samples: nothing to report") }
        var comparison: CompareReport?
        if let against {
            comparison = try CompareReport(store: store, baseIDs: [against], headIDs: [id], options: options)
        }
        var inputs: [(key: SeriesKey, points: [SeriesPoint], changes: [HTMLRunReport.ChangeMark])] = []
        var single = 0
        let keys = try store.seriesKeys(runID: id)
        let changes = try HTMLRunReport.changeMarks(store: store, keys: keys)
        for key in keys {
            let points = try store.seriesPoints(key, branch: nil, last: history)
            guard points.count >= 2 else {
                single += 1
                continue
            }
            inputs.append((key, points, changes[key.id] ?? []))
        }
        let series = HTMLRunReport.historySeries(inputs, currentRunID: id)
        var note = ""
        if let k = keys.first {
            note = "Series: same machine (\(k.cpuModel), m\(k.machineID)), counter backend \(k.counterMode), built ISA \(k.isaFeatures.joined(separator: "+")); newest \(history) runs of each."
        }
        if single > 0 { note += " \(single) series with only one run are not drawn." }
        return HTMLRunReportInput(run: run, comparison: comparison,
                                  variants: try VariantsReport.rows(store: store, runID: id),
                                  fusion: try store.fusionDecisions(runID: id),
                                  history: series, historyNote: note)
    }
}

extension HTMLRunReport {
    /// Stored change points (`change_points`, found over all branches, any triage state) of the
    /// series `keys`, by series id, labelled with the step and its state (`+10.2% new`).
    public static func changeMarks(store: ResultStore, keys: [SeriesKey]) throws -> [String: [ChangeMark]] {
        let wanted = Set(keys.map(\.id))
        var out: [String: [ChangeMark]] = [:]
        for c in try store.changePoints(series: nil, branch: nil) where wanted.contains(c.candidate.series.id) {
            out[c.candidate.series.id, default: []].append(ChangeMark(runAfter: c.candidate.runAfter, label: changeLabel(c)))
        }
        return out
    }

    /// The label of a change point on a history chart: step and triage state (`+10.2% new`).
    public static func changeLabel(_ c: StoredChangePoint) -> String {
        String(format: "%+.1f%% %@", (c.candidate.ratio - 1) * 100, c.state.rawValue)
    }
}
