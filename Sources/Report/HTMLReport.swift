// The HTML report (`fusebench report RUN --html OUT.html`): one self-contained page — inline CSS
// and inline SVG charts (from the `Charts` module), no script and nothing fetched — made of
// sections. Each section is an `HTMLReport.Section` (anchor id, title, HTML body); a renderer adds
// its own section with `add(_:)`, so new content (e.g. profiles) needs no change to this file.
import Charts
import Foundation

/// A self-contained HTML page made of titled sections.
///
/// Every text that comes from a run (op names, suites, labels, reasons) must go through
/// `HTMLReport.escape` (or `HTMLReport.text`) before it is put into a section body.
public struct HTMLReport: Sendable {
    /// One part of the report: `<section id="ID"><h2>TITLE</h2>HTML</section>`.
    public struct Section: Sendable, Equatable {
        /// Anchor id (letters, digits, `-`, `_`; anything else is replaced by `-`).
        public var id: String
        /// Plain-text title (escaped when rendered).
        public var title: String
        /// Body, already HTML (escape any text from the run).
        public var html: String

        /// A section with anchor `id`, plain-text `title` and HTML `html`.
        public init(id: String, title: String, html: String) {
            self.id = id
            self.title = title
            self.html = html
        }
    }

    /// Page title (plain text).
    public var title: String
    /// Lines under the title (already HTML).
    public var subtitle: String
    /// Sections in display order; the page starts with a table of contents linking to them.
    public var sections: [Section]

    /// An empty report titled `title`.
    public init(title: String, subtitle: String = "", sections: [Section] = []) {
        self.title = title
        self.subtitle = subtitle
        self.sections = sections
    }

    /// Appends `section`.
    public mutating func add(_ section: Section) { sections.append(section) }

    /// Appends a section with anchor `id`, plain-text `title` and HTML body `html`.
    public mutating func add(id: String, title: String, html: String) {
        sections.append(Section(id: id, title: title, html: html))
    }

    /// Escapes `s` for HTML text and attribute values (`&`, `<`, `>`, `"`, `'`; control characters
    /// other than tab and newline dropped): the page and its inline SVG charts escape alike.
    public static func escape(_ s: String) -> String { SVG.escape(s) }

    /// A safe anchor id from any text: letters, digits, `-` and `_` kept, the rest `-`.
    public static func anchor(_ s: String) -> String {
        String(s.unicodeScalars.map { c -> Character in
            (c.isASCII && (CharacterSet.alphanumerics.contains(c) || c == "-" || c == "_")) ? Character(c) : "-"
        })
    }

    /// An HTML table from plain-text cells (every cell escaped); `numeric` columns are right-aligned.
    public static func table(header: [String], rows: [[String]], numeric: Set<Int> = [], cssClass: String = "data") -> String {
        var out = "<table class=\"\(escape(cssClass))\"><thead><tr>"
        for (i, h) in header.enumerated() { out += "<th\(numeric.contains(i) ? " class=\"num\"" : "")>\(escape(h))</th>" }
        out += "</tr></thead><tbody>"
        for r in rows {
            out += "<tr>"
            for (i, cell) in r.enumerated() { out += "<td\(numeric.contains(i) ? " class=\"num\"" : "")>\(escape(cell))</td>" }
            out += "</tr>"
        }
        return out + "</tbody></table>"
    }

    /// The stylesheet inlined into every report.
    public static let css = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;padding:1em 1.5em;color:#1b1b1b;background:#fff}
        h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.3em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}h3{font-size:1.05em;margin:1.2em 0 .3em}
        table{border-collapse:collapse;margin:.4em 0 1em;font-size:13px}th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
        th{background:#f4f4f4}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
        .sub{color:#555}.note{color:#555;font-size:12px}.bad{color:#b00020;font-weight:600}.good{color:#0a7a28;font-weight:600}.warn{color:#a15c00;font-weight:600}
        nav ul{columns:2;padding-left:1.2em}svg{display:block;max-width:100%;height:auto;margin:.3em 0}
        .charts{display:flex;flex-wrap:wrap;gap:1em}.chart{flex:0 1 auto}
        code{font-size:12px;background:#f4f4f4;padding:0 3px}
        """

    /// The whole page.
    public func render() -> String {
        var out = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
            <title>\(Self.escape(title))</title>
            <style>\(Self.css)</style>
            </head><body>
            <header><h1>\(Self.escape(title))</h1>
            """
        if !subtitle.isEmpty { out += "<p class=\"sub\">\(subtitle)</p>" }
        out += "</header>\n<nav><ul>"
        for s in sections { out += "<li><a href=\"#\(Self.anchor(s.id))\">\(Self.escape(s.title))</a></li>" }
        out += "</ul></nav>\n"
        for s in sections {
            out += "<section id=\"\(Self.anchor(s.id))\"><h2>\(Self.escape(s.title))</h2>\n\(s.html)\n</section>\n"
        }
        out += "</body></html>\n"
        return out
    }
}
