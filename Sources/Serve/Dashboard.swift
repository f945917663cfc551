// The dashboard's pages and its one action, independent of the HTTP server: a `DashboardRequest`
// (method, path, query, authorization, body) goes in, a `DashboardResponse` (status, content type,
// body) comes out. Every page is read from one `ResultStore` through its public API and rendered
// with Report's renderers (history charts, the run report), every text from the store HTML-escaped,
// no external asset. Calls block on the store: the server runs them off the event loops.
//
// Routes: `/` series with their latest change points; `/series/ID` one series' history chart, runs
// and change points (triage buttons when a token is configured); `/runs` recent runs; `/runs/REF`
// one run's report; `/baselines`; `/healthz`; `/api/series` (JSON); `POST /change-points/ID/triage`.
#if Fleet
import Analysis
import BenchModel
import Charts
import Foundation
import Report
import Store

/// One HTTP request as the dashboard sees it.
public struct DashboardRequest: Sendable {
    /// `GET`, `HEAD`, `POST`, ... (upper case).
    public var method: String
    /// The path, still percent-encoded (`/series/tiny%2Fgemm...`).
    public var path: String
    /// The query string without `?`, if any.
    public var query: String?
    /// The `Authorization` header, if any.
    public var authorization: String?
    /// The `Content-Type` header, if any.
    public var contentType: String?
    /// The request body (only read for the triage action).
    public var body: [UInt8]

    /// A request.
    public init(method: String, path: String, query: String? = nil, authorization: String? = nil, contentType: String? = nil,
                body: [UInt8] = []) {
        self.method = method.uppercased()
        self.path = path
        self.query = query
        self.authorization = authorization
        self.contentType = contentType
        self.body = body
    }
}

/// What the dashboard answers.
public struct DashboardResponse: Sendable, Equatable {
    /// HTTP status code.
    public var status: Int
    /// `Content-Type` value.
    public var contentType: String
    /// Extra headers (`Allow`, `WWW-Authenticate`, `Content-Security-Policy`, ...).
    public var headers: [String: String]
    /// The body (empty for `HEAD`).
    public var body: String

    /// A response.
    public init(status: Int, contentType: String, headers: [String: String] = [:], body: String) {
        self.status = status
        self.contentType = contentType
        self.headers = headers
        self.body = body
    }
}

/// Settings of the dashboard.
public struct DashboardOptions: Sendable {
    /// Secret that authorises triage (`Authorization: Bearer TOKEN`); nil or empty: triage disabled.
    public var token: String?
    /// Runs drawn on a series page unless `?last=N` asks for another number.
    public var chartRuns: Int
    /// Largest `?last=N` accepted on a series page.
    public static let maximumChartRuns = 100_000
    /// Runs of each series drawn in a run's report (as `fusebench report --history`).
    public var reportHistory: Int
    /// Runs listed on `/runs` unless `?limit=N` asks for another number.
    public var runsListed: Int
    /// Where the data comes from, as shown in page footers (a path, or a URL without its password).
    public var location: String

    /// Settings: `token` for triage, `chartRuns` (default 200) per series chart, `reportHistory` (30)
    /// per run report, `runsListed` (50) on `/runs`, `location` shown on the pages.
    public init(token: String? = nil, chartRuns: Int = 200, reportHistory: Int = 30, runsListed: Int = 50, location: String = "") {
        self.token = token
        self.chartRuns = chartRuns
        self.reportHistory = reportHistory
        self.runsListed = runsListed
        self.location = location
    }

    /// Whether triage is enabled (a non-empty token).
    public var triageEnabled: Bool { !(token ?? "").isEmpty }

    /// Environment variable holding the triage token of `fusebench serve`.
    public static let tokenVariable = "FUSEBENCH_SERVE_TOKEN"
}

/// The dashboard over one store. Thread-safe; `respond` blocks on the store.
public struct Dashboard: Sendable {
    /// The store every page reads (and triage writes).
    public let store: ResultStore
    /// Settings.
    public let options: DashboardOptions

    /// The dashboard of `store`.
    public init(store: ResultStore, options: DashboardOptions = DashboardOptions()) {
        self.store = store
        self.options = options
    }

    /// A page that cannot be shown: status and a sentence for the visitor.
    struct Failure: Error {
        var status: Int
        var message: String
        var headers: [String: String] = [:]
    }

    /// Answers `request`. Never throws: unknown paths are 404 pages, methods a route does not take
    /// 405, store errors 500 pages with the error's sentence (also written to stderr).
    public func respond(to request: DashboardRequest) -> DashboardResponse {
        var response: DashboardResponse
        do {
            response = try route(request)
        } catch let f as Failure {
            response = errorPage(f, json: wantsJSON(request))
        } catch {
            let sentence = Self.sentence(error)
            FileHandle.standardError.write(Data("fusebench serve: \(request.method) \(request.path): \(sentence)\n".utf8))
            response = errorPage(Failure(status: 500, message: sentence), json: wantsJSON(request))
        }
        if request.method == "HEAD" { response.body = "" }
        return response
    }

    /// One line for an error: `StoreError`s and the report's errors have their own sentences.
    static func sentence(_ error: any Error) -> String {
        String(describing: error).split(separator: "\n").joined(separator: " ")
    }

    private func wantsJSON(_ r: DashboardRequest) -> Bool {
        r.path.hasPrefix("/api/") || r.path.hasPrefix("/change-points/")
    }

    // MARK: - Routing

    private func route(_ r: DashboardRequest) throws -> DashboardResponse {
        let segments = r.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        let query = Self.parameters(r.query ?? "")
        // The one action: POST /change-points/ID/triage.
        if segments.count == 3, segments[0] == "change-points", segments[2] == "triage" {
            guard r.method == "POST" else { throw Failure(status: 405, message: "only POST is accepted here", headers: ["Allow": "POST"]) }
            return try triage(idText: segments[1], request: r)
        }
        let page: () throws -> DashboardResponse
        switch segments.first ?? "" {
        case "" where segments.count == 1:
            page = { try html(index(filter: query["q"])) }
        case "healthz" where segments.count == 1:
            page = { DashboardResponse(status: 200, contentType: "text/plain; charset=utf-8", body: "ok\n") }
        case "api" where segments == ["api", "series"]:
            page = { try seriesJSON() }
        case "series" where segments.count >= 2:
            // Series ids contain `/`: everything after `/series/` is the id.
            let raw = segments.dropFirst().joined(separator: "/")
            page = { try html(seriesPage(id: raw.removingPercentEncoding ?? raw, last: try Self.count(query["last"], "last", default: options.chartRuns, in: 1...DashboardOptions.maximumChartRuns))) }
        case "runs" where segments.count == 1 || (segments.count == 2 && segments[1].isEmpty):
            page = { try html(runsPage(limit: try Self.count(query["limit"], "limit", default: options.runsListed, in: 1...10_000))) }
        case "runs" where segments.count == 2:
            let raw = segments[1].removingPercentEncoding ?? segments[1]
            page = { try runPage(ref: raw, against: query["against"]) }
        case "baselines" where segments.count == 1:
            page = { try html(baselinesPage()) }
        default:
            throw Failure(status: 404, message: "no page at \(r.path.removingPercentEncoding ?? r.path)")
        }
        guard r.method == "GET" || r.method == "HEAD" else {
            throw Failure(status: 405, message: "this page is read-only: only GET and HEAD are accepted", headers: ["Allow": "GET, HEAD"])
        }
        return try page()
    }

    /// A whole-number query parameter in `range` (`default` when absent).
    static func count(_ text: String?, _ name: String, default value: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let text else { return value }
        guard let n = Int(text), range.contains(n) else {
            throw Failure(status: 400, message: "?\(name)= must be a whole number from \(range.lowerBound) to \(range.upperBound), got '\(text)'")
        }
        return n
    }

    /// `a=1&b=x+y` → `["a": "1", "b": "x y"]` (percent-decoded; the first of repeated names wins).
    static func parameters(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                let spaced = s.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            let name = decode(parts[0])
            if out[name] == nil { out[name] = parts.count > 1 ? decode(parts[1]) : "" }
        }
        return out
    }

    /// Percent-encodes `text` for one path segment or query value (only unreserved characters kept).
    public static func urlComponent(_ text: String) -> String {
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// Path of the page of series `id`.
    public static func seriesPath(_ id: String) -> String { "/series/" + urlComponent(id) }

    /// Path of the page of run `id`.
    public static func runPath(_ id: Int64) -> String { "/runs/\(id)" }

    // MARK: - Pages

    private func html(_ page: DashboardPage) -> DashboardResponse {
        page.response(location: options.location)
    }

    private func errorPage(_ f: Failure, json: Bool) -> DashboardResponse {
        var response: DashboardResponse
        if json {
            let text = (try? JSONSerialization.data(withJSONObject: ["error": f.message], options: [.sortedKeys]))
                .map { String(decoding: $0, as: UTF8.self) } ?? "{}"
            response = DashboardResponse(status: f.status, contentType: "application/json; charset=utf-8", body: text + "\n")
        } else {
            let title = f.status == 404 ? "Not found" : f.status == 500 ? "Server error" : "Error \(f.status)"
            response = DashboardPage(title: title, body: "<p class=\"bad\">\(HTMLReport.escape(f.message))</p>").response(location: options.location)
            response.status = f.status
        }
        for (k, v) in f.headers { response.headers[k] = v }
        return response
    }

    /// Stored change points (found over all branches, any state) by series id, oldest step first.
    private func changePointsBySeries() throws -> [String: [StoredChangePoint]] {
        Dictionary(grouping: try store.changePoints(series: nil, branch: nil), by: { $0.candidate.series.id })
    }

    /// `/`: every series with its newest change point and how many are still `new`.
    func index(filter: String?) throws -> DashboardPage {
        let pattern = (filter ?? "").isEmpty ? nil : filter
        let keys: [SeriesKey]
        do {
            keys = try store.series(matching: pattern, branch: nil, machine: nil)
        } catch StoreError.invalidName(let why) {
            throw Failure(status: 400, message: why)
        }
        let changes = try changePointsBySeries()
        var body = "<form method=\"get\" action=\"/\"><label>Filter (regular expression on SUITE/OP/VARIANT): "
            + "<input type=\"text\" name=\"q\" value=\"\(HTMLReport.escape(pattern ?? ""))\"></label> <button type=\"submit\">Filter</button></form>"
        let alerting = changes.values.reduce(0) { $0 + $1.filter { $0.state == .new }.count }
        body += "<p class=\"sub\">\(keys.count) series\(pattern.map { " matching " + HTMLReport.escape($0) } ?? ""); "
            + "\(alerting) change point(s) not triaged yet. Change points are found by <code>fusebench history --changes</code> "
            + "(over all branches); this page shows what is stored.</p>"
        guard !keys.isEmpty else {
            return DashboardPage(title: "fusebench: series", body: body + "<p class=\"note\">No stored series\(pattern == nil ? "" : " matches") yet.</p>")
        }
        body += "<table class=\"data series\"><thead><tr><th>series</th><th>machine</th><th>counters</th><th>ISA</th>"
            + "<th>latest change point</th><th class=\"num\">untriaged</th></tr></thead><tbody>"
        for key in keys {
            let points = changes[key.id] ?? []
            let latest = points.max { $0.candidate.runAfter < $1.candidate.runAfter }
            let untriaged = points.filter { $0.state == .new }.count
            body += "<tr><td><a href=\"\(HTMLReport.escape(Self.seriesPath(key.id)))\">\(HTMLReport.escape(key.benchmark.description))</a></td>"
                + "<td>\(HTMLReport.escape("m\(key.machineID) \(key.cpuModel)"))</td><td>\(HTMLReport.escape(key.counterMode))</td>"
                + "<td>\(HTMLReport.escape(Self.isa(key)))</td>"
                + "<td>\(latest.map(Self.changeSummary) ?? "–")</td>"
                + "<td class=\"num\(untriaged > 0 ? " bad" : "")\">\(untriaged)</td></tr>"
        }
        body += "</tbody></table>"
        return DashboardPage(title: "fusebench: series", body: body)
    }

    static func isa(_ key: SeriesKey) -> String { key.isaFeatures.isEmpty ? "baseline" : key.isaFeatures.joined(separator: "+") }

    static func percent(_ ratio: Double) -> String { String(format: "%+.1f%%", (ratio - 1) * 100) }

    /// `+10.2% at run 9 · new` (HTML, run linked, state classed).
    static func changeSummary(_ c: StoredChangePoint) -> String {
        let stateClass = c.state == .new ? "bad" : "good"
        return "\(HTMLReport.escape(percent(c.candidate.ratio))) at <a href=\"\(runPath(c.candidate.runAfter))\">run \(c.candidate.runAfter)</a> · "
            + "<span class=\"state \(stateClass)\">\(HTMLReport.escape(c.state.rawValue))</span>"
    }

    /// The series whose id is `id` (404 when none).
    private func seriesKey(id: String) throws -> SeriesKey {
        // Ids start with SUITE/OP/VARIANT followed by `@m`: match that benchmark exactly, then the id.
        guard let at = id.range(of: "@m", options: .backwards) else { throw Failure(status: 404, message: "no series has id \(id)") }
        let benchmark = String(id[..<at.lowerBound])
        let pattern = "^" + NSRegularExpression.escapedPattern(for: benchmark) + "$"
        guard let key = try store.series(matching: pattern, branch: nil, machine: nil).first(where: { $0.id == id }) else {
            throw Failure(status: 404, message: "no series has id \(id)")
        }
        return key
    }

    /// `/series/ID?last=N`: chart of the newest `last` runs, the runs' table, the change points.
    func seriesPage(id: String, last: Int) throws -> DashboardPage {
        let key = try seriesKey(id: id)
        let points = try store.seriesPoints(key, branch: nil, last: last)
        let changes = try store.changePoints(series: key, branch: nil)
        let baselines = try store.baselineNamesByRun()
        let entries = HistoryReport.entries(points, baselines: baselines, extraMarks: ChangePointRenderer.marksByRun(changes))
        var body = "<p class=\"sub\">\(HTMLReport.escape("machine m\(key.machineID) · \(key.cpuModel) (\(key.machineKey)) · counters \(key.counterMode) · ISA \(Self.isa(key))"))<br>"
            + "<code>\(HTMLReport.escape(key.id))</code></p>"
        body += "<p class=\"note\">Showing the newest \(entries.count) run(s) (at most \(last)); "
            + "<a href=\"\(HTMLReport.escape(Self.seriesPath(key.id)))?last=\(min(DashboardOptions.maximumChartRuns, last * 5))\">show more</a>.</p>"
        // The chart: what `fusebench report` draws for a run's series, without a current run.
        let chartPoints = zip(points, entries).map { p, e in
            HistoryChart.Point(label: "#\(p.runID)\(p.gitCommit.map { " \($0.prefix(7))" } ?? "")", median: e.medianNs,
                               lower: e.ciLowerNs, upper: e.ciUpperNs)
        }
        let marks = changes.compactMap { c in
            points.firstIndex { $0.runID == c.candidate.runAfter }.map { HistoryChart.Mark(index: $0, label: HTMLRunReport.changeLabel(c)) }
        }
        if chartPoints.count >= 2 {
            body += "<h2>History</h2>" + HTMLRunReport.history([HistorySeries(title: key.benchmark.description, points: chartPoints, marks: marks)]).html
        } else {
            body += "<h2>History</h2><p class=\"note\">one run only: no history yet</p>"
        }
        body += "<h2 id=\"change-points\">Change points</h2>" + changePointTable(changes)
        body += "<h2>Runs</h2><table class=\"data runs\"><thead><tr><th>run</th><th>started</th><th>commit</th><th>branch</th>"
            + "<th class=\"num\">median</th><th class=\"num\">95% CI</th><th class=\"num\">instr/op</th><th>marks</th></tr></thead><tbody>"
        for e in entries.reversed() {
            let commit = e.gitCommit.map { String($0.prefix(10)) + (e.gitDirty == true ? "+" : "") } ?? "–"
            body += "<tr><td><a href=\"\(Self.runPath(e.runID))\">\(e.runID)</a></td><td>\(HTMLReport.escape(e.startedAt))</td>"
                + "<td>\(HTMLReport.escape(commit))</td><td>\(HTMLReport.escape(e.gitBranch ?? "–"))</td>"
                + "<td class=\"num\">\(HTMLReport.escape(Format.duration(ns: e.medianNs)))</td>"
                + "<td class=\"num\">\(HTMLReport.escape("[\(Format.duration(ns: e.ciLowerNs)), \(Format.duration(ns: e.ciUpperNs))]"))</td>"
                + "<td class=\"num\">\(HTMLReport.escape(e.instructionsPerOp.map { Format.count($0) } ?? "–"))</td>"
                + "<td>\(HTMLReport.escape(e.marks.joined(separator: " ")))</td></tr>"
        }
        body += "</tbody></table>"
        return DashboardPage(title: key.benchmark.description, body: body, script: options.triageEnabled && !changes.isEmpty ? DashboardPage.triageScript : nil)
    }

    /// The change points of a series with their triage state (and buttons when triage is enabled).
    private func changePointTable(_ changes: [StoredChangePoint]) -> String {
        guard !changes.isEmpty else {
            return "<p class=\"note\">No change point stored for this series (run <code>fusebench history --changes</code> to detect them).</p>"
        }
        var html = ""
        if options.triageEnabled {
            html += "<p class=\"note\">Triage needs the server's token (<code>\(DashboardOptions.tokenVariable)</code>): "
                + "<label>token <input type=\"password\" id=\"triage-token\" autocomplete=\"off\"></label> "
                + "<label>note <input type=\"text\" id=\"triage-note\" maxlength=\"500\"></label> <span id=\"triage-status\"></span></p>"
        } else {
            html += "<p class=\"note\">Triage is disabled on this server: start <code>fusebench serve</code> with "
                + "<code>\(DashboardOptions.tokenVariable)</code> set, or use <code>fusebench history --acknowledge ID</code> / <code>--accept ID</code>.</p>"
        }
        html += "<table class=\"data change-points\"><thead><tr><th class=\"num\">id</th><th>runs</th><th>commits</th><th class=\"num\">step</th>"
            + "<th class=\"num\">95% CI</th><th class=\"num\">p</th><th>state</th><th>triaged</th><th>note</th>"
            + (options.triageEnabled ? "<th>triage</th>" : "") + "</tr></thead><tbody>"
        for p in changes.reversed() {
            let c = p.candidate
            func commit(_ s: String?) -> String { s.map { String($0.prefix(12)) } ?? "-" }
            html += "<tr id=\"cp-\(p.id)\"><td class=\"num\">\(p.id)</td>"
                + "<td><a href=\"\(Self.runPath(c.runBefore))\">\(c.runBefore)</a> → <a href=\"\(Self.runPath(c.runAfter))\">\(c.runAfter)</a></td>"
                + "<td>\(HTMLReport.escape("\(commit(c.commitBefore)) → \(commit(c.commitAfter))"))</td>"
                + "<td class=\"num\">\(HTMLReport.escape(Self.percent(c.ratio)))</td>"
                + "<td class=\"num\">\(HTMLReport.escape("\(Self.percent(c.lower)) … \(Self.percent(c.upper))"))</td>"
                + "<td class=\"num\">\(HTMLReport.escape(String(format: "%.3g", c.p)))</td>"
                + "<td class=\"state \(p.state == .new ? "bad" : "good")\">\(HTMLReport.escape(p.state.rawValue))</td>"
                + "<td>\(HTMLReport.escape(p.triagedAt.map(Self.iso) ?? "–"))</td><td>\(HTMLReport.escape(p.note ?? ""))</td>"
            if options.triageEnabled {
                html += "<td>"
                for state in [ChangePointState.acknowledged, .accepted, .new] where state != p.state {
                    let label = state == .new ? "reopen" : state == .accepted ? "accept" : "acknowledge"
                    html += "<button type=\"button\" class=\"triage\" data-id=\"\(p.id)\" data-state=\"\(state.rawValue)\">\(label)</button> "
                }
                html += "</td>"
            }
            html += "</tr>"
        }
        return html + "</tbody></table>"
    }

    static func iso(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    /// `/runs?limit=N`: the newest runs.
    func runsPage(limit: Int) throws -> DashboardPage {
        let runs = try store.runs(limit: limit)
        var body = "<p class=\"sub\">The newest \(runs.count) run(s), any status (<a href=\"/runs?limit=\(min(10_000, limit * 4))\">more</a>).</p>"
        guard !runs.isEmpty else { return DashboardPage(title: "fusebench: runs", body: body + "<p class=\"note\">No stored run yet.</p>") }
        body += "<table class=\"data runs\"><thead><tr><th>run</th><th>started</th><th>status</th><th>suites</th><th>label</th>"
            + "<th>commit</th><th>branch</th><th>machine</th><th>counters</th></tr></thead><tbody>"
        for r in runs {
            let commit = r.gitCommit.map { String($0.prefix(10)) + (r.gitDirty == true ? "+" : "") } ?? "–"
            body += "<tr><td><a href=\"\(Self.runPath(r.id))\">\(r.id)</a></td><td>\(HTMLReport.escape(Self.iso(r.startedAt)))</td>"
                + "<td>\(HTMLReport.escape(r.status.rawValue))</td><td>\(HTMLReport.escape(r.suites.joined(separator: ", ")))</td>"
                + "<td>\(HTMLReport.escape(r.label ?? ""))</td><td>\(HTMLReport.escape(commit))</td><td>\(HTMLReport.escape(r.gitBranch ?? "–"))</td>"
                + "<td>\(HTMLReport.escape(r.machine.cpuModel))</td><td>\(HTMLReport.escape(r.counterMode.rawValue))</td></tr>"
        }
        return DashboardPage(title: "fusebench: runs", body: body + "</tbody></table>")
    }

    /// The run id `ref` names: a run id, a run UUID, `latest`, `latest~N`, a baseline name (404 when none).
    private func runID(_ ref: String) throws -> Int64 {
        if UUID(uuidString: ref) != nil {
            guard let id = try store.runID(uuid: ref) else { throw Failure(status: 404, message: "no run has UUID \(ref)") }
            return id
        }
        do {
            return try store.resolve(ref)
        } catch let e as StoreError {
            switch e {
            case .unknownRun, .noRuns, .unknownBaseline: throw Failure(status: 404, message: e.description)
            default: throw e
            }
        }
    }

    /// `/runs/REF[?against=REF]` (REF: id, UUID, baseline, `latest`, `latest~N`): the run's HTML report as `fusebench report --html` renders it.
    func runPage(ref: String, against: String?) throws -> DashboardResponse {
        let id = try runID(ref)
        let base = try against.flatMap { $0.isEmpty ? nil : try runID($0) }
        let input: HTMLRunReportInput
        do {
            input = try HTMLRunReportInput.load(store: store, runID: id, against: base, history: options.reportHistory)
        } catch let e as CompareError {
            throw Failure(status: 404, message: e.description)
        }
        var report = HTMLRunReport.build(input)
        report.subtitle = "<a href=\"/\">dashboard</a> · <a href=\"/runs\">runs</a> · " + report.subtitle
        return DashboardResponse(status: 200, contentType: "text/html; charset=utf-8", headers: DashboardPage.securityHeaders(nonce: nil),
                                 body: report.render())
    }

    /// `/baselines`: every baseline, its run and its moves.
    func baselinesPage() throws -> DashboardPage {
        let baselines = try store.baselines()
        guard !baselines.isEmpty else {
            return DashboardPage(title: "fusebench: baselines", body: "<p class=\"note\">No baseline yet (<code>fusebench baseline set NAME RUN</code>).</p>")
        }
        var body = "<table class=\"data baselines\"><thead><tr><th>baseline</th><th>run</th><th>updated</th><th class=\"num\">moves</th></tr></thead><tbody>"
        for b in baselines {
            body += "<tr><td><a href=\"#baseline-\(HTMLReport.anchor(b.name))\">\(HTMLReport.escape(b.name))</a></td>"
                + "<td><a href=\"\(Self.runPath(b.runID))\">\(b.runID)</a></td><td>\(HTMLReport.escape(Self.iso(b.updatedAt)))</td>"
                + "<td class=\"num\">\(b.history.count)</td></tr>"
        }
        body += "</tbody></table>"
        for b in baselines {
            body += "<h2 id=\"baseline-\(HTMLReport.anchor(b.name))\">\(HTMLReport.escape(b.name))</h2>"
                + "<table class=\"data moves\"><thead><tr><th>moved</th><th>from</th><th>to</th><th>note</th></tr></thead><tbody>"
            for m in b.history.reversed() {
                body += "<tr><td>\(HTMLReport.escape(Self.iso(m.movedAt)))</td><td>\(m.previousRunID.map { "<a href=\"\(Self.runPath($0))\">\($0)</a>" } ?? "–")</td>"
                    + "<td>\(m.runID.map { "<a href=\"\(Self.runPath($0))\">\($0)</a>" } ?? "removed")</td><td>\(HTMLReport.escape(m.note))</td></tr>"
            }
            body += "</tbody></table>"
        }
        return DashboardPage(title: "fusebench: baselines", body: body)
    }

    /// `/api/series`: the series with their change points (JSON).
    func seriesJSON() throws -> DashboardResponse {
        let keys = try store.series(matching: nil, branch: nil, machine: nil)
        let changes = try changePointsBySeries()
        let series: [[String: Any]] = keys.map { key in
            let points: [[String: Any]] = (changes[key.id] ?? []).map { p in
                ["id": p.id, "run_before": p.candidate.runBefore, "run_after": p.candidate.runAfter, "ratio": p.candidate.ratio,
                 "state": p.state.rawValue, "note": p.note ?? NSNull()]
            }
            return ["id": key.id, "benchmark": key.benchmark.description, "machine_id": key.machineID, "cpu_model": key.cpuModel,
                    "counters": key.counterMode, "isa": key.isaFeatures, "change_points": points]
        }
        let data = try JSONSerialization.data(withJSONObject: ["series": series], options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        return DashboardResponse(status: 200, contentType: "application/json; charset=utf-8", body: String(decoding: data, as: UTF8.self) + "\n")
    }

    // MARK: - Triage

    /// Whether `authorization` is `Bearer TOKEN` with the configured token (constant time in the
    /// token's length: every byte is compared whatever the first difference).
    static func authorized(_ authorization: String?, token: String) -> Bool {
        guard let authorization, authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else { return false }
        let given = Array(authorization.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8), wanted = Array(token.utf8)
        var difference = UInt8(given.count == wanted.count ? 0 : 1)
        for i in 0..<wanted.count { difference |= wanted[i] ^ (i < given.count ? given[i] : 0) }
        return difference == 0
    }

    /// Largest accepted triage body, and note.
    static let maximumBody = 16 * 1024
    static let maximumNote = 2000

    /// `POST /change-points/ID/triage` with `state=acknowledged|accepted|new` and an optional `note`
    /// (form-encoded or a JSON object), authorised by `Authorization: Bearer TOKEN`.
    func triage(idText: String, request r: DashboardRequest) throws -> DashboardResponse {
        guard let token = options.token, !token.isEmpty else {
            throw Failure(status: 403, message: "triage is disabled on this server: start `fusebench serve` with \(DashboardOptions.tokenVariable) "
                + "set to a secret and send it as `Authorization: Bearer TOKEN` (or triage with `fusebench history --acknowledge ID`)")
        }
        guard Self.authorized(r.authorization, token: token) else {
            throw Failure(status: 401, message: "triage needs `Authorization: Bearer TOKEN` with the server's \(DashboardOptions.tokenVariable)",
                          headers: ["WWW-Authenticate": "Bearer realm=\"fusebench\""])
        }
        guard let id = Int64(idText), id > 0 else { throw Failure(status: 404, message: "no change point has id \(idText)") }
        guard r.body.count <= Self.maximumBody else { throw Failure(status: 413, message: "the request body is larger than \(Self.maximumBody) bytes") }
        let fields: [String: String]
        if (r.contentType ?? "").lowercased().hasPrefix("application/json") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any] else {
                throw Failure(status: 400, message: "the body is not a JSON object")
            }
            var f: [String: String] = [:]
            for (k, v) in object {
                guard let s = v as? String else { throw Failure(status: 400, message: "\(k) must be a string") }
                f[k] = s
            }
            fields = f
        } else {
            fields = Self.parameters(String(decoding: r.body, as: UTF8.self))
        }
        guard let stateText = fields["state"], let state = ChangePointState(rawValue: stateText) else {
            throw Failure(status: 400, message: "state must be one of \(ChangePointState.allCases.map(\.rawValue).joined(separator: ", ")), got '\(fields["state"] ?? "")'")
        }
        var note = fields["note"]
        if note?.isEmpty == true { note = nil }
        if let note {
            guard note.count <= Self.maximumNote else { throw Failure(status: 400, message: "the note is longer than \(Self.maximumNote) characters") }
            if note.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && $0 != "\n" }) {
                throw Failure(status: 400, message: "the note contains a control character")
            }
        }
        do {
            try store.triageChangePoint(id: id, state: state, note: note)
        } catch StoreError.invalidName(let why) {
            // The one invalid-name error of triage: no change point has this id.
            throw Failure(status: 404, message: why)
        }
        let data = try JSONSerialization.data(withJSONObject: ["id": id, "state": state.rawValue], options: [.sortedKeys])
        return DashboardResponse(status: 200, contentType: "application/json; charset=utf-8", body: String(decoding: data, as: UTF8.self) + "\n")
    }
}
#endif
