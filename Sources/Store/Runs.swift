import Foundation
import BenchModel

extension ResultStore {
    // MARK: - Runs

    /// Inserts a run with status `.running` (whatever `info.status` says), records its machine,
    /// and returns the new run id. `info.id` and `info.endedAt` are ignored. The run's `uuid` is
    /// `info.uuid` when given (non-empty), else a new random one (`ResultStore.newRunUUID()`).
    ///
    /// The calling process becomes the run's owner: besides `info.pid` the row records this host's
    /// boot id and the start time of process `info.pid`, and (file databases, Linux) this process
    /// takes the run's owner lock before the row is committed and holds it until `finishRun` or
    /// its exit, so `markStaleRuns` in any process can tell whether the owner is still alive.
    public func beginRun(_ info: RunInfo) throws -> Int64 {
        let suites = try encodeJSON(info.suites)
        let isa = try encodeJSON(info.isaBuilt)
        let calibration = try info.calibration.map { try encodeJSON($0) }
        let fingerprint = try encodeJSON(info.machine)
        let bootID = ProcessIdentity.bootID()
        let startTicks = ProcessIdentity.startTicks(pid: info.pid).map { Int64(bitPattern: $0) }
        let uuid = info.uuid.isEmpty ? Self.newRunUUID() : info.uuid
        let locks = runLocks
        var taken: Int64?
        do {
            return try write { db in
                let machineID = try Self.machineID(db, info.machine, fingerprint: fingerprint)
                let inserted = try db.fetchOne(Int64.self, sql: """
                    INSERT INTO runs (started_at, ended_at, status, label, suites, suite_hash, git_commit, git_branch,
                                      git_dirty, harness_version, machine_id, isa_built, counter_mode, counter_note,
                                      calibration, config, pid, boot_id, pid_start, uuid)
                    VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    RETURNING id
                    """, arguments: [
                        info.startedAt.timeIntervalSince1970, RunStatus.running.rawValue, info.label, suites,
                        info.suiteHash, info.gitCommit, info.gitBranch, info.gitDirty, info.harnessVersion, machineID,
                        isa, info.counterMode.rawValue, info.counterNote, calibration, info.configJSON, Int64(info.pid),
                        bootID, startTicks, uuid,
                    ])
                guard let id = inserted else {
                    throw StoreError.unusable(path: path, reason: "inserting a run returned no id")
                }
                // Locked before the row is visible to anyone: no checker can see the run unlocked.
                if let offset = locks?.acquire(runID: id) {
                    taken = offset
                    try db.execute(sql: "UPDATE runs SET owner_lock = ? WHERE id = ?", arguments: [offset, id])
                }
                return id
            }
        } catch {
            if let taken { locks?.release(offset: taken) }
            throw error
        }
    }

    /// Id of the `machines` row with exactly this fingerprint, inserting it when new.
    private static func machineID(_ db: any StoreDatabase, _ machine: MachineFingerprint, fingerprint: String) throws -> Int64 {
        if let id = try db.fetchOne(Int64.self, sql: "SELECT id FROM machines WHERE fingerprint = ?", arguments: [fingerprint]) {
            return id
        }
        let inserted = try db.fetchOne(Int64.self, sql: """
            INSERT INTO machines (fingerprint, key, cpu_model, logical_cpus, kernel, pmu_available, virtualization,
                                  fingerprint_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            RETURNING id
            """, arguments: [fingerprint, machine.key, machine.cpuModel, machine.logicalCPUs, machine.kernel,
                             machine.pmuAvailable, machine.virtualization, fingerprintID(fingerprint)])
        guard let inserted else { throw StoreRowError("inserting a machine returned no id") }
        return inserted
    }

    /// Stores the calibration and the counter backend decision once the runner knows them.
    ///
    /// - Throws: `StoreError.unknownRun` when no run has this id.
    public func updateRun(id: Int64, calibration: Calibration?, counterMode: CounterSource, counterNote: String) throws {
        let calibrationJSON = try calibration.map { try encodeJSON($0) }
        try write { db in
            let changed = try db.execute(sql: "UPDATE runs SET calibration = ?, counter_mode = ?, counter_note = ? WHERE id = ?",
                                         arguments: [calibrationJSON, counterMode.rawValue, counterNote, id])
            if changed == 0 { throw StoreError.unknownRun(String(id)) }
            try Self.recordSeries(db, runID: id)  // samples stored before a backend change join its series
        }
    }

    /// Sets the final status of a run and its `ended_at` to now, releases its owner lock, then
    /// writes the run's series points (`series_points`, see SeriesPoints.swift) in a transaction of
    /// their own: the status is stored whatever happens to them.
    ///
    /// - Throws: `StoreError.unknownRun` when no run has this id.
    public func finishRun(id: Int64, status: RunStatus) throws {
        let now = Date().timeIntervalSince1970
        let offset = try write { db -> Int64? in
            let changed = try db.execute(sql: "UPDATE runs SET status = ?, ended_at = ? WHERE id = ?",
                                         arguments: [status.rawValue, now, id])
            if changed == 0 { throw StoreError.unknownRun(String(id)) }
            return try db.fetchOne(Int64.self, sql: "SELECT owner_lock FROM runs WHERE id = ?", arguments: [id])
        }
        if let offset { runLocks?.release(offset: offset) }
        if status != .running { indexPointsAfterEnd(runID: id) }
    }

    /// Marks as `stale` every `running` run whose owning process is provably gone, and returns
    /// their ids (ascending). `ended_at` stays NULL: when the process died is unknown.
    public func markStaleRuns() throws -> [Int64] {
        try markStaleRuns(isAlive: ownerAlive)
    }

    /// `markStaleRuns()` with an injected liveness test (for tests).
    public func markStaleRuns(isAlive: (RunOwner) -> Bool) throws -> [Int64] {
        let stale = try write { db -> [Int64] in
            let running = try db.fetchAll(sql: """
                SELECT id, pid, boot_id, pid_start, owner_lock FROM runs WHERE status = ? ORDER BY id
                """, arguments: [RunStatus.running.rawValue])
            var stale: [Int64] = []
            for row in running {
                let id: Int64 = try row.get(at: 0)
                let owner = try Self.runOwner(row, from: 1)
                if !isAlive(owner) {
                    try db.execute(sql: "UPDATE runs SET status = ? WHERE id = ?", arguments: [RunStatus.stale.rawValue, id])
                    stale.append(id)
                }
            }
            return stale
        }
        // A stale run's completed batches are history too.
        for id in stale { indexPointsAfterEnd(runID: id) }
        return stale
    }

    /// The recorded owner of run `id`, or nil when there is no such run.
    public func runOwner(id: Int64) throws -> RunOwner? {
        try read { db in
            try db.fetchOne(sql: "SELECT pid, boot_id, pid_start, owner_lock FROM runs WHERE id = ?", arguments: [id])
                .map { try Self.runOwner($0, from: 0) }
        }
    }

    /// The owner in columns `pid, boot_id, pid_start, owner_lock` of `row`, starting at `first`.
    private static func runOwner(_ row: StoreRow, from first: Int) throws -> RunOwner {
        let pid: Int64 = try row.get(at: first)
        let start: Int64? = try row.get(at: first + 2)
        return RunOwner(pid: Int32(truncatingIfNeeded: pid), bootID: try row.get(at: first + 1),
                        startTicks: start.map { UInt64(bitPattern: $0) }, lockOffset: try row.get(at: first + 3))
    }

    /// Whether a run's owner may still be alive. In order: the owner lock (held = alive, free =
    /// gone; it works across PID namespaces); a different boot id (gone); the process start time
    /// (the pid must exist and have started at the recorded time); the pid alone (`kill(pid, 0)`)
    /// for runs recorded before schema v4.
    public func ownerAlive(_ owner: RunOwner) -> Bool {
        if let offset = owner.lockOffset, let held = runLocks?.isHeld(offset: offset) {
            return held
        }
        if let recorded = owner.bootID, let boot = ProcessIdentity.bootID(), recorded != boot {
            return false
        }
        if let recorded = owner.startTicks, ProcessIdentity.hasProc {
            return ProcessIdentity.startTicks(pid: owner.pid) == recorded
        }
        return defaultPidAlive(owner.pid)
    }

    /// The run with this id, or nil.
    public func run(id: Int64) throws -> RunInfo? {
        try read { db in
            try db.fetchOne(sql: Self.runSelect + " WHERE r.id = ?", arguments: [id]).map { try runInfo($0) }
        }
    }

    /// Up to `limit` runs, newest (highest id) first, whatever their status.
    public func runs(limit: Int = 50) throws -> [RunInfo] {
        try read { db in
            try db.fetchAll(sql: Self.runSelect + " ORDER BY r.id DESC LIMIT ?", arguments: [max(0, limit)])
                .map { try runInfo($0) }
        }
    }

    /// Resolves a run reference to a run id.
    ///
    /// - `"42"`: run 42, which must exist (any status);
    /// - `"latest"`: the newest run with status `complete`;
    /// - `"latest~N"`: the N-th complete run before the latest (`latest~0` is `latest`).
    ///
    /// - Throws: `StoreError.noRuns` when `latest` is asked for and no run is complete,
    ///   `StoreError.unknownRun(ref)` for anything else that does not match a run (baseline
    ///   names are not resolved here).
    public func resolveRun(_ ref: String) throws -> Int64 {
        let trimmed = ref.trimmingCharacters(in: .whitespaces)
        if let id = Int64(trimmed) {
            let exists = try read { db in
                try db.fetchOne(Int64.self, sql: "SELECT 1 FROM runs WHERE id = ?", arguments: [id]) != nil
            }
            guard exists else { throw StoreError.unknownRun(ref) }
            return id
        }
        let back: Int
        if trimmed == "latest" {
            back = 0
        } else if trimmed.hasPrefix("latest~"), let n = Int(trimmed.dropFirst("latest~".count)), n >= 0 {
            back = n
        } else {
            throw StoreError.unknownRun(ref)
        }
        let (found, completeCount) = try read { db in
            let id = try db.fetchOne(Int64.self, sql: "SELECT id FROM runs WHERE status = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
                                     arguments: [RunStatus.complete.rawValue, back])
            let count = try db.fetchOne(Int.self, sql: "SELECT count(*) FROM runs WHERE status = ?",
                                        arguments: [RunStatus.complete.rawValue]) ?? 0
            return (id, count)
        }
        if let found { return found }
        if completeCount == 0 { throw StoreError.noRuns }
        throw StoreError.unknownRun(ref)
    }

    // MARK: - Run notes

    /// Sets (or replaces) a free-form note on a run, e.g. `overhead.share_1ms`.
    ///
    /// - Throws: `StoreError.unknownRun` when the run does not exist.
    public func setRunMeta(runID: Int64, key: String, value: String) throws {
        try write { db in
            try Self.requireRun(db, runID)
            try Self.setRunMeta(db, runID: runID, key: key, value: value)
        }
    }

    /// Sets (replacing) one note of run `runID` inside the caller's transaction.
    static func setRunMeta(_ db: any StoreDatabase, runID: Int64, key: String, value: String) throws {
        try db.execute(sql: """
            INSERT INTO run_meta (run_id, key, value) VALUES (?, ?, ?)
            ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value
            """, arguments: [runID, key, value])
    }

    /// All notes of a run (empty when none).
    public func runMeta(runID: Int64) throws -> [String: String] {
        try read { db in
            var meta: [String: String] = [:]
            for row in try db.fetchAll(sql: "SELECT key, value FROM run_meta WHERE run_id = ?", arguments: [runID]) {
                meta[try row.get(at: 0) as String] = try row.get(at: 1) as String
            }
            return meta
        }
    }

    // MARK: - Decoding

    /// Columns read by `runInfo(_:)`, in order.
    private static let runSelect = """
        SELECT r.id, r.started_at, r.ended_at, r.status, r.label, r.suites, r.suite_hash, r.git_commit, r.git_branch,
               r.git_dirty, r.harness_version, m.fingerprint, r.isa_built, r.counter_mode, r.counter_note,
               r.calibration, r.config, r.pid, r.uuid
        FROM runs r JOIN machines m ON m.id = r.machine_id
        """

    /// Builds a `RunInfo` from a `runSelect` row.
    private func runInfo(_ row: StoreRow) throws -> RunInfo {
        let id: Int64 = try row.get(at: 0)
        let statusText: String = try row.get(at: 3)
        guard let status = RunStatus(rawValue: statusText) else {
            throw StoreError.unusable(path: path, reason: "run \(id) has unknown status '\(statusText)'")
        }
        let startedAt: Double = try row.get(at: 1)
        let endedAt: Double? = try row.get(at: 2)
        let calibrationText: String? = try row.get(at: 15)
        let counterModeText: String = try row.get(at: 13)
        let pid: Int64 = try row.get(at: 17)
        return RunInfo(
            id: id,
            startedAt: Date(timeIntervalSince1970: startedAt),
            endedAt: endedAt.map { Date(timeIntervalSince1970: $0) },
            status: status,
            label: try row.get(at: 4),
            suites: try decodeJSON([String].self, row.get(at: 5), what: "runs.suites of run \(id)"),
            suiteHash: try row.get(at: 6),
            gitCommit: try row.get(at: 7),
            gitBranch: try row.get(at: 8),
            gitDirty: try row.get(at: 9),
            harnessVersion: try row.get(at: 10),
            machine: try decodeJSON(MachineFingerprint.self, row.get(at: 11), what: "machine fingerprint of run \(id)"),
            isaBuilt: try decodeJSON([String].self, row.get(at: 12), what: "runs.isa_built of run \(id)"),
            counterMode: CounterSource(rawValue: counterModeText) ?? .none,
            counterNote: try row.get(at: 14),
            calibration: try calibrationText.map { try decodeJSON(Calibration.self, $0, what: "runs.calibration of run \(id)") },
            configJSON: try row.get(at: 16),
            pid: Int32(truncatingIfNeeded: pid),
            uuid: try row.get(at: 18))
    }
}
