import Foundation
import ProcessIO

/// Git state of the working directory, recorded with each run.
struct GitInfo {
    var commit: String?
    var branch: String?
    var dirty: Bool?

    /// Reads commit, branch and dirtiness with `git`; nil fields when not in a repository.
    static func current() -> GitInfo {
        let commit = git(["rev-parse", "HEAD"])
        guard commit != nil else { return GitInfo() }
        let branch = git(["rev-parse", "--abbrev-ref", "HEAD"])
        let status = git(["status", "--porcelain", "--untracked-files=no"])
        return GitInfo(commit: commit, branch: branch, dirty: status.map { !$0.isEmpty })
    }

    private static func git(_ args: [String]) -> String? {
        guard let out = try? ChildProcess(executable: "/usr/bin/env", arguments: ["git"] + args, stderr: .null).communicate(limit: 1 << 20),
              out.termination == .exited(0) else { return nil }
        return String(decoding: out.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
