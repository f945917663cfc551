// Differential profiles for a comparison (`compare --profile`, the PR comment, the HTML report):
// for each compared benchmark, base vs head function by function from the stored per-function
// profiles of the simulated samples, or the reason a side has none. Profiles are sim-only: a
// run with hardware counters has none (no `perf record` sampling yet).
import Analysis
import BenchModel
import Foundation
import Store

/// The differential profiles of the benchmarks of a `CompareReport`.
public struct ProfileReport: Sendable {
    /// One compared benchmark: its diff, or why there is none.
    public struct Entry: Sendable {
        /// The benchmark (`SUITE/OP/VARIANT`).
        public var key: BenchmarkKey
        /// Base vs head by function; nil when a side has no profile.
        public var diff: ProfileDiff?
        /// Why there is no diff (names the side and the reason), when `diff` is nil.
        public var missing: String?

        /// Memberwise initialiser.
        public init(key: BenchmarkKey, diff: ProfileDiff?, missing: String?) {
            self.key = key
            self.diff = diff
            self.missing = missing
        }
    }

    /// One entry per comparison of the report, in its order.
    public var entries: [Entry]
    /// Said once with every profile output: where profiles come from.
    public static let simOnlyNote = "sim-only: per-function profiles come from the callgrind (sim) pass; runs with hardware counters "
        + "(--counters hw) or none have none, so record both runs with --counters sim"

    /// Loads the profiles of both sides of `report` (its base and head runs) for `keys` (default:
    /// every compared benchmark) and compares them.
    public init(store: ResultStore, report: CompareReport, keys: [BenchmarkKey]? = nil, top: Int = ProfileDiff.defaultTop) throws {
        let wanted = keys ?? report.comparisons.map(\.key)
        let base = try Side(store: store, runs: report.base)
        let head = try Side(store: store, runs: report.head)
        entries = wanted.map { key in
            let b = base.profiles[key] ?? [], h = head.profiles[key] ?? []
            if let diff = ProfileDiff.compute(key: key, base: b, head: h, top: top) {
                return Entry(key: key, diff: diff, missing: nil)
            }
            let why = [b.isEmpty ? "base: \(base.reason)" : nil, h.isEmpty ? "head: \(head.reason)" : nil].compactMap { $0 }
            return Entry(key: key, diff: nil, missing: why.joined(separator: "; "))
        }
    }

    /// Entries built elsewhere (tests, other reports).
    public init(entries: [Entry]) {
        self.entries = entries
    }

    /// The profiles of one side (one or more runs), and why a benchmark may have none.
    struct Side {
        var profiles: [BenchmarkKey: [ProfiledSample]] = [:]
        var reason = ""

        init(store: ResultStore, runs: [RunInfo]) throws {
            var reasons: [String] = []
            for run in runs {
                let found = try store.functionProfiles(runID: run.id)
                for p in found { profiles[p.key, default: []].append(p) }
                switch run.counterMode {
                case .none: reasons.append("run \(run.id) has no counters (--counters none), so no simulated pass")
                case .hw: reasons.append("run \(run.id) used hardware counters; per-function profiles are sim-only for now")
                case .sim:
                    reasons.append(found.isEmpty
                        ? "run \(run.id) has no per-function profiles (recorded before fusebench kept them, or callgrind's functions could not be read)"
                        : "run \(run.id) has no simulated sample of this variant")
                }
            }
            reason = reasons.joined(separator: ", ")
        }
    }
}
