// Options of `run` and `gate` that say what was measured: free `--tag KEY=VALUE` labels and
// `--source-dir`, the git work tree whose commit, branch and dirty flag the run records.
import ArgumentParser
import FuseBench
import Foundation

/// `--tag KEY=VALUE` (repeatable) and `--source-dir DIR`.
struct ProvenanceOptions: ParsableArguments {
    @Option(name: .customLong("tag"), parsing: .singleValue,
            help: "Free label KEY=VALUE stored with the run (repeatable; KEY: an ASCII letter, then letters, digits, _ - .; shown by history, exported in JSON).")
    var tags: [String] = []

    @Option(name: .customLong("source-dir"),
            help: "Git work tree of the measured code, recorded as the run's commit/branch/dirty (default: the first suite file's directory; FUSEBENCH_GIT_COMMIT / FUSEBENCH_GIT_BRANCH override).")
    var sourceDir: String?

    /// The tags, validated; a key given twice is an error.
    func parsedTags() throws -> [String: String] {
        var out: [String: String] = [:]
        for text in tags {
            let tag: (key: String, value: String)
            do {
                tag = try RunTags.parse(text)
            } catch let error as StoreError {
                throw UsageError("--tag: \(error)")
            }
            guard out[tag.key] == nil else { throw UsageError("--tag: key '\(tag.key)' given twice") }
            out[tag.key] = tag.value
        }
        return out
    }

    /// Puts the tags and source directory into `config` (validating both before anything runs).
    func apply(to config: inout RunConfig) throws {
        config.tags = try parsedTags()
        if let dir = sourceDir {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw UsageError("--source-dir '\(dir)' is not a directory")
            }
            config.sourceDirectory = dir
        }
    }
}
