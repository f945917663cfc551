// Copying runs between stores (RunTransfer): every run-owned table copied losslessly (a canonical
// dump with ids replaced by global identities is equal), idempotent, all-or-nothing per run,
// baselines and change-point triage merged without overwriting.
import Foundation
import Testing
import BenchModel
@testable import Store

private func transferMachine(_ cpu: String) -> MachineFingerprint {
    MachineFingerprint(cpuModel: cpu, logicalCPUs: 2, isaHost: ["avx2"], caches: [], kernel: "6.8", governor: "performance",
                       perfEventParanoid: 2, virtualization: "none", pmuAvailable: false)
}

private func transferRunInfo(_ cpu: String = "Shard CPU", label: String = "shard") -> RunInfo {
    RunInfo(startedAt: Date(timeIntervalSince1970: 1_700_000_000), status: .running, label: label, suites: ["s"],
            suiteHash: "h", gitCommit: "c0ffee", gitBranch: "main", gitDirty: false, harnessVersion: Harness.version,
            machine: transferMachine(cpu), isaBuilt: ["avx2"], counterMode: .none, counterNote: "", calibration: nil,
            configJSON: "{}", pid: getpid())
}

/// A finished run with rows in every run-owned table; returns its id.
@discardableResult
private func richRun(_ store: ResultStore, cpu: String = "Shard CPU", samples: Int = 6, finish: Bool = true) throws -> Int64 {
    let runID = try store.beginRun(transferRunInfo(cpu))
    try store.setRunMeta(runID: runID, key: "overhead.share_1ms", value: "0.001")
    try store.setRunTags(runID: runID, tags: ["branch": "main", "host": cpu.replacingOccurrences(of: " ", with: "-")])
    for name in ["gemm", "relu"] {
        let opID = try store.recordOp(runID: runID, op: OpRecord(suite: "s", name: name, kind: "gemm", shape: ["m": 4], dtype: "f32",
                                                                 flops: 8, bytes: 16, threshold: 0.05))
        let rows = (0..<samples).map { i in
            Sample(key: BenchmarkKey(suite: "s", op: name, variant: i % 2 == 0 ? "reference" : "optimized"), sequence: i, iterations: 2,
                   wallNs: 100 + Double(i), cpuNs: 90, overheadNs: 1,
                   counters: [CounterValue(event: "instructions", value: 1000 + Double(i), raw: 1000, timeEnabled: 10, timeRunning: 10, backend: .hw),
                              CounterValue(event: "cycles", value: 700, raw: 700, timeEnabled: 10, timeRunning: 5, backend: .hw)],
                   iterationLatencies: i == 0 ? IterationLatencies(ns: [40, 60], labels: [0, 1], overheadNs: 2) : nil)
        }
        try store.insertSamples(runID: runID, opID: opID, samples: rows)
    }
    try store.engine.write { db in
        let opID = try db.fetchOne(Int64.self, sql: "SELECT id FROM ops WHERE run_id = ? AND name = 'gemm'", arguments: [runID]) ?? 0
        let sampleID = try db.fetchOne(Int64.self, sql: "SELECT MIN(id) FROM samples WHERE op_id = ?", arguments: [opID]) ?? 0
        try db.execute(sql: """
            INSERT INTO sim_functions (sample_id, rank, function, symbol, object, file, functions, ir, d1_misses, ll_misses, branch_misses)
            VALUES (?, 0, 'gemm', '$s4gemm', 'fusebench', 'GEMM.swift', 1, 12345, 6, NULL, 2)
            """, arguments: [sampleID])
        try db.execute(sql: """
            INSERT INTO accuracy_checks (run_id, op_id, variant, reference_variant, max_abs_error, max_rel_error, cosine, tol_abs,
                                         tol_rel, tol_min_cosine, passed, reason, err_normalised, err_normalisation)
            VALUES (?, ?, 'optimized', 'reference', 1e-6, 1e-5, 0.99999, 1e-4, 1e-3, 0.9999, 1, NULL, 0.01, 'bound')
            """, arguments: [runID, opID])
        try db.execute(sql: """
            INSERT INTO thermal_readings (run_id, sample_sequence, kind, label, value, unit, note) VALUES (?, 3, 'temperature', 'cpu', 55.5, 'C', '')
            """, arguments: [runID])
        try db.execute(sql: """
            INSERT INTO variant_decisions (run_id, suite, op, variant, reference_variant, metric, latency_source, decision, reason, decided_at)
            VALUES (?, 's', 'gemm', 'optimized', 'reference', 'top-1', 'batches', 'adopt', 'faster', 1700000001)
            """, arguments: [runID])
        try db.execute(sql: """
            INSERT INTO fusion_decisions (run_id, model, layers, rule, outcome, reason, bytes_saved, launches_saved, suite)
            VALUES (?, 'mlp', '["a","b"]', 'gemm+relu', 'accepted', 'saves traffic', 1024, 1, 's')
            """, arguments: [runID])
    }
    if finish { try store.finishRun(id: runID, status: .complete) }
    return runID
}

/// Every table as sorted lines, ids replaced by global identities: runs by UUID, machines by
/// fingerprint, ops by (run, suite, name), samples by (op, variant, sequence); counter ids become
/// their position; `change_points.series` (holds a local machine id) and `runs.owner_lock` dropped.
private func canonicalDump(_ store: ResultStore) throws -> [String: [String]] {
    try store.engine.read { db in
        var runs: [Int64: String] = [:], machines: [Int64: String] = [:], ops: [Int64: String] = [:], samples: [Int64: String] = [:]
        for row in try db.fetchAll(sql: "SELECT id, uuid FROM runs") { runs[try row.get("id")] = try row.get("uuid") }
        for row in try db.fetchAll(sql: "SELECT id, fingerprint FROM machines") { machines[try row.get("id")] = try row.get("fingerprint") }
        for row in try db.fetchAll(sql: "SELECT id, run_id, suite, name FROM ops") {
            ops[try row.get("id")] = "\(runs[try row.get("run_id")] ?? "?")/\(try row.get("suite", as: String.self))/\(try row.get("name", as: String.self))"
        }
        for row in try db.fetchAll(sql: "SELECT id, op_id, variant, sequence FROM samples") {
            samples[try row.get("id")] = "\(ops[try row.get("op_id")] ?? "?")/\(try row.get("variant", as: String.self))#\(try row.get("sequence", as: Int64.self))"
        }
        let tables = try db.fetchAll(String.self, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        var dump: [String: [String]] = [:]
        for table in tables {
            var lines: [String] = []
            for row in try db.fetchAll(sql: "SELECT * FROM \(table)") {
                var fields: [String] = []
                for (name, value) in zip(row.columns.names, row.values) {
                    let id = Int64(storeValue: value)
                    switch name {
                    case "owner_lock": continue
                    case "series" where table == "change_points": continue
                    case "id" where table == "counter_values":
                        let sample = try row.get("sample_id", as: Int64.self)
                        fields.append("position=\((id ?? 0) - sample * StoreSchema.countersPerSampleLimit)")
                    case "id" where table != "sim_cache": continue
                    case "run_id", "run_before", "run_after", "previous_run_id", "source_run_id":
                        fields.append("\(name)=\(id.flatMap { runs[$0] } ?? "NULL")")
                    case "machine_id": fields.append("machine=\(id.flatMap { machines[$0] } ?? "?")")
                    case "op_id": fields.append("op=\(id.flatMap { ops[$0] } ?? "?")")
                    case "sample_id": fields.append("sample=\(id.flatMap { samples[$0] } ?? "?")")
                    default: fields.append("\(name)=\(value)")
                    }
                }
                lines.append(fields.joined(separator: " "))
            }
            dump[table] = lines.sorted()
        }
        return dump
    }
}

@Test func everyTableIsRunOwnedOrHandledElsewhere() throws {
    let store = try ResultStore.inMemory()
    let tables = try store.engine.read { db in
        try db.fetchAll(String.self, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    }
    // A new table must be added to RunTransfer.runOwnedTables (and copied) or to otherTables.
    #expect(Set(tables) == Set(RunTransfer.runOwnedTables + RunTransfer.otherTables))
    #expect(Set(RunTransfer.runOwnedTables).isDisjoint(with: RunTransfer.otherTables))
}

@Test func pushCopiesEveryRunOwnedRowLosslessly() throws {
    let source = try ResultStore.inMemory()
    try richRun(source)
    try richRun(source, cpu: "Other CPU")
    let target = try ResultStore.inMemory()
    // The target already has other rows, so ids differ between the two databases.
    try richRun(target, cpu: "Target CPU")
    let before = try canonicalDump(target)
    let results = try source.copyRuns(try source.runUUIDs().map(\.id), to: target)
    #expect(results.map(\.line).allSatisfy { $0.hasSuffix("pushed 12 samples") })
    let sourceDump = try canonicalDump(source)
    let targetDump = try canonicalDump(target)
    for table in RunTransfer.runOwnedTables {
        let expected = (sourceDump[table] ?? []) + (before[table] ?? [])
        #expect(targetDump[table] ?? [] == expected.sorted(), "table \(table)")
        #expect(!(sourceDump[table] ?? []).isEmpty, "the fixture leaves \(table) empty: the test would prove nothing")
    }
    // Reads through the store API agree.
    for (id, uuid) in try source.runUUIDs() {
        let copied = try #require(try target.runID(uuid: uuid))
        #expect(try target.samples(runID: copied) .count == source.samples(runID: id).count)
        var info = try #require(try target.run(id: copied))
        info.id = id
        #expect(info == (try source.run(id: id)))
    }
}

@Test func pushingTwiceChangesNothingAndRunningRunsAreSkipped() throws {
    let source = try ResultStore.inMemory()
    let done = try richRun(source)
    let running = try richRun(source, cpu: "Busy CPU", finish: false)
    let target = try ResultStore.inMemory()
    let first = try source.copyRuns([done, running], to: target)
    guard case .pushed = first[0].outcome else { Issue.record("not pushed: \(first[0])"); return }
    #expect(first[1].outcome == .skippedRunning)
    #expect(first[1].line.hasSuffix("skipped: running"))
    let dump = try canonicalDump(target)
    let second = try source.copyRuns([done], to: target)
    guard case .alreadyPresent = second[0].outcome else { Issue.record("pushed twice: \(second[0])"); return }
    #expect(second[0].line.hasSuffix("already present"))
    #expect(try canonicalDump(target) == dump)
}

/// A failure while copying a run's rows leaves nothing of that run in the target; earlier runs stay.
@Test func aFailedCopyLeavesTheRunAbsent() throws {
    let source = try ResultStore.inMemory()
    let first = try richRun(source)
    let second = try richRun(source, cpu: "Second CPU")
    let target = try ResultStore.inMemory()
    _ = try source.copyRuns([first], to: target)
    _ = try target.engine.write { db in
        try db.execute(sql: "CREATE TRIGGER fail_fusion BEFORE INSERT ON fusion_decisions BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
    }
    let dump = try canonicalDump(target)
    #expect(throws: StoreError.self) { try source.copyRuns([second], to: target) }
    #expect(try canonicalDump(target) == dump)
    _ = try target.engine.write { db in try db.execute(sql: "DROP TRIGGER fail_fusion") }
    let resumed = try source.copyRuns([first, second], to: target)
    guard resumed.count == 2, case .alreadyPresent = resumed[0].outcome, case .pushed = resumed[1].outcome else {
        Issue.record("resume: \(resumed)")
        return
    }
    #expect(try canonicalDump(target) == canonicalDump(source))
}

@Test func baselinesMergeWithoutOverwritingAndReportConflicts() throws {
    let shard = try ResultStore.inMemory()
    let a = try richRun(shard)
    let b = try richRun(shard)
    try shard.setBaseline(name: "main", runID: a)
    try shard.setBaseline(name: "main", runID: b, note: "moved")
    try shard.setBaseline(name: "release", runID: a)
    let out = try ResultStore.inMemory()
    let transfer = RunTransfer(from: shard, to: out)
    _ = try transfer.copyRuns([a, b])
    let first = try transfer.copyBaselines()
    #expect(first.copied == 2 && first.conflicts.isEmpty && first.missing.isEmpty)
    let dump = try canonicalDump(out)
    #expect(dump["baselines"] == (try canonicalDump(shard))["baselines"])
    #expect(dump["baseline_moves"] == (try canonicalDump(shard))["baseline_moves"])
    // Again: nothing new.
    let again = try transfer.copyBaselines()
    #expect(again.copied == 0 && again.conflicts.isEmpty)
    #expect(try canonicalDump(out) == dump)
    // Another shard names "main" for a different run: a conflict, the output keeps its own.
    let other = try ResultStore.inMemory()
    let c = try richRun(other, cpu: "Other CPU")
    try other.setBaseline(name: "main", runID: c)
    let otherTransfer = RunTransfer(from: other, to: out)
    _ = try otherTransfer.copyRuns([c])
    let conflicting = try otherTransfer.copyBaselines()
    #expect(conflicting.copied == 0)
    #expect(conflicting.conflicts.count == 1)
    #expect(conflicting.conflicts.first?.description.hasPrefix("baseline main: the target points at run") == true)
    #expect(try out.baseline(name: "main")?.runID == (try out.runID(uuid: try #require(try shard.run(id: b)).uuid)))
}

@Test func changePointTriageIsCopiedAndConflictsReported() throws {
    let shard = try ResultStore.inMemory()
    let before = try richRun(shard)
    let after = try richRun(shard)
    let series = try #require(try shard.series(matching: nil, branch: nil, machine: nil).first)
    let candidate = ChangePointCandidate(series: series, branch: nil, runBefore: before, runAfter: after, commitBefore: "a",
                                         commitAfter: "b", ratio: 1.2, lower: 1.1, upper: 1.3, p: 0.001)
    let id = try #require(try shard.insertChangePoints([candidate]).first)
    try shard.triageChangePoint(id: id, state: .acknowledged, note: "looking")
    let out = try ResultStore.inMemory()
    try richRun(out, cpu: "Local CPU")   // different machine ids in the output
    let transfer = RunTransfer(from: shard, to: out)
    _ = try transfer.copyRuns([before, after])
    let copied = try transfer.copyChangePoints()
    #expect(copied.copied == 1 && copied.conflicts.isEmpty)
    let stored = try out.changePoints(series: nil, branch: nil)
    #expect(stored.map(\.state) == [.acknowledged])
    #expect(stored.first?.candidate.series.cpuModel == "Shard CPU")
    // The series id is the output's own (its machine id), so history finds the point.
    let outSeries = try #require(try out.series(matching: nil, branch: nil, machine: "Shard CPU").first { $0.benchmark == series.benchmark })
    #expect(try out.changePoints(series: outSeries, branch: nil).count == 1)
    // A different triage in the output is kept and reported.
    try out.triageChangePoint(id: try #require(stored.first?.id), state: .accepted, note: nil)
    let conflict = try transfer.copyChangePoints()
    #expect(conflict.copied == 0 && conflict.conflicts.count == 1)
    #expect(try out.changePoints(series: nil, branch: nil).map(\.state) == [.accepted])
}
