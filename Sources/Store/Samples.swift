import Foundation
import BenchModel

extension ResultStore {
    // MARK: - Ops

    /// Records an op measured in a run and returns its row id. Recording the same
    /// (run, suite, name) again returns the existing id and keeps the first description.
    ///
    /// - Throws: `StoreError.unknownRun` when the run does not exist.
    public func recordOp(runID: Int64, op: OpRecord) throws -> Int64 {
        let shape = try encodeJSON(op.shape)
        return try write { db in try Self.recordOp(db, runID: runID, op: op, shape: shape) }
    }

    /// `recordOp` inside a caller's transaction; `shape` is the op's shape as JSON.
    static func recordOp(_ db: any StoreDatabase, runID: Int64, op: OpRecord, shape: String) throws -> Int64 {
        try requireRun(db, runID)
        if let id = try db.fetchOne(Int64.self, sql: "SELECT id FROM ops WHERE run_id = ? AND suite = ? AND name = ?",
                                    arguments: [runID, op.suite, op.name]) {
            return id
        }
        let inserted = try db.fetchOne(Int64.self, sql: """
            INSERT INTO ops (run_id, suite, name, kind, shape, dtype, flops, bytes, threshold)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            RETURNING id
            """, arguments: [runID, op.suite, op.name, op.kind, shape, op.dtype, op.flops, op.bytes, op.threshold])
        guard let inserted else { throw StoreRowError("inserting op \(op.suite)/\(op.name) returned no id") }
        return inserted
    }

    /// Ops of a run in the order they were recorded.
    public func ops(runID: Int64) throws -> [OpRecord] {
        try read { db in
            try db.fetchAll(sql: """
                SELECT suite, name, kind, shape, dtype, flops, bytes, threshold FROM ops WHERE run_id = ? ORDER BY id
                """, arguments: [runID]).map { row in
                let name: String = try row.get(at: 1)
                return OpRecord(suite: try row.get(at: 0), name: name, kind: try row.get(at: 2),
                                shape: try decodeJSON([String: Int].self, row.get(at: 3), what: "ops.shape of op \(name)"),
                                dtype: try row.get(at: 4), flops: try row.get(at: 5), bytes: try row.get(at: 6), threshold: try row.get(at: 7))
            }
        }
    }

    // MARK: - Samples

    /// Appends raw samples of one op to a run in a single transaction, with their counter values
    /// in `counter_values`. `Sample.suite` and `Sample.op` are not stored: `opID` says which op the
    /// samples belong to, and reading them back keys them by that op's suite and name.
    ///
    /// On SQLite, uses cached prepared statements bound through the SQLite C API (see
    /// `SampleWriter`); other engines take `INSERT ... RETURNING id` per sample and `insertRows` for
    /// the counter values (see `writeSamples`).
    ///
    /// - Throws: `StoreError.unknownRun` when the run does not exist or `opID` is not one of its ops;
    ///   `StoreError.unusable` when a sample has more than 1024 counter values. Nothing is written then.
    public func insertSamples(runID: Int64, opID: Int64, samples: [Sample]) throws {
        guard !samples.isEmpty else { return }
        try write { db in
            try Self.requireOp(db, runID: runID, opID: opID)
            try writeSamples(db, runID: runID, opID: opID, samples: samples)
        }
    }

    /// Inserts samples with their counters, latencies and function profiles inside the caller's
    /// transaction, then records the op's variants and series. SQLite takes `SampleWriter` (its hot
    /// path) unless the store was made to use the portable path; other engines insert each sample
    /// with `RETURNING id` and its counters, latencies and profile rows in bulk (`insertRows`).
    func writeSamples(_ db: any StoreDatabase, runID: Int64, opID: Int64, samples: [Sample]) throws {
        if nativeSampleWriter, let sqlite = db as? SQLiteConnection {
            try SampleWriter(sqlite.db).insert(runID: runID, opID: opID, samples: samples, path: path)
            return
        }
        let limit = Schema.countersPerSampleLimit
        var counters: [[StoreValue]] = [], latencies: [[StoreValue]] = [], functions: [[StoreValue]] = []
        for sample in samples {
            try SampleWriter.validate(sample, path: path)
            guard let sampleID = try db.fetchOne(Int64.self, sql: """
                INSERT INTO samples (run_id, op_id, variant, sequence, process, iterations, wall_ns, cpu_ns, overhead_ns, flags)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                RETURNING id
                """, arguments: [runID, opID, sample.variant, sample.sequence, sample.process, sample.iterations, sample.wallNs,
                                 sample.cpuNs, sample.overheadNs, Int64(sample.flags.rawValue)]) else {
                throw StoreRowError("inserting a sample returned no id")
            }
            if let l = sample.iterationLatencies {
                let labels: StoreValue = l.labels.contains(where: { $0 != 0 }) ? .text(LatencyJSON.encode(l.labels)) : .null
                latencies.append([.integer(sampleID), .integer(Int64(l.ns.count)), .real(l.overheadNs), .text(LatencyJSON.encode(l.ns)), labels])
            }
            if let profile = sample.functionProfile {
                functions += SampleWriter.functionRows(profile, sampleID: sampleID)
            }
            guard !sample.counters.isEmpty else { continue }
            let (firstID, overflow) = sampleID.multipliedReportingOverflow(by: limit)
            if overflow || sampleID < 0 {
                throw StoreError.unusable(path: path, reason: "sample id \(sampleID) is too large to key its counter values")
            }
            for (position, counter) in sample.counters.enumerated() {
                counters.append([.integer(firstID + Int64(position)), .integer(sampleID), .text(counter.event), .real(counter.value),
                                 .integer(Int64(bitPattern: counter.raw)), .integer(Int64(bitPattern: counter.timeEnabled)),
                                 .integer(Int64(bitPattern: counter.timeRunning)), .text(counter.backend.rawValue)])
            }
        }
        try db.insertRows(table: "counter_values", columns: SampleWriter.counterColumns, rows: counters)
        try db.insertRows(table: "iteration_latencies", columns: SampleWriter.latencyColumns, rows: latencies)
        try db.insertRows(table: "sim_functions", columns: SampleWriter.functionColumns, rows: functions)
        var variants = Set<String>()
        for sample in samples where variants.insert(sample.variant).inserted {
            try Self.recordSeries(db, opID: opID, variant: sample.variant)
        }
    }

    /// Samples of a run ordered by sequence (then insertion), with their counters attached in
    /// insertion order, each keyed `SUITE/OP/VARIANT` by its op's row. `op` restricts to that op
    /// (`SUITE/OP`). `iterationLatencies` also attaches the per-iteration latencies
    /// (`iteration_latencies`), checked to hold one value (and label) per iteration.
    public func samples(runID: Int64, op: OpKey? = nil, iterationLatencies: Bool = false) throws -> [Sample] {
        try read { db in
            var filter = "o.run_id = ?"
            var arguments: [any StoreEncodable] = [runID]
            if let op {
                filter += " AND o.suite = ? AND o.name = ?"
                arguments += [op.suite, op.op]
            }
            var ids: [Int64] = []
            var samples: [Sample] = []
            try db.forEachRow(sql: """
                SELECT s.id, o.suite, o.name, s.variant, s.sequence, s.process, s.iterations, s.wall_ns, s.cpu_ns, s.overhead_ns, s.flags
                FROM ops o JOIN samples s ON s.op_id = o.id
                WHERE \(filter)
                ORDER BY s.sequence, s.id
                """, arguments: arguments) { row in
                ids.append(try row.get(at: 0))
                samples.append(Sample(key: BenchmarkKey(suite: try row.get(at: 1), op: try row.get(at: 2), variant: try row.get(at: 3)),
                                      sequence: try row.get(at: 4), process: try row.get(at: 5), iterations: try row.get(at: 6),
                                      wallNs: try row.get(at: 7), cpuNs: try row.get(at: 8), overheadNs: try row.get(at: 9),
                                      flags: SampleFlags(rawValue: try row.get(at: 10))))
                return true
            }
            guard !samples.isEmpty else { return samples }
            var indexByID: [Int64: Int] = [:]
            indexByID.reserveCapacity(ids.count)
            for (index, id) in ids.enumerated() { indexByID[id] = index }
            // A sample's counters are the id range [sample_id * 1024, sample_id * 1024 + 1023].
            try db.forEachRow(sql: """
                SELECT c.sample_id, c.event, c.value, c.raw, c.time_enabled, c.time_running, c.backend
                FROM ops o JOIN samples s ON s.op_id = o.id
                     JOIN counter_values c ON c.id BETWEEN s.id * 1024 AND s.id * 1024 + 1023
                WHERE \(filter)
                ORDER BY c.id
                """, arguments: arguments) { row in
                guard let index = indexByID[try row.get(at: 0)] else { return true }
                let backendText: String = try row.get(at: 6)
                guard let backend = CounterBackend(rawValue: backendText) else {
                    throw StoreError.unusable(path: path, reason: "counter value has unknown backend '\(backendText)'")
                }
                let raw: Int64 = try row.get(at: 3), enabled: Int64 = try row.get(at: 4), running: Int64 = try row.get(at: 5)
                samples[index].counters.append(CounterValue(
                    event: try row.get(at: 1), value: try row.get(at: 2), raw: UInt64(bitPattern: raw),
                    timeEnabled: UInt64(bitPattern: enabled), timeRunning: UInt64(bitPattern: running), backend: backend))
                return true
            }
            if iterationLatencies {
                try db.forEachRow(sql: """
                    SELECT l.sample_id, l.overhead_ns, l.ns, l.labels
                    FROM ops o JOIN samples s ON s.op_id = o.id JOIN iteration_latencies l ON l.sample_id = s.id
                    WHERE \(filter)
                    """, arguments: arguments) { row in
                    let sampleID: Int64 = try row.get(at: 0)
                    guard let index = indexByID[sampleID] else { return true }
                    let nsText: String = try row.get(at: 2)
                    let labelsText: String? = try row.get(at: 3)
                    guard let ns = LatencyJSON.decode(nsText), let labels = labelsText.map({ LatencyJSON.decode($0) }) ?? [] else {
                        throw StoreError.unusable(path: path, reason: "iteration_latencies of sample id \(sampleID) is not a JSON array of integers")
                    }
                    guard ns.count == samples[index].iterations, labels.isEmpty || labels.count == ns.count else {
                        throw StoreError.unusable(path: path, reason: "iteration_latencies of sample id \(sampleID) holds \(ns.count) times and \(labels.count) labels for \(samples[index].iterations) iterations")
                    }
                    samples[index].iterationLatencies = IterationLatencies(
                        ns: ns.map { UInt32(clamping: $0) }, labels: labels.isEmpty ? [] : labels.map { Int32(clamping: $0) },
                        overheadNs: try row.get(at: 1))
                    return true
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
        try write { db in
            try Self.requireOp(db, runID: runID, opID: opID)
            try Self.insertAccuracy(db, runID: runID, opID: opID, check: check)
        }
    }

    /// `insertAccuracy` inside a caller's transaction (the op is known to belong to the run).
    static func insertAccuracy(_ db: any StoreDatabase, runID: Int64, opID: Int64, check: AccuracyCheck) throws {
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
        try read { db in
            var arguments: [any StoreEncodable] = [runID]
            if let op { arguments += [op.suite, op.op] }
            return try db.fetchAll(sql: """
                SELECT o.suite, o.name, a.variant, a.reference_variant, a.max_abs_error, a.max_rel_error, a.cosine,
                       a.tol_abs, a.tol_rel, a.tol_min_cosine, a.passed, a.reason,
                       a.err_normalised, a.err_normalisation, a.worst_rel_ref_abs, a.output_rms
                FROM accuracy_checks a JOIN ops o ON o.id = a.op_id
                WHERE a.run_id = ?\(op == nil ? "" : " AND o.suite = ? AND o.name = ?") ORDER BY a.id
                """, arguments: arguments).map { row in
                // An unknown normalisation name (a newer build's) reads as unknown, with its figure.
                let normalization = (try row.get(at: 13) as String?).flatMap(ErrorNormalization.init(rawValue:))
                return AccuracyCheck(suite: try row.get(at: 0), op: try row.get(at: 1), variant: try row.get(at: 2),
                                     referenceVariant: try row.get(at: 3), maxAbsError: try row.get(at: 4),
                                     maxRelError: try row.get(at: 5), cosine: try row.get(at: 6),
                                     tolerance: Tolerance(abs: try row.get(at: 7), rel: try row.get(at: 8), minCosine: try row.get(at: 9)),
                                     passed: try row.get(at: 10), reason: try row.get(at: 11),
                                     normalizedError: normalization == nil ? nil : try row.get(at: 12) as Double?,
                                     normalization: normalization, worstRelReference: try row.get(at: 14), outputRMS: try row.get(at: 15))
            }
        }
    }

    // MARK: - Checks

    /// Throws `unknownRun` unless run `runID` exists.
    static func requireRun(_ db: any StoreDatabase, _ runID: Int64) throws {
        let exists = try db.fetchOne(Int64.self, sql: "SELECT 1 FROM runs WHERE id = ?", arguments: [runID]) != nil
        if !exists { throw StoreError.unknownRun(String(runID)) }
    }

    /// Throws `unknownRun` unless op `opID` exists and belongs to run `runID`.
    static func requireOp(_ db: any StoreDatabase, runID: Int64, opID: Int64) throws {
        try Self.requireRun(db, runID)
        let owner = try db.fetchOne(Int64.self, sql: "SELECT run_id FROM ops WHERE id = ?", arguments: [opID])
        if owner != runID { throw StoreError.unknownRun("\(runID) (op id \(opID) is not an op of this run)") }
    }
}
