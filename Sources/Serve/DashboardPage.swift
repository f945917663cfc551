// The frame of every dashboard page: title, navigation, the HTML report's inline stylesheet, a
// strict Content-Security-Policy (nothing fetched from elsewhere; the one inline script — triage
// buttons — allowed by a per-response nonce) and the store's location in the footer.
#if Fleet
import Foundation
import Report

/// A dashboard page: plain-text title and an HTML body (every text from the store already escaped).
struct DashboardPage {
    var title: String
    var body: String
    /// Inline JavaScript, if the page needs any (allowed by a nonce in the CSP).
    var script: String?

    init(title: String, body: String, script: String? = nil) {
        self.title = title
        self.body = body
        self.script = script
    }

    /// Extra rules on top of the report's stylesheet.
    static let css = """
        header nav a{margin-right:1em}footer{margin-top:2em;color:#777;font-size:12px}
        form{margin:.5em 0}input[type=text]{min-width:18em}button.triage{font-size:12px;margin:1px}
        """

    /// Security headers of every HTML answer; `nonce` allows the page's inline script.
    static func securityHeaders(nonce: String?) -> [String: String] {
        let script = nonce.map { "script-src 'nonce-\($0)'; connect-src 'self'" } ?? "script-src 'none'"
        return ["Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \(script); form-action 'self'; "
                    + "base-uri 'none'; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"]
    }

    /// A fresh random nonce (128 bits, hex).
    static func nonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(generator.next() as UInt64, radix: 16) }.joined()
    }

    /// The whole page as a 200 answer.
    func response(location: String) -> DashboardResponse {
        let nonce = script == nil ? nil : Self.nonce()
        var out = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(HTMLReport.escape(title))</title>
            <style>\(HTMLReport.css)\n\(Self.css)</style>
            </head><body>
            <header><nav><a href="/">Series</a><a href="/runs">Runs</a><a href="/baselines">Baselines</a></nav>
            <h1>\(HTMLReport.escape(title))</h1></header>
            <main>
            \(body)
            </main>
            <footer>fusebench serve\(location.isEmpty ? "" : " · " + HTMLReport.escape(location))</footer>

            """
        if let script, let nonce { out += "<script nonce=\"\(nonce)\">\n\(script)\n</script>\n" }
        out += "</body></html>\n"
        return DashboardResponse(status: 200, contentType: "text/html; charset=utf-8", headers: Self.securityHeaders(nonce: nonce), body: out)
    }

    /// Triage buttons: POST the state with the token typed into `#triage-token` (kept for the tab's
    /// session only), then reload; a refusal is shown next to the token field.
    static let triageScript = """
        (function () {
          var tokenField = document.getElementById('triage-token');
          var status = document.getElementById('triage-status');
          try { tokenField.value = sessionStorage.getItem('fusebench-token') || ''; } catch (e) {}
          document.querySelectorAll('button.triage').forEach(function (button) {
            button.addEventListener('click', function () {
              var token = tokenField.value;
              try { sessionStorage.setItem('fusebench-token', token); } catch (e) {}
              var body = { state: button.getAttribute('data-state') };
              var note = document.getElementById('triage-note').value;
              if (note) { body.note = note; }
              fetch('/change-points/' + button.getAttribute('data-id') + '/triage', {
                method: 'POST',
                headers: { 'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json' },
                body: JSON.stringify(body)
              }).then(function (response) {
                return response.json().then(function (answer) {
                  if (response.ok) { location.reload(); } else { status.textContent = answer.error || ('HTTP ' + response.status); }
                });
              }).catch(function (error) { status.textContent = String(error); });
            });
          });
        })();
        """
}
#endif
