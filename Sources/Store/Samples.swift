import Foundation
import GRDB
import BenchModel

extension ResultStore {
    // MARK: - Ops

    /// Records an op measured in a run and returns its row id. Recording the same
    /// (run, suite, name) again returns the existing id and keeps the first description.
    ///
    /// - Throws: `StoreError.unknownRun` when the run does not exist.
    public func recordOp(runID: Int64, op: OpRecord) throws -> Int64 {
        let shape = try encodeJSON(op.shape)
        return try sqliteWrite { db in try Self.recordOp(db, runID: runID, op: op, shape: shape) }
    }

    /// `recordOp` inside a caller's transaction; `shape` is the op's shape as JSON.
    static func recordOp(_ db: Database, runID: Int64, op: OpRecord, shape: String) throws -> Int64 {
        try requireRun(db, runID)
        if let id = try Int64.fetchOne(db, sql: "SELECT id FROM ops WHERE run_id = ? AND suite = ? AND name = ?",
                                       arguments: [runID, op.suite, op.name]) {
            return id
        }
        try db.execute(sql: """
            INSERT INTO ops (run_id, suite, name, kind, shape, dtype, flops, bytes, threshold)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [runID, op.suite, op.name, op.kind, shape, op.dtype, op.flops, op.bytes, op.threshold])
        return db.lastInsertedRowID
    }

    /// Ops of a run in the order they were recorded.
    public func ops(runID: Int64) throws -> [OpRecord] {
        try sqliteRead { db in
            try Row.fetchAll(db, sql: """
                SELECT suite, name, kind, shape, dtype, flops, bytes, threshold FROM ops WHERE run_id = ? ORDER BY id
                """, arguments: [runID]).map { row in
                let name: String = row[1]
                return OpRecord(suite: row[0], name: name, kind: row[2],
                                shape: try decodeJSON([String: Int].self, row[3], what: "ops.shape of op \(name)"),
                                dtype: row[4], flops: row[5], bytes: row[6], threshold: row[7])
            }
        }
    }

    // MARK: - Samples

    /// Appends raw samples of one op to a run in a single transaction, with their counter values
    /// in `counter_values`. `Sample.suite` and `Sample.op` are not stored: `opID` says which op the
    /// samples belong to, and reading them back keys them by that op's suite and name.
    ///
    /// Uses two cached prepared statements bound through the SQLite C API (see `SampleWriter`);
    /// the sample id keying the counter rows is SQLite's last insert rowid.
    ///
    /// - Throws: `StoreError.unknownRun` when the run does not exist or `opID` is not one of its ops;
    ///   `StoreError.unusable` when a sample has more than 1024 counter values. Nothing is written then.
    public func insertSamples(runID: Int64, opID: Int64, samples: [Sample]) throws {
        guard !samples.isEmpty else { return }
        try sqliteWrite { db in
            try Self.requireOp(db, runID: runID, opID: opID)
            try SampleWriter(db).insert(runID: runID, opID: opID, samples: samples, path: path)
        }
    }

    /// Samples of a run ordered by sequence (then insertion), with their counters attached in
    /// insertion order, each keyed `SUITE/OP/VARIANT` by its op's row. `op` restricts to that op
    /// (`SUITE/OP`). `iterationLatencies` also attaches the per-iteration latencies
    /// (`iteration_latencies`), checked to hold one value (and label) per iteration.
    public func samples(runID: Int64, op: OpKey? = nil, iterationLatencies: Bool = false) throws -> [Sample] {
        try sqliteRead { db in
            var filter = "o.run_id = ?"
            var arguments: StatementArguments = [runID]
            if let op {
                filter += " AND o.suite = ? AND o.name = ?"
                arguments += [op.suite, op.op]
            }
            var ids: [Int64] = []
            var samples: [Sample] = []
            let rows = try Row.fetchCursor(db, sql: """
                SELECT s.id, o.suite, o.name, s.variant, s.sequence, s.process, s.iterations, s.wall_ns, s.cpu_ns, s.overhead_ns, s.flags
                FROM ops o JOIN samples s ON s.op_id = o.id
                WHERE \(filter)
                ORDER BY s.sequence, s.id
                """, arguments: arguments)
            while let row = try rows.next() {
                ids.append(row[0])
                samples.append(Sample(key: BenchmarkKey(suite: row[1], op: row[2], variant: row[3]), sequence: row[4],
                                      process: row[5], iterations: row[6], wallNs: row[7], cpuNs: row[8], overheadNs: row[9],
                                      flags: SampleFlags(rawValue: row[10])))
            }
            guard !samples.isEmpty else { return samples }
            var indexByID: [Int64: Int] = [:]
            indexByID.reserveCapacity(ids.count)
            for (index, id) in ids.enumerated() { indexByID[id] = index }
            // A sample's counters are the id range [sample_id * 1024, sample_id * 1024 + 1023].
            let counters = try Row.fetchCursor(db, sql: """
                SELECT c.sample_id, c.event, c.value, c.raw, c.time_enabled, c.time_running, c.backend
                FROM ops o JOIN samples s ON s.op_id = o.id
                     JOIN counter_values c ON c.id BETWEEN s.id * 1024 AND s.id * 1024 + 1023
                WHERE \(filter)
                ORDER BY c.id
                """, arguments: arguments)
            while let row = try counters.next() {
                guard let index = indexByID[row[0]] else { continue }
                let backendText: String = row[6]
                guard let backend = CounterBackend(rawValue: backendText) else {
                    throw StoreError.unusable(path: path, reason: "counter value has unknown backend '\(backendText)'")
                }
                samples[index].counters.append(CounterValue(
                    event: row[1], value: row[2], raw: UInt64(bitPattern: row[3] as Int64),
                    timeEnabled: UInt64(bitPattern: row[4] as Int64), timeRunning: UInt64(bitPattern: row[5] as Int64),
                    backend: backend))
            }
            if iterationLatencies {
                let rows = try Row.fetchCursor(db, sql: """
                    SELECT l.sample_id, l.overhead_ns, l.ns, l.labels
                    FROM ops o JOIN samples s ON s.op_id = o.id JOIN iteration_latencies l ON l.sample_id = s.id
                    WHERE \(filter)
                    """, arguments: arguments)
                while let row = try rows.next() {
                    guard let index = indexByID[row[0]] else { continue }
                    let nsText: String = row[2]
                    let labelsText: String? = row[3]
                    guard let ns = LatencyJSON.decode(nsText), let labels = labelsText.map({ LatencyJSON.decode($0) }) ?? [] else {
                        throw StoreError.unusable(path: path, reason: "iteration_latencies of sample id \(row[0] as Int64) is not a JSON array of integers")
                    }
                    guard ns.count == samples[index].iterations, labels.isEmpty || labels.count == ns.count else {
                        throw StoreError.unusable(path: path, reason: "iteration_latencies of sample id \(row[0] as Int64) holds \(ns.count) times and \(labels.count) labels for \(samples[index].iterations) iterations")
                    }
                    samples[index].iterationLatencies = IterationLatencies(
                        ns: ns.map { UInt32(clamping: $0) }, labels: labels.isEmpty ? [] : labels.map { Int32(clamping: $0) },
                        overheadNs: row[1])
                }
            }
            return samples
        }
    }

    // MARK: - Accuracy

    /// Records the accuracy check of a variant of op `opID` in run `runID`.
    ///
    /// - Throws: `StoreError.unknownRun` when the run does not exist or `opID` is not one of its ops.
    public func insertAccuracy(runID: Int64, opID: Int64, check: AccuracyCheck) throws {
        try sqliteWrite { db in
            try Self.requireOp(db, runID: runID, opID: opID)
            try Self.insertAccuracy(db, runID: runID, opID: opID, check: check)
        }
    }

    /// `insertAccuracy` inside a caller's transaction (the op is known to belong to the run).
    static func insertAccuracy(_ db: Database, runID: Int64, opID: Int64, check: AccuracyCheck) throws {
        try db.execute(sql: """
            INSERT INTO accuracy_checks (run_id, op_id, variant, reference_variant, max_abs_error, max_rel_error,
                                         cosine, tol_abs, tol_rel, tol_min_cosine, passed, reason,
                                         err_normalised, err_normalisation, worst_rel_ref_abs, output_rms)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [
                runID, opID, check.variant, check.referenceVariant, check.maxAbsError, check.maxRelError,
                check.cosine, check.tolerance.abs, check.tolerance.rel, check.tolerance.minCosine,
                check.passed, check.reason, check.normalizedError, check.normalization?.rawValue,
                check.worstRelReference, check.outputRMS,
            ])
    }

    /// Accuracy checks of a run in the order they were recorded, each keyed by its op's row;
    /// `op` restricts to that op (`SUITE/OP`).
    public func accuracyChecks(runID: Int64, op: OpKey? = nil) throws -> [AccuracyCheck] {
        try sqliteRead { db in
            try Row.fetchAll(db, sql: """
                SELECT o.suite, o.name, a.variant, a.reference_variant, a.max_abs_error, a.max_rel_error, a.cosine,
                       a.tol_abs, a.tol_rel, a.tol_min_cosine, a.passed, a.reason,
                       a.err_normalised, a.err_normalisation, a.worst_rel_ref_abs, a.output_rms
                FROM accuracy_checks a JOIN ops o ON o.id = a.op_id
                WHERE a.run_id = ? AND (? IS NULL OR (o.suite = ? AND o.name = ?)) ORDER BY a.id
                """, arguments: [runID, op?.suite, op?.suite, op?.op]).map { row in
                // An unknown normalisation name (a newer build's) reads as unknown, with its figure.
                let normalization = (row[13] as String?).flatMap(ErrorNormalization.init(rawValue:))
                return AccuracyCheck(suite: row[0], op: row[1], variant: row[2], referenceVariant: row[3], maxAbsError: row[4],
                                     maxRelError: row[5], cosine: row[6],
                                     tolerance: Tolerance(abs: row[7], rel: row[8], minCosine: row[9]),
                                     passed: row[10], reason: row[11],
                                     normalizedError: normalization == nil ? nil : row[12] as Double?,
                                     normalization: normalization, worstRelReference: row[14], outputRMS: row[15])
            }
        }
    }

    // MARK: - Checks

    /// Throws `unknownRun` unless run `runID` exists.
    static func requireRun(_ db: Database, _ runID: Int64) throws {
        let exists = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?)", arguments: [runID]) ?? false
        if !exists { throw StoreError.unknownRun(String(runID)) }
    }

    /// Throws `unknownRun` unless op `opID` exists and belongs to run `runID`.
    static func requireOp(_ db: Database, runID: Int64, opID: Int64) throws {
        try Self.requireRun(db, runID)
        let owner = try Int64.fetchOne(db, sql: "SELECT run_id FROM ops WHERE id = ?", arguments: [opID])
        if owner != runID { throw StoreError.unknownRun("\(runID) (op id \(opID) is not an op of this run)") }
    }
}
