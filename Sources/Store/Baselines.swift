import BenchModel
import Foundation

/// A named pointer to a run (e.g. `main`), with the history of its moves.
public struct Baseline: Sendable, Hashable {
    public var name: String
    public var runID: Int64
    public var updatedAt: Date
    /// Every move, oldest first; `runID == nil` marks a removal.
    public var history: [Move]

    /// One move of a baseline.
    public struct Move: Sendable, Hashable {
        public var runID: Int64?
        public var previousRunID: Int64?
        public var movedAt: Date
        public var note: String
    }
}

extension ResultStore {
    /// Points baseline `name` at `runID` (creating it), recording the move in its history.
    ///
    /// - Throws: `StoreError.unknownRun` when the run does not exist; `StoreError.invalidName`
    ///   for a name that could be mistaken for a run reference.
    public func setBaseline(name: String, runID: Int64, note: String = "") throws {
        try Self.validateBaselineName(name)
        try write { db in
            try Self.requireRun(db, runID)
            let previous = try db.fetchOne(Int64.self, sql: "SELECT run_id FROM baselines WHERE name = ?", arguments: [name])
            let now = Date().timeIntervalSince1970
            try db.execute(sql: """
                INSERT INTO baselines (name, run_id, updated_at) VALUES (?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET run_id = excluded.run_id, updated_at = excluded.updated_at
                """, arguments: [name, runID, now])
            try db.execute(sql: "INSERT INTO baseline_moves (name, run_id, previous_run_id, moved_at, note) VALUES (?, ?, ?, ?, ?)",
                           arguments: [name, runID, previous, now, note])
        }
    }

    /// Moves baseline `name` back to the run it pointed at before its latest move.
    ///
    /// - Returns: the run it now points at.
    /// - Throws: `StoreError.unknownBaseline` when it does not exist or has no earlier run.
    @discardableResult
    public func rollBackBaseline(name: String) throws -> Int64 {
        guard let b = try baseline(name: name) else { throw StoreError.unknownBaseline(name) }
        // Walk the history backwards to the newest run that differs from the current one.
        let earlier = b.history.reversed().compactMap(\.runID).first { $0 != b.runID }
        guard let target = earlier else {
            throw StoreError.unknownBaseline("\(name) (it has no earlier run to roll back to)")
        }
        try setBaseline(name: name, runID: target, note: "rolled back from run \(b.runID)")
        return target
    }

    /// Removes baseline `name`; its history is kept.
    public func removeBaseline(name: String) throws {
        try write { db in
            guard let previous = try db.fetchOne(Int64.self, sql: "SELECT run_id FROM baselines WHERE name = ?", arguments: [name]) else {
                throw StoreError.unknownBaseline(name)
            }
            try db.execute(sql: "DELETE FROM baselines WHERE name = ?", arguments: [name])
            try db.execute(sql: "INSERT INTO baseline_moves (name, run_id, previous_run_id, moved_at, note) VALUES (?, NULL, ?, ?, 'removed')",
                           arguments: [name, previous, Date().timeIntervalSince1970])
        }
    }

    /// Baseline `name` with its history, or nil.
    public func baseline(name: String) throws -> Baseline? {
        try read { db in
            guard let row = try db.fetchOne(sql: "SELECT run_id, updated_at FROM baselines WHERE name = ?", arguments: [name]) else {
                return nil
            }
            // In time order: after `merge`, moves of another shard get later ids than newer local moves.
            let moves = try db.fetchAll(sql: """
                SELECT run_id, previous_run_id, moved_at, note FROM baseline_moves WHERE name = ? ORDER BY moved_at, id
                """, arguments: [name]).map { m in
                Baseline.Move(runID: try m.get(at: 0), previousRunID: try m.get(at: 1), movedAt: Date(timeIntervalSince1970: try m.get(at: 2)),
                              note: try m.get(at: 3))
            }
            return Baseline(name: name, runID: try row.get(at: 0), updatedAt: Date(timeIntervalSince1970: try row.get(at: 1)), history: moves)
        }
    }

    /// All baselines, by name.
    public func baselines() throws -> [Baseline] {
        let names = try read { db in try db.fetchAll(String.self, sql: "SELECT name FROM baselines ORDER BY name") }
        return try names.compactMap { try baseline(name: $0) }
    }

    /// Resolves a run id, `latest`, `latest~N` or a baseline name.
    public func resolve(_ ref: String) throws -> Int64 {
        do {
            return try resolveRun(ref)
        } catch StoreError.unknownRun {
            if let b = try baseline(name: ref) { return b.runID }
            throw StoreError.unknownRun(ref)
        }
    }

    static func validateBaselineName(_ name: String) throws {
        let ok = !name.isEmpty && Int64(name) == nil && !name.hasPrefix("latest")
            && name.allSatisfy { $0.isLetter || $0.isNumber || "_-./".contains($0) }
        guard ok else {
            throw StoreError.invalidName("'\(name)' cannot name a baseline: use letters, digits, _ - . /, not a number or 'latest…'")
        }
    }
}
