// The differential-profile section of the HTML report (`report --html` with `--baseline`/`--base`):
// per regressed (or instruction-changed) benchmark, base vs head function by function, from the
// same `ProfileReport` as `compare --profile` and the PR comment.
import Analysis
import BenchModel
import Foundation

extension HTMLReport {
    /// Inserts `section` right after the section with anchor `id` (at the end when there is none).
    public mutating func insert(_ section: Section, after id: String) {
        if let i = sections.firstIndex(where: { $0.id == id }) {
            sections.insert(section, at: i + 1)
        } else {
            sections.append(section)
        }
    }
}

extension HTMLRunReport {
    /// Benchmarks shown in the HTML profile section at most (regressions first).
    public static let profileLimit = 50

    /// "Why is it slower": the differential profiles of `profiles` for the benchmarks `comparison`
    /// found regressed (time or instructions), then those whose functions changed, at most
    /// `profileLimit`; benchmarks without a profile on a side say why.
    public static func profiles(_ profiles: ProfileReport, comparison: CompareReport) -> HTMLReport.Section {
        let regressed = Set(comparison.comparisons.filter { $0.verdict == .regression || $0.instructionVerdict == .regression }.map(\.key))
        let chosen = profiles.entries.filter { regressed.contains($0.key) }
            + profiles.entries.filter { !regressed.contains($0.key) && !($0.diff?.rows.isEmpty ?? true) }
        var html = note("Differential profiles are " + ProfileReport.simOnlyNote + ". Per op execution: instructions (Ir), L1d and LL misses of each function's own code, base → head; the functions whose instructions changed most first.")
        if chosen.isEmpty {
            let missing = profiles.entries.compactMap(\.missing).first
            html += note(missing.map { "no profile to compare — \($0)" } ?? "no function's instructions or misses changed between the runs")
            return HTMLReport.Section(id: "profiles", title: "Why is it slower: differential profiles", html: html)
        }
        for e in chosen.prefix(profileLimit) {
            html += "<h3 id=\"profile-\(HTMLReport.anchor(e.key.description))\">\(HTMLReport.escape(e.key.description))"
            html += regressed.contains(e.key) ? " <span class=\"bad\">regression</span></h3>" : "</h3>"
            guard let d = e.diff else {
                html += note("no profile — \(e.missing ?? "unknown")")
                continue
            }
            html += note(ProfileRenderer.headline(d))
            if d.rows.isEmpty {
                html += note("no function changed")
                continue
            }
            html += HTMLReport.table(header: ProfileRenderer.header, rows: d.rows.map(ProfileRenderer.cells), numeric: [1, 2, 3, 4, 5, 6],
                                     cssClass: "data profile")
            for n in ProfileRenderer.footnotes(d) { html += note(n) }
        }
        if chosen.count > profileLimit {
            html += note("\(chosen.count - profileLimit) more benchmark(s) with changed functions not shown: fusebench compare --profile lists them all")
        }
        return HTMLReport.Section(id: "profiles", title: "Why is it slower: differential profiles", html: html)
    }
}
