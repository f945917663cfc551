// PostgresSQL: the text rewriting the PostgreSQL engine does on the store's portable SQL (plain
// Swift, no NIO): `?` placeholders numbered `$1, $2, ...`, and scripts split into statements (the
// engine's driver speaks only the extended query protocol, one statement per message). Both skip
// quoted text: '...' literals (with '' inside), "..." identifiers, $tag$...$tag$ bodies, -- and /* */
// comments.
import Foundation

/// SQL text rewriting for PostgreSQL.
public enum PostgresSQL {
    /// `sql` with every `?` placeholder outside quotes and comments replaced by `$1`, `$2`, ... in
    /// order, and how many there were.
    public static func numberPlaceholders(_ sql: String) -> (sql: String, count: Int) {
        var output = ""
        output.reserveCapacity(sql.utf8.count + 16)
        var count = 0
        scan(sql) { piece, isCode in
            guard isCode, piece.contains("?") else {
                output += piece
                return
            }
            for character in piece {
                if character == "?" {
                    count += 1
                    output += "$\(count)"
                } else {
                    output.append(character)
                }
            }
        }
        return (output, count)
    }

    /// The statements of a script (split at `;` outside quotes and comments), trimmed; empty
    /// statements (and ones holding only comments) are dropped.
    public static func statements(_ script: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var hasCode = false
        func finish() {
            let trimmed = current.trimmingCharacters(in: .whitespacesAndNewlines)
            if hasCode, !trimmed.isEmpty { statements.append(trimmed) }
            current = ""
            hasCode = false
        }
        scan(script) { piece, isCode in
            guard isCode else {
                current += piece
                if !piece.hasPrefix("--"), !piece.hasPrefix("/*") { hasCode = true }
                return
            }
            var rest = Substring(piece)
            while let semicolon = rest.firstIndex(of: ";") {
                let before = rest[..<semicolon]
                current += before
                if before.contains(where: { !$0.isWhitespace }) { hasCode = true }
                finish()
                rest = rest[rest.index(after: semicolon)...]
            }
            current += rest
            if rest.contains(where: { !$0.isWhitespace }) { hasCode = true }
        }
        finish()
        return statements
    }

    /// Calls `body` with consecutive pieces of `sql`: code (`isCode` true) and quoted text or
    /// comments (false), so that concatenating the pieces gives back `sql`. An unterminated quote
    /// or comment runs to the end.
    static func scan(_ sql: String, _ body: (String, Bool) -> Void) {
        let scalars = Array(sql.unicodeScalars)
        var index = 0
        var codeStart = 0
        func emit(_ from: Int, _ to: Int, _ isCode: Bool) {
            guard to > from else { return }
            var text = ""
            text.unicodeScalars.append(contentsOf: scalars[from..<to])
            body(text, isCode)
        }
        func at(_ i: Int) -> Unicode.Scalar? { i < scalars.count ? scalars[i] : nil }
        while index < scalars.count {
            let c = scalars[index]
            var end: Int?
            switch c {
            case "'", "\"":
                // Quoted until the matching quote; a doubled quote stays inside.
                var i = index + 1
                while i < scalars.count {
                    if scalars[i] == c {
                        if at(i + 1) == c { i += 2; continue }
                        i += 1
                        break
                    }
                    i += 1
                }
                end = min(i, scalars.count)
            case "-" where at(index + 1) == "-":
                var i = index + 2
                while i < scalars.count, scalars[i] != "\n" { i += 1 }
                end = i
            case "/" where at(index + 1) == "*":
                var i = index + 2
                var depth = 1
                while i < scalars.count, depth > 0 {
                    if scalars[i] == "*", at(i + 1) == "/" { depth -= 1; i += 2 } else if scalars[i] == "/", at(i + 1) == "*" { depth += 1; i += 2 } else { i += 1 }
                }
                end = min(i, scalars.count)
            case "$":
                // $tag$ ... $tag$ (tag: letters, digits, _; not starting with a digit). `$1` is a parameter.
                let previousIsWord = index > 0 && (scalars[index - 1].properties.isAlphabetic || scalars[index - 1] == "_"
                    || ("0"..."9").contains(scalars[index - 1]))
                guard !previousIsWord else { break }
                var i = index + 1
                while i < scalars.count, scalars[i].properties.isAlphabetic || scalars[i] == "_" || (i > index + 1 && ("0"..."9").contains(scalars[i])) {
                    i += 1
                }
                guard at(i) == "$" else { break }
                let tag = Array(scalars[index...i])
                var j = i + 1
                var closed = scalars.count
                while j + tag.count <= scalars.count {
                    if scalars[j] == "$", Array(scalars[j..<(j + tag.count)]) == tag {
                        closed = j + tag.count
                        break
                    }
                    j += 1
                }
                end = closed
            default:
                break
            }
            if let end {
                emit(codeStart, index, true)
                emit(index, end, false)
                index = end
                codeStart = end
            } else {
                index += 1
            }
        }
        emit(codeStart, scalars.count, true)
    }
}
