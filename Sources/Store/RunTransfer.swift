// Copying runs between two results stores (`fusebench push`, `fusebench merge`): every row a run
// owns, written to the target with the target's own ids, matched across databases by the run's
// UUID (schema v16) and machines by fingerprint. Written only against the engine seam
// (`StoreDatabase`), so SQLite→SQLite, SQLite→PostgreSQL and PostgreSQL→SQLite all work.
import Foundation
import BenchModel

/// Copies runs, baselines, change-point triage and simulated-counter cache entries from one
/// `ResultStore` into another.
///
/// Identity: ids are local to a database. A run is the same run everywhere by its `runs.uuid`; a
/// machine by its fingerprint JSON text (`machines.fingerprint`, its id `fingerprint_id`); a series
/// by (suite, op, variant, machine fingerprint, counter backend, built ISA); a change point by its
/// series, branch filter and the UUID of its first run after the step.
///
/// Runs: each run is copied in ONE target transaction (all its rows or none), so a push killed
/// half-way leaves the run it was copying absent and every earlier run complete; pushing again
/// resumes. A run whose UUID the target already has is skipped (`alreadyPresent`), so pushing twice
/// changes nothing; a run still `running` is skipped (`skippedRunning`).
///
/// The tables whose rows belong to a run (`runOwnedTables`), all copied:
/// - `runs` (the row itself; `machine_id` mapped, `owner_lock` cleared: the lock belongs to the
///   source file), `run_meta`, `run_tags`;
/// - `machines` (by fingerprint, inserted when the target lacks it);
/// - `ops` (new ids), `op_variants`, `series` (re-derived from the run's op variants, `ON CONFLICT
///   DO NOTHING`);
/// - `samples` (new ids, allocated as the target's `MAX(id) + 1 ...` inside the write transaction;
///   on PostgreSQL the transaction first takes `LOCK TABLE samples IN SHARE ROW EXCLUSIVE MODE`, so
///   concurrent pushes take turns and cannot collide or deadlock; the engine's `insertRows` moves the
///   identity sequence past the explicit ids), `counter_values` (`id = new sample id * 1024 + position`), `iteration_latencies`,
///   `sim_functions` (by sample);
/// - `accuracy_checks`, `thermal_readings`, `variant_decisions`, `fusion_decisions` (by run);
/// - `series_points` (by op; derived from the run's batches: computed from the source's batches
///   when the source has none, e.g. a read-only database of a fusebench before schema v17).
///
/// Not run-owned, handled by their own calls: `baselines` and `baseline_moves` (`copyBaselines`),
/// `change_points` (`copyChangePoints`), `sim_cache` (`copySimCache`). `grdb_migrations` is schema
/// bookkeeping. `RunTransferTests` fails when a table appears that neither list names.
public struct RunTransfer {
    /// Tables whose rows belong to a run and are copied with it by `copyRun`.
    public static let runOwnedTables: [String] = [
        "runs", "run_meta", "run_tags", "machines", "ops", "op_variants", "series", "samples", "counter_values",
        "iteration_latencies", "sim_functions", "accuracy_checks", "thermal_readings", "variant_decisions",
        "fusion_decisions", "series_points",
    ]
    /// Tables that are not run-owned: copied by `copyBaselines`, `copyChangePoints`, `copySimCache`,
    /// or schema bookkeeping (never copied).
    public static let otherTables: [String] = ["baselines", "baseline_moves", "change_points", "sim_cache", "grdb_migrations"]

    /// What happened to one run.
    public enum Outcome: Sendable, Hashable {
        /// Copied: the target now holds it under `targetID` with this many samples.
        case pushed(targetID: Int64, samples: Int)
        /// The target already holds a run with this UUID (nothing written).
        case alreadyPresent(targetID: Int64)
        /// The run is still `running` in the source (nothing written; push it when it has ended).
        case skippedRunning
    }

    /// The outcome for one source run.
    public struct RunResult: Sendable, Hashable {
        /// Id of the run in the source.
        public var sourceID: Int64
        /// The run's UUID.
        public var uuid: String
        /// What happened.
        public var outcome: Outcome

        /// One line for people: `run 12 (3f2c9a4e): pushed 480 samples`.
        public var line: String {
            let short = String(uuid.prefix(8))
            switch outcome {
            case let .pushed(_, samples): return "run \(sourceID) (\(short)): pushed \(samples) samples"
            case .alreadyPresent: return "run \(sourceID) (\(short)): already present"
            case .skippedRunning: return "run \(sourceID) (\(short)): skipped: running"
            }
        }
    }

    /// Something in the source that was not copied because the target holds something else there.
    /// Nothing in the target is ever overwritten.
    public struct Conflict: Sendable, Hashable, CustomStringConvertible {
        /// The sentence: `baseline main: the target points at run 3f2c9a4e, the input at 9d0e1f2a; kept the target's`.
        public var description: String
    }

    /// The source and target stores.
    public let source: ResultStore
    public let target: ResultStore
    /// Rows per `insertRows` call for the bulk tables.
    public var batchSize = 5_000

    /// Prepares a copy from `source` to `target`. The target must be writable.
    public init(from source: ResultStore, to target: ResultStore) {
        self.source = source
        self.target = target
    }

    // MARK: - Runs

    /// Copies the runs `ids` (source ids) in that order, one target transaction each, calling
    /// `progress` after each. Stops at the first failure (earlier runs stay copied).
    ///
    /// - Throws: `StoreError` from either store; the run being copied is then absent in the target.
    @discardableResult
    public func copyRuns(_ ids: [Int64], progress: (RunResult) -> Void = { _ in }) throws -> [RunResult] {
        var results: [RunResult] = []
        for id in ids {
            let result = try copyRun(id: id)
            results.append(result)
            progress(result)
        }
        return results
    }

    /// Copies one run (source id `id`) with every row it owns, in one target transaction.
    ///
    /// - Throws: `StoreError.unknownRun` when the source has no such run, other `StoreError`s.
    public func copyRun(id: Int64) throws -> RunResult {
        let sourceEngine = source.engine
        let targetEngine = target.engine
        return try sourceEngine.read { src in
            guard let run = try src.fetchOne(sql: "SELECT * FROM runs WHERE id = ?", arguments: [id]) else {
                throw StoreError.unknownRun(String(id))
            }
            let uuid: String = try run.get("uuid")
            let status: String = try run.get("status")
            if let present = try targetEngine.read({ dst in
                try dst.fetchOne(Int64.self, sql: "SELECT id FROM runs WHERE uuid = ?", arguments: [uuid])
            }) {
                return RunResult(sourceID: id, uuid: uuid, outcome: .alreadyPresent(targetID: present))
            }
            if status == RunStatus.running.rawValue {
                return RunResult(sourceID: id, uuid: uuid, outcome: .skippedRunning)
            }
            let outcome = try targetEngine.write { dst -> Outcome in
                // PostgreSQL: pushes into one server take turns (the lock is held to the commit), so
                // sample ids cannot collide and rows shared by runs (machines, series) are never
                // inserted by two transactions at once (no deadlock). Readers are not blocked.
                if dst.dialect == .postgres {
                    try dst.execute(sql: "LOCK TABLE samples IN SHARE ROW EXCLUSIVE MODE")
                }
                // Checked again inside the transaction: another push may have copied it meanwhile.
                if let present = try dst.fetchOne(Int64.self, sql: "SELECT id FROM runs WHERE uuid = ?", arguments: [uuid]) {
                    return .alreadyPresent(targetID: present)
                }
                return try copyRunRows(run, sourceID: id, src: src, dst: dst)
            }
            return RunResult(sourceID: id, uuid: uuid, outcome: outcome)
        }
    }

    /// The body of `copyRun` inside the target transaction.
    private func copyRunRows(_ run: StoreRow, sourceID: Int64, src: any StoreDatabase, dst: any StoreDatabase) throws -> Outcome {
        let machineID = try targetMachine(sourceMachine: try run.get("machine_id"), src: src, dst: dst)
        var runValues = Self.values(run, dropping: ["id"])
        runValues["machine_id"] = .integer(machineID)
        runValues["owner_lock"] = .null
        let runID = try insertReturningID(table: "runs", runValues, dst)

        try copyRows(src: src, dst: dst, table: "run_meta", sql: "SELECT * FROM run_meta WHERE run_id = ?", sourceID) { row in
            row["run_id"] = .integer(runID)
        }
        try copyRows(src: src, dst: dst, table: "run_tags", sql: "SELECT * FROM run_tags WHERE run_id = ?", sourceID) { row in
            row["run_id"] = .integer(runID)
        }

        // Ops: few per run; new ids through RETURNING.
        var opMap: [Int64: Int64] = [:]
        for op in try src.fetchAll(sql: "SELECT * FROM ops WHERE run_id = ? ORDER BY id", arguments: [sourceID]) {
            var values = Self.values(op, dropping: ["id"])
            values["run_id"] = .integer(runID)
            opMap[try op.get("id")] = try insertReturningID(table: "ops", values, dst)
        }
        func mappedOp(_ row: inout EditableRow) throws {
            guard case let .integer(old) = row["op_id"] ?? .null, let new = opMap[old] else {
                throw StoreRowError("op_id \(String(describing: row["op_id"])) of run \(sourceID) names no op of the run")
            }
            row["op_id"] = .integer(new)
        }
        try copyRows(src: src, dst: dst, table: "op_variants", sql: """
            SELECT v.* FROM op_variants v JOIN ops o ON o.id = v.op_id WHERE o.run_id = ?
            """, sourceID) { row in try mappedOp(&row) }
        // Series: re-derived from the copied op variants with the target's machine id.
        try dst.execute(sql: """
            INSERT INTO series (suite, op, variant, machine_id, counter_mode, isa_built)
            SELECT DISTINCT o.suite, o.name, v.variant, r.machine_id, r.counter_mode, r.isa_built
            FROM op_variants v JOIN ops o ON o.id = v.op_id JOIN runs r ON r.id = o.run_id
            WHERE r.id = ?
            ON CONFLICT DO NOTHING
            """, arguments: [runID])

        // Samples: explicit ids from the target's MAX(id) + 1 (counters and latencies key on them;
        // on PostgreSQL the transaction holds the samples lock taken in `copyRun`).
        let firstID = (try dst.fetchOne(Int64.self, sql: "SELECT MAX(id) FROM samples") ?? 0) + 1
        var sampleMap: [Int64: Int64] = [:]
        try copyRows(src: src, dst: dst, table: "samples", sql: "SELECT * FROM samples WHERE run_id = ? ORDER BY id", sourceID) { row in
            guard case let .integer(old) = row["id"] ?? .null else { throw StoreRowError("a sample of run \(sourceID) has no integer id") }
            let new = firstID + Int64(sampleMap.count)
            sampleMap[old] = new
            row["id"] = .integer(new)
            row["run_id"] = .integer(runID)
            try mappedOp(&row)
        }
        func mappedSample(_ row: inout EditableRow) throws -> (old: Int64, new: Int64) {
            guard case let .integer(old) = row["sample_id"] ?? .null, let new = sampleMap[old] else {
                throw StoreRowError("sample_id \(String(describing: row["sample_id"])) of run \(sourceID) names no sample of the run")
            }
            row["sample_id"] = .integer(new)
            return (old, new)
        }
        if !sampleMap.isEmpty {
            let limit = StoreSchema.countersPerSampleLimit
            try copyRows(src: src, dst: dst, table: "counter_values", sql: """
                SELECT c.* FROM samples s JOIN counter_values c ON c.id BETWEEN s.id * \(limit) AND s.id * \(limit) + \(limit - 1)
                WHERE s.run_id = ? ORDER BY c.id
                """, sourceID) { row in
                let (old, new) = try mappedSample(&row)
                guard case let .integer(id) = row["id"] ?? .null else { throw StoreRowError("a counter value of run \(sourceID) has no integer id") }
                row["id"] = .integer(new * limit + (id - old * limit))
            }
            try copyRows(src: src, dst: dst, table: "iteration_latencies", sql: """
                SELECT l.* FROM iteration_latencies l JOIN samples s ON s.id = l.sample_id WHERE s.run_id = ?
                """, sourceID) { row in _ = try mappedSample(&row) }
            try copyRows(src: src, dst: dst, table: "sim_functions", sql: """
                SELECT f.* FROM sim_functions f JOIN samples s ON s.id = f.sample_id WHERE s.run_id = ?
                """, sourceID) { row in _ = try mappedSample(&row) }
        }

        // Series points: copied by op; computed from the source's batches when it has none for the run.
        var copiedPoints = 0
        try copyRows(src: src, dst: dst, table: "series_points", sql: """
            SELECT p.* FROM series_points p JOIN ops o ON o.id = p.op_id WHERE o.run_id = ? ORDER BY p.op_id, p.variant
            """, sourceID) { row in
            try mappedOp(&row)
            copiedPoints += 1
        }
        if copiedPoints == 0 {
            // From the source (the batches just copied), not read back from the target: on a server that is a round trip per row.
            var rows = try ResultStore.computePoints(src, runID: sourceID)
            for i in rows.indices {
                guard let op = opMap[rows[i].opID] else { throw StoreRowError("op_id \(rows[i].opID) of run \(sourceID) names no op of the run") }
                rows[i].opID = op
            }
            try ResultStore.writePoints(dst, rows)
        }

        try copyRows(src: src, dst: dst, table: "accuracy_checks", sql: "SELECT * FROM accuracy_checks WHERE run_id = ? ORDER BY id",
                     sourceID, dropping: ["id"]) { row in
            row["run_id"] = .integer(runID)
            try mappedOp(&row)
        }
        try copyRows(src: src, dst: dst, table: "thermal_readings", sql: "SELECT * FROM thermal_readings WHERE run_id = ? ORDER BY id",
                     sourceID, dropping: ["id"]) { row in
            row["run_id"] = .integer(runID)
        }
        try copyRows(src: src, dst: dst, table: "variant_decisions", sql: "SELECT * FROM variant_decisions WHERE run_id = ?",
                     sourceID) { row in
            row["run_id"] = .integer(runID)
        }
        try copyRows(src: src, dst: dst, table: "fusion_decisions", sql: "SELECT * FROM fusion_decisions WHERE run_id = ? ORDER BY id",
                     sourceID, dropping: ["id"]) { row in
            row["run_id"] = .integer(runID)
        }
        return .pushed(targetID: runID, samples: sampleMap.count)
    }

    /// The target's id of source machine `sourceMachine`, matched by fingerprint text and inserted
    /// (with its fingerprint id) when missing.
    private func targetMachine(sourceMachine: Int64, src: any StoreDatabase, dst: any StoreDatabase) throws -> Int64 {
        guard let machine = try src.fetchOne(sql: "SELECT * FROM machines WHERE id = ?", arguments: [sourceMachine]) else {
            throw StoreRowError("machine \(sourceMachine) of a run is missing")
        }
        let fingerprint: String = try machine.get("fingerprint")
        let lookup = "SELECT id FROM machines WHERE fingerprint = ?"
        if let id = try dst.fetchOne(Int64.self, sql: lookup, arguments: [fingerprint]) { return id }
        var values = Self.values(machine, dropping: ["id"])
        values["fingerprint_id"] = .text(ResultStore.fingerprintID(fingerprint))
        let columns = values.keys.sorted()
        // ON CONFLICT: a concurrent push may insert the same machine; its row is then used.
        try dst.execute(sql: "INSERT INTO machines (\(columns.joined(separator: ", "))) VALUES (\(StoreSQL.placeholders(columns.count))) "
                        + "ON CONFLICT DO NOTHING", arguments: columns.map { values[$0] ?? .null })
        guard let id = try dst.fetchOne(Int64.self, sql: lookup, arguments: [fingerprint]) else {
            throw StoreRowError("machine with fingerprint id \(ResultStore.fingerprintID(fingerprint)) could not be stored")
        }
        return id
    }

    // MARK: - Baselines

    /// Copies the source's baselines whose runs the target holds (matched by UUID), and the moves
    /// of their history that the target lacks. A baseline name the target already points at
    /// another run is a conflict: reported, the target's kept. Baselines whose run is not in the
    /// target are reported in `missing` (push the run first).
    public func copyBaselines() throws -> (copied: Int, conflicts: [Conflict], missing: [String]) {
        let sourceRows = try source.engine.read { src in
            try src.fetchAll(sql: """
                SELECT b.name, b.updated_at, r.uuid FROM baselines b JOIN runs r ON r.id = b.run_id ORDER BY b.name
                """)
        }
        let moves = try source.engine.read { src in
            try src.fetchAll(sql: """
                SELECT m.name, r.uuid AS uuid, p.uuid AS previous_uuid, m.moved_at, m.note
                FROM baseline_moves m LEFT JOIN runs r ON r.id = m.run_id LEFT JOIN runs p ON p.id = m.previous_run_id
                ORDER BY m.id
                """)
        }
        return try target.engine.write { dst in
            var copied = 0
            var conflicts: [Conflict] = []
            var missing: [String] = []
            var skippedNames: Set<String> = []
            for row in sourceRows {
                let name: String = try row.get("name")
                let uuid: String = try row.get("uuid")
                guard let runID = try dst.fetchOne(Int64.self, sql: "SELECT id FROM runs WHERE uuid = ?", arguments: [uuid]) else {
                    missing.append("baseline \(name): its run \(uuid.prefix(8)) is not in the target")
                    skippedNames.insert(name)
                    continue
                }
                if let existing = try dst.fetchOne(sql: """
                    SELECT r.uuid FROM baselines b JOIN runs r ON r.id = b.run_id WHERE b.name = ?
                    """, arguments: [name]) {
                    let existingUUID: String = try existing.get("uuid")
                    if existingUUID != uuid {
                        conflicts.append(Conflict(description: "baseline \(name): the target points at run \(existingUUID.prefix(8)), "
                                                  + "the input at run \(uuid.prefix(8)); kept the target's"))
                        skippedNames.insert(name)
                    }
                    continue
                }
                try dst.execute(sql: "INSERT INTO baselines (name, run_id, updated_at) VALUES (?, ?, ?)",
                                arguments: [name, runID, try row.get("updated_at", as: Double.self)])
                copied += 1
            }
            // History: every move of a baseline that was copied or already agreed, unless the
            // target holds the same move (name, runs, time, note).
            for move in moves {
                let name: String = try move.get("name")
                if skippedNames.contains(name) { continue }
                let uuid: String? = try move.get("uuid")
                let previous: String? = try move.get("previous_uuid")
                let movedAt: Double = try move.get("moved_at")
                let note: String = try move.get("note")
                let runID = try uuid.flatMap { try dst.fetchOne(Int64.self, sql: "SELECT id FROM runs WHERE uuid = ?", arguments: [$0]) }
                let previousID = try previous.flatMap { try dst.fetchOne(Int64.self, sql: "SELECT id FROM runs WHERE uuid = ?", arguments: [$0]) }
                if uuid != nil && runID == nil { continue }  // a move to a run the target lacks
                let present = try dst.fetchOne(Int64.self, sql: """
                    SELECT COUNT(*) FROM baseline_moves
                    WHERE name = ? AND COALESCE(run_id, -1) = ? AND COALESCE(previous_run_id, -1) = ? AND moved_at = ? AND note = ?
                    """, arguments: [name, runID ?? -1, previousID ?? -1, movedAt, note]) ?? 0
                if present > 0 { continue }
                try dst.execute(sql: """
                    INSERT INTO baseline_moves (name, run_id, previous_run_id, moved_at, note) VALUES (?, ?, ?, ?, ?)
                    """, arguments: [name, runID, previousID, movedAt, note])
            }
            return (copied, conflicts, missing)
        }
    }

    // MARK: - Change points

    /// Copies the source's change points whose two runs the target holds, with their triage state.
    /// A point the target lacks is inserted as it is; a point the target holds in state `new` takes
    /// the source's triage; a point triaged differently in both is a conflict (the target's kept).
    /// Returns how many points were inserted or took a triage, and the conflicts.
    public func copyChangePoints() throws -> (copied: Int, conflicts: [Conflict]) {
        let points = try source.engine.read { src in
            try src.fetchAll(sql: """
                SELECT c.*, m.fingerprint AS machine_fingerprint, rb.uuid AS before_uuid, ra.uuid AS after_uuid
                FROM change_points c JOIN machines m ON m.id = c.machine_id
                     JOIN runs rb ON rb.id = c.run_before JOIN runs ra ON ra.id = c.run_after
                ORDER BY c.id
                """)
        }
        guard !points.isEmpty else { return (0, []) }
        return try target.engine.write { dst in
            var copied = 0
            var conflicts: [Conflict] = []
            for point in points {
                let lookup = "SELECT id FROM runs WHERE uuid = ?"
                guard let before = try dst.fetchOne(Int64.self, sql: lookup, arguments: [try point.get("before_uuid", as: String.self)]),
                      let after = try dst.fetchOne(Int64.self, sql: lookup, arguments: [try point.get("after_uuid", as: String.self)]),
                      let machineID = try dst.fetchOne(Int64.self, sql: "SELECT id FROM machines WHERE fingerprint = ?",
                                                       arguments: [try point.get("machine_fingerprint", as: String.self)])
                else { continue }
                let key = SeriesKey(benchmark: BenchmarkKey(suite: try point.get("suite"), op: try point.get("op"), variant: try point.get("variant")),
                                    machineID: machineID, machineKey: "", cpuModel: "", counterMode: try point.get("counter_mode"),
                                    isaBuilt: try point.get("isa_built"))
                let branch: String = try point.get("branch")
                let state: String = try point.get("state")
                if let existing = try dst.fetchOne(sql: "SELECT id, state FROM change_points WHERE series = ? AND branch = ? AND run_after = ?",
                                                   arguments: [key.id, branch, after]) {
                    let existingState: String = try existing.get("state")
                    if existingState == state || state == ChangePointState.new.rawValue { continue }
                    if existingState == ChangePointState.new.rawValue {
                        try dst.execute(sql: "UPDATE change_points SET state = ?, triaged_at = ?, note = COALESCE(?, note) WHERE id = ?",
                                        arguments: [state, try point.get("triaged_at", as: Double?.self), try point.get("note", as: String?.self),
                                                    try existing.get("id", as: Int64.self)])
                        copied += 1
                    } else {
                        conflicts.append(Conflict(description: "change point \(key.benchmark) (step at run \(String(try point.get("after_uuid", as: String.self).prefix(8)))): "
                                                  + "the target says \(existingState), the input \(state); kept the target's"))
                    }
                    continue
                }
                var values = Self.values(point, dropping: ["id", "machine_fingerprint", "before_uuid", "after_uuid"])
                values["series"] = .text(key.id)
                values["machine_id"] = .integer(machineID)
                values["run_before"] = .integer(before)
                values["run_after"] = .integer(after)
                let columns = values.keys.sorted()
                try dst.execute(sql: "INSERT INTO change_points (\(columns.joined(separator: ", "))) VALUES (\(StoreSQL.placeholders(columns.count)))",
                                arguments: columns.map { values[$0] ?? .null })
                copied += 1
            }
            return (copied, conflicts)
        }
    }

    // MARK: - Simulated-counter cache

    /// Copies the source's simulated-counter cache entries the target lacks (keyed by their key
    /// text, which includes the binary's content hash; `ON CONFLICT DO NOTHING`). `source_run_id`
    /// is mapped by UUID (NULL when the target lacks the run). Returns the entries inserted.
    public func copySimCache() throws -> Int {
        let rows = try source.engine.read { src in
            try src.fetchAll(sql: "SELECT c.*, r.uuid AS source_uuid FROM sim_cache c LEFT JOIN runs r ON r.id = c.source_run_id ORDER BY c.key")
        }
        guard !rows.isEmpty else { return 0 }
        return try target.engine.write { dst in
            var inserted = 0
            for row in rows {
                var values = Self.values(row, dropping: ["source_uuid"])
                let uuid: String? = try row.get("source_uuid")
                values["source_run_id"] = try uuid.flatMap { try dst.fetchOne(Int64.self, sql: "SELECT id FROM runs WHERE uuid = ?", arguments: [$0]) }
                    .map { .integer($0) } ?? .null
                let columns = values.keys.sorted()
                inserted += try dst.execute(sql: "INSERT INTO sim_cache (\(columns.joined(separator: ", "))) VALUES (\(StoreSQL.placeholders(columns.count))) "
                                            + "ON CONFLICT DO NOTHING", arguments: columns.map { values[$0] ?? .null })
            }
            return inserted
        }
    }

    // MARK: - Row helpers

    /// A row as column name (lower case) → value, without `dropping`.
    static func values(_ row: StoreRow, dropping: Set<String>) -> [String: StoreValue] {
        var values: [String: StoreValue] = [:]
        for (name, value) in zip(row.columns.names, row.values) where !dropping.contains(name.lowercased()) {
            values[name.lowercased()] = value
        }
        return values
    }

    /// Inserts one row and returns its new id (`RETURNING id`).
    private func insertReturningID(table: String, _ values: [String: StoreValue], _ dst: any StoreDatabase) throws -> Int64 {
        let columns = values.keys.sorted()
        guard let id = try dst.fetchOne(Int64.self, sql: "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(StoreSQL.placeholders(columns.count))) RETURNING id",
                                        arguments: columns.map { values[$0] ?? .null }) else {
            throw StoreRowError("inserting into \(table) returned no id")
        }
        return id
    }

    /// One streamed row being rewritten for the target: values in the source statement's column
    /// order, addressed by (lower-case) column name.
    struct EditableRow {
        /// The values, in the statement's column order.
        var values: [StoreValue]
        /// Lower-case column name → position (shared by all rows of the statement).
        let positions: [String: Int]

        /// The value of `column` (nil when the statement has no such column); setting a column
        /// the statement lacks does nothing.
        subscript(_ column: String) -> StoreValue? {
            get { positions[column].map { values[$0] } }
            set { if let index = positions[column] { values[index] = newValue ?? .null } }
        }
    }

    /// Streams the rows of `sql` (one argument: the source run id) from the source, lets `map`
    /// rewrite each, and inserts them into `table` through the target's `rowInserter` (batches of
    /// `batchSize` rows; one streamed `COPY` on PostgreSQL) without the columns in `dropping` (left
    /// to the target's default, e.g. a new `id`). Rows are handled by position (no per-row
    /// dictionary), so a million samples copy quickly.
    private func copyRows(src: any StoreDatabase, dst: any StoreDatabase, table: String, sql: String, _ runID: Int64,
                          dropping: Set<String> = [], map: (inout EditableRow) throws -> Void) throws {
        var kept: [Int] = []
        var positions: [String: Int] = [:]
        var inserter: (any StoreRowInserter)?
        do {
            try src.forEachRow(sql: sql, arguments: [runID]) { row in
                let target: any StoreRowInserter
                if let inserter {
                    target = inserter
                } else {
                    let names = row.columns.names.map { $0.lowercased() }
                    for (index, name) in names.enumerated() where positions[name] == nil { positions[name] = index }
                    kept = names.indices.filter { !dropping.contains(names[$0]) }
                    target = dst.rowInserter(table: table, columns: kept.map { names[$0] }, batchSize: batchSize)
                    inserter = target
                }
                var editable = EditableRow(values: row.values, positions: positions)
                try map(&editable)
                try target.append(kept.map { editable.values[$0] })
                return true
            }
            try inserter?.finish()
        } catch {
            inserter?.abort()
            throw error
        }
    }
}

extension ResultStore {
    /// Copies runs `ids` of this store into `target` (see `RunTransfer`), one transaction per run.
    @discardableResult
    public func copyRuns(_ ids: [Int64], to target: ResultStore, progress: (RunTransfer.RunResult) -> Void = { _ in }) throws -> [RunTransfer.RunResult] {
        try RunTransfer(from: self, to: target).copyRuns(ids, progress: progress)
    }
}
