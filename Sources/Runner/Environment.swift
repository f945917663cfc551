// Provenance of a run: the git commit, branch and dirty flag of the code that was measured.
// That is the repository holding the (first) suite file — for a user's suite the user's own
// repository, not fusebench's — unless `--source-dir` names another directory; CI systems that
// check out a detached head can name the commit and branch with FUSEBENCH_GIT_COMMIT and
// FUSEBENCH_GIT_BRANCH (see docs/history.md).
import Foundation
import ProcessIO

/// Git state of the measured code, recorded with each run.
public struct GitInfo: Sendable, Equatable {
    /// Full commit id (`git rev-parse HEAD`), nil outside a git work tree.
    public var commit: String?
    /// Branch (`git rev-parse --abbrev-ref HEAD`; `HEAD` on a detached head), nil outside a work tree.
    public var branch: String?
    /// Whether tracked files differ from the commit; nil outside a work tree.
    public var dirty: Bool?

    /// Creates a value.
    public init(commit: String? = nil, branch: String? = nil, dirty: Bool? = nil) {
        self.commit = commit
        self.branch = branch
        self.dirty = dirty
    }

    /// Environment variable overriding the recorded commit.
    public static let commitVariable = "FUSEBENCH_GIT_COMMIT"
    /// Environment variable overriding the recorded branch.
    public static let branchVariable = "FUSEBENCH_GIT_BRANCH"

    /// The provenance of a run: git state of `sourceDirectory` when given (it must lie in a git
    /// work tree), else of the directory of `suitePath` (nil fields when that is not in a work
    /// tree), else of the current directory; then FUSEBENCH_GIT_COMMIT / FUSEBENCH_GIT_BRANCH
    /// from `environment` replace commit and branch when set and non-empty.
    ///
    /// - Throws: `RunError` when `sourceDirectory` is not a directory in a git work tree, or an
    ///   override holds whitespace or control characters or is longer than 255 characters.
    public static func measured(suitePath: String?, sourceDirectory: String?, environment: [String: String]) throws -> GitInfo {
        var info: GitInfo
        if let dir = sourceDirectory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw RunError("--source-dir '\(dir)' is not a directory")
            }
            info = of(directory: dir)
            guard info.commit != nil else { throw RunError("--source-dir '\(dir)' is not inside a git work tree with a commit") }
        } else if let suitePath {
            info = of(directory: URL(fileURLWithPath: suitePath).standardizedFileURL.deletingLastPathComponent().path)
        } else {
            info = of(directory: FileManager.default.currentDirectoryPath)
        }
        if let commit = try override(commitVariable, environment) { info.commit = commit }
        if let branch = try override(branchVariable, environment) { info.branch = branch }
        return info
    }

    /// A non-empty override from `environment`, validated.
    private static func override(_ name: String, _ environment: [String: String]) throws -> String? {
        guard let value = environment[name], !value.isEmpty else { return nil }
        guard value.count <= 255, !value.unicodeScalars.contains(where: {
            $0.properties.isWhitespace || $0.properties.generalCategory == .control
        }) else {
            throw RunError("\(name) must be at most 255 characters without spaces or control characters")
        }
        return value
    }

    /// Reads commit, branch and dirtiness with `git -C directory`; nil fields when not in a repository.
    public static func of(directory: String) -> GitInfo {
        let commit = git(directory, ["rev-parse", "--verify", "--quiet", "HEAD"])
        guard let commit, !commit.isEmpty else { return GitInfo() }
        let branch = git(directory, ["rev-parse", "--abbrev-ref", "HEAD"])
        let status = git(directory, ["status", "--porcelain", "--untracked-files=no"])
        return GitInfo(commit: commit, branch: branch, dirty: status.map { !$0.isEmpty })
    }

    private static func git(_ directory: String, _ args: [String]) -> String? {
        guard let out = try? ChildProcess(executable: "/usr/bin/env", arguments: ["git", "-C", directory] + args, stderr: .null)
                .communicate(limit: 1 << 20),
              out.termination == .exited(0) else { return nil }
        return String(decoding: out.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
