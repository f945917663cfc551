// Rendering differential profiles (`ProfileReport`) as text, Markdown or JSON: per benchmark the
// functions whose instructions or cache misses changed most, base vs head, per op execution.
import Analysis
import BenchModel
import Foundation

/// Renders `ProfileReport`s for `compare --profile` and the PR comment.
public enum ProfileRenderer {
    /// Longest function name shown in a table (longer ones are cut with `…`; JSON keeps them whole).
    public static let nameLimit = 70

    static let header = ["function", "base Ir/op", "head Ir/op", "Δ Ir/op", "share base → head", "D1 miss/op base → head",
                         "LL miss/op base → head"]

    /// A one-line summary of a diff: the op's totals, base → head.
    static func headline(_ d: ProfileDiff) -> String {
        var parts = ["instructions/op \(count(d.baseTotal.instructions)) → \(count(d.headTotal.instructions))\(percent(d.baseTotal.instructions, d.headTotal.instructions))"]
        if let b = d.baseTotal.d1Misses, let h = d.headTotal.d1Misses { parts.append("L1d misses/op \(count(b)) → \(count(h))\(percent(b, h))") }
        if let b = d.baseTotal.llMisses, let h = d.headTotal.llMisses { parts.append("LL misses/op \(count(b)) → \(count(h))\(percent(b, h))") }
        return parts.joined(separator: ", ")
    }

    /// The cells of one row; names are plain text (escape them for the target format).
    static func cells(_ r: ProfileDiff.Row) -> [String] {
        func side(_ c: ProfileDiff.Cost?) -> String { c.map { count($0.instructions) } ?? "not kept" }
        func shares() -> String { "\(r.baseShare.map(pct) ?? "–") → \(r.headShare.map(pct) ?? "–")" }
        func misses(_ b: Double??, _ h: Double??) -> String {
            func one(_ v: Double??) -> String {
                switch v {
                case .none: return "not kept"
                case .some(.none): return "–"
                case .some(.some(let x)): return count(x)
                }
            }
            return "\(one(b)) → \(one(h))"
        }
        let delta = (r.approximate ? "~" : "") + signed(r.deltaInstructions)
        return [cut(r.function) + (r.listedForMisses ? " (misses)" : ""), side(r.base), side(r.head), delta, shares(),
                misses(r.base.map(\.d1Misses), r.head.map(\.d1Misses)), misses(r.base.map(\.llMisses), r.head.map(\.llMisses))]
    }

    static func footnotes(_ d: ProfileDiff) -> [String] {
        var notes: [String] = []
        if d.omitted > 0 { notes.append("\(d.omitted) more function(s) changed by fewer instructions (not listed)") }
        if d.rows.contains(where: \.approximate) {
            let floors = [d.baseKeptFloor.map { "base \(count($0))" }, d.headKeptFloor.map { "head \(count($0))" }].compactMap { $0 }
            notes.append("not kept: not among that side's top functions (each cost at most \(floors.joined(separator: ", ")) Ir/op there); ~ marks a delta counting it as 0")
        }
        return notes
    }

    /// Plain text: one table per benchmark, or the reason it has none.
    public static func text(_ p: ProfileReport) -> String {
        var out = "differential profiles, per op execution (\(ProfileReport.simOnlyNote))"
        for e in p.entries {
            out += "\n\n" + "profile \(clean(e.key.description))"
            guard let d = e.diff else {
                out += ": no profile — \(e.missing ?? "unknown")"
                continue
            }
            out += " — " + headline(d) + "\n"
            if d.rows.isEmpty {
                out += "no function changed"
                continue
            }
            out += Report.Format.table(header: header, rows: d.rows.map { cells($0).map(clean) })
            for n in footnotes(d) { out += "\nnote: \(n)" }
        }
        return out + "\n"
    }

    /// Markdown: a heading and a table per benchmark (names escaped for GitHub Markdown and HTML).
    /// `headingLevel` sets the `#` count of the per-benchmark headings.
    public static func markdown(_ p: ProfileReport, headingLevel: Int = 4, includeNote: Bool = true) -> String {
        var out = includeNote ? "<sub>\(MarkdownText.escape(ProfileReport.simOnlyNote))</sub>\n" : ""
        for e in p.entries { out += "\n" + markdown(e, headingLevel: headingLevel) }
        return out
    }

    /// One entry as Markdown.
    public static func markdown(_ e: ProfileReport.Entry, headingLevel: Int = 4) -> String {
        let hashes = String(repeating: "#", count: min(6, max(1, headingLevel)))
        var out = "\(hashes) Profile: \(MarkdownText.escape(e.key.description))\n\n"
        guard let d = e.diff else { return out + "No profile: \(MarkdownText.escape(e.missing ?? "unknown")).\n" }
        out += MarkdownText.escape(headline(d)) + "\n\n"
        if d.rows.isEmpty { return out + "No function changed.\n" }
        out += MarkdownText.tableHeader(header)
        for r in d.rows { out += MarkdownText.tableRow(cells(r)) }
        for n in footnotes(d) { out += "\n<sub>\(MarkdownText.escape(n))</sub>\n" }
        return out
    }

    /// The JSON value of a profile report (the `profiles` array of `compare --profile --format json`).
    struct JSONEntry: Encodable {
        struct JSONRow: Encodable {
            var row: ProfileDiff.Row
            var deltaInstructions: Double
            var deltaD1Misses: Double?
            var deltaLLMisses: Double?
            enum Key: String, CodingKey { case function, symbol, object, base, head, baseShare, headShare, listedForMisses,
                                              deltaInstructions, deltaD1Misses, deltaLLMisses, approximate }
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: Key.self)
                try c.encode(row.function, forKey: .function)
                try c.encode(row.symbol, forKey: .symbol)
                try c.encode(row.object, forKey: .object)
                try c.encode(row.base, forKey: .base)
                try c.encode(row.head, forKey: .head)
                try c.encode(row.baseShare, forKey: .baseShare)
                try c.encode(row.headShare, forKey: .headShare)
                try c.encode(row.listedForMisses, forKey: .listedForMisses)
                try c.encode(deltaInstructions, forKey: .deltaInstructions)
                try c.encode(deltaD1Misses, forKey: .deltaD1Misses)
                try c.encode(deltaLLMisses, forKey: .deltaLLMisses)
                try c.encode(row.approximate, forKey: .approximate)
            }
        }
        var benchmark: String
        var missing: String?
        var baseTotal: ProfileDiff.Cost?
        var headTotal: ProfileDiff.Cost?
        var baseSamples: Int?
        var headSamples: Int?
        var omitted: Int?
        var functions: [JSONRow]?

        init(_ e: ProfileReport.Entry) {
            benchmark = e.key.description
            missing = e.missing
            if let d = e.diff {
                baseTotal = d.baseTotal
                headTotal = d.headTotal
                baseSamples = d.baseSamples
                headSamples = d.headSamples
                omitted = d.omitted
                functions = d.rows.map { JSONRow(row: $0, deltaInstructions: $0.deltaInstructions, deltaD1Misses: $0.deltaD1Misses,
                                                 deltaLLMisses: $0.deltaLLMisses) }
            }
        }
    }

    static func jsonEntries(_ p: ProfileReport) -> [JSONEntry] { p.entries.map(JSONEntry.init) }

    // MARK: - Numbers and names

    static func count(_ v: Double) -> String { Report.Format.count(v) }
    static func signed(_ v: Double) -> String { v == 0 ? "0" : (v > 0 ? "+" : "−") + count(abs(v)) }
    static func pct(_ v: Double) -> String { String(format: "%.1f%%", v * 100) }
    static func percent(_ b: Double, _ h: Double) -> String {
        guard b > 0 else { return "" }
        let p = (h / b - 1) * 100
        return String(format: " (%@%.1f%%)", p >= 0 ? "+" : "−", abs(p))
    }

    /// `name` cut to `nameLimit` characters (with `…`).
    static func cut(_ name: String) -> String { name.count > nameLimit ? String(name.prefix(nameLimit - 1)) + "…" : name }

    /// Control characters (a terminal escape in a symbol name) shown as `?`.
    static func clean(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : $0 }))
    }
}

/// Escaping for GitHub-flavoured Markdown, where text may also be read as HTML.
public enum MarkdownText {
    /// `s` as literal Markdown text: HTML special characters as entities, Markdown punctuation
    /// backslash-escaped (so a `|` cannot split a table cell), line breaks and control characters as spaces.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "@": out += "&#64;"   // no @-mention
            case "#": out += "&#35;"   // no #123 issue link
            case "\\", "`", "*", "_", "[", "]", "|", "~", "$": out += "\\" + String(ch)
            default:
                if ch.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) { out += " " } else { out.append(ch) }
            }
        }
        return out
    }

    /// A table header row and its rule (cells escaped).
    static func tableHeader(_ cells: [String]) -> String {
        "| " + cells.map(escape).joined(separator: " | ") + " |\n|" + cells.map { _ in "---" }.joined(separator: "|") + "|\n"
    }

    /// A table row (cells escaped).
    static func tableRow(_ cells: [String]) -> String {
        "| " + cells.map(escape).joined(separator: " | ") + " |\n"
    }
}
