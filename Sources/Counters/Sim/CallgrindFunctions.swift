// The body of a callgrind output file read function by function: each function's self cost
// (the instructions and misses of its own code, not of the functions it calls), for the
// differential profiles of `compare --profile` and the reports.
import Foundation

/// Self cost of one function in a callgrind output, summed over all its cost lines (inlined code
/// from other files, `fi=`/`fe=`, included; the inclusive cost of its calls excluded).
public struct CallgrindFunction: Sendable, Hashable {
    /// The function's name as callgrind writes it (C++ demangled, Swift mangled).
    public var name: String
    /// The object (`ob=`) it is in, `???` when the file names none.
    public var object: String
    /// Its source file (`fl=`), `???` when unknown.
    public var file: String
    /// Self cost per event, in the order of the file's `events:` line.
    public var cost: [UInt64]
}

/// Reads the functions' self costs from callgrind's format (version 1, as written by callgrind
/// 3.x and read by `callgrind_annotate`):
///
/// - `ob=`, `fl=`, `fn=` set the current object, file and function; `fi=`/`fe=` switch the file
///   of inlined code without leaving the function. Names may be compressed: `(id) name` defines
///   id, a later `(id)` refers to it. Objects (`ob`, `cob`), files (`fl`, `fi`, `fe`, `cfi`,
///   `cfl`) and functions (`fn`, `cfn`) each have their own id space, shared with their `c…`
///   (call target) forms.
/// - A cost line is the positions of the `positions:` line (default `line`; each a number, hex
///   `0x…`, relative `+n`/`-n` or `*`) followed by up to one number per event (missing trailing
///   numbers are zero). It adds to the current function's self cost.
/// - `calls=COUNT TARGET` is followed by one cost line: the inclusive cost of that call, which
///   belongs to the callee and is NOT self cost. `cob=`, `cfi=`, `cfl=`, `cfn=` name the callee.
/// - `jump=`/`jcnd=` lines stand alone (no cost line follows). Header lines (`key: value`),
///   comments (`#`) and empty lines carry no cost; a file may hold several parts, which add up.
public enum CallgrindFunctionParser {
    /// Functions of `text` with their self costs, most instructions (first event) first, ties by name.
    ///
    /// - Throws: `CallgrindOutput.ParseError` naming `source:LINE` for a malformed line, a
    ///   compressed name used before it was defined, or a cost line without an `events:` line.
    public static func parse(text: String, source: String = "callgrind output") throws -> [CallgrindFunction] {
        struct Key: Hashable {
            var object: String
            var file: String
            var name: String
        }
        var eventCount = 0
        var positionCount = 1
        var objects: [Int: String] = [:], files: [Int: String] = [:], names: [Int: String] = [:]
        var object = "???", file = "???", function = "???"
        var callCostPending = false
        var costs: [Key: [UInt64]] = [:]
        var order: [Key] = []
        var lineNumber = 0

        func fail(_ message: String) -> CallgrindOutput.ParseError {
            CallgrindOutput.ParseError(description: "\(source):\(lineNumber): \(message)")
        }
        /// `(id) name`, `(id)` or `name`, resolved in `table` (defining the id when a name follows).
        func resolve(_ value: Substring, _ table: inout [Int: String], _ what: String) throws -> String {
            guard value.first == "(" else { return String(value) }
            guard let close = value.firstIndex(of: ")"), let id = Int(value[value.index(after: value.startIndex)..<close]) else {
                throw fail("malformed compressed \(what) name '\(value.prefix(60))'")
            }
            let rest = value[value.index(after: close)...].drop { $0 == " " || $0 == "\t" }
            if rest.isEmpty {
                guard let known = table[id] else { throw fail("\(what) id (\(id)) used before it was defined") }
                return known
            }
            table[id] = String(rest)
            return String(rest)
        }

        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.last == "\r" ? rawLine.dropLast() : rawLine
            guard let first = line.first, first != "#" else { continue }
            if first.isNumber || first == "+" || first == "-" || first == "*" {
                guard eventCount > 0 else { throw fail("cost line before the 'events:' line") }
                let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard fields.count >= positionCount else { throw fail("cost line with fewer than \(positionCount) position(s)") }
                for p in fields.prefix(positionCount) where !isPosition(p) {
                    throw fail("malformed position '\(p.prefix(40))'")
                }
                let values = fields.dropFirst(positionCount)
                guard values.count <= eventCount else { throw fail("\(values.count) costs for \(eventCount) events") }
                if callCostPending {   // the inclusive cost of the call just named: not self cost
                    callCostPending = false
                    continue
                }
                let key = Key(object: object, file: file, name: function)
                var sums = costs[key] ?? {
                    order.append(key)
                    return [UInt64](repeating: 0, count: eventCount)
                }()
                for (i, v) in values.enumerated() {
                    guard let n = UInt64(v) else { throw fail("non-numeric cost '\(v.prefix(40))'") }
                    sums[i] &+= n
                }
                costs[key] = sums
                continue
            }
            if let eq = line.firstIndex(of: "="), line[..<eq].allSatisfy({ $0.isLetter }) {
                let spec = line[..<eq]
                let value = line[line.index(after: eq)...]
                if callCostPending, spec != "cob", spec != "cfi", spec != "cfl", spec != "cfn" {
                    throw fail("'\(spec)=' where the cost line of the preceding 'calls=' was expected")
                }
                switch spec {
                case "ob": object = try resolve(value, &objects, "object")
                case "cob": _ = try resolve(value, &objects, "object")
                case "fl": file = try resolve(value, &files, "file")
                case "fi", "fe", "cfi", "cfl": _ = try resolve(value, &files, "file")
                case "fn": function = try resolve(value, &names, "function")
                case "cfn": _ = try resolve(value, &names, "function")
                case "calls": callCostPending = true
                default: break   // jump=, jcnd= and lines of later format versions carry no self cost
                }
                continue
            }
            if let colon = line.firstIndex(of: ":"), line[..<colon].allSatisfy({ $0.isLetter || $0 == "_" }) {
                let value = line[line.index(after: colon)...]
                switch line[..<colon] {
                case "events":
                    let names = value.split(whereSeparator: { $0 == " " || $0 == "\t" })
                    if eventCount == 0 { eventCount = names.count } else if names.count != eventCount {
                        throw fail("a later 'events:' line names \(names.count) events, the first \(eventCount)")
                    }
                case "positions":
                    positionCount = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).count
                    guard positionCount > 0 else { throw fail("empty 'positions:' line") }
                default: break
                }
                continue
            }
            throw fail("unrecognised line '\(line.prefix(60))'")
        }
        if callCostPending { throw fail("'calls=' without its cost line at the end of the file") }
        return order.map { CallgrindFunction(name: $0.name, object: $0.object, file: $0.file, cost: costs[$0] ?? []) }
            .sorted { (($0.cost.first ?? 0), $1.name) > (($1.cost.first ?? 0), $0.name) }
    }

    /// A subposition: decimal or `0x` hex, optionally relative (`+`/`-`), or `*` (unchanged).
    private static func isPosition(_ p: Substring) -> Bool {
        if p == "*" { return true }
        var digits = p
        if digits.first == "+" || digits.first == "-" { digits = digits.dropFirst() }
        if digits.hasPrefix("0x") { return digits.count > 2 && digits.dropFirst(2).allSatisfy(\.isHexDigit) }
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }
}
