// The `fusebench` executable SwiftPM built for the tests: one locator for every test target that
// starts the CLI as a child process (CLITests, FleetTests).
import Foundation

/// Where the built `fusebench` is.
public enum BuiltExecutable {
    /// The package's root directory (two levels above `Tests/TestSupport`).
    public static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// `fusebench` next to the test bundle (or up to three folders above it, for .xctest bundles), else
    /// `.build/debug/fusebench` in the package root; nil when none is executable.
    public static var fusebench: URL? {
        var candidates: [URL] = []
        if let arg0 = CommandLine.arguments.first {
            var dir = URL(fileURLWithPath: arg0).deletingLastPathComponent()
            for _ in 0..<4 {
                candidates.append(dir.appendingPathComponent("fusebench"))
                dir = dir.deletingLastPathComponent()
            }
        }
        candidates.append(packageRoot.appendingPathComponent(".build/debug/fusebench"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }
}
