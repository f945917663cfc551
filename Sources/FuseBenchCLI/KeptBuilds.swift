import CPerfEvent
import FuseBench
import Foundation
import ProcessIO

/// A baseline's kept build: `baseline set` keeps the executable that measured the run (in the
/// database's `BuildArchive`), and `gate --baseline` measures it again, paired with the build under
/// test, instead of comparing with the stored samples (docs/ci-gating.md, "Kept builds").
enum KeptBuilds {
    /// The archive next to a SQLite `--db`; nil for PostgreSQL (builds are files, kept locally).
    static func archive(_ database: DatabaseOptions) -> BuildArchive? {
        database.isPostgres ? nil : BuildArchive(databasePath: database.path)
    }

    /// The content hash of the executable that measured run `runID` (`binary.hash`), or nil for
    /// a run recorded before fusebench stored it.
    static func binaryHash(store: ResultStore, runID: Int64) throws -> String? {
        try store.runMeta(runID: runID)[RunMetaKey.binaryHash]
    }

    /// Keeps the build that measured run `runID`. With `build` that file must have the run's
    /// content hash (else it throws); without it, the run's own worker executable and then this
    /// fusebench are tried, and when neither is that build the returned message says it is not kept.
    ///
    /// - Returns: one line for the user.
    /// - Throws: `UsageError` for a `build` that is not the run's; `BuildArchive.ArchiveError` when
    ///   writing fails or the copy is interrupted.
    static func keep(store: ResultStore, runID: Int64, archive: BuildArchive, build: String?) throws -> String {
        let meta = try store.runMeta(runID: runID)
        guard let hash = meta[RunMetaKey.binaryHash] else {
            if let build { throw UsageError("--build \(build): run \(runID) has no recorded binary hash (recorded by an older fusebench), so no build can be shown to be its") }
            return "build not kept: run \(runID) has no recorded binary hash (recorded by an older fusebench)"
        }
        let candidates: [String]
        if let build {
            candidates = [build]
        } else {
            candidates = [meta["worker.executable"], Harness.executablePath].compactMap { $0 }
        }
        for path in candidates {
            let actual: String
            do {
                actual = try ContentHash.file(atPath: path)
            } catch let e as ContentHash.FileError {
                if build != nil { throw UsageError("--build: \(e.description)") }
                continue
            }
            guard actual == hash else {
                if build != nil { throw UsageError("--build \(path): not the build that measured run \(runID) (content hash \(actual), the run's is \(hash))") }
                continue
            }
            let kept = try archive.keep(executable: path, expectedHash: hash, shouldStop: { fb_interrupt_signal() != 0 })
            return String(format: "build %@ %@ (%.0f MB in %@)", hash, kept.added ? "kept" : "already kept", Double(kept.entry.size) / 1e6, archive.directory)
        }
        return "build not kept: run \(runID) was measured by build \(hash), and neither it (worker.executable) nor this fusebench is that build "
            + "(give it with --build PATH)"
    }

    /// Removes kept builds no baseline needs: each baseline keeps the build of its run and of the
    /// run it pointed at before (for `baseline set --to-previous`). Returns the hashes removed.
    @discardableResult
    static func prune(store: ResultStore, archive: BuildArchive) throws -> [String] {
        var keeping = Set<String>()
        for b in try store.baselines() {
            let earlier = b.history.reversed().compactMap(\.runID).first { $0 != b.runID }
            for id in [b.runID, earlier].compactMap({ $0 }) {
                if let h = try binaryHash(store: store, runID: id) { keeping.insert(h) }
            }
        }
        return try archive.prune(keeping: keeping)
    }

    /// ``prune(store:archive:)`` after a baseline moved: prints what it removed; a build it cannot
    /// remove is a warning, not an error (the baseline has moved already).
    static func pruneAndSay(store: ResultStore, archive: BuildArchive) {
        do {
            let removed = try prune(store: store, archive: archive)
            if !removed.isEmpty { print("  removed kept build(s) no baseline needs: \(removed.joined(separator: ", "))") }
        } catch {
            StandardError.write("baseline: warning: kept builds not pruned: \(error)\n")
        }
    }

    /// What `gate --baseline` measures as the base.
    enum Base: Equatable {
        /// The stored run's kept build, to be measured now.
        case kept(BuildArchive.Entry)
        /// The stored samples; `reason` says why the kept build is not used (nil: nothing to say).
        case storedSamples(reason: String?)
    }

    /// The base for a gate against stored run `runID`: its kept build when there is one this CPU
    /// can run and every planned op is inside the executable, else its stored samples with the
    /// reason.
    static func base(store: ResultStore, runID: Int64, archive: BuildArchive?, plan: BenchPlan,
                     hostISA: ISAFeatures = ISA.host) throws -> Base {
        guard let archive else { return .storedSamples(reason: "kept builds live next to a SQLite database, not on a PostgreSQL server") }
        guard let hash = try binaryHash(store: store, runID: runID) else { return .storedSamples(reason: nil) }
        guard let found = archive.verified(hash: hash) else { return .storedSamples(reason: nil) }
        let entry: BuildArchive.Entry
        switch found {
        case let .success(e): entry = e
        case let .failure(e): return .storedSamples(reason: "its kept build is not usable (\(e.description))")
        }
        if let run = try store.run(id: runID) {
            let built = ISAFeatures(names: run.isaBuilt)
            let missing = ISA.missing(built: built, host: hostISA)
            if !missing.isEmpty {
                return .storedSamples(reason: "its kept build \(hash) uses \(missing.description), which this CPU lacks")
            }
        }
        let plugins = plan.ops.filter { $0.pluginLibrary != nil }.map(\.qualifiedName)
        if !plugins.isEmpty {
            return .storedSamples(reason: "its kept build \(hash) holds fusebench, not the plug-in libraries of \(plugins.joined(separator: ", ")) "
                                  + "(gate plug-ins with --against-suite BASE_SUITE)")
        }
        return .kept(entry)
    }
}
