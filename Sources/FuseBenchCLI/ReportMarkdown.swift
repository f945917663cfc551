// `fusebench report --markdown OUT.md` (the pull-request comment) and the differential-profile
// section of `report --html`: both need the run's comparison (`--baseline`/`--base`) and the
// profiles of its benchmarks, loaded once here.
import FuseBench
import Foundation

/// The comparison-based parts of `report`: the PR comment and the HTML profile section.
struct ReportComparisonParts {
    /// Profiles of the compared benchmarks (nil without a comparison).
    let profiles: ProfileReport?
    let comparison: CompareReport?

    /// Refuses `--markdown` without a comparison and an `--html-url` that cannot be linked.
    static func check(markdown: String?, htmlURL: String?, against: String?) throws {
        if markdown != nil, against == nil {
            throw UsageError("--markdown needs --baseline NAME or --base RUN: the comment shows the gate verdicts against it")
        }
        if let htmlURL {
            guard markdown != nil else { throw UsageError("--html-url is the link in the --markdown comment; give --markdown OUT.md") }
            guard PRCommentRenderer.safeURL(htmlURL) != nil else {
                throw UsageError("--html-url must be an http:// or https:// URL, got '\(htmlURL)'")
            }
        }
    }

    /// Loads the profiles of `input`'s comparison, when there is one.
    init(store: ResultStore, input: HTMLRunReportInput) throws {
        comparison = input.comparison
        profiles = try input.comparison.map { try ProfileReport(store: store, report: $0) }
    }

    /// Adds the differential-profile section after the gate verdicts.
    func addProfiles(to page: inout HTMLReport) {
        guard let profiles, let comparison else { return }
        page.insert(HTMLRunReport.profiles(profiles, comparison: comparison), after: "verdicts")
    }

    /// The PR comment (within GitHub's size limit).
    func markdown(runID: Int64, htmlURL: String?) -> String {
        guard let comparison else { return "" }
        let base = comparison.base.map { String($0.id) }.joined(separator: "+")
        return PRCommentRenderer.render(comparison, profiles: profiles, htmlURL: htmlURL, title: "run \(runID) vs run \(base)").markdown
    }
}
