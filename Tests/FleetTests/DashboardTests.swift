// The dashboard (`Serve`) end to end in-process: a store of synthetic runs with a step (so a change
// point is stored), the server started on a free port, every page fetched over HTTP with URLSession
// and checked (series, escaped names, the SVG history chart, the run report, baselines, 404/405),
// and triage: refused without a configured token (403), with a wrong or missing token (401),
// applied with the right one (state in the store and on the page).
#if Fleet
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import Serve
import XCTest
import TestSupport
@testable import FuseBench

/// A hostile benchmark name: every character HTML escapes.
let hostileOp = "<b>&\"x'"

/// A store with 16 runs of `tiny/gemm` (a 10 % step between the 8th and the 9th run, so change-point
/// detection stores one point per variant), 2 runs of the hostile op in suite `odd`, and baseline
/// `main` moved twice. Returns the store, its path, the run ids of the gemm runs and the stored
/// change points.
struct DashboardFixture {
    let store: ResultStore
    let path: String
    let dir: URL
    let gemmRuns: [Int64]
    let hostileRuns: [Int64]

    static func make() throws -> DashboardFixture {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("serve.sqlite").path
        let store = try ResultStore(path: path)
        let (gemm, hostile) = try populate(store)
        return DashboardFixture(store: store, path: path, dir: dir, gemmRuns: gemm, hostileRuns: hostile)
    }

    /// Writes the runs, baselines and change points into `store` (any engine).
    static func populate(_ store: ResultStore) throws -> (gemm: [Int64], hostile: [Int64]) {
        var gemm: [Int64] = []
        for i in 0..<16 {
            gemm.append(try Synthetic.run(store, ops: [Synthetic.op("gemm", median: i < 8 ? 1000 : 1100, processes: 2, samples: 4, seed: UInt64(i))],
                                          info: { $0.gitCommit = String(format: "%040x", i) }))
        }
        var hostile: [Int64] = []
        for i in 0..<2 {
            hostile.append(try Synthetic.run(store, suite: "odd", ops: [Synthetic.op(hostileOp, median: 500, processes: 2, samples: 4, seed: UInt64(100 + i))],
                                             label: "label <i>\(i)</i>"))
        }
        try store.setBaseline(name: "main", runID: gemm[3], note: "first <note>")
        try store.setBaseline(name: "main", runID: gemm[12], note: "moved")
        let scan = try ChangeScan.scan(store: store, pattern: "tiny/gemm", branch: nil, machine: nil)
        XCTAssertTrue(scan.inserted.count == 2, "the step between run 8 and 9 is found in both variants")
        return (gemm, hostile)
    }

    func remove() { try? FileManager.default.removeItem(at: dir) }
}

/// One HTTP answer.
struct HTTPAnswer {
    var status: Int
    var headers: [String: String]
    var body: String
}

/// Minimal HTTP client over URLSession (FoundationNetworking on Linux).
enum HTTP {
    static func request(_ url: String, method: String = "GET", headers: [String: String] = [:], body: String? = nil) async throws -> HTTPAnswer {
        var request = URLRequest(url: try XCTUnwrap(URL(string: url)), cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: 30)
        request.httpMethod = method
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        if let body { request.httpBody = Data(body.utf8) }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.urlCache = nil
        let session = URLSession(configuration: configuration)
        defer { session.finishTasksAndInvalidate() }
        return try await withCheckedThrowingContinuation { done in
            session.dataTask(with: request) { data, response, error in
                if let error { return done.resume(throwing: error) }
                guard let http = response as? HTTPURLResponse else { return done.resume(throwing: URLError(.badServerResponse)) }
                var headers: [String: String] = [:]
                for (k, v) in http.allHeaderFields { headers[String(describing: k).lowercased()] = String(describing: v) }
                done.resume(returning: HTTPAnswer(status: http.statusCode, headers: headers, body: String(decoding: data ?? Data(), as: UTF8.self)))
            }.resume()
        }
    }
}

// XCTest, not Swift Testing: the in-process server's handlers run on Swift's cooperative pool, which
// the parallel Swift Testing CLI tests (blocking on child processes) can starve on 2 cores; XCTest
// cases run one at a time before them.
final class DashboardTests: XCTestCase {
    func testEveryPageIsServedEscapedWithChartsAndErrors() async throws {
        let f = try DashboardFixture.make()
        defer { f.remove() }
        let server = try await DashboardServer(dashboard: Dashboard(store: f.store, options: DashboardOptions(location: f.path))).start()
        defer { Task { await server.stop() } }
        let base = server.url
        XCTAssertTrue(base.hasPrefix("http://127.0.0.1:") && server.port > 0)

        let health = try await HTTP.request(base + "healthz")
        XCTAssertTrue(health.status == 200 && health.body == "ok\n")

        // The series list: every series linked, the hostile name escaped, change points with state.
        let index = try await HTTP.request(base)
        XCTAssertTrue(index.status == 200)
        XCTAssertTrue(index.headers["content-type"]?.hasPrefix("text/html") == true)
        XCTAssertTrue(index.headers["content-security-policy"]?.contains("default-src 'none'") == true)
        let gemmID = try XCTUnwrap(try f.store.series(matching: "tiny/gemm/optimized", branch: nil, machine: nil).first).id
        XCTAssertTrue(index.body.contains("href=\"\(Dashboard.seriesPath(gemmID))\""), "\(index.body)")
        XCTAssertTrue(index.body.contains("tiny/gemm/reference"))
        XCTAssertTrue(index.body.contains("odd/&lt;b&gt;&amp;&quot;x&#39;/optimized"), "hostile name escaped")
        XCTAssertTrue(!index.body.contains(hostileOp), "a raw hostile name never reaches the page")
        XCTAssertTrue(index.body.contains("at <a href=\"/runs/\(f.gemmRuns[8])\">run \(f.gemmRuns[8])</a>"), "latest change point linked")
        XCTAssertTrue(index.body.contains(">new</span>"))
        XCTAssertTrue(!index.body.contains("<script"), "no script without triage")

        // A series page: the SVG history chart, the change points, the runs.
        let series = try await HTTP.request(base + String(Dashboard.seriesPath(gemmID).dropFirst()))
        XCTAssertTrue(series.status == 200)
        XCTAssertTrue(series.body.contains("<svg") && series.body.contains("chart-history"), "history chart drawn")
        XCTAssertTrue(series.body.contains("class=\"data change-points\""))
        XCTAssertTrue(series.body.contains("+10.0%") || series.body.contains("+9."), "the step is listed")
        XCTAssertTrue(series.body.contains("Triage is disabled"))
        XCTAssertTrue(series.body.contains("baseline:main"), "marks of the runs")
        for id in f.gemmRuns { XCTAssertTrue(series.body.contains("href=\"/runs/\(id)\"")) }
        // ?last= limits the chart and table; a bad value is a 400 page.
        let last = try await HTTP.request(base + String(Dashboard.seriesPath(gemmID).dropFirst()) + "?last=3")
        XCTAssertTrue(last.status == 200 && last.body.contains("newest 3 run(s)"))
        XCTAssertTrue(!last.body.contains("href=\"/runs/\(f.gemmRuns[0])\""))
        do { let expectation = try await HTTP.request(base + String(Dashboard.seriesPath(gemmID).dropFirst()) + "?last=0").status == 400; XCTAssertTrue(expectation) }
        let hostileID = try XCTUnwrap(try f.store.series(matching: "odd/", branch: nil, machine: nil).first).id
        let hostilePage = try await HTTP.request(base + String(Dashboard.seriesPath(hostileID).dropFirst()))
        XCTAssertTrue(hostilePage.status == 200 && !hostilePage.body.contains(hostileOp) && hostilePage.body.contains("&lt;b&gt;"))

        // A run's report, by id and by baseline name.
        let run = try await HTTP.request(base + "runs/\(f.gemmRuns[15])")
        XCTAssertTrue(run.status == 200)
        XCTAssertTrue(run.body.contains("fusebench run \(f.gemmRuns[15])") && run.body.contains("chart-distribution"))
        do { let expectation = try await HTTP.request(base + "runs/main").body.contains("fusebench run \(f.gemmRuns[12])"); XCTAssertTrue(expectation) }
        let uuid = try XCTUnwrap(try f.store.run(id: f.gemmRuns[2])?.uuid)
        do { let expectation = try await HTTP.request(base + "runs/\(uuid.uppercased())").body.contains("fusebench run \(f.gemmRuns[2])"); XCTAssertTrue(expectation, "runs by UUID") }
        let hostileRun = try await HTTP.request(base + "runs/\(f.hostileRuns[1])")
        XCTAssertTrue(hostileRun.status == 200 && !hostileRun.body.contains(hostileOp) && !hostileRun.body.contains("label <i>"))
        let runs = try await HTTP.request(base + "runs")
        XCTAssertTrue(runs.status == 200 && runs.body.contains("label &lt;i&gt;1&lt;/i&gt;"))

        // Baselines with their moves.
        let baselines = try await HTTP.request(base + "baselines")
        XCTAssertTrue(baselines.status == 200)
        XCTAssertTrue(baselines.body.contains(">main<") && baselines.body.contains("first &lt;note&gt;") && baselines.body.contains("href=\"/runs/\(f.gemmRuns[12])\""))

        // JSON twin.
        let api = try await HTTP.request(base + "api/series")
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(api.body.utf8)) as? [String: Any])
        let list = try XCTUnwrap(json["series"] as? [[String: Any]])
        XCTAssertTrue(list.count == 4)
        XCTAssertTrue(list.contains { $0["id"] as? String == gemmID && ($0["change_points"] as? [Any])?.count == 1 })

        // Unknown pages and ids: 404 pages naming what was asked for; read-only routes: 405; HEAD: no body.
        for path in ["nope", "series/tiny%2Fgemm%2Foptimized@m99/none/avx2+fma", "series/nothing", "runs/999999", "runs/no-such-baseline",
                     "runs/00000000-0000-4000-8000-000000000000"] {
            let missing = try await HTTP.request(base + path)
            XCTAssertTrue(missing.status == 404, "\(path)")
            XCTAssertTrue(missing.body.contains("class=\"bad\""), "\(path): an HTML page")
        }
        for (method, path) in [("POST", ""), ("PUT", "baselines"), ("DELETE", "runs/1"), ("POST", "healthz"), ("PATCH", "api/series")] {
            let refused = try await HTTP.request(base + path, method: method, body: method == "DELETE" ? nil : "x=1")
            XCTAssertTrue(refused.status == 405, "\(method) /\(path)")
            XCTAssertTrue(refused.headers["allow"] == "GET, HEAD", "\(method) /\(path)")
        }
        let head = try await HTTP.request(base, method: "HEAD")
        XCTAssertTrue(head.status == 200 && head.body.isEmpty)
        do { let expectation = try await HTTP.request(base + "change-points/1/triage").status == 405; XCTAssertTrue(expectation, "triage is POST only") }
        await server.stop()
    }

    func testTriageNeedsTheConfiguredToken() async throws {
        let f = try DashboardFixture.make()
        defer { f.remove() }
        let points = try f.store.changePoints(series: nil, branch: nil)
        let target = try XCTUnwrap(points.first)
        let seriesPath = String(Dashboard.seriesPath(target.candidate.series.id).dropFirst())

        // No token configured: triage refused with how to enable it, and no buttons.
        let closed = try await DashboardServer(dashboard: Dashboard(store: f.store)).start()
        let refused = try await HTTP.request(closed.url + "change-points/\(target.id)/triage", method: "POST",
                                             headers: ["Authorization": "Bearer anything"], body: "state=accepted")
        XCTAssertTrue(refused.status == 403)
        XCTAssertTrue(refused.body.contains("FUSEBENCH_SERVE_TOKEN"), "\(refused.body)")
        do { let expectation = !(try await HTTP.request(closed.url + seriesPath).body.contains("<button")); XCTAssertTrue(expectation) }
        await closed.stop()

        let token = "s3cret-token"
        let server = try await DashboardServer(dashboard: Dashboard(store: f.store, options: DashboardOptions(token: token))).start()
        let url = server.url + "change-points/\(target.id)/triage"
        let missing = try await HTTP.request(url, method: "POST", body: "state=accepted")
        XCTAssertTrue(missing.status == 401 && missing.headers["www-authenticate"]?.hasPrefix("Bearer") == true)
        for wrong in ["Bearer s3cret-tokem", "Bearer s3cret-token2", "Bearer ", "Basic czNjcmV0LXRva2Vu", "s3cret-token"] {
            do { let expectation = try await HTTP.request(url, method: "POST", headers: ["Authorization": wrong], body: "state=accepted").status == 401; XCTAssertTrue(expectation, "\(wrong)") }
        }
        XCTAssertTrue(try f.store.changePoints(series: nil, branch: nil).allSatisfy { $0.state == .new }, "nothing changed yet")

        let auth = ["Authorization": "Bearer \(token)"]
        do { let expectation = try await HTTP.request(url, method: "POST", headers: auth, body: "state=closed").status == 400; XCTAssertTrue(expectation) }
        do { let expectation = try await HTTP.request(server.url + "change-points/999999/triage", method: "POST", headers: auth, body: "state=accepted").status == 404; XCTAssertTrue(expectation) }
        let accepted = try await HTTP.request(url, method: "POST", headers: auth, body: "state=accepted&note=known+%3Cslow%3E")
        XCTAssertTrue(accepted.status == 200, "\(accepted.body)")
        let after = try XCTUnwrap(try f.store.changePoints(series: nil, branch: nil).first { $0.id == target.id })
        XCTAssertTrue(after.state == .accepted && after.note == "known <slow>")

        // JSON body too; the page shows the new state, the escaped note and the buttons.
        let other = try XCTUnwrap(points.first { $0.id != target.id })
        let json = try await HTTP.request(server.url + "change-points/\(other.id)/triage", method: "POST",
                                          headers: auth.merging(["Content-Type": "application/json"]) { a, _ in a },
                                          body: "{\"state\":\"acknowledged\"}")
        XCTAssertTrue(json.status == 200 && json.body.contains("acknowledged"))
        XCTAssertTrue(try f.store.changePoints(series: nil, branch: nil).first { $0.id == other.id }?.state == .acknowledged)
        let page = try await HTTP.request(server.url + seriesPath)
        XCTAssertTrue(page.body.contains(">accepted</td>") && page.body.contains("known &lt;slow&gt;"))
        XCTAssertTrue(page.body.contains("<button type=\"button\" class=\"triage\" data-id=\"\(target.id)\""))
        XCTAssertTrue(page.body.contains("<script nonce=\""), "the triage script is allowed by a nonce")
        let index = try await HTTP.request(server.url)
        XCTAssertTrue(index.body.contains(">accepted</span>") || index.body.contains(">acknowledged</span>"))
        await server.stop()
    }

    func testStoreErrorsAre500PagesWithTheSentence() async throws {
        let f = try DashboardFixture.make()
        defer { f.remove() }
        let server = try await DashboardServer(dashboard: Dashboard(store: f.store)).start()
        // Another program breaks the database under the server: the page says why, no trace.
        try ResultStore(path: f.path).engine.write { db in _ = try db.execute(sql: "DROP TABLE baseline_moves") }
        let broken = try await HTTP.request(server.url + "baselines")
        XCTAssertTrue(broken.status == 500)
        XCTAssertTrue(broken.body.contains("baseline_moves"), "\(broken.body)")
        XCTAssertTrue(!broken.body.contains("Swift/") && !broken.body.contains(".swift:"), "no stack trace or source location")
        do { let expectation = try await HTTP.request(server.url + "healthz").status == 200; XCTAssertTrue(expectation, "the server keeps serving") }
        await server.stop()
    }

    func testPortInUseIsAClearError() async throws {
        let f = try DashboardFixture.make()
        defer { f.remove() }
        let first = try await DashboardServer(dashboard: Dashboard(store: f.store)).start()
        do {
            let second = try await DashboardServer(dashboard: Dashboard(store: f.store)).start(port: first.port)
            XCTFail("a second server listened on port \(first.port)")
            await second.stop()
        } catch {
            XCTAssertTrue((error as? DashboardServerError)?.description.contains("in use") == true, "\(error)")
        }
        await first.stop()
        // Stopped means stopped: the port no longer answers.
        do {
            _ = try await HTTP.request(first.url + "healthz")
            XCTFail("a stopped server still answered")
        } catch {}
    }

    func testBearerTokensAreComparedExactly() {
        XCTAssertTrue(Dashboard.authorized("Bearer abc", token: "abc"))
        XCTAssertTrue(Dashboard.authorized("bearer abc", token: "abc"))
        for wrong in [nil, "", "Bearer", "Bearer ab", "Bearer abcd", "Bearer abd", "Token abc", "abc"] {
            XCTAssertTrue(!Dashboard.authorized(wrong, token: "abc"), "\(wrong ?? "nil")")
        }
        XCTAssertTrue(Dashboard.parameters("state=accepted&note=a+b%26c&state=new") == ["state": "accepted", "note": "a b&c"])
    }
}
#endif
