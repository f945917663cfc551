// Stored change points of series (`change_points`, migration v8) and their triage state.
// Detection itself is pure (Analysis/ChangePoints.swift); `fusebench history --changes` runs it
// over the series, stores what is new here and alerts on points still in state `new`.
//
// Identity: one row per (series id, branch filter, first run after the step). Inserting a point that
// is already stored does nothing, whatever its state, so re-running detection never alerts twice;
// every stored point is also a known boundary for later detection in its series.
import BenchModel
import Foundation

/// Triage state of a stored change point.
public enum ChangePointState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Found, not looked at yet: `history --changes` lists it and exits 1.
    case new
    /// Seen by someone (e.g. a regression being worked on); no longer alerts.
    case acknowledged
    /// Accepted as the series' new level; no longer alerts.
    case accepted
}

/// A change point to store: what detection found, placed on runs of a series.
public struct ChangePointCandidate: Sendable, Hashable {
    /// The series.
    public var series: SeriesKey
    /// `--branch` the series' runs were restricted to when it was found (nil = all branches).
    public var branch: String?
    /// Last run at the old level and first run at the new one.
    public var runBefore: Int64
    public var runAfter: Int64
    /// Commits of those runs (nil when not recorded).
    public var commitBefore: String?
    public var commitAfter: String?
    /// Step size, after / before, with its confidence interval.
    public var ratio: Double
    public var lower: Double
    public var upper: Double
    /// Permutation p-value.
    public var p: Double

    /// Creates a candidate.
    public init(series: SeriesKey, branch: String?, runBefore: Int64, runAfter: Int64, commitBefore: String?, commitAfter: String?,
                ratio: Double, lower: Double, upper: Double, p: Double) {
        self.series = series
        self.branch = branch
        self.runBefore = runBefore
        self.runAfter = runAfter
        self.commitBefore = commitBefore
        self.commitAfter = commitAfter
        self.ratio = ratio
        self.lower = lower
        self.upper = upper
        self.p = p
    }
}

/// A stored change point.
public struct StoredChangePoint: Sendable, Hashable {
    /// `change_points.id`: what `--acknowledge` / `--accept` take.
    public var id: Int64
    /// The point as found.
    public var candidate: ChangePointCandidate
    /// Triage state.
    public var state: ChangePointState
    /// When it was first stored, and when its state last changed (nil while new).
    public var detectedAt: Date
    public var triagedAt: Date?
    /// Free note given when triaging.
    public var note: String?
}

extension ResultStore {
    // MARK: - Change points

    /// Stores the candidates that are not stored yet (same series, branch filter and run after);
    /// existing rows keep their state. Returns the ids of the rows inserted now.
    ///
    /// - Throws: `StoreError` when the database cannot be written.
    @discardableResult
    public func insertChangePoints(_ candidates: [ChangePointCandidate], detectedAt: Date = Date()) throws -> [Int64] {
        guard !candidates.isEmpty else { return [] }
        return try write { db in
            var ids: [Int64] = []
            for c in candidates {
                let inserted = try db.fetchOne(Int64.self, sql: """
                    INSERT INTO change_points
                        (series, suite, op, variant, machine_id, counter_mode, isa_built, branch, run_before, run_after,
                         commit_before, commit_after, ratio, ratio_lo, ratio_hi, p, state, detected_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'new', ?)
                    ON CONFLICT (series, branch, run_after) DO NOTHING
                    RETURNING id
                    """, arguments: [c.series.id, c.series.benchmark.suite, c.series.benchmark.op, c.series.benchmark.variant,
                                     c.series.machineID, c.series.counterMode, c.series.isaBuilt, c.branch ?? "", c.runBefore,
                                     c.runAfter, c.commitBefore, c.commitAfter, c.ratio, c.lower, c.upper, c.p,
                                     detectedAt.timeIntervalSince1970])
                if let inserted { ids.append(inserted) }
            }
            return ids
        }
    }

    /// The stored change points of `series` (all series when nil) for branch filter `branch`
    /// (nil = found over all branches), oldest step first; only `states` when given.
    public func changePoints(series: SeriesKey?, branch: String?, states: Set<ChangePointState>? = nil) throws -> [StoredChangePoint] {
        try read { db in
            var arguments: [any StoreEncodable] = []
            if let series { arguments.append(series.id) }
            arguments.append(branch ?? "")
            let rows = try db.fetchAll(sql: """
                SELECT c.id, c.suite, c.op, c.variant, c.machine_id, m.key, m.cpu_model, c.counter_mode, c.isa_built, c.branch,
                       c.run_before, c.run_after, c.commit_before, c.commit_after, c.ratio, c.ratio_lo, c.ratio_hi, c.p,
                       c.state, c.detected_at, c.triaged_at, c.note
                FROM change_points c JOIN machines m ON m.id = c.machine_id
                WHERE \(series == nil ? "" : "c.series = ? AND ")c.branch = ?
                ORDER BY c.series, c.run_after
                """, arguments: arguments)
            return try rows.compactMap { row -> StoredChangePoint? in
                guard let state = ChangePointState(rawValue: try row.get(at: 18)) else { return nil }
                if let states, !states.contains(state) { return nil }
                let key = SeriesKey(benchmark: BenchmarkKey(suite: try row.get(at: 1), op: try row.get(at: 2), variant: try row.get(at: 3)),
                                    machineID: try row.get(at: 4), machineKey: try row.get(at: 5), cpuModel: try row.get(at: 6),
                                    counterMode: try row.get(at: 7), isaBuilt: try row.get(at: 8))
                let branchText: String = try row.get(at: 9)
                let candidate = ChangePointCandidate(series: key, branch: branchText.isEmpty ? nil : branchText, runBefore: try row.get(at: 10),
                                                     runAfter: try row.get(at: 11), commitBefore: try row.get(at: 12),
                                                     commitAfter: try row.get(at: 13), ratio: try row.get(at: 14),
                                                     lower: try row.get(at: 15), upper: try row.get(at: 16), p: try row.get(at: 17))
                let triaged: Double? = try row.get(at: 20)
                return StoredChangePoint(id: try row.get(at: 0), candidate: candidate, state: state,
                                         detectedAt: Date(timeIntervalSince1970: try row.get(at: 19)),
                                         triagedAt: triaged.map { Date(timeIntervalSince1970: $0) }, note: try row.get(at: 21))
            }
        }
    }

    /// Sets the triage state of change point `id` (and its note, when given; an existing note is
    /// kept otherwise).
    ///
    /// - Throws: `StoreError.invalidName` when no change point has this id.
    public func triageChangePoint(id: Int64, state: ChangePointState, note: String?, at date: Date = Date()) throws {
        try write { db in
            let changed = try db.execute(sql: "UPDATE change_points SET state = ?, triaged_at = ?, note = COALESCE(?, note) WHERE id = ?",
                                         arguments: [state.rawValue, date.timeIntervalSince1970, note, id])
            if changed == 0 {
                throw StoreError.invalidName("no change point has id \(id); list them with `fusebench history --changes --state all`")
            }
        }
    }
}
