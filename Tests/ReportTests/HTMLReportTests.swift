// The HTML report's page model (sections, escaping) and the run report built from a stored run:
// every section present, hostile names escaped, speedup CI from the comparator, history marks.
import BenchModel
import Charts
import Foundation
import Report
import Store
import TestSupport
import Testing

@Suite struct HTMLReportTests {
    @Test func escapeAndAnchor() {
        #expect(HTMLReport.escape("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;")
        #expect(HTMLReport.escape("a & \"b\" 'c'") == "a &amp; &quot;b&quot; &#39;c&#39;")
        #expect(HTMLReport.anchor("op-<x> \"y\"") == "op--x---y-")
    }

    @Test func pageListsSectionsAndEscapesTitles() {
        var page = HTMLReport(title: "t <i>", subtitle: "sub")
        page.add(id: "a\"b", title: "First <b>", html: "<p>body</p>")
        page.add(HTMLReport.Section(id: "two", title: "Second", html: HTMLReport.table(header: ["<h>"], rows: [["<c>"]])))
        let html = page.render()
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<title>t &lt;i&gt;</title>"))
        #expect(html.contains("<a href=\"#a-b\">First &lt;b&gt;</a>"))
        #expect(html.contains("<section id=\"a-b\"><h2>First &lt;b&gt;</h2>"))
        #expect(html.contains("<p>body</p>"))
        #expect(html.contains("<th>&lt;h&gt;</th>") && html.contains("<td>&lt;c&gt;</td>"))
        #expect(html.contains("Content-Security-Policy"))
        #expect(!html.contains("<script"))
        #expect(!html.contains("<i>") && !html.contains("<b>"))
    }

    @Test func runReportHasEverySectionAndNoUnescapedName() throws {
        let store = try ResultStore.inMemory()
        let hostile = "<script>alert(1)</script>"
        let id = try Synthetic.run(store, ops: [Synthetic.op(hostile, median: 1000, seed: 3), Synthetic.op("gemm_16", median: 4000, seed: 4)],
                                   label: "<img src=x onerror=alert(2)>", checks: ["tiny/\(hostile)/optimized": true])
        let run = try RunReport(store: store, runID: id)
        let html = HTMLRunReport.build(HTMLRunReportInput(run: run, variants: try VariantsReport.rows(store: store, runID: id))).render()
        for section in ["run", "ops", "results", "roofline", "counters", "fusion", "variants", "history"] {
            #expect(html.contains("<section id=\"\(section)\">"), "\(section)")
        }
        #expect(!html.contains("verdicts"))   // no comparison given
        #expect(!html.contains("<script"))
        #expect(!html.contains("<img"))
        #expect(html.contains("tiny/&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(html.components(separatedBy: "class=\"batch\"").count - 1 == 2 * 2 * 40)
        #expect(html.contains("No machine peak stored"))
        #expect(html.contains("no counter values in this run"))
    }

    @Test func speedupCarriesTheComparatorInterval() throws {
        let store = try ResultStore.inMemory()
        let id = try Synthetic.run(store, ops: [Synthetic.op("gemm_16", median: 4000, seed: 4)])
        let run = try RunReport(store: store, runID: id)
        let s = try #require(HTMLRunReport.speedups(run)[BenchmarkKey(suite: "tiny", op: "gemm_16", variant: "optimized")])
        #expect(abs(s.speedup - 2) < 0.02)
        #expect(s.lower <= s.speedup && s.speedup <= s.upper)
        #expect(HTMLRunReport.speedups(run)[BenchmarkKey(suite: "tiny", op: "gemm_16", variant: "reference")] == nil)
    }

    @Test func historySeriesPlacesMarksAndTheCurrentRun() throws {
        let store = try ResultStore.inMemory()
        var ids: [Int64] = []
        for i in 0..<4 {
            ids.append(try Synthetic.run(store, ops: [Synthetic.op("gemm_16", median: i < 2 ? 1000 : 1300, seed: UInt64(i + 1))]))
        }
        let key = try #require(try store.seriesKeys(runID: ids[3]).first { $0.benchmark.variant == "reference" })
        #expect(try store.seriesKeys(runID: ids[3]).count == 2)
        let points = try store.seriesPoints(key, branch: nil, last: 30)
        #expect(points.count == 4)
        let s = HTMLRunReport.historySeries(key, points: points, currentRunID: ids[2],
                                            changes: [.init(runAfter: ids[2], label: "+30%"), .init(runAfter: 9999, label: "gone")])
        #expect(s.current == 2)
        #expect(s.marks.map(\.index) == [2])
        #expect(s.points.count == 4)
        #expect(abs(s.points[3].median - 1300) < 10)
        let svg = HTMLRunReport.history([s]).html
        #expect(svg.components(separatedBy: "class=\"change-point\"").count - 1 == 1)
        #expect(!svg.contains("gone"))
        #expect(throws: StoreError.self) { try store.seriesKeys(runID: 12345) }
    }
}
