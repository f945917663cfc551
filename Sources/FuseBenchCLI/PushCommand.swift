// `fusebench push` and `fusebench merge`: copy runs between results databases (Store/RunTransfer.swift),
// and the spool that lets `run` and `gate` record locally and push to a shared PostgreSQL store.
import ArgumentParser
import FuseBench
import Foundation
import ProcessIO

/// Opening a database named by a path or URL the way `--db` does (one opener for every command).
enum StoreOpener {
    /// Whether `location` names a PostgreSQL server rather than a SQLite file.
    static func isURL(_ location: String) -> Bool {
        DatabaseURL.isPostgres(location)
    }

    /// `database` with its `--db` replaced by `location` (busy timeout kept).
    static func options(_ location: String, like database: DatabaseOptions) -> DatabaseOptions {
        var options = database
        options.db = location
        return options
    }

    /// Longest wait, in seconds, of a push target for another process's lock unless
    /// `--db-busy-timeout` or `FUSEBENCH_DB_BUSY_TIMEOUT` says otherwise: on PostgreSQL concurrent
    /// pushes take turns (each run's transaction locks `samples`), so a runner waits its turn
    /// instead of failing after the 5 s a reading command waits.
    static let pushBusyTimeout = "600"

    /// `options(location, like:)` for the target of a push (`push --to`, the spool's server).
    static func pushTarget(_ location: String, like database: DatabaseOptions) -> DatabaseOptions {
        var options = options(location, like: database)
        if options.busyTimeout == nil, ProcessInfo.processInfo.environment["FUSEBENCH_DB_BUSY_TIMEOUT"] == nil {
            options.busyTimeout = pushBusyTimeout
        }
        return options
    }

    /// The message of a failure, as `error:` lines show it.
    static func message(_ error: any Error) -> String {
        CLIError.message(for: error) ?? "\(error)"
    }
}

/// `fusebench push`: copies finished runs into another database.
struct PushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Copy runs (samples, counters, telemetry, decisions, latencies) into another database.",
        discussion: """
            RUN is an id, latest, latest~N or a run UUID (or its first 8+ characters); default latest. --all pushes \
            every finished run the target lacks. Each run is copied in one transaction of the target: a run the \
            target already holds (same UUID) is skipped, so pushing twice changes nothing, and a push that was \
            killed or failed is resumed by running the same command again. Runs still running are skipped. \
            --to takes a SQLite path (created when missing) or a postgres:// URL. Exit 0 when every run is \
            pushed or already present, 3 otherwise.
            """)

    @Argument(help: "Runs to push (default: latest).")
    var runs: [String] = []

    @Flag(help: "Push every finished run of the source database.")
    var all = false

    @Option(help: "Target database: a SQLite path or a postgres:// URL.")
    var to: String

    @OptionGroup var database: DatabaseOptions

    func run() throws {
        if all, !runs.isEmpty { throw UsageError("give RUN arguments or --all, not both") }
        let source = try database.openForReading()
        let target = try StoreOpener.pushTarget(to, like: database).open()
        if source.path == target.path, !StoreOpener.isURL(to) {
            throw UsageError("--to \(to) is the source database itself")
        }
        let ids: [Int64]
        if all {
            ids = try source.runs(limit: Int.max).filter { $0.status != .running }.map(\.id).sorted()
        } else {
            ids = try (runs.isEmpty ? ["latest"] : runs).map { try RunReference.resolve($0, in: source) }
        }
        let pushed = try Pusher.push(ids, from: source, to: target)
        if pushed < ids.count { throw ExitCode(ExitStatus.error) }
    }
}

/// Run references for push: what `resolveRun` takes, plus run UUIDs and their prefixes.
enum RunReference {
    /// The source id of `ref`: an id, `latest`, `latest~N`, a UUID or a unique prefix of 8+ characters.
    static func resolve(_ ref: String, in store: ResultStore) throws -> Int64 {
        let text = ref.lowercased()
        if text.count >= 8, text.contains(where: { $0.isLetter || $0 == "-" }) || text.count > 8,
           text.allSatisfy({ $0.isHexDigit || $0 == "-" }) {
            let matches = try store.runUUIDs().filter { $0.uuid.hasPrefix(text) }
            if matches.count == 1 { return matches[0].id }
            if matches.count > 1 { throw UsageError("run \(ref): \(matches.count) runs have UUIDs starting so; give more characters") }
        }
        return try store.resolveRun(ref)
    }
}

/// Pushing runs with one line per run and the resume hint on failure.
enum Pusher {
    /// Copies `ids` from `source` into `target`, printing one line per run, and returns how many
    /// runs the target holds afterwards (pushed now or before). On a failure prints
    /// `error: ...` and `k of n runs pushed; run the same command again to resume` on stderr.
    static func push(_ ids: [Int64], from source: ResultStore, to target: ResultStore,
                     say: (String) -> Void = { print($0) }) throws -> Int {
        var done = 0
        let transfer = RunTransfer(from: source, to: target)
        for id in ids {
            do {
                let result = try transfer.copyRun(id: id)
                say(result.line)
                if case .skippedRunning = result.outcome { continue }
                done += 1
            } catch {
                StandardError.write("error: \(StoreOpener.message(error))\n")
                break
            }
        }
        if done < ids.count {
            StandardError.write("\(done) of \(ids.count) runs pushed; run the same command again to resume\n")
        }
        return done
    }
}

/// `fusebench merge`: combines shards into one database.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge result databases (shards) into one: runs, baselines with their history, change-point triage.",
        discussion: """
            OUT is created when missing. Each IN is opened for reading and never modified. Every finished run of \
            every input is copied (runs OUT already holds, by UUID, are skipped), then baselines and their moves, \
            change points with their triage state, and simulated-counter cache entries. Nothing in OUT is \
            overwritten: a baseline name pointing at another run, or a change point triaged differently, is a \
            conflict, listed on stderr. Exit 0 when merged without conflicts; 3 when any conflict (after merging everything \
            else), or at the first error (runs copied before it stay merged: each run is one transaction; run the \
            same command again to resume).
            """)

    @Argument(help: "Output database (SQLite path; created when missing).")
    var output: String

    @Argument(help: "Input databases.")
    var inputs: [String]

    @Option(name: .customLong("db-busy-timeout"),
            help: "Seconds to wait for another process's lock on a database (default: $FUSEBENCH_DB_BUSY_TIMEOUT or 5).")
    var busyTimeout: String?

    func run() throws {
        guard !inputs.isEmpty else { throw UsageError("merge needs at least one input database after OUT") }
        var options = DatabaseOptions()
        options.busyTimeout = busyTimeout
        let outputPath = URL(fileURLWithPath: output).standardizedFileURL.path
        // Every name printed goes through DatabaseURL.redacted: a PostgreSQL URL may carry a password.
        for input in inputs where URL(fileURLWithPath: input).standardizedFileURL.path == outputPath {
            throw UsageError("\(DatabaseURL.redacted(input)) is both an input and the output")
        }
        for input in inputs where !StoreOpener.isURL(input) && !FileManager.default.fileExists(atPath: input) {
            throw UsageError("\(DatabaseURL.redacted(input)): no such database file")
        }
        let target = try StoreOpener.options(output, like: options).open()
        var conflicts: [String] = []
        for input in inputs {
            let shown = DatabaseURL.redacted(input)
            let source = try StoreOpener.options(input, like: options).openForReading()
            let transfer = RunTransfer(from: source, to: target)
            var counts = (pushed: 0, present: 0, running: 0, samples: 0)
            for run in try source.runs(limit: Int.max).sorted(by: { $0.id < $1.id }) {
                switch try transfer.copyRun(id: run.id).outcome {
                case let .pushed(_, samples): counts.pushed += 1; counts.samples += samples
                case .alreadyPresent: counts.present += 1
                case .skippedRunning: counts.running += 1
                }
            }
            let baselines = try transfer.copyBaselines()
            let points = try transfer.copyChangePoints()
            let cache = try transfer.copySimCache()
            conflicts += (baselines.conflicts + points.conflicts).map { "\(shown): \($0)" }
            var line = "\(shown): \(counts.pushed) runs merged (\(counts.samples) samples), \(counts.present) already present"
            if counts.running > 0 { line += ", \(counts.running) skipped (still running)" }
            line += "; \(baselines.copied) baselines, \(points.copied) change points, \(cache) sim cache entries"
            print(line)
            for note in baselines.missing { print("\(shown): note: \(note)") }
        }
        if !conflicts.isEmpty {
            for c in conflicts { StandardError.write("conflict: \(c)\n") }
            StandardError.write("error: \(conflicts.count) conflict(s); \(DatabaseURL.redacted(output)) keeps its own values for them (everything else is merged)\n")
            throw ExitCode(ExitStatus.error)
        }
    }
}

/// `--spool`: where `run` and `gate` record when `--db` is a PostgreSQL URL.
struct SpoolOptions: ParsableArguments {
    @Option(help: "With --db postgres://...: the local SQLite file runs are recorded into and pushed from (default: results/fusebench.sqlite).")
    var spool: String?

    /// The spool file.
    var path: String { spool ?? "results/fusebench.sqlite" }
}

/// Where a measuring command records: the `--db` store itself, or (for a PostgreSQL `--db`) the
/// local spool, pushed to the server when the run has ended.
struct RecordingStore {
    /// The store runs are recorded into.
    let store: ResultStore
    /// The server URL (as given) when recording into the spool; nil otherwise.
    let remote: String?
    /// The options naming the server (for opening it).
    let database: DatabaseOptions

    /// Opens the recording store: the spool for a PostgreSQL `--db` (the server is not contacted
    /// yet), else `--db` as usual.
    static func open(database: DatabaseOptions, spool: SpoolOptions) throws -> RecordingStore {
        if StoreOpener.isURL(database.path) {
            let local = try StoreOpener.options(spool.path, like: database).open()
            return RecordingStore(store: local, remote: database.path, database: database)
        }
        return RecordingStore(store: try database.open(), remote: nil, database: database)
    }

    /// The server, opened for writing.
    func openRemote() throws -> ResultStore {
        try StoreOpener.pushTarget(database.path, like: database).open()
    }

    /// Pushes `runIDs` to the server (nothing without one). Returns true when all are there; on
    /// failure prints, per run not pushed, `run UUID kept in SPOOL; push it later with ...`.
    func pushToRemote(_ runIDs: [Int64], say: (String) -> Void) -> Bool {
        guard let remote else { return true }
        let spoolPath = store.path
        var failed: [Int64] = runIDs
        do {
            let server = try openRemote()
            failed = []
            let transfer = RunTransfer(from: store, to: server)
            for id in runIDs {
                do {
                    say("push: " + (try transfer.copyRun(id: id)).line)
                } catch {
                    StandardError.write("error: \(StoreOpener.message(error))\n")
                    failed.append(id)
                }
            }
        } catch {
            StandardError.write("error: \(StoreOpener.message(error))\n")
        }
        let shown = Self.redacted(remote)
        for id in failed {
            let uuid = (try? store.run(id: id))?.uuid ?? String(id)
            StandardError.write("run \(uuid) kept in \(spoolPath); push it later with "
                                + "\(programName) push \(id) --db \(spoolPath) --to \(shown)\n")
        }
        return failed.isEmpty
    }

    /// A URL with its password replaced by `***`.
    static func redacted(_ url: String) -> String {
        DatabaseURL.redacted(url)
    }
}
