// Readable names for the Swift symbols callgrind reports mangled (`$s7Kernels13biasReLUFused…`):
// one `swift-demangle --simplified` process per batch of names, optional (raw names otherwise).
import Foundation
import ProcessIO

/// Demangles Swift symbol names with the toolchain's `swift-demangle`, when it is installed.
public struct SwiftDemangler: Sendable {
    /// Path of `swift-demangle`.
    public var executable: String

    /// A demangler running `executable`.
    public init(executable: String) {
        self.executable = executable
    }

    /// The demangler on `PATH`, nil when the toolchain is not installed.
    public static func find(environment: [String: String] = ProcessInfo.processInfo.environment) -> SwiftDemangler? {
        if let path = Callgrind.findInPath("swift-demangle", environment: environment) { return SwiftDemangler(executable: path) }
        return nil
    }

    /// True for names that look like mangled Swift symbols (`$s…`, `$S…`, `$e…`, `_T0…`).
    public static func isMangled(_ name: String) -> Bool {
        name.hasPrefix("$s") || name.hasPrefix("$S") || name.hasPrefix("$e") || name.hasPrefix("_T0")
            || name.hasPrefix("_$s") || name.hasPrefix("_$S")
    }

    /// Demangled (`--simplified`) names of the mangled ones among `names`, in one process. Names
    /// that are not mangled, or that the tool leaves unchanged, are absent. Returns an empty map
    /// when the tool fails, so callers keep the raw names.
    public func demangle(_ names: [String]) -> [String: String] {
        let mangled = Array(Set(names.filter { Self.isMangled($0) && !$0.contains("\n") })).sorted()
        guard !mangled.isEmpty else { return [:] }
        let input = Array((mangled.joined(separator: "\n") + "\n").utf8)
        let output: ChildProcess.Output
        do {
            let child = try ChildProcess(executable: executable, arguments: ["--simplified"], stdin: .pipe, stdout: .pipe, stderr: .null)
            output = try child.communicate(input: input, limit: 1 << 24)
        } catch {
            return [:]
        }
        guard output.termination == .exited(0) else { return [:] }
        let lines = String(decoding: output.stdout, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= mangled.count else { return [:] }
        var result: [String: String] = [:]
        for (name, line) in zip(mangled, lines) {
            let text = String(line)
            if !text.isEmpty, text != name { result[name] = text }
        }
        return result
    }
}
