import ArgumentParser
import CPerfEvent
import FuseBench
import Foundation
import ProcessIO

/// Options shared by `compare` and `gate` for rendering and thresholds.
struct VerdictOptions: ParsableArguments {
    @Option(help: "text | markdown | json")
    var format: String = "text"

    @Option(help: "Regression threshold for every op, in percent, above 0 and below 1000 (default: each op's threshold from its suite).")
    var threshold: Double?

    @Option(name: .customLong("instructions-threshold"), help: "Instruction-count threshold in percent, above 0 and below 1000 (default 1).")
    var instructionsThreshold: Double?

    @Flag(name: .customLong("exclude-throttled"), help: "Leave out samples flagged as taken while throttled or descheduled.")
    var excludeThrottled = false

    func renderFormat() throws -> CompareRenderer.Format {
        guard let f = CompareRenderer.Format(rawValue: format) else {
            throw UsageError("--format must be one of \(CompareRenderer.Format.allCases.map(\.rawValue).joined(separator: ", ")), got '\(format)'")
        }
        return f
    }

    func options() throws -> CompareReport.Options {
        try Self.options(threshold: threshold, instructionsThreshold: instructionsThreshold, excludeThrottled: excludeThrottled)
    }

    /// Checks the threshold flags (percent) and turns them into comparison options; `report` uses it
    /// too, so its verdicts are the ones `compare` and `gate` give with the same flags.
    static func options(threshold: Double?, instructionsThreshold: Double?, excludeThrottled: Bool) throws -> CompareReport.Options {
        for (name, v) in [("--threshold", threshold), ("--instructions-threshold", instructionsThreshold)] {
            if let v { try OptionRange.check(v, name, above: 0, below: 1000, unit: " (percent)") }
        }
        return CompareReport.Options(threshold: threshold.map { $0 / 100 }, instructionsThreshold: instructionsThreshold.map { $0 / 100 },
                                     excludeThrottled: excludeThrottled)
    }

    func print(_ report: CompareReport, profiles: ProfileReport? = nil) throws {
        let colour = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
        Swift.print(try CompareRenderer.render(report, format: try renderFormat(), colour: colour, profiles: profiles))
    }
}

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two runs: per op time ratio with its CI and the gate's verdict.",
        discussion: """
            BASE and HEAD are run ids, baseline names, 'latest' or 'latest~N', or several of them separated by \
            commas (e.g. latest~3,latest~2): a side's runs are merged, each kept apart as its own run. Verdicts \
            follow the gate's contract (docs/ci-gating.md): unpaired estimates from the runs' process medians and \
            the run-to-run noise learned on this machine (`fusebench noise`); runs of one process each with no \
            noise history are inconclusive, and a `noise:` line under the table says which applied. A regression \
            measured in one-process runs (`run`'s default) must show in 2 head runs: with one head run such an op \
            is inconclusive ("shown by 1 of 1 head run(s)"); two head runs can confirm it, if they were not \
            measured back to back (consecutive runs share a shared machine's slow stretches: use gate --against there). \
            Exit 0; with --fail-on-regression: 0 pass, 1 regression, 2 inconclusive, 3 error.
            """)

    @Argument(help: "Base run (id, baseline name, latest, latest~N), or several separated by commas.")
    var base: String

    @Argument(help: "Head run, or several separated by commas.")
    var head: String

    @OptionGroup var verdict: VerdictOptions
    @OptionGroup var database: DatabaseOptions

    @Flag(name: .customLong("fail-on-regression"), help: "Exit with the gate's code (1 regression, 2 inconclusive).")
    var failOnRegression = false

    @Flag(help: "Also show, per compared benchmark, base vs head function by function (instructions, L1d and LL misses) from the simulated (--counters sim) pass of both runs.")
    var profile = false

    func run() throws {
        let store = try database.openForReading()
        let report = try CompareReport(store: store, baseIDs: try Self.runs(base, "BASE", store), headIDs: try Self.runs(head, "HEAD", store),
                                       options: try verdict.options())
        try verdict.print(report, profiles: profile ? try ProfileReport(store: store, report: report) : nil)
        if failOnRegression, report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }

    /// The runs of one side: `list` is one run reference or several separated by commas (baseline
    /// names cannot contain a comma). A run given twice is a usage error: it would count twice.
    static func runs(_ list: String, _ side: String, _ store: ResultStore) throws -> [Int64] {
        let refs = list.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        if refs.contains(where: \.isEmpty) { throw UsageError("\(side) '\(list)': an empty run reference (give runs separated by single commas)") }
        var ids: [Int64] = []
        for ref in refs {
            let id = try store.resolve(ref)
            if ids.contains(id) { throw UsageError("\(side) '\(list)': run \(id) is given twice") }
            ids.append(id)
        }
        return ids
    }
}

struct BaselineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baseline", abstract: "Name runs as baselines (history kept, can be rolled back).",
        subcommands: [Set.self, List.self, Show.self, Remove.self])

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set", abstract: "Point NAME at RUN (default: latest complete run).")
        @Argument var name: String
        @Argument(help: "Run id, latest, latest~N or another baseline.") var runRef: String?
        @Flag(name: .customLong("to-previous"), help: "Roll NAME back to the run it pointed at before.") var toPrevious = false
        @Flag(name: .customLong("keep-build"), inversion: .prefixedNo,
              help: "Keep a copy of the executable that measured RUN next to the database (DB.builds/), so `gate --baseline NAME` measures it again, paired with the build under test; builds no baseline points at (now or before its last move) are removed.")
        var keepBuild = true
        @Option(name: .customLong("build"), help: "The executable that measured RUN, when it is neither RUN's worker executable nor this fusebench (its content hash must be RUN's).")
        var build: String?
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            if build != nil, !keepBuild { throw UsageError("--build and --no-keep-build exclude each other") }
            let store = try database.open()
            let archive = keepBuild ? KeptBuilds.archive(database) : nil
            if build != nil, archive == nil { throw UsageError("--build: kept builds live next to a SQLite database, not on a PostgreSQL server") }
            let id: Int64
            if toPrevious {
                guard runRef == nil, build == nil else { throw UsageError("--to-previous takes no RUN and no --build") }
                id = try store.rollBackBaseline(name: name)
                print("baseline \(name) → run \(id) (rolled back)")
            } else {
                id = try store.resolve(runRef ?? "latest")
                // Keep the build first: a --build that is not the run's refuses before the baseline moves.
                // Ctrl-C during the copy removes the partial copy and leaves the baseline where it was.
                fb_install_interrupt_handlers()
                defer { fb_reset_interrupt_flag() }
                let kept: String?
                do {
                    kept = try archive.map { try KeptBuilds.keep(store: store, runID: id, archive: $0, build: build) }
                } catch BuildArchive.ArchiveError.interrupted {
                    StandardError.write("baseline: interrupted while keeping the build: nothing kept, baseline \(name) not moved\n")
                    throw ExitCode(ExitStatus.interrupted)
                }
                try store.setBaseline(name: name, runID: id)
                print("baseline \(name) → run \(id)")
                if let kept { print("  " + kept) }
            }
            if let archive { KeptBuilds.pruneAndSay(store: store, archive: archive) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List baselines.")
        @OptionGroup var database: DatabaseOptions
        func run() throws {
            let store = try database.openForReading()
            let archive = KeptBuilds.archive(database)
            let rows = try store.baselines().map { b -> [String] in
                let info = try store.run(id: b.runID)
                let hash = try KeptBuilds.binaryHash(store: store, runID: b.runID)
                let kept = hash.flatMap { archive?.entry(hash: $0) } != nil
                return [b.name, String(b.runID), ISO8601DateFormatter().string(from: b.updatedAt), String(b.history.count),
                        info?.label ?? "", String((info?.gitCommit ?? "").prefix(10)), kept ? "kept" : "-"]
            }
            print(Format.table(header: ["baseline", "run", "updated", "moves", "label", "commit", "build"], rows: rows))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a baseline and its history.")
        @Argument var name: String
        @OptionGroup var database: DatabaseOptions
        func run() throws {
            let store = try database.openForReading()
            guard let b = try store.baseline(name: name) else { throw StoreError.unknownBaseline(name) }
            print("baseline \(b.name) → run \(b.runID) (since \(ISO8601DateFormatter().string(from: b.updatedAt)))")
            let hash = try KeptBuilds.binaryHash(store: store, runID: b.runID)
            if let hash, let e = KeptBuilds.archive(database)?.entry(hash: hash) {
                print(String(format: "  build %@ kept: %@ (%.0f MB); `gate --baseline %@` measures it again, paired", hash, e.path, Double(e.size) / 1e6, b.name))
            } else {
                print("  build \(hash ?? "(not recorded)") not kept: `gate --baseline \(b.name)` compares with the stored samples")
            }
            for m in b.history {
                let to = m.runID.map { "run \($0)" } ?? "removed"
                print("  \(ISO8601DateFormatter().string(from: m.movedAt))  \(m.previousRunID.map { "run \($0)" } ?? "(new)") → \(to)\(m.note.isEmpty ? "" : "  (\(m.note))")")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a baseline (its history is kept).")
        @Argument var name: String
        @OptionGroup var database: DatabaseOptions
        func run() throws {
            let store = try database.open()
            try store.removeBaseline(name: name)
            print("baseline \(name) removed")
            if let archive = KeptBuilds.archive(database) { KeptBuilds.pruneAndSay(store: store, archive: archive) }
        }
    }
}
