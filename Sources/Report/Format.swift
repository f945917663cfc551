import Foundation

/// Number formatting shared by the renderers.
public enum Format {
    /// Duration in ns as `812 ns`, `12.3 µs`, `4.56 ms`, `1.23 s`.
    public static func duration(ns: Double) -> String {
        switch abs(ns) {
        case ..<1_000: return String(format: "%.0f ns", ns)
        case ..<1_000_000: return String(format: "%.3g µs", ns / 1e3)
        case ..<1_000_000_000: return String(format: "%.3g ms", ns / 1e6)
        default: return String(format: "%.3g s", ns / 1e9)
        }
    }

    /// Large counts as `1.23M`, `45.6k`.
    public static func count(_ v: Double) -> String {
        switch abs(v) {
        case ..<1_000: return String(format: "%.3g", v)
        case ..<1_000_000: return String(format: "%.3gk", v / 1e3)
        case ..<1_000_000_000: return String(format: "%.3gM", v / 1e6)
        default: return String(format: "%.3gG", v / 1e9)
        }
    }

    /// Left-aligned first column, right-aligned others, two spaces apart.
    public static func table(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = (0..<header.count).map { c in all.map { $0.indices.contains(c) ? $0[c].count : 0 }.max() ?? 0 }
        func line(_ r: [String]) -> String {
            r.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: max(0, widths[i] - cell.count))
                return i == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "─", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n")
    }
}
