// Series: the history of one benchmark across runs. A series is one benchmark key
// (`SUITE/OP/VARIANT`) measured on one machine fingerprint (`machines.id`) with one counter
// backend (`runs.counter_mode`) and kernels built for one ISA (`runs.isa_built`): only points of
// one series measure the same thing on the same hardware the same way, so only they are compared
// over time (`fusebench history`, change-point detection, history charts).
//
// The queries read only what they need: series are listed from the small `series` table (written
// with the samples), and the points of one series read that op's samples of the runs of that
// series (index `runs_series_time`, then `ops (run_id, suite, name)`, then `samples_op_sequence`).
import Foundation
import BenchModel

/// Identity of one series: one benchmark on one machine, counter backend and built ISA.
public struct SeriesKey: Hashable, Codable, Sendable, Comparable, CustomStringConvertible {
    /// The benchmark, `SUITE/OP/VARIANT`.
    public var benchmark: BenchmarkKey
    /// `machines.id`: the exact stored machine fingerprint.
    public var machineID: Int64
    /// `machines.key` (`MachineFingerprint.key`: cpu|cores|isa|pmu), shared by fingerprints of the
    /// same hardware; what `--machine` matches.
    public var machineKey: String
    /// `machines.cpu_model`, for headers.
    public var cpuModel: String
    /// Counter backend of the runs (`runs.counter_mode`: hw | sim | none).
    public var counterMode: String
    /// ISA features the kernels were built for, as stored (`runs.isa_built`, a JSON array).
    public var isaBuilt: String

    /// Creates a series key.
    public init(benchmark: BenchmarkKey, machineID: Int64, machineKey: String, cpuModel: String, counterMode: String, isaBuilt: String) {
        self.benchmark = benchmark
        self.machineID = machineID
        self.machineKey = machineKey
        self.cpuModel = cpuModel
        self.counterMode = counterMode
        self.isaBuilt = isaBuilt
    }

    /// Stable text id: `SUITE/OP/VARIANT@m<machineID>/<counterMode>/<isa features joined by +>`,
    /// e.g. `smoke/gemm_128/optimized@m1/none/avx2+fma`. The same series always gets the same id
    /// in the same database (machine ids are never reused).
    public var id: String { "\(benchmark)@m\(machineID)/\(counterMode)/\(isaFeatures.joined(separator: "+"))" }

    /// The built ISA features (decoded from `isaBuilt`; empty when it is not a JSON string array).
    public var isaFeatures: [String] {
        (try? JSONDecoder().decode([String].self, from: Data(isaBuilt.utf8))) ?? []
    }

    /// `id`.
    public var description: String { id }

    /// Orders by benchmark, then machine, counter backend and ISA.
    public static func < (a: SeriesKey, b: SeriesKey) -> Bool {
        if a.benchmark != b.benchmark { return a.benchmark < b.benchmark }
        return (a.machineID, a.counterMode, a.isaBuilt) < (b.machineID, b.counterMode, b.isaBuilt)
    }
}

/// One run of a series: provenance of the run and the measured batches of the series' benchmark.
public struct SeriesPoint: Sendable, Hashable {
    /// The run.
    public var runID: Int64
    /// When the run started (`runs.started_at`).
    public var startedAt: Date
    /// Run status (`complete`, `interrupted`, ...), as stored.
    public var status: String
    /// Commit, branch and dirty flag of the measured code (nil when not recorded).
    public var gitCommit: String?
    public var gitBranch: String?
    public var gitDirty: Bool?
    /// `run --label`.
    public var label: String?
    /// `run --tag KEY=VALUE` labels.
    public var tags: [String: String]
    /// Net wall time per iteration (ns) of each measured batch, in batch (sequence) order: the
    /// batches `compare` decides from (`Comparator.decisionBatches`: per-iteration-timed batches
    /// are left out when the variant has plain ones), without simulated-counter batches and
    /// batches below the harness overhead.
    public var samples: [Double]
    /// Worker process of each value of `samples` (same length; 0 in-process), for a bootstrap
    /// that resamples processes first.
    public var processes: [Int]
    /// Median per-iteration `instructions` count of the variant's batches, from simulated counters
    /// when stored, else hardware counters; nil when the run counted none.
    public var instructionsPerOp: Double?

    /// Creates a point.
    public init(runID: Int64, startedAt: Date, status: String, gitCommit: String?, gitBranch: String?, gitDirty: Bool?,
                label: String?, tags: [String: String], samples: [Double], processes: [Int], instructionsPerOp: Double?) {
        self.runID = runID
        self.startedAt = startedAt
        self.status = status
        self.gitCommit = gitCommit
        self.gitBranch = gitBranch
        self.gitDirty = gitDirty
        self.label = label
        self.tags = tags
        self.samples = samples
        self.processes = processes
        self.instructionsPerOp = instructionsPerOp
    }

    /// `samples` grouped by worker process (ascending process index); groups are never empty.
    public var sampleGroups: [[Double]] {
        var byProcess: [Int: [Double]] = [:]
        for (value, process) in zip(samples, processes) { byProcess[process, default: []].append(value) }
        return byProcess.keys.sorted().compactMap { byProcess[$0] }
    }
}

/// A benchmark pattern as `run --filter` reads it: a regular expression searched (unanchored) in
/// `SUITE/OP/VARIANT`, so `gemm_128` selects that op in every suite and `smoke/gemm_128` only
/// smoke's.
public struct BenchmarkPattern: Sendable {
    /// The expression as given.
    public let text: String
    private let regex: NSRegularExpression

    /// Compiles `text`.
    ///
    /// - Throws: `StoreError.invalidName` when it is not a valid regular expression.
    public init(_ text: String) throws {
        do {
            regex = try NSRegularExpression(pattern: text)
        } catch {
            throw StoreError.invalidName("invalid benchmark pattern (regular expression) '\(text)': \(error.localizedDescription)")
        }
        self.text = text
    }

    /// Whether the pattern occurs in `key` written `SUITE/OP/VARIANT`.
    public func matches(_ key: BenchmarkKey) -> Bool {
        let name = key.description
        return regex.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil
    }
}

extension ResultStore {
    // MARK: - Series

    /// The series that have at least one stored run, sorted (`SeriesKey.<`).
    ///
    /// - Parameters:
    ///   - pattern: regular expression searched in `SUITE/OP/VARIANT` (as `run --filter`); nil = all.
    ///   - branch: only series with a run on this git branch (`runs.git_branch`).
    ///   - machine: only machines whose `machines.key` equals it, or whose CPU model contains it
    ///     (case-insensitive), or `m<ID>` / `<ID>` naming `machines.id`.
    /// - Throws: `StoreError.invalidName` for a bad pattern.
    public func series(matching pattern: String?, branch: String?, machine: String?) throws -> [SeriesKey] {
        let compiled = try pattern.map { try BenchmarkPattern($0) }
        return try read { db in
            let rows = try db.fetchAll(sql: """
                SELECT s.suite, s.op, s.variant, m.id, m.key, m.cpu_model, s.counter_mode, s.isa_built
                FROM series s JOIN machines m ON m.id = s.machine_id
                """)
            var keys: [SeriesKey] = []
            let exists = "SELECT CASE WHEN EXISTS (" + Self.seriesRunsSQL(db.dialect, branch: branch) + ") THEN 1 ELSE 0 END"
            for row in rows {
                let key = try Self.seriesKey(row)
                if let compiled, !compiled.matches(key.benchmark) { continue }
                if let machine, !Self.machineMatches(machine, key) { continue }
                // A series whose runs were deleted, or (with `branch`) with no run on the branch, is left out.
                guard try db.fetchOne(Int64.self, sql: exists, arguments: Self.seriesRunsArguments(key, branch: branch)) == 1 else { continue }
                keys.append(key)
            }
            return keys.sorted()
        }
    }

    /// Runs of a series with their op row, newest first by start time (ids are local to a database:
    /// `push` and `merge` give copied runs new ids out of time order) (arguments: `seriesRunsArguments` with the
    /// same `branch`). Runs that did not measure this build's code as it is are not points of its
    /// history: the base side of `gate --against` (another binary, `run_meta` key
    /// `worker.executable`) and runs with `--inject-slowdown` (a testing aid, key `inject_slowdown`).
    ///
    /// Dialects differ here: SQLite is told to use index `runs_series_time` (`INDEXED BY`, which
    /// PostgreSQL does not have; its planner picks the index by itself). `limited` appends
    /// `LIMIT ? OFFSET ?` (two more arguments): a page of the newest runs.
    static func seriesRunsSQL(_ dialect: SQLDialect, branch: String?, limited: Bool = false) -> String {
        let hint = dialect == .sqlite ? " INDEXED BY runs_series_time" : ""
        return """
            SELECT r.id, r.started_at, r.status, r.git_commit, r.git_branch, r.git_dirty, r.label, o.id
            FROM runs r\(hint) JOIN ops o ON o.run_id = r.id AND o.suite = ? AND o.name = ?
            WHERE r.machine_id = ? AND r.counter_mode = ? AND r.isa_built = ? AND r.status <> 'running'\(branch == nil ? "" : " AND r.git_branch = ?")
                  AND EXISTS (SELECT 1 FROM op_variants v WHERE v.op_id = o.id AND v.variant = ?)
                  AND NOT EXISTS (SELECT 1 FROM run_meta x WHERE x.run_id = r.id AND x.key IN ('worker.executable', 'inject_slowdown'))
            ORDER BY r.started_at DESC, r.id DESC\(limited ? " LIMIT ? OFFSET ?" : "")
            """
    }

    /// Arguments of `seriesRunsSQL` (the branch only when given).
    static func seriesRunsArguments(_ key: SeriesKey, branch: String?) -> [any StoreEncodable] {
        var arguments: [any StoreEncodable] = [key.benchmark.suite, key.benchmark.op, key.machineID, key.counterMode, key.isaBuilt]
        if let branch { arguments.append(branch) }
        arguments.append(key.benchmark.variant)
        return arguments
    }

    /// A series key from columns `suite, op, variant, machine id, machine key, cpu model, counter
    /// mode, isa built` of `row`.
    static func seriesKey(_ row: StoreRow) throws -> SeriesKey {
        SeriesKey(benchmark: BenchmarkKey(suite: try row.get(at: 0), op: try row.get(at: 1), variant: try row.get(at: 2)),
                  machineID: try row.get(at: 3), machineKey: try row.get(at: 4), cpuModel: try row.get(at: 5),
                  counterMode: try row.get(at: 6), isaBuilt: try row.get(at: 7))
    }

    /// Records that variant `variant` of op row `opID` has samples: `op_variants` and `series`.
    static func recordSeries(_ db: any StoreDatabase, opID: Int64, variant: String) throws {
        try db.execute(sql: "INSERT INTO op_variants (op_id, variant) VALUES (?, ?) ON CONFLICT DO NOTHING", arguments: [opID, variant])
        try db.execute(sql: """
            INSERT INTO series (suite, op, variant, machine_id, counter_mode, isa_built)
            SELECT o.suite, o.name, ?, r.machine_id, r.counter_mode, r.isa_built FROM ops o JOIN runs r ON r.id = o.run_id WHERE o.id = ?
            ON CONFLICT DO NOTHING
            """, arguments: [variant, opID])
    }

    /// Records the series of every op variant of run `runID` (after its counter backend changed).
    static func recordSeries(_ db: any StoreDatabase, runID: Int64) throws {
        try db.execute(sql: """
            INSERT INTO series (suite, op, variant, machine_id, counter_mode, isa_built)
            SELECT o.suite, o.name, v.variant, r.machine_id, r.counter_mode, r.isa_built
            FROM runs r JOIN ops o ON o.run_id = r.id JOIN op_variants v ON v.op_id = o.id WHERE r.id = ?
            ON CONFLICT DO NOTHING
            """, arguments: [runID])
    }

    /// Whether `--machine` text names the series' machine (see `series(matching:branch:machine:)`).
    static func machineMatches(_ text: String, _ key: SeriesKey) -> Bool {
        if text == key.machineKey || text == "m\(key.machineID)" || text == String(key.machineID) { return true }
        // `3` or `m3` names a machine id only; it must not match a CPU model containing "3".
        let idLike = text.drop { $0 == "m" }
        if !idLike.isEmpty && idLike.allSatisfy(\.isASCII) && idLike.allSatisfy(\.isNumber) { return false }
        return !text.isEmpty && key.cpuModel.range(of: text, options: .caseInsensitive) != nil
    }

    /// Whether any stored machine matches `--machine` text (for "unknown machine" errors).
    public func machineExists(_ text: String) throws -> Bool {
        let machines = try read { db in
            try db.fetchAll(sql: "SELECT id, key, cpu_model FROM machines")
        }
        return try machines.contains { row in
            Self.machineMatches(text, SeriesKey(benchmark: BenchmarkKey(suite: "", op: "", variant: ""), machineID: try row.get(at: 0),
                                                machineKey: try row.get(at: 1), cpuModel: try row.get(at: 2), counterMode: "", isaBuilt: ""))
        }
    }

    /// The runs of series `key`, oldest first (by start time), each with its batches of the benchmark.
    ///
    /// Runs of any status are included (an interrupted run keeps its completed ops), except runs
    /// still `running`; a run whose benchmark has no usable batch (all simulated or below the
    /// overhead) is left out.
    ///
    /// The batches are read for `pointChunk` runs at a time, a few queries per chunk (not per run):
    /// on a server engine every query is a round trip, and a 10 000-run series must stay one
    /// second away.
    ///
    /// - Parameters:
    ///   - branch: only runs on this git branch.
    ///   - last: only the newest `last` runs (nil = all); must be ≥ 1.
    /// - Throws: `StoreError.invalidName` when `last` < 1.
    public func seriesPoints(_ key: SeriesKey, branch: String?, last: Int?) throws -> [SeriesPoint] {
        try seriesPoints(key, branch: branch, last: last, chunk: Self.pointChunk)
    }

    /// `seriesPoints(_:branch:last:)` reading `chunk` runs' batches per round and, with `last`, pages
    /// of at least `minimumPage` runs (tests use small ones).
    func seriesPoints(_ key: SeriesKey, branch: String?, last: Int?, chunk chunkSize: Int, minimumPage: Int = 64) throws -> [SeriesPoint] {
        if let last, last < 1 { throw StoreError.invalidName("the number of runs must be at least 1, got \(last)") }
        let chunkSize = max(1, chunkSize)
        return try read { db in
            // Most databases hold no tags: skip the tag lookup then.
            let anyTags = try db.fetchOne(Int64.self, sql: "SELECT 1 FROM run_tags LIMIT 1") != nil
            let withCounters = key.counterMode != CounterSource.none.rawValue
            var points: [SeriesPoint] = []
            // Newest first, so the newest `last` are kept; reversed at the end. With `last`, runs are
            // read a page at a time (a run without a usable batch is skipped, so a page may not be
            // enough); the run rows are read before the points (an engine may not run a query while
            // another one streams).
            let page = last.map { max($0, minimumPage, 1) }
            var offset = 0
            while true {
                var arguments = Self.seriesRunsArguments(key, branch: branch)
                if let page { arguments += [page, offset] }
                let runs = try db.fetchAll(sql: Self.seriesRunsSQL(db.dialect, branch: branch, limited: page != nil), arguments: arguments)
                try Self.appendPoints(&points, runs: runs, db: db, key: key, last: last, chunk: chunkSize, anyTags: anyTags,
                                      withCounters: withCounters, location: engine.location)
                guard let page, runs.count == page, points.count < (last ?? Int.max) else { break }
                offset += page
            }
            return points.reversed()
        }
    }

    /// Appends to `points` the points of `runs` (rows of `seriesRunsSQL`, newest first) until
    /// `last` are there, reading `chunk` runs' points or batches per round.
    private static func appendPoints(_ points: inout [SeriesPoint], runs: [StoreRow], db: any StoreDatabase, key: SeriesKey, last: Int?,
                                     chunk chunkSize: Int, anyTags: Bool, withCounters: Bool, location: String) throws {
        var start = 0
        while start < runs.count {
            let wanted = last.map { $0 - points.count } ?? Int.max
            if wanted <= 0 { break }
            let chunk = runs[start ..< min(runs.count, start + min(chunkSize, wanted))]
            start = chunk.endIndex
            // Runs with a stored point decode it; the others (stored before schema v17, or whose
            // point was not written yet) are read from their batches, a few queries per chunk.
            let opIDs: [Int64] = try chunk.map { try $0.get(at: 7) }
            let stored = try Self.storedPoints(db, opIDs: opIDs, variant: key.benchmark.variant, location: location)
            let unindexed = opIDs.filter { stored[$0] == nil }
            let batches = try Self.batchesByOp(db, opIDs: unindexed, variant: key.benchmark.variant)
            let instructions = withCounters ? try Self.instructionsByOp(db, opIDs: unindexed, variant: key.benchmark.variant) : [:]
            let tags = anyTags ? try Self.runTags(db, runIDs: try chunk.map { try $0.get(at: 0) }) : [:]
            for row in chunk {
                let runID: Int64 = try row.get(at: 0), opID: Int64 = try row.get(at: 7)
                let samples: [Double], processes: [Int], instructionsPerOp: Double?
                if let point = stored[opID] {
                    guard let point else { continue }
                    (samples, processes, instructionsPerOp) = (point.samples, point.processes, withCounters ? point.instructions : nil)
                } else {
                    guard let usable = Self.usableBatches(batches[opID] ?? []) else { continue }
                    (samples, processes, instructionsPerOp) = (usable.samples, usable.processes, instructions[opID])
                }
                points.append(SeriesPoint(runID: runID, startedAt: Date(timeIntervalSince1970: try row.get(at: 1)),
                                          status: try row.get(at: 2), gitCommit: try row.get(at: 3), gitBranch: try row.get(at: 4),
                                          gitDirty: try row.get(at: 5), label: try row.get(at: 6), tags: tags[runID] ?? [:],
                                          samples: samples, processes: processes, instructionsPerOp: instructionsPerOp))
            }
        }
    }

    /// Runs whose batches one round of `seriesPoints` reads (one `IN (...)` list: far below both
    /// engines' bound-parameter limits).
    static let pointChunk = 500

    /// One stored batch of a variant, as `seriesPoints` (and learned noise) read it.
    struct PointBatch {
        /// The sample id (to find its `iteration_latencies` row; 0 when `timed` is read with the batch).
        var id: Int64
        var value: Double
        var process: Int
        var flags: SampleFlags
        /// The batch was timed per iteration (it has an `iteration_latencies` row).
        var timed: Bool
    }

    /// The batches of `variant` of each op row in `opIDs`, in batch (sequence) order.
    static func batchesByOp(_ db: any StoreDatabase, opIDs: [Int64], variant: String) throws -> [Int64: [PointBatch]] {
        guard !opIDs.isEmpty else { return [:] }
        var byOp: [Int64: [PointBatch]] = [:]
        var first = Int64.max, last = Int64.min
        try db.forEachRow(sql: """
            SELECT s.op_id, s.id, (s.wall_ns - s.overhead_ns) / NULLIF(s.iterations, 0), s.process, s.flags
            FROM samples s WHERE s.variant = ? AND s.op_id IN (\(StoreSQL.placeholders(opIDs.count))) ORDER BY s.op_id, s.sequence, s.id
            """, arguments: [variant as any StoreEncodable] + opIDs.map { $0 as any StoreEncodable }) { row in
            let id: Int64 = try row.get(at: 1)
            first = min(first, id)
            last = max(last, id)
            byOp[try row.get(at: 0), default: []].append(PointBatch(id: id, value: (try row.get(at: 2) as Double?) ?? .nan,
                                                                    process: try row.get(at: 3), flags: SampleFlags(rawValue: try row.get(at: 4)),
                                                                    timed: false))
            return true
        }
        guard first <= last else { return byOp }
        // Per-iteration-timed batches: one range read of iteration_latencies (one row per timed
        // sample, keyed by sample id) over the chunk's sample ids.
        let timed = Set(try db.fetchAll(Int64.self, sql: """
            SELECT sample_id FROM iteration_latencies WHERE sample_id BETWEEN ? AND ?
            """, arguments: [first, last]))
        if !timed.isEmpty {
            for (op, batches) in byOp { byOp[op] = batches.map { var b = $0; b.timed = timed.contains(b.id); return b } }
        }
        return byOp
    }

    /// The batches of one op variant that count, with their worker processes, or nil when none is
    /// usable. Which batches count follows `Comparator.decisionBatches`, judged on this variant's
    /// batches (the runner takes per-iteration-timed and plain batches of every variant alike):
    /// when plain batches exist, per-iteration-timed ones are left out; simulated batches, batches
    /// below the harness overhead and unusable values never count.
    static func usableBatches(_ batches: [PointBatch]) -> (samples: [Double], processes: [Int])? {
        let anyPlain = batches.contains { !$0.timed && !$0.flags.contains(.simulated) }
        var samples: [Double] = [], processes: [Int] = []
        for b in batches where !(anyPlain && b.timed) && !b.flags.contains(.simulated) && !b.flags.contains(.belowOverhead) && b.value.isFinite {
            samples.append(b.value)
            processes.append(b.process)
        }
        return samples.isEmpty ? nil : (samples, processes)
    }

    /// Median per-iteration `instructions` of `variant` of each op row in `opIDs` (simulated counts
    /// when stored, else hardware counts); ops without counts are absent.
    static func instructionsByOp(_ db: any StoreDatabase, opIDs: [Int64], variant: String) throws -> [Int64: Double] {
        guard !opIDs.isEmpty else { return [:] }
        // The counter rows of each batch are one rowid range.
        var sim: [Int64: [Double]] = [:], hw: [Int64: [Double]] = [:]
        try db.forEachRow(sql: """
            SELECT s.op_id, c.value / NULLIF(s.iterations, 0), c.backend FROM samples s
                 JOIN counter_values c ON c.id BETWEEN s.id * 1024 AND s.id * 1024 + 1023
            WHERE s.variant = ? AND s.op_id IN (\(StoreSQL.placeholders(opIDs.count))) AND c.event = 'instructions'
            """, arguments: [variant as any StoreEncodable] + opIDs.map { $0 as any StoreEncodable }) { row in
            guard let v: Double = try row.get(at: 1), v.isFinite else { return true }
            let op: Int64 = try row.get(at: 0), backend: String = try row.get(at: 2)
            if backend == "sim" { sim[op, default: []].append(v) } else if backend == "hw" { hw[op, default: []].append(v) }
            return true
        }
        var out: [Int64: Double] = [:]
        for op in Set(sim.keys).union(hw.keys) {
            if let values = sim[op] ?? hw[op] { out[op] = Median.of(values) }
        }
        return out
    }

    // MARK: - Tags

    /// Sets (replacing) the tags of run `runID`.
    ///
    /// - Throws: `StoreError.unknownRun` when the run does not exist, `StoreError.invalidName` for a
    ///   key or value `RunTags.validate` refuses.
    public func setRunTags(runID: Int64, tags: [String: String]) throws {
        for (key, value) in tags { try RunTags.validate(key: key, value: value) }
        try write { db in
            try Self.requireRun(db, runID)
            for (key, value) in tags.sorted(by: { $0.key < $1.key }) {
                try db.execute(sql: """
                    INSERT INTO run_tags (run_id, key, value) VALUES (?, ?, ?)
                    ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value
                    """, arguments: [runID, key, value])
            }
        }
    }

    /// The tags of run `runID` (empty when none).
    public func runTags(runID: Int64) throws -> [String: String] {
        try read { db in try Self.runTags(db, runID: runID) }
    }

    /// `runTags(runID:)` inside a caller's transaction.
    static func runTags(_ db: any StoreDatabase, runID: Int64) throws -> [String: String] {
        var tags: [String: String] = [:]
        for row in try db.fetchAll(sql: "SELECT key, value FROM run_tags WHERE run_id = ?", arguments: [runID]) {
            tags[try row.get(at: 0) as String] = try row.get(at: 1) as String
        }
        return tags
    }

    /// The tags of each run in `runIDs` (runs without tags are absent).
    static func runTags(_ db: any StoreDatabase, runIDs: [Int64]) throws -> [Int64: [String: String]] {
        guard !runIDs.isEmpty else { return [:] }
        var tags: [Int64: [String: String]] = [:]
        try db.forEachRow(sql: "SELECT run_id, key, value FROM run_tags WHERE run_id IN (\(StoreSQL.placeholders(runIDs.count)))",
                          arguments: runIDs) { row in
            tags[try row.get(at: 0) as Int64, default: [:]][try row.get(at: 1) as String] = try row.get(at: 2) as String
            return true
        }
        return tags
    }

    /// Names of the baselines pointing at each run (for history marks), by run id.
    public func baselineNamesByRun() throws -> [Int64: [String]] {
        try read { db in
            var out: [Int64: [String]] = [:]
            for row in try db.fetchAll(sql: "SELECT run_id, name FROM baselines ORDER BY name") {
                out[try row.get(at: 0) as Int64, default: []].append(try row.get(at: 1))
            }
            return out
        }
    }
}

/// Free run labels, `KEY=VALUE` (`fusebench run --tag`).
public enum RunTags {
    /// Longest key and value accepted (characters).
    public static let maximumKeyLength = 64
    public static let maximumValueLength = 256

    /// Parses `KEY=VALUE` (the value may contain `=`, may be empty).
    ///
    /// - Throws: `StoreError.invalidName` when there is no `=` or the key or value is refused.
    public static func parse(_ text: String) throws -> (key: String, value: String) {
        guard let eq = text.firstIndex(of: "=") else {
            throw StoreError.invalidName("'\(text)' is not KEY=VALUE")
        }
        let key = String(text[..<eq]), value = String(text[text.index(after: eq)...])
        try validate(key: key, value: value)
        return (key, value)
    }

    /// Keys: 1–64 characters, an ASCII letter first, then ASCII letters, digits, `_ - .`.
    /// Values: at most 256 characters, no control characters.
    ///
    /// - Throws: `StoreError.invalidName` naming the problem.
    public static func validate(key: String, value: String) throws {
        let scalars = key.unicodeScalars
        guard let first = scalars.first, first.isASCII, first.properties.isAlphabetic else {
            throw StoreError.invalidName("tag key '\(key)' must start with an ASCII letter")
        }
        guard key.count <= maximumKeyLength,
              scalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0)) }) else {
            throw StoreError.invalidName("tag key '\(key)' may hold at most \(maximumKeyLength) ASCII letters, digits, _ - .")
        }
        guard value.count <= maximumValueLength else {
            throw StoreError.invalidName("tag '\(key)': value longer than \(maximumValueLength) characters")
        }
        guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw StoreError.invalidName("tag '\(key)': value contains a control character")
        }
    }
}
