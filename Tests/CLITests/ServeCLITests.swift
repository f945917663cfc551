// `fusebench serve` as a user runs it: the binary started as a child process, the URL read from its
// first line of output, pages fetched, SIGTERM/SIGINT → graceful stop and exit 0, a port in use and
// a missing database → exit 3, and the series page checked in headless Chromium (chart drawn, tables
// visible, no console or CSP errors, the hostile name shown as text). Without the Fleet trait the
// command says how to build it (exit 3).
#if canImport(Glibc)
import Glibc
#endif
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TestSupport
@testable import FuseBench

#if Fleet
/// A `fusebench serve` child process and the URL it printed.
final class ServeProcess {
    let process: Process
    let url: String
    private let out: Pipe
    private let err: Pipe

    /// Starts `fusebench serve ARGS` and waits (at most `seconds`) for `serving http://...` on stdout.
    init(_ args: [String], env: [String: String] = [:], seconds: Double = 60) throws {
        (process, out, err) = try CLI.start(["serve"] + args, env: env)
        let line = Self.firstLine(out.fileHandleForReading.fileDescriptor, seconds: seconds)
        guard let line, line.hasPrefix("serving http://") else {
            process.terminate()
            process.waitUntilExit()
            let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw Failure(description: "serve did not print its URL (got \(line ?? "nothing")); stderr: \(e)")
        }
        url = String(line.dropFirst("serving ".count))
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// The first line on `fd`, read with poll (EINTR retried) until `seconds` pass or the pipe closes.
    static func firstLine(_ fd: Int32, seconds: Double) -> String? {
        var bytes: [UInt8] = []
        let end = Date().addingTimeInterval(seconds)
        var chunk = [UInt8](repeating: 0, count: 256)
        while Date() < end {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let rc = poll(&p, 1, 200)
            if rc < 0 && errno == EINTR { continue }
            if rc <= 0 { continue }
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += chunk[0..<n]
            if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) { return String(decoding: bytes[..<newline], as: UTF8.self) }
        }
        return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
    }

    /// Sends `signal`, waits for the exit; returns the exit status and stderr.
    func stop(_ signal: Int32 = SIGTERM) -> (status: Int32, stderr: String) {
        kill(process.processIdentifier, signal)
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: e, as: UTF8.self))
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// GET `url`; status and body.
private func fetch(_ url: String) async throws -> (status: Int, body: String) {
    let request = URLRequest(url: try #require(URL(string: url)), cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: 30)
    let session = URLSession(configuration: .ephemeral)
    defer { session.finishTasksAndInvalidate() }
    return try await withCheckedThrowingContinuation { done in
        session.dataTask(with: request) { data, response, error in
            if let error { return done.resume(throwing: error) }
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            done.resume(returning: (status, String(decoding: data ?? Data(), as: UTF8.self)))
        }.resume()
    }
}

/// A database with a series of 3 runs of `tiny/gemm_16` and `tiny/<script>alert(1)</script>` (the
/// report fixture, plus one run).
private func serveFixture(in dir: URL) throws -> String {
    let f = try reportFixture(in: dir)
    let store = try ResultStore(path: f.db)
    try Synthetic.run(store, ops: [Synthetic.op("gemm_16", median: 2100, processes: 3, samples: 6, seed: 9)])
    return f.db
}

@Suite(.serialized) struct ServeCLITests {
    @Test(.timeLimit(.minutes(2))) func servesUntilSignalledAndExitsZero() async throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try serveFixture(in: dir)
        for signal in [SIGTERM, SIGINT] {
            let server = try ServeProcess(["--db", db, "--port", "0"])
            #expect(server.url.hasPrefix("http://127.0.0.1:") && server.url.hasSuffix("/"))
            let health = try await fetch(server.url + "healthz")
            #expect(health.status == 200 && health.body == "ok\n")
            let index = try await fetch(server.url)
            #expect(index.status == 200 && index.body.contains("tiny/gemm_16/optimized") && index.body.contains(db))
            let (status, stderr) = server.stop(signal)
            #expect(status == 0, "signal \(signal): \(stderr)")
        }
    }

    @Test(.timeLimit(.minutes(2))) func portInUseAndMissingDatabaseAreExit3() async throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try serveFixture(in: dir)
        let first = try ServeProcess(["--db", db, "--port", "0"])
        let port = try #require(URL(string: first.url)?.port)
        let second = try CLI.run(["serve", "--db", db, "--port", String(port)])
        #expect(second.status == 3)
        #expect(second.stderr.contains("cannot listen on 127.0.0.1:\(port)") && second.stderr.contains("in use"), "\(second.stderr)")
        #expect(first.stop().status == 0)

        let missing = try CLI.run(["serve", "--db", dir.appendingPathComponent("none.sqlite").path, "--port", "0"])
        #expect(missing.status == 3 && missing.stderr.contains("no results database there"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("none.sqlite").path), "nothing created")
        let badPort = try CLI.run(["serve", "--db", db, "--port", "70000"])
        #expect(badPort.status == 3 && badPort.stderr.contains("--port must be between 0 and 65535"), "\(badPort.stderr)")
    }

    @Test(.enabled(if: Chromium.shouldRun, "chromium not found (install Debian `chromium` or set FUSEBENCH_CHROMIUM); in CI (CI set) this test fails instead"),
          .timeLimit(.minutes(2)))
    func seriesPageInHeadlessChromium() throws {
        let browser = try #require(Chromium.path, "CI is set but chromium was not found (tools/setup installs it; or set FUSEBENCH_CHROMIUM)")
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try serveFixture(in: dir)
        // Triage enabled, so the page carries its (nonce-allowed) script: a CSP violation would be an error.
        let server = try ServeProcess(["--db", db, "--port", "0"], env: ["FUSEBENCH_SERVE_TOKEN": "chromium-token"])
        defer { _ = server.stop() }
        let store = try ResultStore(path: db)
        let hostile = try #require(try store.series(matching: "script", branch: nil, machine: nil).first { $0.benchmark.variant == "optimized" })
        let runs = try store.seriesPoints(hostile, branch: nil, last: nil).map(\.runID)
        let changeID = try #require(try store.insertChangePoints([ChangePointCandidate(
            series: hostile, branch: nil, runBefore: runs[0], runAfter: runs[1], commitBefore: nil, commitAfter: nil,
            ratio: 1.2, lower: 1.1, upper: 1.3, p: 0.001)]).first)

        let session = try CDPSession(chromium: browser, deadline: 60)
        defer { session.close() }
        try session.open(server.url + "series/" + (hostile.id.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
        let probe = """
            (() => {
              const size = el => { const b = el.getBoundingClientRect(); return b.width > 0 && b.height > 0; };
              const count = sel => Array.from(document.querySelectorAll(sel)).filter(size).length;
              return JSON.stringify({
                history: count('svg.chart-history'),
                runRows: count('table.runs tbody tr'),
                heading: document.querySelector('h1') ? document.querySelector('h1').textContent : '',
                scripts: document.querySelectorAll('script').length,
                buttons: count('button.triage')
              });
            })()
            """
        let json = try session.evaluate(probe)
        let result = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "\(json)")
        #expect(result["history"] as? Int == 1, "\(json)")
        #expect(result["runRows"] as? Int == 2, "\(json)")
        #expect(result["buttons"] as? Int == 2, "acknowledge and accept: \(json)")
        #expect(result["heading"] as? String == "tiny/<script>alert(1)</script>/optimized", "\(json)")
        #expect(result["scripts"] as? Int == 1, "only the dashboard's own script")
        #expect(session.dialogs.isEmpty, "\(session.dialogs)")
        #expect(session.errors.isEmpty, "\(session.errors)")

        // The acknowledge button posts with the typed token; the page reloads showing the new state.
        _ = try session.evaluate("""
            (() => { document.getElementById('triage-token').value = 'chromium-token';
                     document.querySelector('button.triage[data-state="acknowledged"]').click(); return 'clicked'; })()
            """)
        var state = ""
        for _ in 0..<100 {
            state = (try? session.evaluate("(() => { const c = document.querySelector('#cp-\(changeID) td.state'); return c ? c.textContent : ''; })()")) ?? ""
            if state == "acknowledged" { break }
            usleep(100_000)
        }
        #expect(state == "acknowledged")
        #expect(try store.changePoints(series: hostile, branch: nil).first?.state == .acknowledged)
        #expect(session.errors.isEmpty, "\(session.errors)")
        let artifacts = CLI.packageRoot.appendingPathComponent(".build/test-artifacts")
        try? FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        try? Data(try session.screenshot()).write(to: artifacts.appendingPathComponent("serve-series.png"))
    }
}
#else
@Suite struct ServeCLITests {
    @Test func serveSaysItNeedsTheFleetTrait() throws {
        let r = try CLI.run(["serve", "--port", "0"])
        #expect(r.status == 3)
        #expect(r.stderr.contains("built without the Fleet trait; build with `swift build -c release --traits Fleet`"), "\(r.stderr)")
    }
}
#endif
