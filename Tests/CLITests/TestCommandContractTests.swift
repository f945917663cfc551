// The README's test command is what CI runs: `.ci/run` ends with exactly that command, and it
// includes tools/check-examples (both examples built, run and gated).
import Foundation
import Testing

@Suite struct TestCommandContractTests {
    @Test func ciRunsTheReadmeTestCommand() throws {
        let root = CLI.packageRoot
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let line = try #require(readme.split(separator: "\n").first { $0.contains("# 2. run the tests") })
        let command = line.components(separatedBy: "#")[0].trimmingCharacters(in: .whitespaces)
        #expect(command.contains("swift test") && command.contains("tools/check-examples"), "\(command)")
        let ci = try String(contentsOf: root.appendingPathComponent(".ci/run"), encoding: .utf8)
        let last = ci.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last == command, "README: \(command) · .ci/run: \(last)")
        #expect(FileManager.default.isExecutableFile(atPath: root.appendingPathComponent("tools/check-examples").path))
        #expect(FileManager.default.isExecutableFile(atPath: root.appendingPathComponent("tools/gate-downstream").path))
    }
}
