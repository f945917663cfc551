// The schema of the results database and how a file is checked, migrated and switched to WAL.
import Foundation
import GRDB

/// The results database schema: named migrations plus `PRAGMA user_version`.
///
/// Pending migrations are applied together in one transaction that ends by setting
/// `PRAGMA user_version` to the number of migrations applied (`knownVersion`). Applied migrations
/// are listed in `grdb_migrations` (the table GRDB's migrator uses, so files written by earlier
/// fusebench builds keep working).
/// A database whose `user_version` is above `knownVersion`, or which lists a migration identifier
/// this build does not know, was written by a newer fusebench and is refused before anything is
/// migrated; so is a database holding another program's tables.
///
/// Opening is race-free: the check runs in a read transaction; only when migrations are pending
/// does the opener take an exclusive lock (`BEGIN EXCLUSIVE`, waiting out the busy timeout),
/// check again and apply them all in that one transaction. Concurrent openers wait for the lock and
/// then find the schema current. Nothing is written before the checks pass, and WAL is enabled
/// only afterwards (`enableWAL`), so a refused file is left byte-identical.
///
/// Conventions: times are unix seconds (REAL, UTC) so they sort and round-trip exactly; the
/// `v_runs` view shows them as ISO-8601. Lists and small structs are JSON text with sorted keys.
/// Counter `raw`/`time_*` values are UInt64 stored as INTEGER by bit pattern (exact below 2^63).
/// A counter row's id is `sample_id * countersPerSampleLimit + position` (see `counter_values`).
enum Schema {
    /// Named migrations, oldest first. Append only; never edit a released migration.
    static let migrations: [(identifier: String, sql: String)] = [
        ("v1-initial-schema", v1),
        ("v2-baselines-fusion-telemetry", v2),
        ("v3-iteration-latencies-variant-decisions", v3),
        ("v4-run-owner-identity", v4),
        ("v5-variant-decisions-by-suite", v5),
        ("v6-fusion-decisions-by-suite", v6),
        ("v7-run-tags-series", v7),
        ("v8-change-points", v8),
        ("v9-sim-functions", simFunctions),
        ("v10-ops-by-benchmark", opsByBenchmark),
        ("v13-accuracy-normalised", accuracyNormalised),
        ("v14-fusion-measured-ci", fusionMeasuredCI),
        ("v15-sim-cache", simCache),
        ("v16-global-identity", globalIdentity),
        ("v17-series-points", seriesPoints),
        ("v18-samples-op-check", samplesOpCheck),
    ]

    /// Counter values one sample can hold; the factor in `counter_values.id`. Must match the SQL.
    static let countersPerSampleLimit: Int64 = 1024

    /// Number of migrations this build knows; the `user_version` of an up-to-date database.
    static var knownVersion: Int { migrations.count }

    /// What a check found in a database this build accepts.
    enum State: Equatable {
        /// Every known migration is applied.
        case current
        /// Migrations are pending (a new, empty file, or one written by an older fusebench).
        case outdated
    }

    /// Refuses newer or foreign databases; says whether migrations are pending. Reads only.
    ///
    /// - Throws: `StoreError.newerSchema`, or `StoreError.unusable` for another program's database.
    static func inspect(_ db: Database, path: String) throws -> State {
        let known = knownVersion
        let found = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        if found > known {
            throw StoreError.newerSchema(found: found, known: known, path: path)
        }
        let applied = try appliedIdentifiers(db)
        let knownIdentifiers = Set(migrations.map(\.identifier))
        if !applied.isSubset(of: knownIdentifiers) {
            throw StoreError.newerSchema(found: max(found, applied.count), known: known, path: path)
        }
        if found == 0, applied.isEmpty {
            let tables = try String.fetchAll(db, sql: """
                SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name LIMIT 4
                """)
            if !tables.isEmpty {
                throw StoreError.unusable(path: path, reason: "it is a SQLite database of another program "
                    + "(tables \(tables.joined(separator: ", "))), not a fusebench results database")
            }
        }
        return applied == knownIdentifiers && found == known ? .current : .outdated
    }

    /// Identifiers listed in `grdb_migrations` (empty when the table does not exist).
    static func appliedIdentifiers(_ db: Database) throws -> Set<String> {
        let exists = try Bool.fetchOne(db, sql: """
            SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'grdb_migrations')
            """) ?? false
        guard exists else { return [] }
        return Set(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"))
    }

    /// Checks the database in a read transaction (nothing is written).
    static func check(_ queue: DatabaseQueue, path: String) throws -> State {
        try queue.read { db in try inspect(db, path: path) }
    }

    /// Refuses newer or foreign databases, then applies pending migrations in one exclusive
    /// transaction (re-checking under the lock: another process may have migrated meanwhile).
    static func prepare(_ queue: DatabaseQueue, path: String) throws {
        if try check(queue, path: path) == .current { return }
        try queue.writeWithoutTransaction { db in
            try db.inTransaction(.exclusive) {
                guard try inspect(db, path: path) == .outdated else { return .commit }
                let applied = try appliedIdentifiers(db)
                try db.execute(sql: "CREATE TABLE IF NOT EXISTS grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
                for migration in migrations where !applied.contains(migration.identifier) {
                    try db.execute(sql: migration.sql)
                    try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [migration.identifier])
                }
                try db.execute(sql: "PRAGMA user_version = \(knownVersion)")
                return .commit
            }
        }
    }

    /// Switches a checked, migrated file database to WAL (a no-op when it already is). The switch
    /// needs a moment without other connections' transactions; while it cannot happen (SQLITE_BUSY,
    /// or the mode staying unchanged) it is retried until `busyTimeout` has passed.
    static func enableWAL(_ queue: DatabaseQueue, busyTimeout: Double) throws {
        let deadline = Date().addingTimeInterval(busyTimeout)
        try queue.writeWithoutTransaction { db in
            while true {
                var mode = ""
                do {
                    if try String.fetchOne(db, sql: "PRAGMA journal_mode") == "wal" { return }
                    mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") ?? ""
                    if mode == "wal" { return }
                } catch let error as DatabaseError where StoreError.isBusy(error) && Date() < deadline {
                    mode = "busy"
                }
                guard Date() < deadline else {
                    throw StoreError.unusable(path: queue.path, reason: "SQLite cannot switch it to WAL mode (journal mode stays '\(mode)')")
                }
                usleep(10_000)
            }
        }
    }

    /// Version 10: ops by suite and name, so the runs that measured one benchmark are found without
    /// scanning `ops` (learned noise, NoiseRuns.swift).
    static let opsByBenchmark = """
        CREATE INDEX ops_benchmark ON ops(suite, name, run_id);
        """

    /// Version 7: free run labels (`run --tag KEY=VALUE`), the variants of each op and the series
    /// (benchmark × machine × counter backend × built ISA, see Series.swift) that have runs, so
    /// series are listed from a small table and one series' runs found by index, without
    /// scanning `ops` or `samples`. Rows of earlier runs are filled in.
    static let v7 = """
        -- run_tags: free KEY=VALUE labels of a run (`fusebench run --tag`); keys are validated by RunTags.
        CREATE TABLE run_tags (
            run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            key     TEXT NOT NULL,
            value   TEXT NOT NULL,
            PRIMARY KEY (run_id, key)
        ) WITHOUT ROWID;

        -- op_variants: the variants that have samples in each op, written with the samples.
        CREATE TABLE op_variants (
            op_id   INTEGER NOT NULL REFERENCES ops(id) ON DELETE CASCADE,
            variant TEXT NOT NULL,
            PRIMARY KEY (op_id, variant)
        ) WITHOUT ROWID;
        INSERT OR IGNORE INTO op_variants (op_id, variant) SELECT DISTINCT op_id, variant FROM samples;

        -- series: every (benchmark, machine, counter backend, built ISA) with samples stored, written
        -- with the samples. A row may outlive its runs (deleted runs); readers skip empty series.
        CREATE TABLE series (
            suite        TEXT NOT NULL,
            op           TEXT NOT NULL,
            variant      TEXT NOT NULL,
            machine_id   INTEGER NOT NULL,
            counter_mode TEXT NOT NULL,
            isa_built    TEXT NOT NULL,
            PRIMARY KEY (suite, op, variant, machine_id, counter_mode, isa_built)
        ) WITHOUT ROWID;
        INSERT OR IGNORE INTO series (suite, op, variant, machine_id, counter_mode, isa_built)
        SELECT DISTINCT o.suite, o.name, v.variant, r.machine_id, r.counter_mode, r.isa_built
        FROM op_variants v JOIN ops o ON o.id = v.op_id JOIN runs r ON r.id = o.run_id;

        -- A series' runs: by machine, backend and ISA, newest first (history --last N).
        CREATE INDEX runs_series ON runs(machine_id, counter_mode, isa_built, id);
        """

    /// Version 8: change points found in series (`fusebench history --changes`) and their triage
    /// state. One row per series (`SeriesKey.id`), branch filter ('' = all branches) and first run
    /// after the step; re-detection inserts nothing for a stored step (see ChangePointStore.swift).
    static let v8 = """
        -- change_points: steps found by E-divisive detection over a series' runs; state new|acknowledged|accepted.
        CREATE TABLE change_points (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,  -- what --acknowledge / --accept take; never reused
            series        TEXT NOT NULL,                      -- SeriesKey.id: SUITE/OP/VARIANT@mID/COUNTERS/ISA
            suite         TEXT NOT NULL,
            op            TEXT NOT NULL,
            variant       TEXT NOT NULL,
            machine_id    INTEGER NOT NULL REFERENCES machines(id),
            counter_mode  TEXT NOT NULL,
            isa_built     TEXT NOT NULL,                      -- as runs.isa_built (JSON array)
            branch        TEXT NOT NULL DEFAULT '',           -- --branch the runs were restricted to; '' = all
            run_before    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,  -- last run at the old level
            run_after     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,  -- first run at the new level
            commit_before TEXT,
            commit_after  TEXT,
            ratio         REAL NOT NULL,                      -- step: median after / before (of run medians)
            ratio_lo      REAL NOT NULL,                      -- 95% bootstrap CI over runs
            ratio_hi      REAL NOT NULL,
            p             REAL NOT NULL,                      -- permutation p-value
            state         TEXT NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'acknowledged', 'accepted')),
            detected_at   REAL NOT NULL,                      -- unix seconds, UTC
            triaged_at    REAL,                               -- last state change; NULL while new
            note          TEXT,
            UNIQUE (series, branch, run_after)
        );
        CREATE INDEX change_points_state ON change_points(state, series);
        """

    /// Version 4: who owns a running run, so stale-run detection does not rely on the pid alone
    /// (a pid is reused, and means nothing in another PID namespace).
    static let v4 = """
        -- The owner of a run holds an open-file-description lock on byte `owner_lock` of the database
        -- file for the run's life (released by the kernel when the process dies, whatever its PID
        -- namespace). boot_id and pid_start identify the process when no lock was recorded.
        ALTER TABLE runs ADD COLUMN boot_id TEXT;       -- /proc/sys/kernel/random/boot_id of the owner's host; NULL = unknown
        ALTER TABLE runs ADD COLUMN pid_start INTEGER;  -- owner's start time: /proc/PID/stat field 22 (clock ticks since boot)
        ALTER TABLE runs ADD COLUMN owner_lock INTEGER; -- byte offset of the owner's lock on the database file; NULL = none
        """

    /// Version 5: variant decisions keyed by suite, op and variant (two suites of a run may use
    /// the same op name); the views over per-op rows show the suite. Rows written by v3/v4 are moved
    /// over: their `op` was the bare name, or `SUITE/OP` when two suites of the run shared it. When
    /// a run holds both a bare `OP` row and a `SUITE/OP` row that map to the same key, the qualified
    /// row wins (rows are inserted bare first, `INSERT OR REPLACE`).
    static let v5 = """
        CREATE TABLE variant_decisions_v5 (
            run_id            INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            suite             TEXT NOT NULL,
            op                TEXT NOT NULL,
            variant           TEXT NOT NULL,
            reference_variant TEXT NOT NULL,
            metric            TEXT NOT NULL,        -- e.g. top-1
            accuracy          REAL,                 -- fraction
            accuracy_delta    REAL,                 -- variant − reference (fraction; negative = worse)
            p50_ns            REAL,
            p90_ns            REAL,
            p99_ns            REAL,
            latency_source    TEXT NOT NULL,        -- iterations | batches | none
            energy_j          REAL,                 -- per inference; NULL = unavailable
            speedup           REAL,                 -- reference median / variant median
            speedup_lo        REAL,                 -- 95% CI (hierarchical bootstrap)
            speedup_hi        REAL,
            exit_rates        TEXT,                 -- JSON [{label, share, count, p50_ns}] or NULL
            decision          TEXT NOT NULL,        -- reference | adopt | reject: accuracy | reject: not faster | ...
            reason            TEXT NOT NULL,        -- the full decision text
            rollback_to       TEXT,                 -- the reference variant when rejected
            decided_at        REAL NOT NULL,        -- unix seconds, UTC
            PRIMARY KEY (run_id, suite, op, variant)
        ) WITHOUT ROWID;

        INSERT OR REPLACE INTO variant_decisions_v5
        SELECT d.run_id,
               COALESCE((SELECT o.suite FROM ops o WHERE o.run_id = d.run_id AND o.name = d.op ORDER BY o.id LIMIT 1),
                        CASE WHEN instr(d.op, '/') > 0 THEN substr(d.op, 1, instr(d.op, '/') - 1) ELSE '' END),
               CASE WHEN NOT EXISTS (SELECT 1 FROM ops o WHERE o.run_id = d.run_id AND o.name = d.op) AND instr(d.op, '/') > 0
                    THEN substr(d.op, instr(d.op, '/') + 1) ELSE d.op END,
               d.variant, d.reference_variant, d.metric, d.accuracy, d.accuracy_delta, d.p50_ns, d.p90_ns, d.p99_ns,
               d.latency_source, d.energy_j, d.speedup, d.speedup_lo, d.speedup_hi, d.exit_rates, d.decision, d.reason,
               d.rollback_to, d.decided_at
        FROM variant_decisions d
        ORDER BY NOT EXISTS (SELECT 1 FROM ops o WHERE o.run_id = d.run_id AND o.name = d.op) AND instr(d.op, '/') > 0;

        DROP VIEW v_variant_decisions;
        DROP TABLE variant_decisions;
        ALTER TABLE variant_decisions_v5 RENAME TO variant_decisions;

        CREATE VIEW v_variant_decisions AS
        SELECT d.run_id, d.suite, d.op, d.variant, d.decision, d.speedup, d.speedup_lo, d.speedup_hi,
               d.p50_ns, d.p90_ns, d.p99_ns, d.accuracy, d.accuracy_delta, d.exit_rates, d.rollback_to
        FROM variant_decisions d;

        DROP VIEW v_iteration_latencies;
        CREATE VIEW v_iteration_latencies AS
        SELECT o.run_id AS run_id, o.suite AS suite, o.name AS op, s.variant AS variant, s.sequence AS sequence,
               s.process AS process, CAST(j.key AS INTEGER) AS iteration, j.value - l.overhead_ns AS ns,
               COALESCE(lb.value, 0) AS label
        FROM iteration_latencies l JOIN samples s ON s.id = l.sample_id JOIN ops o ON o.id = s.op_id
             JOIN json_each(l.ns) j
             LEFT JOIN json_each(l.labels) lb ON lb.key = j.key;

        DROP VIEW v_counters;
        CREATE VIEW v_counters AS
        SELECT o.run_id AS run_id, o.suite AS suite, o.name AS op, s.variant AS variant, s.sequence AS sequence,
               c.event AS event, c.value / s.iterations AS per_iter, c.backend AS backend,
               (c.time_running < c.time_enabled) AS multiplexed
        FROM ops o JOIN samples s ON s.op_id = o.id
             JOIN counter_values c ON c.id BETWEEN s.id * 1024 AND s.id * 1024 + 1023;
        """

    /// Per-function self costs of simulated (callgrind) samples: the top functions of each sim
    /// sample (`FunctionProfile`), one row per function, plus one row summing the others. A table
    /// rather than a JSON column: a sim pass stores one sample per variant, so a run adds tens of
    /// rows per op, and the rows stay queryable (`v_sim_functions`, e.g. every run's cost of one
    /// function) without JSON functions.
    static let simFunctions = """
        -- sim_functions: rank 0.. = kept functions, most instructions first; rank -1 = the functions
        -- not kept, summed (function '(other functions)', `functions` = how many). The rows of a
        -- sample add up to its callgrind totals. Costs are totals over the sample's iterations.
        CREATE TABLE sim_functions (
            sample_id     INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
            rank          INTEGER NOT NULL,
            function      TEXT NOT NULL,        -- demangled (swift demangle --simplified) when possible
            symbol        TEXT NOT NULL,        -- as callgrind names it (mangled for Swift): the identity
            object        TEXT NOT NULL,        -- binary or library (callgrind ob=)
            file          TEXT NOT NULL,        -- source file (callgrind fl=), ??? without debug info
            functions     INTEGER NOT NULL,     -- 1, or how many functions the rank -1 row sums
            ir            INTEGER NOT NULL,     -- instructions (Ir)
            d1_misses     INTEGER,              -- D1mr + D1mw; NULL without cache simulation
            ll_misses     INTEGER,              -- ILmr + DLmr + DLmw; NULL without cache simulation
            branch_misses INTEGER,              -- Bcm + Bim; NULL without branch simulation
            PRIMARY KEY (sample_id, rank)
        ) WITHOUT ROWID;

        -- v_sim_functions: per iteration, with the op and variant.
        CREATE VIEW v_sim_functions AS
        SELECT o.run_id AS run_id, o.suite AS suite, o.name AS op, s.variant AS variant, s.sequence AS sequence,
               f.rank AS rank, f.function AS function, f.object AS object, f.functions AS functions,
               CAST(f.ir AS REAL) / s.iterations AS ir_per_iter,
               CAST(f.d1_misses AS REAL) / s.iterations AS d1_misses_per_iter,
               CAST(f.ll_misses AS REAL) / s.iterations AS ll_misses_per_iter,
               CAST(f.branch_misses AS REAL) / s.iterations AS branch_misses_per_iter
        FROM sim_functions f JOIN samples s ON s.id = f.sample_id JOIN ops o ON o.id = s.op_id;
        """

    /// Accuracy checks' normalised error (what the run table shows) and the worst element's
    /// context. Rows written before read as unknown (NULL).
    static let accuracyNormalised = """
        -- err_normalised: largest |cand − ref| over the scale named by err_normalisation ('bound':
        -- each element's Σ|a·b| (+|bias|), GEMM-like ops; 'max|c|': the reference's largest
        -- magnitude; 'task metric': the metric drop). worst_rel_ref_abs: |ref| at the element with
        -- the largest relative error (max_rel_error); output_rms: the reference's RMS.
        ALTER TABLE accuracy_checks ADD COLUMN err_normalised REAL;
        ALTER TABLE accuracy_checks ADD COLUMN err_normalisation TEXT;
        ALTER TABLE accuracy_checks ADD COLUMN worst_rel_ref_abs REAL;
        ALTER TABLE accuracy_checks ADD COLUMN output_rms REAL;
        """

    /// The fusion planner's speed validation: the 95% bootstrap interval of the measured
    /// fused/unfused time ratio of each decision (NULL when not measured, and for older rows).
    static let fusionMeasuredCI = """
        ALTER TABLE fusion_decisions ADD COLUMN measured_ratio_lower REAL;
        ALTER TABLE fusion_decisions ADD COLUMN measured_ratio_upper REAL;
        """

    /// Version 6: fusion decisions keyed by suite and model (two suites of a run may each have a
    /// `[[model]]` of the same name). Rows written before get the suite of the run's op of that
    /// name when exactly one suite has one; otherwise the suite stays '' (unknown).
    static let v6 = """
        ALTER TABLE fusion_decisions ADD COLUMN suite TEXT NOT NULL DEFAULT '';
        UPDATE fusion_decisions
        SET suite = (SELECT o.suite FROM ops o WHERE o.run_id = fusion_decisions.run_id AND o.name = fusion_decisions.model
                     ORDER BY o.id LIMIT 1)
        WHERE (SELECT COUNT(DISTINCT o.suite) FROM ops o
               WHERE o.run_id = fusion_decisions.run_id AND o.name = fusion_decisions.model) = 1;
        DROP INDEX fusion_decisions_run;
        CREATE INDEX fusion_decisions_run ON fusion_decisions(run_id, suite, model);
        """

    /// Version 3: per-iteration latencies (one row per sample, compact) and the edge-variant decisions.
    static let v3 = """
        -- iteration_latencies: the wall time of every iteration of a sample batch, for kernels that
        -- opt in (IterationLabeled: the edge op, one iteration = one inference). One row per sample,
        -- not per iteration: `ns` and `labels` are JSON arrays (iteration order), so a run of the
        -- edge suite adds ~100 rows instead of ~10^6. Raw values: each includes one clock read and
        -- the loop's bookkeeping, `overhead_ns` (calibrated), which v_iteration_latencies subtracts.
        CREATE TABLE iteration_latencies (
            sample_id   INTEGER PRIMARY KEY REFERENCES samples(id) ON DELETE CASCADE,
            iterations  INTEGER NOT NULL,           -- = json_array_length(ns) = samples.iterations
            overhead_ns REAL NOT NULL,              -- calibrated per-iteration harness cost in each value
            ns          TEXT NOT NULL,              -- JSON array of raw per-iteration wall times (ns)
            labels      TEXT                        -- JSON array of per-iteration labels; NULL = all 0
        );

        -- variant_decisions: `fusebench variants` (and `fusebench run` for runs with edge ops); one
        -- row per (run, op, variant), replaced when recomputed. Times are per inference (one
        -- iteration), from the per-iteration latencies when recorded, else from the batches.
        CREATE TABLE variant_decisions (
            run_id            INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            op                TEXT NOT NULL,
            variant           TEXT NOT NULL,
            reference_variant TEXT NOT NULL,
            metric            TEXT NOT NULL,        -- e.g. top-1
            accuracy          REAL,                 -- fraction
            accuracy_delta    REAL,                 -- variant − reference (fraction; negative = worse)
            p50_ns            REAL,
            p90_ns            REAL,
            p99_ns            REAL,
            latency_source    TEXT NOT NULL,        -- iterations | batches | none
            energy_j          REAL,                 -- per inference; NULL = unavailable
            speedup           REAL,                 -- reference median / variant median
            speedup_lo        REAL,                 -- 95% CI (hierarchical bootstrap)
            speedup_hi        REAL,
            exit_rates        TEXT,                 -- JSON [{label, share, count, p50_ns}] or NULL
            decision          TEXT NOT NULL,        -- reference | adopt | reject: accuracy | reject: not faster | ...
            reason            TEXT NOT NULL,        -- the full decision text
            rollback_to       TEXT,                 -- the reference variant when rejected
            decided_at        REAL NOT NULL,        -- unix seconds, UTC
            PRIMARY KEY (run_id, op, variant)
        ) WITHOUT ROWID;

        -- v_iteration_latencies: one line per iteration, overhead removed (not clamped).
        CREATE VIEW v_iteration_latencies AS
        SELECT o.run_id AS run_id, o.name AS op, s.variant AS variant, s.sequence AS sequence, s.process AS process,
               CAST(j.key AS INTEGER) AS iteration, j.value - l.overhead_ns AS ns,
               COALESCE(lb.value, 0) AS label
        FROM iteration_latencies l JOIN samples s ON s.id = l.sample_id JOIN ops o ON o.id = s.op_id
             JOIN json_each(l.ns) j
             LEFT JOIN json_each(l.labels) lb ON lb.key = j.key;

        CREATE VIEW v_variant_decisions AS
        SELECT d.run_id, d.op, d.variant, d.decision, d.speedup, d.speedup_lo, d.speedup_hi,
               d.p50_ns, d.p90_ns, d.p99_ns, d.accuracy, d.accuracy_delta, d.exit_rates, d.rollback_to
        FROM variant_decisions d;
        """

    /// Version 2: named baselines with their full history, fusion decisions, telemetry readings.
    static let v2 = """
        -- baselines: a name (e.g. "main") pointing at a run; every move is kept in baseline_moves
        -- so a baseline can be rolled back (`fusebench baseline set NAME --to-previous`).
        CREATE TABLE baselines (
            name        TEXT PRIMARY KEY,
            run_id      INTEGER NOT NULL REFERENCES runs(id),
            updated_at  REAL NOT NULL                -- unix seconds, UTC
        ) WITHOUT ROWID;

        -- baseline_moves: append-only history; run_id NULL records a removal.
        CREATE TABLE baseline_moves (
            id          INTEGER PRIMARY KEY,
            name        TEXT NOT NULL,
            run_id      INTEGER REFERENCES runs(id),
            previous_run_id INTEGER,
            moved_at    REAL NOT NULL,
            note        TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX baseline_moves_name ON baseline_moves(name, id);

        -- fusion_decisions: every candidate group the runtime fusion planner considered.
        CREATE TABLE fusion_decisions (
            id                  INTEGER PRIMARY KEY,
            run_id              INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            model               TEXT NOT NULL,
            layers              TEXT NOT NULL,       -- JSON array of layer names, execution order
            rule                TEXT NOT NULL,
            outcome             TEXT NOT NULL,       -- accepted | rejected: illegal | no gain | accuracy | measured slower
            reason              TEXT NOT NULL,
            bytes_saved         REAL NOT NULL,
            launches_saved      INTEGER NOT NULL,
            predicted_unfused_ns REAL,
            predicted_fused_ns  REAL,
            measured_unfused_ns REAL,
            measured_fused_ns   REAL,
            max_abs_error       REAL
        );
        CREATE INDEX fusion_decisions_run ON fusion_decisions(run_id, model);

        -- thermal_readings: telemetry taken with a sample batch (temperature °C, frequency MHz,
        -- throttle counts, energy J, effective GHz), linked by the sample's sequence in the run.
        -- A source that could not be read is a row with value NULL and the reason in `note`.
        CREATE TABLE thermal_readings (
            id              INTEGER PRIMARY KEY,
            run_id          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            sample_sequence INTEGER,                 -- NULL for run-level readings
            kind            TEXT NOT NULL,           -- temperature | frequency | throttle | energy | effective_ghz
            label           TEXT NOT NULL,           -- sensor / domain / cpu
            value           REAL,
            unit            TEXT NOT NULL,
            note            TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX thermal_readings_run ON thermal_readings(run_id, sample_sequence);

        CREATE VIEW v_baselines AS
            SELECT b.name, b.run_id, strftime('%Y-%m-%dT%H:%M:%SZ', b.updated_at, 'unixepoch') AS updated_at,
                   r.status, r.label, r.git_commit
            FROM baselines b JOIN runs r ON r.id = b.run_id;
        """

    /// Version 1: machines, runs, run_meta, ops, samples, counter_values, accuracy_checks, views.
    static let v1 = """
        -- machines: one row per distinct machine fingerprint (full JSON); runs on the same hardware
        -- share `key` (MachineFingerprint.key) even when kernel or governor changed in between.
        CREATE TABLE machines (
            id              INTEGER PRIMARY KEY,
            fingerprint     TEXT NOT NULL UNIQUE,   -- MachineFingerprint as JSON, sorted keys
            key             TEXT NOT NULL,          -- MachineFingerprint.key (cpu|cores|isa|pmu)
            cpu_model       TEXT NOT NULL,
            logical_cpus    INTEGER NOT NULL,
            kernel          TEXT NOT NULL,
            pmu_available   INTEGER NOT NULL,       -- 0/1
            virtualization  TEXT NOT NULL
        );
        CREATE INDEX machines_key ON machines(key);

        -- runs: one row per `fusebench run` / gate run; status running|complete|interrupted|failed|stale.
        CREATE TABLE runs (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,  -- ids are never reused
            started_at      REAL NOT NULL,          -- unix seconds, UTC
            ended_at        REAL,                   -- unix seconds, NULL while running (and for stale runs)
            status          TEXT NOT NULL,
            label           TEXT,
            suites          TEXT NOT NULL,          -- JSON array of suite names
            suite_hash      TEXT NOT NULL,          -- FNV-1a 64 content hash of the suite files (hex)
            git_commit      TEXT,
            git_branch      TEXT,
            git_dirty       INTEGER,                -- 0/1, NULL outside a git checkout
            harness_version TEXT NOT NULL,
            machine_id      INTEGER NOT NULL REFERENCES machines(id),
            isa_built       TEXT NOT NULL,          -- JSON array of ISA features the kernels were built for
            counter_mode    TEXT NOT NULL,          -- hw | sim | none
            counter_note    TEXT NOT NULL,
            calibration     TEXT,                   -- Calibration as JSON
            config          TEXT NOT NULL,          -- free-form configuration JSON
            pid             INTEGER NOT NULL        -- owner process, for stale detection
        );
        CREATE INDEX runs_status ON runs(status, id);
        CREATE INDEX runs_machine ON runs(machine_id);

        -- run_meta: free-form notes per run (e.g. overhead.share_1ms, counters.unsupported).
        CREATE TABLE run_meta (
            run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            key     TEXT NOT NULL,
            value   TEXT NOT NULL,
            PRIMARY KEY (run_id, key)
        ) WITHOUT ROWID;

        -- ops: the benchmark ops measured in a run, as described by their suite.
        CREATE TABLE ops (
            id          INTEGER PRIMARY KEY,
            run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            suite       TEXT NOT NULL,
            name        TEXT NOT NULL,
            kind        TEXT NOT NULL,
            shape       TEXT NOT NULL,              -- JSON object, e.g. {"k":128,"m":128,"n":128}
            dtype       TEXT NOT NULL,
            flops       REAL NOT NULL,              -- per iteration
            bytes       REAL NOT NULL,              -- compulsory traffic per iteration
            threshold   REAL NOT NULL,              -- regression threshold as a fraction
            UNIQUE (run_id, suite, name)
        );

        -- samples: one measured batch of iterations of one op variant (raw, never aggregated).
        -- run_id is denormalised for humans; integrity follows op_id (ops cascade from runs).
        CREATE TABLE samples (
            id          INTEGER PRIMARY KEY,
            run_id      INTEGER NOT NULL,
            op_id       INTEGER NOT NULL REFERENCES ops(id) ON DELETE CASCADE,
            variant     TEXT NOT NULL,
            sequence    INTEGER NOT NULL,           -- position in the run's measurement order
            process     INTEGER NOT NULL,           -- worker process, 0 in-process
            iterations  INTEGER NOT NULL,
            wall_ns     REAL NOT NULL,              -- whole batch, before overhead subtraction
            cpu_ns      REAL NOT NULL,
            overhead_ns REAL NOT NULL,              -- calibrated overhead of this batch
            flags       INTEGER NOT NULL            -- SampleFlags bit set
        );
        CREATE INDEX samples_op_sequence ON samples(op_id, sequence);

        -- counter_values: counter deltas over one sample batch (value scaled when multiplexed).
        -- id = sample_id * 1024 + position, so a sample's counters are one rowid range and no
        -- secondary index (or foreign-key check) slows the bulk insert; a trigger cascades deletes.
        CREATE TABLE counter_values (
            id           INTEGER PRIMARY KEY,       -- sample_id * 1024 + position within the sample
            sample_id    INTEGER NOT NULL,          -- samples.id
            event        TEXT NOT NULL,
            value        REAL NOT NULL,
            raw          INTEGER NOT NULL,
            time_enabled INTEGER NOT NULL,          -- ns
            time_running INTEGER NOT NULL,          -- ns; < time_enabled when multiplexed
            backend      TEXT NOT NULL              -- hw | sim
        );
        CREATE TRIGGER samples_delete_counters AFTER DELETE ON samples BEGIN
            DELETE FROM counter_values WHERE id BETWEEN old.id * 1024 AND old.id * 1024 + 1023;
        END;

        -- accuracy_checks: verification of an optimized variant against its reference.
        CREATE TABLE accuracy_checks (
            id                INTEGER PRIMARY KEY,
            run_id            INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            op_id             INTEGER NOT NULL REFERENCES ops(id) ON DELETE CASCADE,
            variant           TEXT NOT NULL,
            reference_variant TEXT NOT NULL,
            max_abs_error     REAL NOT NULL,
            max_rel_error     REAL NOT NULL,
            cosine            REAL NOT NULL,
            tol_abs           REAL NOT NULL,
            tol_rel           REAL NOT NULL,
            tol_min_cosine    REAL NOT NULL,
            passed            INTEGER NOT NULL,     -- 0/1
            reason            TEXT
        );
        CREATE INDEX accuracy_checks_run ON accuracy_checks(run_id);
        CREATE INDEX accuracy_checks_op ON accuracy_checks(op_id);

        -- v_samples: per-iteration times, overhead removed (not clamped: negative = below overhead).
        CREATE VIEW v_samples AS
        SELECT o.run_id AS run_id, o.suite AS suite, o.name AS op, s.variant AS variant, s.sequence AS sequence,
               s.iterations AS iterations,
               (s.wall_ns - s.overhead_ns) / s.iterations AS ns_per_iter,
               s.cpu_ns / s.iterations AS cpu_ns_per_iter,
               s.flags AS flags
        FROM samples s JOIN ops o ON o.id = s.op_id;

        -- v_counters: counter values per iteration; multiplexed = 1 when the value was scaled.
        CREATE VIEW v_counters AS
        SELECT o.run_id AS run_id, o.name AS op, s.variant AS variant, s.sequence AS sequence, c.event AS event,
               c.value / s.iterations AS per_iter, c.backend AS backend,
               (c.time_running < c.time_enabled) AS multiplexed
        FROM ops o JOIN samples s ON s.op_id = o.id
             JOIN counter_values c ON c.id BETWEEN s.id * 1024 AND s.id * 1024 + 1023;

        -- v_runs: one line per run, times as ISO-8601 UTC.
        CREATE VIEW v_runs AS
        SELECT r.id AS id, r.status AS status,
               strftime('%Y-%m-%dT%H:%M:%fZ', r.started_at, 'unixepoch') AS started_at,
               r.label AS label, r.suites AS suites, r.git_commit AS git_commit,
               m.cpu_model AS cpu_model, r.counter_mode AS counter_mode
        FROM runs r JOIN machines m ON m.id = r.machine_id;
        """

    /// Version 18: nothing changes on SQLite. On PostgreSQL, `samples.op_id`'s foreign key, checked
    /// row by row (a query per sample: 60 % of a 1M-sample push's server time), becomes one check per
    /// statement and a delete trigger (PostgresSchema.swift `v18`). SQLite checks a foreign key with
    /// an index probe and keeps its constraint; the migration exists here so both engines list the
    /// same migrations.
    static let samplesOpCheck = """
        -- v18: PostgreSQL only (samples.op_id checked per statement); nothing to change on SQLite.
        """

    /// Version 17: each finished run's points of its series, as `history`, change-point detection
    /// and the dashboard read them (SeriesPoints.swift), so a 10 000-run series is 10 000 rows, not a
    /// million samples. Derived from `samples`, `counter_values` and `iteration_latencies`; runs
    /// stored before get theirs when a read-write open finds them missing (`ResultStore.indexMissingPoints`).
    static let seriesPoints = """
        -- series_points: one row per (op, variant) of a finished run: `batches` holds the batches
        -- history decides from (Comparator.decisionBatches), in batch order, 12 bytes each: the net
        -- ns/iteration as a little-endian IEEE-754 double, then the worker process as a little-endian
        -- 32-bit integer; NULL when no batch is usable. `instructions`: median instructions per
        -- iteration (simulated counts when stored, else hardware), NULL when none were counted.
        CREATE TABLE series_points (
            op_id        INTEGER NOT NULL REFERENCES ops(id) ON DELETE CASCADE,
            variant      TEXT NOT NULL,
            batches      BLOB,
            instructions REAL,
            PRIMARY KEY (op_id, variant)
        );
        -- runs_series_time: one series' runs newest first by start time (ids are local to a database
        -- once runs are pushed or merged), so `history --last N` reads N runs, not the series.
        CREATE INDEX runs_series_time ON runs(machine_id, counter_mode, isa_built, started_at);
        """

    /// Version 16: identities that mean the same in every database, so runs can be pushed and
    /// shards merged (RunTransfer.swift) without relying on row ids. `runs.uuid` is a random
    /// (version 4) UUID in lower case, given by `beginRun`; runs stored before get one here.
    /// `machines.fingerprint_id` is `ResultStore.fingerprintID(_:)` of the fingerprint JSON text;
    /// SQL cannot compute it, so rows stored before keep '' until a read-write open fills them in
    /// (`ResultStore.fillFingerprintIDs`), and the unique index skips ''.
    static let globalIdentity = """
        ALTER TABLE runs ADD COLUMN uuid TEXT NOT NULL DEFAULT '';
        UPDATE runs SET uuid = lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'
            || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1)
            || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))
        WHERE uuid = '';
        CREATE UNIQUE INDEX runs_uuid ON runs(uuid);
        ALTER TABLE machines ADD COLUMN fingerprint_id TEXT NOT NULL DEFAULT '';
        CREATE UNIQUE INDEX machines_fingerprint_id ON machines(fingerprint_id) WHERE fingerprint_id <> '';
        """

    static let simCache = """
        -- sim_cache: simulated (callgrind) samples by everything that determines them (see
        -- `SimCacheKey`): binary content hash, op identity, variant, seed, iterations, callgrind
        -- options and simulator, ISA path. Reused by later runs; not tied to a run's lifetime.
        CREATE TABLE sim_cache (
            key            TEXT PRIMARY KEY,     -- the canonical key text (`SimCacheKey.text`)
            binary_hash    TEXT NOT NULL,        -- content hash of the executable callgrind ran
            benchmark      TEXT NOT NULL,        -- SUITE/OP/VARIANT it was counted for (for people)
            iterations     INTEGER NOT NULL,
            wall_ns        REAL NOT NULL,        -- how long the callgrind run took
            counters_json  TEXT NOT NULL,        -- [CounterValue], totals over `iterations`
            profile_json   TEXT,                 -- FunctionProfile (demangled), NULL when not kept
            caches         TEXT NOT NULL,        -- JSON array: the simulated cache hierarchy (`desc:` lines)
            source_run_id  INTEGER,              -- run that counted it (the run may since be deleted)
            created_at     REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX sim_cache_binary ON sim_cache(binary_hash);
        """
}
