// Charts: a small SVG charting module for fusebench reports — scales with nice ticks, axes, and
// three charts (batch-time distributions, roofline, history lines). Pure Swift (Foundation only
// for number formatting), no other dependency: no well-kept Swift SVG charting library exists in
// the package mirror, and the charts need little (see docs/reports.md). Output is deterministic —
// the same input gives the same bytes — so tests check structure, not pixels.
import Foundation

/// Builds an SVG document as text. Every text and attribute value passed in is escaped.
public struct SVG: Sendable {
    /// Width and height in user units (the `viewBox`).
    public let width: Double, height: Double
    private var body: [String] = []

    /// An empty drawing of `width` × `height`.
    public init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    /// Escapes `s` for SVG/XML text and attribute values.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // XML 1.0 forbids most control characters even escaped: drop them.
                if c.value < 0x20 && c != "\n" && c != "\t" { continue }
                out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// A coordinate with two decimals (`12.5`, `-3`), locale-independent and stable.
    public static func n(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        let r = (v * 100).rounded() / 100
        if r == r.rounded() { return String(Int64(r)) }
        var s = String(format: "%.2f", r)
        while s.hasSuffix("0") { s.removeLast() }
        return s
    }

    private static func attrs(_ a: KeyValuePairs<String, String>) -> String {
        a.map { " \($0.key)=\"\(escape($0.value))\"" }.joined()
    }

    /// Appends raw SVG markup (the caller escapes any text in it).
    public mutating func raw(_ markup: String) { body.append(markup) }

    /// A line from (x1, y1) to (x2, y2).
    public mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String = "#333",
                              width: Double = 1, dash: String? = nil, cssClass: String? = nil) {
        var s = "<line x1=\"\(Self.n(x1))\" y1=\"\(Self.n(y1))\" x2=\"\(Self.n(x2))\" y2=\"\(Self.n(y2))\" stroke=\"\(Self.escape(stroke))\" stroke-width=\"\(Self.n(width))\""
        if let dash { s += " stroke-dasharray=\"\(Self.escape(dash))\"" }
        if let cssClass { s += " class=\"\(Self.escape(cssClass))\"" }
        body.append(s + "/>")
    }

    /// A rectangle.
    public mutating func rect(x: Double, y: Double, width w: Double, height h: Double, fill: String, stroke: String = "none",
                              opacity: Double = 1, cssClass: String? = nil, title: String? = nil) {
        var s = "<rect x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" width=\"\(Self.n(max(0, w)))\" height=\"\(Self.n(max(0, h)))\"" +
            Self.attrs(["fill": fill, "stroke": stroke])
        if opacity < 1 { s += " fill-opacity=\"\(Self.n(opacity))\"" }
        if let cssClass { s += " class=\"\(Self.escape(cssClass))\"" }
        if let title { body.append(s + "><title>\(Self.escape(title))</title></rect>") } else { body.append(s + "/>") }
    }

    /// A circle, with an optional tooltip.
    public mutating func circle(cx: Double, cy: Double, r: Double, fill: String, opacity: Double = 1,
                                stroke: String = "none", cssClass: String? = nil, title: String? = nil) {
        var s = "<circle cx=\"\(Self.n(cx))\" cy=\"\(Self.n(cy))\" r=\"\(Self.n(r))\"" + Self.attrs(["fill": fill, "stroke": stroke])
        if opacity < 1 { s += " fill-opacity=\"\(Self.n(opacity))\"" }
        if let cssClass { s += " class=\"\(Self.escape(cssClass))\"" }
        if let title { body.append(s + "><title>\(Self.escape(title))</title></circle>") } else { body.append(s + "/>") }
    }

    /// A path through `points` (polyline, or closed polygon when `closed`).
    public mutating func path(_ points: [(Double, Double)], stroke: String = "#333", width: Double = 1.5, fill: String = "none",
                              opacity: Double = 1, closed: Bool = false, dash: String? = nil, cssClass: String? = nil) {
        guard let first = points.first else { return }
        var d = "M\(Self.n(first.0)) \(Self.n(first.1))"
        for p in points.dropFirst() { d += "L\(Self.n(p.0)) \(Self.n(p.1))" }
        if closed { d += "Z" }
        var s = "<path d=\"\(d)\"" + Self.attrs(["stroke": stroke, "fill": fill]) + " stroke-width=\"\(Self.n(width))\""
        if opacity < 1 { s += " fill-opacity=\"\(Self.n(opacity))\"" }
        if let dash { s += " stroke-dasharray=\"\(Self.escape(dash))\"" }
        if let cssClass { s += " class=\"\(Self.escape(cssClass))\"" }
        body.append(s + "/>")
    }

    /// Text anchored at (x, y); `anchor` is `start`, `middle` or `end`; `rotate` in degrees about (x, y).
    public mutating func text(_ t: String, x: Double, y: Double, anchor: String = "start", size: Double = 11,
                              fill: String = "#333", rotate: Double = 0, cssClass: String? = nil) {
        var s = "<text x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" font-size=\"\(Self.n(size))\"" + Self.attrs(["text-anchor": anchor, "fill": fill])
        if rotate != 0 { s += " transform=\"rotate(\(Self.n(rotate)) \(Self.n(x)) \(Self.n(y)))\"" }
        if let cssClass { s += " class=\"\(Self.escape(cssClass))\"" }
        body.append(s + ">\(Self.escape(t))</text>")
    }

    /// The document: `<svg>` with a `<title>` (accessible name) and `cssClass`.
    public func render(title: String, cssClass: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Self.n(width)) \(Self.n(height))\" width=\"\(Self.n(width))\" height=\"\(Self.n(height))\" role=\"img\" class=\"\(Self.escape(cssClass))\" font-family=\"system-ui, sans-serif\"><title>\(Self.escape(title))</title>"
            + body.joined() + "</svg>"
    }
}

/// Colours used by the charts (colour-blind safe: Okabe–Ito).
public enum Palette {
    /// Categorical colours, cycled.
    public static let categorical = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
    /// Colour `i` of the categorical palette.
    public static func color(_ i: Int) -> String { categorical[((i % categorical.count) + categorical.count) % categorical.count] }
}
