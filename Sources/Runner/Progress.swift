import Foundation
import ProcessIO

/// One-line progress on a terminal (stderr): op, variant, samples done, ETA. Silent otherwise.
final class ProgressLine {
    private let enabled: Bool
    private var lastDraw: UInt64 = 0
    private var width = 0

    init(quiet: Bool) {
        enabled = !quiet && isatty(STDERR_FILENO) == 1
    }

    /// Redraws at most every 100 ms.
    func update(_ text: @autoclosure () -> String) {
        guard enabled else { return }
        let now = Clock.wall()
        guard now &- lastDraw > 100_000_000 else { return }
        lastDraw = now
        let line = text()
        let pad = max(0, width - line.count)
        width = line.count
        StandardError.write("\r" + line + String(repeating: " ", count: pad))
    }

    /// Clears the line.
    func finish() {
        guard enabled, width > 0 else { return }
        StandardError.write("\r" + String(repeating: " ", count: width) + "\r")
        width = 0
    }

    /// Formats seconds as `12s` or `3m05s`.
    static func duration(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "?" }
        let t = Int(s.rounded())
        return t < 60 ? "\(t)s" : String(format: "%dm%02ds", t / 60, t % 60)
    }
}
