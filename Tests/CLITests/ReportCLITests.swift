// `fusebench report --html`: the page's content and escaping, bad input (exit 3, nothing written),
// and the browser test — the report opened in headless Chromium over the DevTools protocol
// (`--remote-debugging-pipe`: fds 3 and 4, NUL-terminated JSON), checked for console errors,
// charts and tables with non-zero size, a hostile op name shown as text, and a screenshot kept at
// `.build/test-artifacts/report.png`.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProcessIO
import TestSupport
import Testing
@testable import FuseBench

/// A database with two runs of suite `tiny` (so every benchmark has a history of two points):
/// ops `gemm_16` and `<script>alert(1)</script>`, accuracy checks, simulated counters, a machine
/// peak and fusion decisions on the second run. Returns the database path and the two run ids.
func reportFixture(in dir: URL) throws -> (db: String, first: Int64, second: Int64) {
    let db = dir.appendingPathComponent("report.sqlite").path
    let store = try ResultStore(path: db)
    let hostile = "<script>alert(1)</script>"
    func ops(_ factor: Double, seed: UInt64) -> [Synthetic.Op] {
        [Synthetic.op("gemm_16", median: 2000 * factor, processes: 3, samples: 6, seed: seed),
         Synthetic.op(hostile, median: 900 * factor, processes: 3, samples: 6, seed: seed &+ 10)]
    }
    let checks = ["tiny/gemm_16/optimized": true, "tiny/\(hostile)/optimized": true]
    let counters: (String, Double, Int) -> [CounterValue] = { _, ns, iterations in
        [CounterValue(event: "instructions", value: ns * 3 * Double(iterations), raw: 0, timeEnabled: 1, timeRunning: 1, backend: .sim),
         CounterValue(event: "cache-misses", value: 12 * Double(iterations), raw: 0, timeEnabled: 1, timeRunning: 1, backend: .sim)]
    }
    let first = try Synthetic.run(store, ops: ops(1, seed: 1), label: "first", checks: checks, counters: counters)
    let second = try Synthetic.run(store, ops: ops(1.2, seed: 5), label: "second <b>", checks: checks, counters: counters)
    let peak = PeakFigures(flopsPerSecond: 50e9, vectorWidth: 8, kernelPath: .avx2, bandwidth: [
        BandwidthFigure(level: "L1", bufferBytes: 16_384, readGBps: 200, triadGBps: 150),
        BandwidthFigure(level: "DRAM", bufferBytes: 1 << 26, readGBps: 15, triadGBps: 10),
    ], secondsSpent: 0)
    try store.setRunMeta(runID: second, key: "peak", value: String(decoding: try JSONEncoder().encode(peak), as: UTF8.self))
    try store.insertFusionDecisions(runID: second, decisions: [
        FusionDecision(suite: "tiny", model: "mlp", group: ["gemm", "bias", "relu"], rule: "gemm+bias+relu", outcome: .accepted,
                       reason: "saves a pass <over> memory", bytesSaved: 4096, launchesSaved: 2, predictedUnfusedNs: 1000, predictedFusedNs: 700,
                       measuredUnfusedNs: 1100, measuredFusedNs: 650, maxAbsError: 1e-6),
    ])
    // A stored change point on tiny/gemm_16/reference, between the two runs.
    if let key = try store.seriesKeys(runID: second).first(where: { $0.benchmark.op == "gemm_16" && $0.benchmark.variant == "reference" }) {
        try store.insertChangePoints([ChangePointCandidate(series: key, branch: nil, runBefore: first, runAfter: second, commitBefore: nil,
                                                           commitAfter: nil, ratio: 1.2, lower: 1.18, upper: 1.22, p: 0.001)])
    }
    return (db, first, second)
}

@Suite(.serialized) struct ReportCLITests {
    @Test func htmlReportHasEverySectionAndEscapesNames() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try reportFixture(in: dir)
        let out = dir.appendingPathComponent("report.html").path
        let r = try CLI.run(["report", "latest", "--html", out, "--base", String(f.first), "--db", f.db])
        #expect(r.status == 0, "\(r.stderr)")
        let html = try String(contentsOfFile: out, encoding: .utf8)
        for id in ["run", "verdicts", "ops", "results", "roofline", "counters", "fusion", "variants", "history"] {
            #expect(html.contains("<section id=\"\(id)\">"), "section \(id)")
        }
        // The hostile name is text everywhere: no script element, escaped in tables, titles and SVG.
        #expect(!html.contains("<script"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!html.contains("<b>"))
        #expect(!html.contains("<over>"))
        // Two ops: two distribution charts; 2 variants × 18 batches each per op.
        #expect(html.components(separatedBy: "chart chart-distribution").count - 1 == 2)
        #expect(html.components(separatedBy: "class=\"batch\"").count - 1 == 2 * 2 * 18)
        #expect(html.components(separatedBy: "chart chart-roofline").count - 1 == 1)
        // Four benchmarks with two runs each: four history charts, this run highlighted.
        #expect(html.components(separatedBy: "chart chart-history").count - 1 == 4)
        // The stored change point is marked on its series' chart, and only there.
        #expect(html.components(separatedBy: "class=\"change-point\"").count - 1 == 1)
        #expect(html.contains("+20.0% new"))
        // Verdicts from CompareReport: 20% slower on every benchmark.
        #expect(html.contains("regression"))
        #expect(html.contains("1.200"))
        // Self-contained: nothing fetched.
        #expect(!html.contains("src="))
        #expect(!html.contains("<link"))
    }

    @Test func badInputExitsThreeAndWritesNothing() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try reportFixture(in: dir)
        let out = dir.appendingPathComponent("r.html").path
        // Unknown run.
        var r = try CLI.run(["report", "999", "--html", out, "--db", f.db])
        #expect(r.status == 3)
        #expect(r.stderr.contains("error:"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        // No output named.
        r = try CLI.run(["report", "latest", "--db", f.db])
        #expect(r.status == 3)
        #expect(r.stderr.contains("--html"))
        // A run without samples.
        let store = try ResultStore(path: f.db)
        let empty = try Synthetic.run(store, ops: [], label: "empty")
        r = try CLI.run(["report", String(empty), "--html", out, "--db", f.db])
        #expect(r.status == 3)
        #expect(r.stderr.contains("no samples"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        // Unwritable: a directory that does not exist, and a directory as the output.
        r = try CLI.run(["report", String(f.second), "--html", dir.appendingPathComponent("missing/r.html").path, "--db", f.db])
        #expect(r.status == 3)
        #expect(r.stderr.contains("cannot write report"), "\(r.stderr)")
        r = try CLI.run(["report", String(f.second), "--html", dir.path, "--db", f.db])
        #expect(r.status == 3)
        #expect(r.stderr.contains("is a directory"), "\(r.stderr)")
        // An existing report is replaced whole or not at all: a failing run leaves the old file.
        try "old".write(toFile: out, atomically: true, encoding: .utf8)
        r = try CLI.run(["report", "999", "--html", out, "--db", f.db])
        #expect(r.status == 3)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "old")
        // --baseline and --base together.
        r = try CLI.run(["report", "latest", "--html", out, "--base", "1", "--baseline", "x", "--db", f.db])
        #expect(r.status == 3)
        // No temporary files left behind.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".fusebench-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test(.enabled(if: Chromium.shouldRun, "chromium not found (install Debian `chromium` or set FUSEBENCH_CHROMIUM); in CI (CI set) this test fails instead"),
          .timeLimit(.minutes(1)))
    func reportInHeadlessChromium() throws {
        let browser = try #require(Chromium.path, "CI is set but chromium was not found (tools/setup installs it; or set FUSEBENCH_CHROMIUM)")
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try reportFixture(in: dir)
        let out = dir.appendingPathComponent("report.html").path
        let r = try CLI.run(["report", "latest", "--html", out, "--base", String(f.first), "--db", f.db])
        #expect(r.status == 0, "\(r.stderr)")

        let session = try CDPSession(chromium: browser, deadline: 40)
        defer { session.close() }
        try session.open(URL(fileURLWithPath: out).absoluteString)
        let probe = """
            (() => {
              const size = el => { const b = el.getBoundingClientRect(); return b.width > 0 && b.height > 0; };
              const count = sel => Array.from(document.querySelectorAll(sel)).filter(size).length;
              return JSON.stringify({
                distribution: count('svg.chart-distribution'), roofline: count('svg.chart-roofline'), history: count('svg.chart-history'),
                batches: document.querySelectorAll('svg.chart-distribution circle.batch').length,
                tables: Object.fromEntries(['run','verdicts','ops','results','counters','fusion','variants'].map(id => [id, count('#' + id + ' table')])),
                scripts: document.querySelectorAll('script').length,
                hostileText: document.body.innerText.includes('<script>alert(1)</script>'),
                hostileHeading: Array.from(document.querySelectorAll('h3')).some(h => h.textContent === 'tiny/<script>alert(1)</script>'),
                svgTitle: Array.from(document.querySelectorAll('svg > title')).some(t => t.textContent.includes('<script>alert(1)</script>'))
              });
            })()
            """
        let json = try session.evaluate(probe)
        let result = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "\(json)")
        #expect(result["distribution"] as? Int == 2, "\(json)")
        #expect(result["roofline"] as? Int == 1, "\(json)")
        #expect(result["history"] as? Int == 4, "\(json)")
        #expect(result["batches"] as? Int == 72, "\(json)")
        let tables = try #require(result["tables"] as? [String: Int])
        for (id, n) in tables { #expect(n >= 1, "no visible table in section \(id)") }
        #expect(result["scripts"] as? Int == 0)
        #expect(result["hostileText"] as? Bool == true, "\(json)")
        #expect(result["hostileHeading"] as? Bool == true, "\(json)")
        #expect(result["svgTitle"] as? Bool == true, "\(json)")

        let png = try session.screenshot()
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "not a PNG")
        let artifacts = CLI.packageRoot.appendingPathComponent(".build/test-artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        try Data(png).write(to: artifacts.appendingPathComponent("report.png"))
        try Data(contentsOf: URL(fileURLWithPath: out)).write(to: artifacts.appendingPathComponent("report.html"))

        #expect(session.errors.isEmpty, "console errors / exceptions: \(session.errors)")
        #expect(session.dialogs.isEmpty, "dialogs opened: \(session.dialogs)")
    }

    /// The browser check can fail: a page that throws, logs an error and opens an alert is caught
    /// on all three counts (so a clean report above means something).
    @Test(.enabled(if: Chromium.shouldRun, "chromium not found (install Debian `chromium` or set FUSEBENCH_CHROMIUM); in CI (CI set) this test fails instead"),
          .timeLimit(.minutes(1)))
    func browserCheckSeesErrorsAndDialogs() throws {
        let browser = try #require(Chromium.path, "CI is set but chromium was not found")
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let page = dir.appendingPathComponent("bad.html")
        try """
            <!DOCTYPE html><html><body><p>bad</p>
            <script>console.error("logged"); alert(1); throw new Error("boom");</script></body></html>
            """.write(to: page, atomically: true, encoding: .utf8)
        let session = try CDPSession(chromium: browser, deadline: 40)
        defer { session.close() }
        try session.open(page.absoluteString)
        #expect(try session.evaluate("document.body.innerText.trim()") == "bad")
        #expect(session.dialogs.count == 1, "\(session.dialogs)")
        #expect(session.errors.contains { $0.contains("console.error") }, "\(session.errors)")
        #expect(session.errors.contains { $0.contains("boom") }, "\(session.errors)")
    }
}

/// Where Chromium is: $FUSEBENCH_CHROMIUM, else `chromium`, `chromium-browser` or
/// `google-chrome` on PATH.
enum Chromium {
    static let path: String? = {
        let env = ProcessInfo.processInfo.environment
        if let p = env["FUSEBENCH_CHROMIUM"], FileManager.default.isExecutableFile(atPath: p) { return p }
        for dir in (env["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            for name in ["chromium", "chromium-browser", "google-chrome"] {
                let p = "\(dir)/\(name)"
                if FileManager.default.isExecutableFile(atPath: p) { return p }
            }
        }
        return nil
    }()

    /// Runs when Chromium is there, and always in CI (where a missing browser is a failure).
    static var shouldRun: Bool { path != nil || ProcessInfo.processInfo.environment["CI"] != nil }
}

/// A headless Chromium driven over the DevTools protocol on a pipe: commands are written to the
/// child's fd 3 and responses/events read from its fd 4, each a JSON object ending in NUL.
/// Every wait has a deadline; `close()` kills the browser's process group, reaps it and removes
/// the temporary profile.
final class CDPSession {
    struct Failure: Error, CustomStringConvertible { var description: String }

    private let child: ChildProcess
    private let profile: URL
    private let deadline: Double
    private var nextID = 1
    private var buffer: [UInt8] = []
    private var sessionID: String?
    private var closed = false
    /// Console errors, exceptions and error log entries seen so far.
    private(set) var errors: [String] = []
    /// JavaScript dialogs that opened (alert, confirm, prompt).
    private(set) var dialogs: [String] = []
    private var loaded = false

    init(chromium: String, deadline seconds: Double) throws {
        profile = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-chromium-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        deadline = Self.now() + seconds
        do {
            child = try ChildProcess(executable: chromium, arguments: [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--user-data-dir=\(profile.path)",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                "--disable-sync", "--disable-component-update", "--hide-scrollbars", "--window-size=1200,900", "about:blank",
            ], stdin: .null, stdout: .null, stderr: .null, newProcessGroup: true, extraPipes: [3: .toChild, 4: .fromChild])
        } catch {
            try? FileManager.default.removeItem(at: profile)
            throw error
        }
    }

    deinit { close() }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Kills the browser (its whole process group), reaps it, removes the profile. Idempotent.
    func close() {
        guard !closed else { return }
        closed = true
        if let fd = child.extraFDs[3] {
            // Polite first: Browser.close, then SIGKILL to the group whatever happens.
            let msg = Array("{\"id\":999999,\"method\":\"Browser.close\"}".utf8) + [0]
            _ = msg.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        }
        usleep(200_000)
        kill(-child.pid, SIGKILL)
        _ = try? child.wait()
        try? FileManager.default.removeItem(at: profile)
    }

    /// Sends `method` with `params` (in the page session once attached) and returns its result.
    @discardableResult
    func send(_ method: String, _ params: [String: Any] = [:], browserLevel: Bool = false) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if !browserLevel, let s = sessionID { message["sessionId"] = s }
        let data = try JSONSerialization.data(withJSONObject: message)
        guard let fd = child.extraFDs[3] else { throw Failure(description: "no pipe to chromium") }
        try FileDescriptorIO.writeAll(fd, Array(data) + [0])
        while true {
            let m = try nextMessage()
            if m["id"] as? Int == id {
                if let e = m["error"] { throw Failure(description: "\(method): \(e)") }
                return m["result"] as? [String: Any] ?? [:]
            }
            try handleEvent(m)
        }
    }

    /// Opens a page, attaches to it, enables the domains that report errors, and loads `url`.
    func open(_ url: String) throws {
        let target = try send("Target.createTarget", ["url": "about:blank"], browserLevel: true)
        guard let targetID = target["targetId"] as? String else { throw Failure(description: "no target: \(target)") }
        let attached = try send("Target.attachToTarget", ["targetId": targetID, "flatten": true], browserLevel: true)
        guard let s = attached["sessionId"] as? String else { throw Failure(description: "not attached: \(attached)") }
        sessionID = s
        try send("Runtime.enable")
        try send("Log.enable")
        try send("Page.enable")
        try send("Emulation.setDeviceMetricsOverride", ["width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": false])
        loaded = false
        let nav = try send("Page.navigate", ["url": url])
        if let e = nav["errorText"] as? String, !e.isEmpty { throw Failure(description: "navigation failed: \(e)") }
        while !loaded { try handleEvent(try nextMessage()) }
    }

    /// Evaluates `expression` in the page; returns its string value.
    func evaluate(_ expression: String) throws -> String {
        let r = try send("Runtime.evaluate", ["expression": expression, "returnByValue": true])
        if let ex = r["exceptionDetails"] { throw Failure(description: "evaluate threw: \(ex)") }
        guard let value = (r["result"] as? [String: Any])?["value"] as? String else { throw Failure(description: "no string result: \(r)") }
        return value
    }

    /// A PNG of the whole page (at most 12000 px tall).
    func screenshot() throws -> [UInt8] {
        let metrics = try send("Page.getLayoutMetrics")
        let size = (metrics["cssContentSize"] ?? metrics["contentSize"]) as? [String: Any]
        let height = min(12_000, max(900, Int((size?["height"] as? Double) ?? 900)))
        try send("Emulation.setDeviceMetricsOverride", ["width": 1200, "height": height, "deviceScaleFactor": 1, "mobile": false])
        let shot = try send("Page.captureScreenshot", ["format": "png"])
        guard let b64 = shot["data"] as? String, let data = Data(base64Encoded: b64) else { throw Failure(description: "no screenshot data") }
        return Array(data)
    }

    private func handleEvent(_ m: [String: Any]) throws {
        guard let method = m["method"] as? String else { return }
        let p = m["params"] as? [String: Any] ?? [:]
        switch method {
        case "Page.loadEventFired":
            loaded = true
        case "Runtime.exceptionThrown":
            errors.append("exception: \(p["exceptionDetails"] ?? p)")
        case "Runtime.consoleAPICalled":
            if let type = p["type"] as? String, type == "error" || type == "assert" { errors.append("console.\(type): \(p["args"] ?? "")") }
        case "Log.entryAdded":
            if let e = p["entry"] as? [String: Any], e["level"] as? String == "error" { errors.append("log: \(e["text"] ?? e)") }
        case "Page.javascriptDialogOpening":
            dialogs.append("\(p["type"] ?? "?"): \(p["message"] ?? "")")
            // Dismiss it so the page does not block; the test fails on `dialogs` anyway.
            let id = nextID
            nextID += 1
            var msg: [String: Any] = ["id": id, "method": "Page.handleJavaScriptDialog", "params": ["accept": false]]
            if let s = sessionID { msg["sessionId"] = s }
            if let fd = child.extraFDs[3] { try FileDescriptorIO.writeAll(fd, Array(try JSONSerialization.data(withJSONObject: msg)) + [0]) }
        default:
            break
        }
    }

    /// The next NUL-terminated message from fd 4, waiting (poll, EINTR retried) until the deadline.
    private func nextMessage() throws -> [String: Any] {
        guard let fd = child.extraFDs[4] else { throw Failure(description: "no pipe from chromium") }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            if let end = buffer.firstIndex(of: 0) {
                let body = Array(buffer[..<end])
                buffer.removeSubrange(...end)
                guard let m = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { continue }
                return m
            }
            let left = deadline - Self.now()
            guard left > 0 else { throw Failure(description: "chromium did not answer in time") }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let rc = poll(&p, 1, Int32(min(left, 1) * 1000))
            if rc < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "poll: \(String(cString: strerror(errno)))")
            }
            if rc == 0 { continue }
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                buffer += chunk[0..<n]
            } else if n == 0 {
                throw Failure(description: "chromium closed the DevTools pipe")
            } else if errno != EINTR && errno != EAGAIN {
                throw Failure(description: "read: \(String(cString: strerror(errno)))")
            }
        }
    }
}
