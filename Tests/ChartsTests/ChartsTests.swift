// Charts module: scales and ticks, escaping, degenerate data (empty, one point, all equal,
// NaN/inf skipped) and element counts. Structure is checked, never pixels.
import Charts
import Foundation
import Testing

/// Occurrences of `needle` in `s`.
func count(_ needle: String, in s: String) -> Int {
    s.components(separatedBy: needle).count - 1
}

@Suite struct ScaleTests {
    @Test func niceStepIsOneTwoOrFiveTimesAPowerOfTen() {
        #expect(LinearScale.niceStep(span: 10, count: 5) == 2)
        #expect(LinearScale.niceStep(span: 1, count: 5) == 0.2)
        #expect(LinearScale.niceStep(span: 730, count: 5) == 100)
        #expect(LinearScale.niceStep(span: 0.003, count: 3) == 0.001)
        #expect(LinearScale.niceStep(span: 0, count: 5) == 1)
        #expect(LinearScale.niceStep(span: .nan, count: 5) == 1)
    }

    @Test func linearScaleWidensToNiceBoundsAndMaps() {
        let s = LinearScale(values: [3, 97], range: (0, 100))
        #expect(s.domain == 0...100)
        #expect(s.ticks() == [0, 20, 40, 60, 80, 100])
        #expect(s.map(50) == 50)
        let flipped = LinearScale(domain: 0...10, range: (200, 0))
        #expect(flipped.map(0) == 200)
        #expect(flipped.map(10) == 0)
    }

    @Test func linearScaleTicksHaveNoFloatingPointDust() {
        let s = LinearScale(values: [0.1, 0.7], range: (0, 1))
        #expect(s.ticks() == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
        for t in s.ticks() { #expect("\(t)".count <= 4, "\(t)") }
    }

    @Test func degenerateLinearDomains() {
        // All equal: ±10% around the value; zero: ±1; nothing finite: 0...1.
        let equal = LinearScale(values: [5, 5, 5], range: (0, 1))
        #expect(equal.domain.lowerBound < 5 && equal.domain.upperBound > 5)
        let zero = LinearScale(values: [0], range: (0, 1))
        #expect(zero.domain.lowerBound <= -1 && zero.domain.upperBound >= 1)
        let none = LinearScale(values: [.nan, .infinity, -.infinity], range: (0, 1))
        #expect(none.domain == 0...1)
        #expect(!none.accepts(.nan))
        #expect(!none.ticks().isEmpty)
    }

    @Test func logScaleUsesDecadesAndSkipsNonPositive() {
        let s = LogScale(values: [0.5, 30, -1, 0, .nan], range: (0, 300))
        #expect(s.domain == 0.1...100)
        #expect(s.map(0.1) == 0)
        #expect(abs(s.map(100) - 300) < 1e-9)
        #expect(abs(s.map(1) - 100) < 1e-9)
        #expect(s.ticks() == [0.1, 1, 10, 100])
        #expect(!s.accepts(0) && !s.accepts(-1) && s.accepts(1e-9))
        // Under three decades: 1, 2, 5 per decade.
        let short = LogScale(values: [1, 50], range: (0, 1))
        #expect(short.ticks() == [1, 2, 5, 10, 20, 50, 100])
        // One value: one decade around it.
        let one = LogScale(values: [7], range: (0, 1))
        #expect(one.domain == 1...10)
        let none = LogScale(values: [], range: (0, 1))
        #expect(none.domain == 1...10)
    }

    @Test func tickLabels() {
        #expect(TickLabel.format(0) == "0")
        #expect(TickLabel.format(2.5) == "2.5")
        #expect(TickLabel.format(20_000) == "20k")
        #expect(TickLabel.format(2_500_000) == "2.5M")
        #expect(TickLabel.format(3e9) == "3G")
        #expect(TickLabel.format(0.001) == "0.001")
        #expect(TickLabel.format(-40) == "-40")
        #expect(TickLabel.format(.nan) == "")
    }
}

@Suite struct SVGTests {
    @Test func escapesTextAndAttributes() {
        #expect(SVG.escape("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;")
        #expect(SVG.escape("a&b \"c\" 'd'") == "a&amp;b &quot;c&quot; &#39;d&#39;")
        #expect(SVG.escape("x\u{1}y") == "xy")
        var svg = SVG(width: 10, height: 10)
        svg.text("<b>&", x: 1, y: 1)
        svg.circle(cx: 1, cy: 1, r: 1, fill: "red\" onload=\"x", title: "</title><script>")
        let out = svg.render(title: "t<", cssClass: "c\"")
        #expect(!out.contains("<b>"))
        #expect(!out.contains("<script>"))
        #expect(!out.contains("onload=\"x"))
        #expect(out.contains("&lt;b&gt;&amp;"))
        #expect(out.contains("<title>t&lt;</title>"))
    }

    @Test func numbersAreStable() {
        #expect(SVG.n(1) == "1")
        #expect(SVG.n(1.234) == "1.23")
        #expect(SVG.n(-0.5) == "-0.5")
        #expect(SVG.n(.nan) == "0")
    }
}

@Suite struct ChartTests {
    let groups = [
        DistributionChart.Group(label: "reference", points: (0..<8).map { .init(order: $0 * 2, value: 100 + Double($0), process: $0 / 4) }),
        DistributionChart.Group(label: "optimized", points: (0..<8).map { .init(order: $0 * 2 + 1, value: 50 + Double($0 % 3), process: $0 / 4) }),
    ]

    @Test func distributionDrawsEveryBatchAndOneBoxPerVariant() {
        let svg = DistributionChart(title: "op", yLabel: "ns", groups: groups).render()
        #expect(svg.hasPrefix("<svg"))
        #expect(svg.hasSuffix("</svg>"))
        #expect(count("class=\"batch\"", in: svg) == 16)
        #expect(count("class=\"box\"", in: svg) == 2)
        #expect(count("class=\"median\"", in: svg) == 2)
        #expect(svg.contains("chart-distribution"))
        // Deterministic.
        #expect(svg == DistributionChart(title: "op", yLabel: "ns", groups: groups).render())
    }

    @Test func distributionOrdersPointsByRunOrder() throws {
        // Values rise with order: x must rise with order too (the interleaving order is visible).
        let g = DistributionChart.Group(label: "v", points: [.init(order: 5, value: 3), .init(order: 1, value: 1), .init(order: 3, value: 2)])
        let svg = DistributionChart(title: "t", yLabel: "ns", groups: [g]).render()
        let xs = svg.components(separatedBy: "<circle cx=\"").dropFirst().compactMap { Double($0.prefix { $0 != "\"" }) }
        #expect(xs.count == 3)
        #expect(xs == xs.sorted())
        #expect(svg.contains("batch 1 (process 0): 1"))
    }

    @Test func distributionSkipsNonFiniteAndHandlesDegenerateGroups() {
        let g = [
            DistributionChart.Group(label: "nan", points: [.init(order: 0, value: .nan), .init(order: 1, value: .infinity)]),
            DistributionChart.Group(label: "one", points: [.init(order: 2, value: 10)]),
            DistributionChart.Group(label: "equal", points: [.init(order: 3, value: 10), .init(order: 4, value: 10)]),
            DistributionChart.Group(label: "empty", points: []),
        ]
        let svg = DistributionChart(title: "t", yLabel: "ns", groups: g).render()
        #expect(count("class=\"batch\"", in: svg) == 3)
        #expect(count("class=\"box\"", in: svg) == 2)
        #expect(count("no finite values", in: svg) == 2)
        #expect(!svg.lowercased().contains("=\"nan\"") && !svg.contains("inf\""))
        let empty = DistributionChart(title: "t", yLabel: "ns", groups: []).render()
        #expect(empty.hasPrefix("<svg") && count("class=\"batch\"", in: empty) == 0)
    }

    @Test func boxSummary() throws {
        let b = try #require(BoxSummary([1, 2, 3, 4, 5, 100]))
        #expect(b.median == 3.5)
        #expect(b.whiskerHigh == 5)   // 100 is beyond 1.5 IQR
        #expect(b.whiskerLow == 1)
        #expect(BoxSummary([.nan]) == nil)
        let one = try #require(BoxSummary([7]))
        #expect(one.q1 == 7 && one.q3 == 7 && one.median == 7)
    }

    @Test func rooflinePlacesPointsUnderCeilings() {
        let chart = RooflineChart(title: "roof", peakGflops: 100, ceilings: [.init(label: "L1", gbytesPerSecond: 200), .init(label: "DRAM", gbytesPerSecond: 10)],
                                  points: [.init(label: "a", intensity: 0.25, gflops: 2), .init(label: "b", intensity: 8, gflops: 60, series: 1),
                                           .init(label: "bad", intensity: 0, gflops: 5), .init(label: "nan", intensity: 1, gflops: .nan)])
        let svg = chart.render()
        #expect(chart.placed.count == 2)
        #expect(count("class=\"variant\"", in: svg) == 2)
        #expect(count("class=\"ceiling\"", in: svg) == 2)
        #expect(count("class=\"peak\"", in: svg) == 1)
        #expect(svg.contains("chart-roofline"))
    }

    @Test func rooflineWithoutPeakOrPoints() {
        let svg = RooflineChart(title: "roof", peakGflops: nil, ceilings: [], points: []).render()
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>"))
        #expect(count("class=\"variant\"", in: svg) == 0)
        #expect(count("class=\"peak\"", in: svg) == 0)
        #expect(svg.contains("no variant with FLOPs"))
    }

    @Test func historyMarksChangePointsAndSkipsNonFinite() {
        var pts = (0..<10).map { HistoryChart.Point(label: "r\($0)", median: $0 < 6 ? 100 : 120, lower: $0 < 6 ? 98 : 118, upper: $0 < 6 ? 102 : 122) }
        pts[3].median = .nan
        let chart = HistoryChart(title: "h", yLabel: "ns", points: pts, marks: [.init(index: 6, label: "+20%"), .init(index: 40, label: "outside")], current: 9)
        let svg = chart.render()
        #expect(count("class=\"run\"", in: svg) == 9)
        #expect(count("class=\"change-point\"", in: svg) == 1)
        #expect(count("class=\"ci-band\"", in: svg) == 1)
        #expect(svg.contains("+20%"))
        #expect(!svg.contains("outside"))
    }

    @Test func historyWithOnePointOrNone() {
        let one = HistoryChart(title: "h", yLabel: "ns", points: [.init(label: "r1", median: 5)]).render()
        #expect(count("class=\"run\"", in: one) == 1)
        #expect(count("class=\"ci-band\"", in: one) == 0)
        let none = HistoryChart(title: "h", yLabel: "ns", points: []).render()
        #expect(count("class=\"run\"", in: none) == 0)
        #expect(none.contains("no runs with a finite median"))
    }
}
