// The pull-request comment of `fusebench report --markdown`: the gate's verdict table (the same
// verdicts as `gate`/`compare`), the differential profiles of the regressed benchmarks and a link
// to the HTML report, kept within GitHub's comment size limit by summarising when needed.
import Analysis
import BenchModel
import Foundation

/// Renders a comparison as a GitHub pull-request comment.
public enum PRCommentRenderer {
    /// GitHub's limit on a comment body, in characters. The renderer counts UTF-8 bytes, which are
    /// never fewer than characters, so a comment within the limit by bytes is within it.
    public static let githubLimit = 65_536

    /// What went into a comment, for tests and messages.
    public struct Rendered: Sendable {
        /// The Markdown.
        public var markdown: String
        /// Benchmarks counted in the summary line instead of listed in the table.
        public var rowsCut: Int
        /// Regressed benchmarks whose profile was left out for space.
        public var profilesCut: Int
    }

    /// The comment for `report`, with the profiles of its regressed benchmarks from `profiles` and a
    /// link to `htmlURL`, at most `limit` UTF-8 bytes. When the whole comment is longer, the table
    /// keeps regressions and inconclusive results (then the others while they fit) and counts the
    /// rest, profiles are added while they fit, and the comment says what was cut.
    public static func render(_ report: CompareReport, profiles: ProfileReport? = nil, htmlURL: String? = nil,
                              title: String? = nil, limit: Int = githubLimit) -> Rendered {
        let order: [Verdict: Int] = [.regression: 0, .inconclusive: 1, .improvement: 2, .pass: 3]
        func rank(_ c: Comparison) -> Int { c.instructionVerdict == .regression ? 0 : order[GateDecision.gateVerdict(c)] ?? 4 }
        let sorted = report.comparisons.enumerated().sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }.map(\.element)
        let regressed = Set(report.comparisons.filter { $0.verdict == .regression || $0.instructionVerdict == .regression }.map(\.key))
        let profileEntries = (profiles?.entries ?? []).filter { regressed.contains($0.key) }
        let blocks = profileEntries.map { ProfileRenderer.markdown($0, headingLevel: 4) }

        let head = header(report, htmlURL: htmlURL, title: title)
        let foot = "\n<sub>\(MarkdownText.escape(CompareRenderer.summary(report)))</sub>\n"
        let rows = sorted.map { row($0, report) }
        let tableHead = MarkdownText.tableHeader(CompareRenderer.header)

        // Everything fits: the table in severity order and every regressed benchmark's profile.
        let full = head + tableHead + rows.joined() + profileSection(blocks, total: blocks.count) + warnings(report, max: .max) + foot
        if full.utf8.count <= limit { return Rendered(markdown: full, rowsCut: 0, profilesCut: 0) }

        // Summarise: warnings shortened; regressions and inconclusive rows first, then the
        // profiles, then the other rows while they fit; the cut is said in a note (its size
        // reserved up front).
        let warn = warnings(report, max: 10)
        let noteReserve = 600
        var budget = limit - head.utf8.count - tableHead.utf8.count - warn.utf8.count - foot.utf8.count - noteReserve
        var keptRows: [String] = []
        for (i, r) in rows.enumerated() where rank(sorted[i]) <= 1 {
            guard r.utf8.count <= budget else { break }
            keptRows.append(r)
            budget -= r.utf8.count
        }
        var keptBlocks: [String] = []
        let sectionOverhead = profileSection(["x"], total: blocks.count).utf8.count
        if !blocks.isEmpty, budget > sectionOverhead {
            budget -= sectionOverhead
            for b in blocks {
                guard b.utf8.count <= budget else { break }
                keptBlocks.append(b)
                budget -= b.utf8.count
            }
        }
        let mustKeep = sorted.filter { rank($0) <= 1 }.count
        if keptRows.count == mustKeep {   // sorted: the others follow the regressions and inconclusive
            for r in rows.dropFirst(mustKeep) {
                guard r.utf8.count <= budget else { break }
                keptRows.append(r)
                budget -= r.utf8.count
            }
        }
        let cutRows = sorted.dropFirst(keptRows.count)
        let counts = Dictionary(grouping: cutRows, by: { GateDecision.gateVerdict($0) }).mapValues(\.count)
        var cut: [String] = []
        if !cutRows.isEmpty {
            let parts = [Verdict.regression, .inconclusive, .improvement, .pass].compactMap { v in counts[v].map { "\($0) \(v.rawValue)" } }
            cut.append("\(cutRows.count) benchmark(s) not listed (\(parts.joined(separator: ", ")))")
        }
        if keptBlocks.count < blocks.count { cut.append("\(blocks.count - keptBlocks.count) of \(blocks.count) profile(s) left out") }
        if report.warnings.count > 10 { cut.append("\(report.warnings.count - 10) warning(s) left out") }
        if cut.isEmpty { cut.append("long warnings shortened") }
        var note = "\n> ✂️ Shortened to fit GitHub's comment limit (\(limit) characters): \(cut.joined(separator: "; "))."
        note += htmlURL != nil ? " The HTML report has everything.\n" : " `fusebench compare --profile` shows everything.\n"
        let body = head + tableHead + keptRows.joined() + note + profileSection(keptBlocks, total: blocks.count) + warn + foot
        return Rendered(markdown: body, rowsCut: cutRows.count, profilesCut: blocks.count - keptBlocks.count)
    }

    static func header(_ r: CompareReport, htmlURL: String?, title: String?) -> String {
        let icon: [Verdict: String] = [.pass: "✅ pass", .improvement: "🚀 improvement", .inconclusive: "❔ inconclusive", .regression: "❌ regression"]
        var out = "### fusebench: \(icon[r.verdict] ?? r.verdict.rawValue)"
        if let title { out += " — " + MarkdownText.escape(title) }
        out += "\n\n"
        if let htmlURL, let link = safeURL(htmlURL) { out += "📊 [Full HTML report](\(link)) (charts, distributions, history)\n\n" }
        return out
    }

    static func row(_ c: Comparison, _ r: CompareReport) -> String {
        let icon: [Verdict: String] = [.pass: "✅ pass", .improvement: "🚀 improvement", .inconclusive: "❔ inconclusive", .regression: "❌ regression"]
        var cells = CompareRenderer.cells(c, r)
        let g = GateDecision.gateVerdict(c)
        cells[cells.count - 1] = (icon[g] ?? g.rawValue) + (g != c.verdict ? " (instr ↑)" : "")
        return MarkdownText.tableRow(cells)
    }

    static func profileSection(_ blocks: [String], total: Int) -> String {
        guard !blocks.isEmpty else { return "" }
        return "\n<details><summary>Why is it slower: differential profiles of \(total) regressed benchmark(s)</summary>\n\n"
            + "<sub>\(MarkdownText.escape(ProfileReport.simOnlyNote))</sub>\n" + blocks.map { "\n" + $0 }.joined() + "\n</details>\n"
    }

    static func warnings(_ r: CompareReport, max: Int) -> String {
        guard !r.warnings.isEmpty else { return "" }
        var lines = r.warnings.prefix(max).map { "> ⚠️ " + MarkdownText.escape(String($0.prefix(400))) }
        if r.warnings.count > max { lines.append("> … and \(r.warnings.count - max) more warning(s)") }
        return "\n" + lines.joined(separator: "\n") + "\n"
    }

    /// `s` as a Markdown link target: http(s) URLs only (nil otherwise), percent-encoded when it
    /// holds characters that would end the link (spaces, parentheses, quotes, angle brackets).
    public static func safeURL(_ s: String) -> String? {
        guard s.hasPrefix("https://") || s.hasPrefix("http://") else { return nil }
        guard !s.contains(where: { $0 == " " || $0 == "(" || $0 == ")" || $0 == "<" || $0 == ">" || $0 == "\"" || $0.isNewline }) else {
            return s.addingPercentEncoding(withAllowedCharacters: .urlAllowedNoParens)
        }
        return s
    }
}

extension CharacterSet {
    /// URL characters without the parentheses, quotes and angle brackets that end a Markdown link.
    fileprivate static let urlAllowedNoParens: CharacterSet = {
        var set = CharacterSet.urlQueryAllowed.union(.urlPathAllowed)
        set.remove(charactersIn: "()<>\" ")
        return set
    }()
}
