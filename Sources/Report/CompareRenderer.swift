import Analysis
import BenchModel
import Foundation

/// Renders a `CompareReport` as text (ANSI colour optional), Markdown or JSON.
public enum CompareRenderer {
    /// Output formats of `compare` and `gate`.
    public enum Format: String, CaseIterable, Sendable { case text, markdown, json }

    /// `r` in `format`; with `profiles` (`compare --profile`) followed by the differential
    /// profiles (in JSON, as the document's `profiles` array).
    public static func render(_ r: CompareReport, format: Format, colour: Bool = false, profiles: ProfileReport? = nil) throws -> String {
        switch format {
        case .text: return text(r, colour: colour) + (profiles.map { "\n\n" + ProfileRenderer.text($0) } ?? "")
        case .markdown: return markdown(r) + (profiles.map { "\n### Differential profiles\n\n" + ProfileRenderer.markdown($0) } ?? "")
        case .json: return try json(r, profiles: profiles)
        }
    }

    static func cells(_ c: Comparison, _ r: CompareReport) -> [String] {
        let ratio = c.ratio.isFinite ? String(format: "%.3f [%.3f, %.3f]", c.ratio, c.ciLower, c.ciUpper) : "–"
        let instr = c.instructionRatio.map { String(format: "%.4f%@", $0, c.instructionBackend.map { " (\($0.rawValue))" } ?? "") } ?? "–"
        let miss = r.cacheMissRatio[c.key.description].map { String(format: "%.3f", $0) } ?? "–"
        return [
            c.key.description,
            c.baseMedian.isFinite ? Report.Format.duration(ns: c.baseMedian) : "–",
            c.headMedian.isFinite ? Report.Format.duration(ns: c.headMedian) : "–",
            ratio,
            String(format: "%.2g", c.pValueAdjusted),
            instr, miss,
            verdictCell(c),
        ]
    }

    /// The gate verdict of `c` (time combined with the instruction signal), marked when the
    /// instruction signal changed the time verdict.
    static func verdictCell(_ c: Comparison) -> String {
        let g = GateDecision.gateVerdict(c)
        return g.rawValue + (g != c.verdict ? " (instr ↑)" : "")
    }

    /// The rule footer: how verdicts are reached (docs/ci-gating.md, "The contract").
    static let ruleLine = "verdict rule: regression if the estimate ≥ c (inside [1, 1+t]) and one-sided p < 1% after Holm × \(DecisionContract.maximumLooks) looks; pass if the estimate < c and the look-corrected 95% upper bound < 1+t; instructions > 1+ti decide undecided ops, > 1+t fail"

    static let header = ["benchmark", "base p50", "head p50", "ratio [95% CI]", "p (Holm)", "instr ratio", "miss ratio", "verdict"]

    static func summary(_ r: CompareReport) -> String {
        let counts = Dictionary(grouping: r.comparisons, by: { GateDecision.gateVerdict($0) }).mapValues(\.count)
        let parts = [Verdict.regression, .inconclusive, .pass, .improvement].compactMap { v in counts[v].map { "\($0) \(v.rawValue)" } }
        return "\(r.verdict.rawValue.uppercased()) — \(parts.joined(separator: ", ")) · base run \(r.base.map { String($0.id) }.joined(separator: "+")) vs head run \(r.head.map { String($0.id) }.joined(separator: "+")) · threshold per op, \(ruleLine)"
    }

    public static func text(_ r: CompareReport, colour: Bool) -> String {
        func paint(_ s: String, _ v: Verdict) -> String {
            guard colour else { return s }
            let code = v == .regression ? "31" : v == .inconclusive ? "33" : "32"
            return "\u{1B}[\(code)m\(s)\u{1B}[0m"
        }
        let rows = r.comparisons.map { cells($0, r) }
        var lines = Report.Format.table(header: header, rows: rows).split(separator: "\n").map(String.init)
        // Colour the verdict column after alignment so escape codes do not skew widths.
        for (i, c) in r.comparisons.enumerated() where colour {
            let idx = i + 2
            let v = GateDecision.gateVerdict(c)
            if let range = lines[idx].range(of: v.rawValue, options: .backwards) {
                lines[idx].replaceSubrange(range, with: paint(v.rawValue, v))
            }
        }
        var out = lines.joined(separator: "\n")
        for line in r.noiseLines { out += "\nnoise: \(line)" }
        for w in r.warnings { out += "\nwarning: \(w)" }
        for c in r.comparisons {
            if let note = c.note { out += "\nnote: \(c.key): \(note)" }
            if let n = GateDecision.instructionNote(c) { out += "\nnote: \(c.key): \(n)" }
            if GateDecision.gateVerdict(c) == .inconclusive, let why = c.undecidedReason { out += "\nundecided: \(c.key): \(why)" }
        }
        if r.excludedThrottled > 0 { out += "\nexcluded \(r.excludedThrottled) samples flagged as throttled or descheduled" }
        out += "\n" + paint(summary(r), r.verdict)
        return out
    }

    public static func markdown(_ r: CompareReport) -> String {
        let icon: [Verdict: String] = [.pass: "✅ pass", .improvement: "🚀 improvement", .inconclusive: "❔ inconclusive", .regression: "❌ regression"]
        var out = "### fusebench: \(icon[r.verdict] ?? r.verdict.rawValue)\n\n"
        out += "| " + header.joined(separator: " | ") + " |\n|" + header.map { _ in "---" }.joined(separator: "|") + "|\n"
        for c in r.comparisons {
            var row = cells(c, r)
            let g = GateDecision.gateVerdict(c)
            row[row.count - 1] = (icon[g] ?? g.rawValue) + (g != c.verdict ? " (instr ↑)" : "")
            out += "| " + row.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |\n"
        }
        var notes = r.noiseLines.map { "> noise: \($0)" }
        for c in r.comparisons {
            if let n = GateDecision.instructionNote(c) { notes.append("> \(c.key): \(n)") }
            if GateDecision.gateVerdict(c) == .inconclusive, let why = c.undecidedReason { notes.append("> undecided: \(c.key): \(why)") }
        }
        if !notes.isEmpty { out += "\n" + notes.joined(separator: "\n") + "\n" }
        if !r.warnings.isEmpty { out += "\n" + r.warnings.map { "> ⚠️ \($0)" }.joined(separator: "\n") + "\n" }
        out += "\n<sub>\(summary(r))</sub>\n"
        return out
    }

    /// The JSON document of `compare`/`gate --format json` (fields documented in docs/architecture.md,
    /// "CLI and export contracts"). Each comparison carries `benchmark` (`SUITE/OP/VARIANT`) next to
    /// its `suite`, bare `op` and `variant`. With `profiles`, the document also has `profiles`: one
    /// entry per compared benchmark (see docs/reports.md, "Why is it slower: differential profiles").
    public static func json(_ r: CompareReport, profiles: ProfileReport? = nil) throws -> String {
        /// One comparison: every field of `Comparison` plus `benchmark`, `gateVerdict` (time combined
        /// with the instruction signal) and `instructionNote`.
        struct Row: Encodable {
            var comparison: Comparison
            enum Key: String, CodingKey { case benchmark, gateVerdict, instructionNote }
            func encode(to encoder: Encoder) throws {
                try comparison.encode(to: encoder)
                var c = encoder.container(keyedBy: Key.self)
                try c.encode(comparison.key.description, forKey: .benchmark)
                try c.encode(GateDecision.gateVerdict(comparison).rawValue, forKey: .gateVerdict)
                try c.encodeIfPresent(GateDecision.instructionNote(comparison), forKey: .instructionNote)
            }
        }
        struct Doc: Encodable {
            var verdict: String
            var exitCode: Int32
            var baseRuns: [Int64]
            var headRuns: [Int64]
            var comparisons: [Row]
            var cacheMissRatio: [String: Double]
            var onlyInBase: [String]
            var onlyInHead: [String]
            var warnings: [String]
            var excludedThrottled: Int
            var noise: [String]
            var profiles: [ProfileRenderer.JSONEntry]?
        }
        let doc = Doc(verdict: r.verdict.rawValue, exitCode: r.exitCode, baseRuns: r.base.map(\.id), headRuns: r.head.map(\.id),
                      comparisons: r.comparisons.map { Row(comparison: $0) }, cacheMissRatio: r.cacheMissRatio, onlyInBase: r.onlyInBase, onlyInHead: r.onlyInHead,
                      warnings: r.warnings, excludedThrottled: r.excludedThrottled, noise: r.noiseLines, profiles: profiles.map(ProfileRenderer.jsonEntries))
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try e.encode(doc), as: UTF8.self) + "\n"
    }
}
