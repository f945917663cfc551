// What the help and the README promise matches what the code does.
import BenchModel
import Foundation
import Testing

@Suite struct DocsContractTests {
    /// `--counters` accepts `sim`; the help of `run` and `gate` used to omit it (run) or not say
    /// what `auto` falls back to (gate).
    @Test func countersHelpListsEveryMode() throws {
        for command in ["run", "gate"] {
            let r = try CLI.run([command, "--help"])
            let help = r.stdout.replacingOccurrences(of: "\n", with: " ").split(separator: " ").joined(separator: " ")
            #expect(r.status == 0)
            #expect(help.contains("hw, sim, none"), "\(command) --help: \(help)")
            #expect(help.contains("simulated"), "\(command) --help")
        }
    }

    /// The README's list of sample flags names only flags fusebench sets; `outlier` never is
    /// (analysis counts outliers instead), so it must not be listed as a stored flag.
    @Test func readmeListsOnlyFlagsThatAreSet() throws {
        let readme = try String(contentsOf: CLI.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let flat = readme.replacingOccurrences(of: "\n", with: " ")
        let start = try #require(flat.range(of: "flags: "))
        let list = flat[start.upperBound...].prefix { $0 != ")" }
        #expect(!list.hasPrefix("multiplexed, outlier"))
        #expect(!list.split(separator: "—")[0].contains("outlier"), "\(list)")
        #expect(list.contains("throttled") && list.contains("descheduled"))
    }

    /// No document or source cites a design document outside the repository.
    @Test func noCitationsOfOutsideDocuments() throws {
        let root = CLI.packageRoot
        var offenders: [String] = []
        for dir in ["Sources", "docs", "tools"] {
            guard let e = FileManager.default.enumerator(at: root.appendingPathComponent(dir), includingPropertiesForKeys: nil) else { continue }
            for case let url as URL in e where ["swift", "md", "c", "h"].contains(url.pathExtension) {
                guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
                let outside = "DES" + "IGN"  // spelled apart so this file does not match its own search
                if text.contains(outside + " §") || text.contains(outside + ".md") { offenders.append(url.lastPathComponent) }
            }
        }
        #expect(offenders.isEmpty, "\(offenders)")
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("docs/architecture.md").path))
    }
}
