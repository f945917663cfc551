// The three charts of the HTML report, each a value type with `render() -> String` (an `<svg>`):
// `DistributionChart` (box + every batch), `RooflineChart` (log-log), `HistoryChart` (median per
// run with CI and change-point marks). Non-finite values are skipped, never drawn at 0.
import Foundation

/// Plot area of a chart: margins inside a `width` × `height` drawing.
public struct Frame: Sendable, Equatable {
    public var width: Double, height: Double
    public var left: Double, right: Double, top: Double, bottom: Double

    /// A frame with the given size and margins.
    public init(width: Double, height: Double, left: Double = 64, right: Double = 16, top: Double = 28, bottom: Double = 48) {
        self.width = width
        self.height = height
        self.left = left
        self.right = right
        self.top = top
        self.bottom = bottom
    }

    /// Plot x range (pixels, left to right).
    public var xRange: (Double, Double) { (left, width - right) }
    /// Plot y range (pixels, bottom to top: y grows downwards in SVG).
    public var yRange: (Double, Double) { (height - bottom, top) }
}

/// Axes and grid drawn into an `SVG`.
public enum Axis {
    /// Left y axis with grid lines and tick labels, and a rotated `label`.
    public static func left<S: ChartScale>(_ svg: inout SVG, _ scale: S, frame: Frame, label: String) {
        for t in scale.ticks() {
            let y = scale.map(t)
            svg.line(frame.left, y, frame.width - frame.right, y, stroke: "#e5e5e5", cssClass: "grid")
            svg.line(frame.left - 4, y, frame.left, y, stroke: "#555")
            svg.text(TickLabel.format(t), x: frame.left - 6, y: y + 3.5, anchor: "end", size: 10, fill: "#555", cssClass: "tick")
        }
        svg.line(frame.left, frame.top, frame.left, frame.height - frame.bottom, stroke: "#555")
        let mid = (frame.top + frame.height - frame.bottom) / 2
        svg.text(label, x: 14, y: mid, anchor: "middle", size: 11, fill: "#333", rotate: -90, cssClass: "axis-label")
    }

    /// Bottom x axis with tick labels (from `labels` at positions) and a `label` under it.
    public static func bottom(_ svg: inout SVG, ticks: [(x: Double, label: String)], frame: Frame, label: String, gridFrom scale: (any ChartScale)? = nil) {
        let y = frame.height - frame.bottom
        svg.line(frame.left, y, frame.width - frame.right, y, stroke: "#555")
        if let scale {
            for t in scale.ticks() { svg.line(scale.map(t), frame.top, scale.map(t), y, stroke: "#eeeeee", cssClass: "grid") }
        }
        for t in ticks {
            svg.line(t.x, y, t.x, y + 4, stroke: "#555")
            svg.text(t.label, x: t.x, y: y + 16, anchor: "middle", size: 10, fill: "#555", cssClass: "tick")
        }
        svg.text(label, x: (frame.left + frame.width - frame.right) / 2, y: frame.height - 8, anchor: "middle", size: 11, fill: "#333", cssClass: "axis-label")
    }
}

/// Five-number summary used by the box plot (Tukey whiskers: last value within 1.5 IQR).
public struct BoxSummary: Sendable, Equatable {
    public var q1: Double, median: Double, q3: Double, whiskerLow: Double, whiskerHigh: Double

    /// Summary of the finite `values`; nil when there is none.
    public init?(_ values: [Double]) {
        let v = values.filter(\.isFinite).sorted()
        guard !v.isEmpty else { return nil }
        func q(_ p: Double) -> Double {
            let pos = p * Double(v.count - 1)
            let lo = Int(pos.rounded(.down)), hi = Int(pos.rounded(.up))
            return v[lo] + (v[hi] - v[lo]) * (pos - Double(lo))
        }
        let lower = q(0.25), upper = q(0.75)
        let iqr = upper - lower
        q1 = lower
        median = q(0.5)
        q3 = upper
        whiskerLow = v.first { $0 >= lower - 1.5 * iqr } ?? v[0]
        whiskerHigh = v.last { $0 <= upper + 1.5 * iqr } ?? v[v.count - 1]
    }
}

/// Distribution of batch times per variant: a box (quartiles, median, Tukey whiskers) and every
/// batch as a point. Within a variant's band the x position is the batch's order in the run
/// (interleaving order), so drifts and warm-up effects are visible; points are coloured by process.
public struct DistributionChart: Sendable {
    /// One variant: its label and its batches.
    public struct Group: Sendable {
        public var label: String
        public var points: [Point]
        /// A group labelled `label` with `points`.
        public init(label: String, points: [Point]) {
            self.label = label
            self.points = points
        }
    }

    /// One batch: its order in the run (sequence), value, and process (colour).
    public struct Point: Sendable {
        public var order: Int
        public var value: Double
        public var process: Int
        /// Marked points (throttled, descheduled) are drawn hollow.
        public var flagged: Bool
        /// A batch.
        public init(order: Int, value: Double, process: Int = 0, flagged: Bool = false) {
            self.order = order
            self.value = value
            self.process = process
            self.flagged = flagged
        }
    }

    public var title: String
    public var yLabel: String
    public var groups: [Group]
    public var frame: Frame
    /// Formats a value for tooltips (default: `TickLabel`).
    public var valueLabel: @Sendable (Double) -> String

    /// A chart of `groups`; the width grows with the number of groups.
    public init(title: String, yLabel: String, groups: [Group], valueLabel: @escaping @Sendable (Double) -> String = TickLabel.format) {
        self.title = title
        self.yLabel = yLabel
        self.groups = groups
        self.valueLabel = valueLabel
        frame = Frame(width: max(320, 64 + 16 + Double(groups.count) * 150), height: 260)
    }

    /// The `<svg>` (class `chart chart-distribution`); one `circle.batch` per finite batch value.
    public func render() -> String {
        var svg = SVG(width: frame.width, height: frame.height)
        let values = groups.flatMap { $0.points.map(\.value) }
        let y = LinearScale(values: values, range: frame.yRange, tickCount: 5)
        Axis.left(&svg, y, frame: frame, label: yLabel)
        let band = groups.isEmpty ? 0 : (frame.xRange.1 - frame.xRange.0) / Double(groups.count)
        var ticks: [(x: Double, label: String)] = []
        for (gi, g) in groups.enumerated() {
            let x0 = frame.left + band * Double(gi), center = x0 + band / 2
            ticks.append((center, g.label))
            let pts = g.points.filter { $0.value.isFinite }.sorted { $0.order < $1.order }
            guard let box = BoxSummary(pts.map(\.value)) else {
                svg.text("no finite values", x: center, y: (frame.top + frame.height - frame.bottom) / 2, anchor: "middle", size: 10, fill: "#999")
                continue
            }
            // Box in the middle third of the band; batches spread over the whole band by order.
            let bw = band * 0.36
            svg.line(center, y.map(box.whiskerLow), center, y.map(box.q1), stroke: "#444", cssClass: "whisker")
            svg.line(center, y.map(box.q3), center, y.map(box.whiskerHigh), stroke: "#444", cssClass: "whisker")
            svg.line(center - bw / 4, y.map(box.whiskerLow), center + bw / 4, y.map(box.whiskerLow), stroke: "#444")
            svg.line(center - bw / 4, y.map(box.whiskerHigh), center + bw / 4, y.map(box.whiskerHigh), stroke: "#444")
            svg.rect(x: center - bw / 2, y: y.map(box.q3), width: bw, height: y.map(box.q1) - y.map(box.q3), fill: "#dddddd",
                     stroke: "#444", opacity: 0.6, cssClass: "box",
                     title: "\(g.label): median \(valueLabel(box.median)), IQR \(valueLabel(box.q1))–\(valueLabel(box.q3)), \(pts.count) batches")
            svg.line(center - bw / 2, y.map(box.median), center + bw / 2, y.map(box.median), stroke: "#111", width: 2, cssClass: "median")
            let lo = x0 + band * 0.08, hi = x0 + band * 0.92
            for (i, p) in pts.enumerated() {
                let x = pts.count == 1 ? center : lo + (hi - lo) * Double(i) / Double(pts.count - 1)
                svg.circle(cx: x, cy: y.map(p.value), r: 2.6, fill: p.flagged ? "none" : Palette.color(p.process), opacity: 0.75,
                           stroke: p.flagged ? Palette.color(p.process) : "none", cssClass: "batch",
                           title: "batch \(p.order) (process \(p.process))\(p.flagged ? " flagged" : ""): \(valueLabel(p.value))")
            }
        }
        Axis.bottom(&svg, ticks: ticks, frame: frame, label: "variant — batches left to right in run order, colour = process")
        svg.text(title, x: frame.left, y: 16, size: 12, fill: "#111", cssClass: "chart-title")
        return svg.render(title: title, cssClass: "chart chart-distribution")
    }
}

/// Roofline chart (log-log): arithmetic intensity (FLOP/byte) vs achieved GFLOP/s, the FMA peak
/// and one bandwidth ceiling per memory level, every variant placed as a point.
public struct RooflineChart: Sendable {
    /// A bandwidth ceiling (GB/s) of a memory level.
    public struct Ceiling: Sendable {
        public var label: String
        public var gbytesPerSecond: Double
        /// A ceiling `label` at `gbytesPerSecond`.
        public init(label: String, gbytesPerSecond: Double) {
            self.label = label
            self.gbytesPerSecond = gbytesPerSecond
        }
    }

    /// One variant on the chart.
    public struct Point: Sendable {
        public var label: String
        public var intensity: Double
        public var gflops: Double
        /// Colour index (e.g. the op).
        public var series: Int
        /// A point `label` at (`intensity`, `gflops`).
        public init(label: String, intensity: Double, gflops: Double, series: Int = 0) {
            self.label = label
            self.intensity = intensity
            self.gflops = gflops
            self.series = series
        }
    }

    public var title: String
    /// FMA peak in GFLOP/s (nil: not measured, no roof drawn).
    public var peakGflops: Double?
    public var ceilings: [Ceiling]
    public var points: [Point]
    public var frame = Frame(width: 640, height: 380, left: 64, right: 120)

    /// A roofline of `points` under `peakGflops` and `ceilings`.
    public init(title: String, peakGflops: Double?, ceilings: [Ceiling], points: [Point]) {
        self.title = title
        self.peakGflops = peakGflops.flatMap { $0.isFinite && $0 > 0 ? $0 : nil }
        self.ceilings = ceilings.filter { $0.gbytesPerSecond.isFinite && $0.gbytesPerSecond > 0 }
        self.points = points
    }

    /// Points that can be placed (finite, positive intensity and GFLOP/s).
    public var placed: [Point] { points.filter { $0.intensity.isFinite && $0.intensity > 0 && $0.gflops.isFinite && $0.gflops > 0 } }

    /// The `<svg>` (class `chart chart-roofline`): one `circle.variant` per placed point,
    /// one `path.ceiling` per bandwidth ceiling, one `line.peak` for the FMA peak.
    public func render() -> String {
        var svg = SVG(width: frame.width, height: frame.height)
        let pts = placed
        var xs = pts.map(\.intensity), ys = pts.map(\.gflops)
        if let p = peakGflops {
            ys.append(p)
            // Show the ridge points (peak / bandwidth) so each ceiling's bend is on the chart.
            for c in ceilings { xs.append(p / c.gbytesPerSecond) }
        }
        if xs.isEmpty { xs = [0.1, 10] }
        let x = LogScale(values: xs, range: frame.xRange)
        let y = LogScale(values: ys + ys.map { $0 / 10 }, range: frame.yRange)
        Axis.left(&svg, y, frame: frame, label: "GFLOP/s")
        Axis.bottom(&svg, ticks: x.ticks().map { (x.map($0), TickLabel.format($0)) }, frame: frame,
                    label: "arithmetic intensity (FLOP/byte)", gridFrom: x)
        let (xl, xh) = (x.domain.lowerBound, x.domain.upperBound)
        for (i, c) in ceilings.enumerated() {
            // y = min(peak, intensity × bandwidth), drawn over the x domain, clipped to the y domain.
            var line: [(Double, Double)] = []
            let steps = 48
            for s in 0...steps {
                let ai = xl * pow(xh / xl, Double(s) / Double(steps))
                var g = ai * c.gbytesPerSecond
                if let p = peakGflops { g = min(g, p) }
                guard g >= y.domain.lowerBound, g <= y.domain.upperBound else { continue }
                line.append((x.map(ai), y.map(g)))
            }
            svg.path(line, stroke: "#888", width: 1.2, dash: i == 0 ? nil : "4 3", cssClass: "ceiling")
            if let last = line.first {
                svg.text("\(c.label) \(TickLabel.format(c.gbytesPerSecond)) GB/s", x: last.0 + 4, y: last.1 - 4, size: 9, fill: "#666", cssClass: "ceiling-label")
            }
        }
        if let p = peakGflops {
            svg.line(frame.left, y.map(p), frame.width - frame.right, y.map(p), stroke: "#b00020", width: 1.5, cssClass: "peak")
            svg.text("FMA peak \(TickLabel.format(p)) GFLOP/s", x: frame.width - frame.right + 4, y: y.map(p) + 3, size: 9, fill: "#b00020")
        }
        for p in pts {
            svg.circle(cx: x.map(p.intensity), cy: y.map(p.gflops), r: 4, fill: Palette.color(p.series), opacity: 0.85, stroke: "#222",
                       cssClass: "variant",
                       title: "\(p.label): \(TickLabel.format(p.intensity)) FLOP/B, \(TickLabel.format(p.gflops)) GFLOP/s")
        }
        if pts.isEmpty {
            svg.text("no variant with FLOPs and bytes to place", x: (frame.left + frame.width - frame.right) / 2, y: frame.height / 2,
                     anchor: "middle", size: 11, fill: "#999")
        }
        svg.text(title, x: frame.left, y: 16, size: 12, fill: "#111", cssClass: "chart-title")
        return svg.render(title: title, cssClass: "chart chart-roofline")
    }
}

/// History of one series: per run its median (line) with a CI band and whiskers, change points
/// marked as vertical lines. Runs are placed in order (x = position), labelled by `label`.
public struct HistoryChart: Sendable {
    /// One run of the series.
    public struct Point: Sendable {
        public var label: String
        public var median: Double
        public var lower: Double?
        public var upper: Double?
        /// A run `label` with its `median` and CI (`lower`, `upper`).
        public init(label: String, median: Double, lower: Double? = nil, upper: Double? = nil) {
            self.label = label
            self.median = median
            self.lower = lower
            self.upper = upper
        }
    }

    /// A change point: the first run (index into `points`) of the new level, and a description.
    public struct Mark: Sendable {
        public var index: Int
        public var label: String
        /// A mark before run `index` described by `label`.
        public init(index: Int, label: String) {
            self.index = index
            self.label = label
        }
    }

    public var title: String
    public var yLabel: String
    public var points: [Point]
    public var marks: [Mark]
    /// Index of the run the report is about (highlighted), if it is in the series.
    public var current: Int?
    public var frame = Frame(width: 640, height: 240)
    public var valueLabel: @Sendable (Double) -> String

    /// A history of `points` with change-point `marks`.
    public init(title: String, yLabel: String, points: [Point], marks: [Mark] = [], current: Int? = nil,
                valueLabel: @escaping @Sendable (Double) -> String = TickLabel.format) {
        self.title = title
        self.yLabel = yLabel
        self.points = points
        self.marks = marks
        self.current = current
        self.valueLabel = valueLabel
    }

    /// The `<svg>` (class `chart chart-history`): one `circle.run` per run with a finite median,
    /// one `line.change-point` per mark inside the series.
    public func render() -> String {
        var svg = SVG(width: frame.width, height: frame.height)
        let ok = points.indices.filter { points[$0].median.isFinite }
        let values = ok.flatMap { i in [points[i].median, points[i].lower, points[i].upper].compactMap { $0 }.filter(\.isFinite) }
        let y = LinearScale(values: values, range: frame.yRange, tickCount: 5)
        Axis.left(&svg, y, frame: frame, label: yLabel)
        let n = max(1, points.count)
        let step = (frame.xRange.1 - frame.xRange.0) / Double(n)
        func x(_ i: Int) -> Double { frame.left + step * (Double(i) + 0.5) }
        // CI band: through the runs that have both bounds.
        let banded = ok.filter { points[$0].lower?.isFinite == true && points[$0].upper?.isFinite == true }
        if banded.count >= 2 {
            let top = banded.map { (x($0), y.map(points[$0].upper ?? 0)) }
            let bottom = banded.reversed().map { (x($0), y.map(points[$0].lower ?? 0)) }
            svg.path(top + bottom, stroke: "none", width: 0, fill: "#0072B2", opacity: 0.15, closed: true, cssClass: "ci-band")
        }
        for i in banded {
            svg.line(x(i), y.map(points[i].lower ?? 0), x(i), y.map(points[i].upper ?? 0), stroke: "#0072B2", width: 1, cssClass: "ci")
        }
        svg.path(ok.map { (x($0), y.map(points[$0].median)) }, stroke: "#0072B2", width: 1.5, cssClass: "median-line")
        for m in marks where points.indices.contains(m.index) {
            let mx = m.index == 0 ? x(0) : (x(m.index - 1) + x(m.index)) / 2
            svg.line(mx, frame.top, mx, frame.height - frame.bottom, stroke: "#D55E00", width: 1.5, dash: "5 3", cssClass: "change-point")
            svg.text(m.label, x: mx + 3, y: frame.top + 10, size: 9, fill: "#D55E00", cssClass: "change-label")
        }
        for i in ok {
            let p = points[i]
            let ci = (p.lower != nil && p.upper != nil) ? ", CI \(valueLabel(p.lower ?? 0))–\(valueLabel(p.upper ?? 0))" : ""
            svg.circle(cx: x(i), cy: y.map(p.median), r: i == current ? 5 : 3, fill: i == current ? "#D55E00" : "#0072B2",
                       stroke: i == current ? "#111" : "none", cssClass: "run", title: "\(p.label): median \(valueLabel(p.median))\(ci)")
        }
        // At most ~8 x labels.
        let every = max(1, Int((Double(points.count) / 8).rounded(.up)))
        let ticks = points.indices.filter { $0 % every == 0 || $0 == points.count - 1 }.map { (x($0), points[$0].label) }
        Axis.bottom(&svg, ticks: ticks, frame: frame, label: "run (oldest → newest)")
        if ok.isEmpty {
            svg.text("no runs with a finite median", x: (frame.left + frame.width - frame.right) / 2, y: frame.height / 2,
                     anchor: "middle", size: 11, fill: "#999")
        }
        svg.text(title, x: frame.left, y: 16, size: 12, fill: "#111", cssClass: "chart-title")
        return svg.render(title: title, cssClass: "chart chart-history")
    }
}
