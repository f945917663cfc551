// Scratch directories for tests that are removed when the test process exits: each lives under one
// directory per test process (`fusebench-tests-<pid>` in the temporary directory), deleted at exit;
// directories of test processes that died without exiting (a crash, a kill) are deleted by the next
// test process. Before this, CLI and telemetry tests left thousands of directories in /tmp.
import Foundation

/// Per-test-process scratch directories.
public enum Scratch {
    /// Prefix of the per-process directories in the temporary directory.
    static let rootPrefix = "fusebench-tests-"

    /// A new empty directory named `<prefix>-<UUID>` under this process's scratch root.
    ///
    /// - Throws: when it cannot be created.
    public static func directory(_ prefix: String) throws -> URL {
        let directory = try root().appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// This process's scratch root (created, with the exit handler registered, on first use).
    static func root() throws -> URL {
        if let failure = rootState.failure { throw ScratchError(message: failure) }
        return rootState.url
    }

    /// The root directory of process `pid`.
    static func rootPath(for pid: pid_t) -> String {
        (NSTemporaryDirectory() as NSString).appendingPathComponent("\(rootPrefix)\(pid)")
    }

    private struct RootState: Sendable {
        var url: URL
        var failure: String?
    }

    private struct ScratchError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    private static let rootState: RootState = {
        removeRootsOfDeadProcesses()
        let url = URL(fileURLWithPath: rootPath(for: getpid()), isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            return RootState(url: url, failure: "cannot create the tests' scratch directory \(url.path): \(error)")
        }
        atexit {
            try? FileManager.default.removeItem(atPath: Scratch.rootPath(for: getpid()))
        }
        return RootState(url: url, failure: nil)
    }()

    /// Deletes the scratch roots of test processes that no longer exist.
    static func removeRootsOfDeadProcesses() {
        let temporary = NSTemporaryDirectory()
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: temporary) else { return }
        for name in names where name.hasPrefix(rootPrefix) {
            guard let pid = pid_t(name.dropFirst(rootPrefix.count)), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) != 0, errno == ESRCH {
                try? FileManager.default.removeItem(atPath: (temporary as NSString).appendingPathComponent(name))
            }
        }
    }
}
