// Suite owns suite files: TOML text → validated `SuiteFile` → `BenchPlan` (ops × variants ×
// repetitions in interleaved order). Every validation error names FILE:LINE:COL and the key.
import Foundation

/// Maps TOML key paths (`op[1].shape.k`) to their line and column in the source text.
///
/// TOMLKit does not expose source positions for values, so this scans the text the way a TOML
/// reader sees its structure: table headers (`[defaults]`, `[[op]]` with an index per array
/// entry), `key = value` lines, and the keys of one-line inline tables. It only locates; parsing
/// and validation are TOMLKit's and the loader's.
public struct SourceLocator: Sendable {
    /// 1-based line and column.
    public struct Position: Sendable, Hashable {
        public var line: Int
        public var column: Int
    }

    private var positions: [String: Position] = [:]

    /// Scans `text` and records the position of every header and key.
    ///
    /// Lines end at LF or CRLF (TOML's two newlines; Swift treats "\r\n" as one `Character`, so it
    /// is matched as such). Every line is scanned once, left to right, so the scan is linear in the
    /// size of the text even for one long line full of inline-table keys.
    public init(text: String) {
        var arrayCounts: [String: Int] = [:]
        var current = ""
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        for (i, rawLine) in lines.enumerated() {
            let lineNo = i + 1
            let line = Array(rawLine)
            let indent = line.prefix { $0 == " " || $0 == "\t" }.count
            let body = rawLine.drop { $0 == " " || $0 == "\t" }
            if body.hasPrefix("[[") {
                // `[[model.layer]]` belongs to the latest `[[model]]`: its path is `model[i].layer[j]`.
                let name = Self.resolve(Self.headerName(body.dropFirst(2)), arrayCounts)
                let idx = arrayCounts[name, default: 0]
                arrayCounts[name] = idx + 1
                current = "\(name)[\(idx)]"
                positions[current] = Position(line: lineNo, column: indent + 1)
            } else if body.hasPrefix("[") {
                current = Self.resolve(Self.headerName(body.dropFirst(1)), arrayCounts)
                positions[current] = Position(line: lineNo, column: indent + 1)
            } else if let eq = Self.assignment(in: line, from: indent) {
                let path = current.isEmpty ? eq.key : "\(current).\(eq.key)"
                positions[path] = Position(line: lineNo, column: indent + 1)
                // Keys of an inline table on the same line: `shape = { m = 1, n = 2 }`.
                if let brace = line[eq.valueOffset...].firstIndex(of: "{") {
                    var cursor = brace + 1
                    while cursor < line.count {
                        if let inner = Self.assignment(in: line, from: cursor) {
                            positions["\(path).\(inner.key)"] = Position(line: lineNo, column: cursor + 1 + inner.leading)
                            guard let comma = line[inner.valueOffset...].firstIndex(of: ",") else { break }
                            cursor = comma + 1
                        } else {
                            break
                        }
                    }
                }
            }
        }
    }

    /// Position of `path`, or of its nearest located ancestor, or line 1.
    public func position(of path: String) -> Position {
        var p = path
        while true {
            if let pos = positions[p] { return pos }
            if let dot = p.lastIndex(where: { $0 == "." || $0 == "[" }) {
                p = String(p[..<dot])
            } else {
                return Position(line: 1, column: 1)
            }
        }
    }

    /// Qualifies the parents of a dotted header name with the index of their latest array entry
    /// (`model.layer` after two `[[model]]` headers → `model[1].layer`).
    private static func resolve(_ name: String, _ arrayCounts: [String: Int]) -> String {
        let parts = name.split(separator: ".").map(String.init)
        var path = ""
        for (i, part) in parts.enumerated() {
            let candidate = path.isEmpty ? part : "\(path).\(part)"
            if i < parts.count - 1, let n = arrayCounts[candidate], n > 0 {
                path = "\(candidate)[\(n - 1)]"
            } else {
                path = candidate
            }
        }
        return path
    }

    private static func headerName(_ s: Substring) -> String {
        let end = s.firstIndex(of: "]") ?? s.endIndex
        return s[..<end].trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "\"", with: "")
    }

    /// Parses `key =` starting at `offset` (skipping blanks); returns the key, the number of
    /// leading blanks and the offset just past `=`.
    private static func assignment(in chars: [Character], from offset: Int) -> (key: String, leading: Int, valueOffset: Int)? {
        var i = offset
        var leading = 0
        while i < chars.count, chars[i] == " " || chars[i] == "\t" {
            i += 1
            leading += 1
        }
        var key = ""
        while i < chars.count, chars[i].isLetter || chars[i].isNumber || "_-.\"".contains(chars[i]) {
            if chars[i] != "\"" { key.append(chars[i]) }
            i += 1
        }
        while i < chars.count, chars[i] == " " || chars[i] == "\t" { i += 1 }
        guard !key.isEmpty, i < chars.count, chars[i] == "=" else { return nil }
        return (key, leading, i + 1)
    }
}
