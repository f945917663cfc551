// Queries for learned noise (docs/history.md): the completed runs of one machine key in start order
// with what A/A pairing needs (run meta `RunMetaKey.binaryHash`, `RunMetaKey.injectSlowdown`, the
// configured process count from `runs.config`, which of the asked benchmarks each run measured), and
// per-process medians of net ns/iteration of chosen runs.
//
// Cost: one query over the machine's runs (indexes `machines_key`, `runs_machine`, `run_meta`'s
// primary key), one per asked op over `ops` by name (index `ops_benchmark`, migration
// v10-ops-by-benchmark) and one per (benchmark, run) whose medians are read (`ops`' unique
// (run_id, suite, name), then `samples_op_sequence`). Medians are read only for the runs the caller
// names, so a caller that needs the newest pairs reads about as many runs as it uses.
import Foundation
import BenchModel

extension ResultStore {
    /// The completed runs measured on machines with `MachineFingerprint.key` `machineKey` that have
    /// samples of at least one of `keys`, oldest first (by start time, then id), without the runs in
    /// `excluding`. Each carries its `binary.hash`, injected-slowdown marker, configured process
    /// count and the benchmarks of `keys` it measured; `processMedians` is left empty (see
    /// `readProcessMedians`).
    public func noiseRuns(machineKey: String, keys: [BenchmarkKey], excluding: Set<Int64>) throws -> [NoiseRunSummary] {
        guard !keys.isEmpty else { return [] }
        return try read { db in
            var runs: [Int64: NoiseRunSummary] = [:]
            try db.forEachRow(sql: """
                SELECT r.id, r.started_at,
                       (SELECT x.value FROM run_meta x WHERE x.run_id = r.id AND x.key = ?),
                       CASE WHEN EXISTS (SELECT 1 FROM run_meta x WHERE x.run_id = r.id AND x.key = ?) THEN 1 ELSE 0 END,
                       r.config
                FROM machines m JOIN runs r ON r.machine_id = m.id
                WHERE m.key = ? AND r.status = 'complete'
                """, arguments: [RunMetaKey.binaryHash, RunMetaKey.injectSlowdown, machineKey]) { row in
                let id: Int64 = try row.get(at: 0)
                if excluding.contains(id) { return true }
                runs[id] = NoiseRunSummary(runID: id, startedAt: try row.get(at: 1), machineKey: machineKey, binaryHash: try row.get(at: 2),
                                           injectedSlowdown: try row.get(at: 3), processes: Self.configuredProcesses(try row.get(at: 4)),
                                           benchmarks: [])
                return true
            }
            guard !runs.isEmpty else { return [] }
            // Which runs measured each asked benchmark: the op's rows by name, then its variants.
            var variantsByOp: [OpKey: Set<String>] = [:]
            for key in keys { variantsByOp[key.opKey, default: []].insert(key.variant) }
            for (opKey, variants) in variantsByOp.sorted(by: { $0.key < $1.key }) {
                try db.forEachRow(sql: Self.opRunsSQL, arguments: [opKey.suite, opKey.op]) { row in
                    let runID: Int64 = try row.get(at: 0), variant: String = try row.get(at: 1)
                    guard variants.contains(variant), runs[runID] != nil else { return true }
                    runs[runID]?.benchmarks.insert(opKey.variant(variant))
                    return true
                }
            }
            return runs.values.filter { !$0.benchmarks.isEmpty }.sorted {
                $0.startedAt != $1.startedAt ? $0.startedAt < $1.startedAt : $0.runID < $1.runID
            }
        }
    }

    /// The `processes` entry of a run's configuration JSON (`runs.config`, written by the runner as a
    /// string; a number is read too), or nil when absent or not a positive count.
    static func configuredProcesses(_ config: String) -> Int? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(config.utf8)) as? [String: Any] else { return nil }
        let count: Int?
        switch object["processes"] {
        case let text as String: count = Int(text)
        case let number as NSNumber: count = number.intValue
        default: count = nil
        }
        return count.flatMap { $0 >= 1 ? $0 : nil }
    }

    /// Runs and variants with samples of one op (arguments: suite, op name); by index `ops_benchmark`.
    static let opRunsSQL = """
        SELECT o.run_id, v.variant FROM ops o JOIN op_variants v ON v.op_id = o.id WHERE o.suite = ? AND o.name = ?
        """

    /// `runs` with `processMedians` filled for the benchmarks and runs of `wanted` (benchmark →
    /// run ids): per worker process (ascending index) the median net ns/iteration of its time
    /// batches. Simulated and below-overhead batches are left out; per-iteration-timed batches are
    /// left out when the variant has plain ones (as `compare` decides from). A benchmark with no
    /// usable batch in a run gets no entry.
    public func readProcessMedians(_ runs: [NoiseRunSummary], wanted: [BenchmarkKey: Set<Int64>]) throws -> [NoiseRunSummary] {
        var position: [Int64: Int] = [:]
        for i in runs.indices { position[runs[i].runID] = i }
        return try read { db in
            var out = runs
            for (key, ids) in wanted.sorted(by: { $0.key < $1.key }) {
                for runID in ids.sorted() {
                    guard let i = position[runID], out[i].benchmarks.contains(key) else { continue }
                    if let medians = try Self.processMedians(db, runID: runID, key: key) {
                        out[i].processMedians[key] = medians
                    }
                }
            }
            return out
        }
    }

    /// `noiseRuns` with the per-process medians of every run read (convenient for small histories
    /// and tests; `NoiseHistory` reads only the runs its pairs use).
    public func noiseRunSummaries(machineKey: String, keys: [BenchmarkKey], excluding: Set<Int64>) throws -> [NoiseRunSummary] {
        let runs = try noiseRuns(machineKey: machineKey, keys: keys, excluding: excluding)
        var wanted: [BenchmarkKey: Set<Int64>] = [:]
        for run in runs { for key in run.benchmarks { wanted[key, default: []].insert(run.runID) } }
        return try readProcessMedians(runs, wanted: wanted)
    }

    /// One benchmark's batches in one run: process, net ns/iteration, flags, per-iteration timed
    /// (arguments: run id, suite, op, variant).
    static let processBatchesSQL = """
        SELECT s.process, (s.wall_ns - s.overhead_ns) / NULLIF(s.iterations, 0), s.flags, CASE WHEN l.sample_id IS NULL THEN 0 ELSE 1 END
        FROM ops o JOIN samples s ON s.op_id = o.id LEFT JOIN iteration_latencies l ON l.sample_id = s.id
        WHERE o.run_id = ? AND o.suite = ? AND o.name = ? AND s.variant = ?
        """

    private static func processMedians(_ db: any StoreDatabase, runID: Int64, key: BenchmarkKey) throws -> [Double]? {
        var batches: [PointBatch] = []
        try db.forEachRow(sql: processBatchesSQL, arguments: [runID, key.suite, key.op, key.variant]) { row in
            batches.append(PointBatch(id: 0, value: (try row.get(at: 1) as Double?) ?? .nan, process: try row.get(at: 0),
                                      flags: SampleFlags(rawValue: try row.get(at: 2)), timed: try row.get(at: 3)))
            return true
        }
        // The batches history decides from (as Comparator.decisionBatches), positive ones only.
        guard let usable = usableBatches(batches) else { return nil }
        var byProcess: [Int: [Double]] = [:]
        for (value, process) in zip(usable.samples, usable.processes) where value > 0 {
            byProcess[process, default: []].append(value)
        }
        guard !byProcess.isEmpty else { return nil }
        return byProcess.keys.sorted().compactMap { byProcess[$0].map { Median.of($0) } }
    }

    /// The distinct machine keys (`machines.key`) that `--machine` text names, sorted: a key itself,
    /// `m<ID>` / `<ID>`, or part of a CPU model (as `history --machine`).
    public func machineKeys(matching text: String) throws -> [String] {
        let machines = try read { db in try db.fetchAll(sql: "SELECT id, key, cpu_model FROM machines") }
        var keys = Set<String>()
        for row in machines {
            let key = SeriesKey(benchmark: BenchmarkKey(suite: "", op: "", variant: ""), machineID: try row.get(at: 0),
                                machineKey: try row.get(at: 1), cpuModel: try row.get(at: 2), counterMode: "", isaBuilt: "")
            if text == key.machineKey { return [text] }   // an exact key names that key only
            if Self.machineMatches(text, key) { keys.insert(key.machineKey) }
        }
        return keys.sorted()
    }
}
