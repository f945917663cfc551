import BenchModel
import Foundation
import GRDB

extension ResultStore {
    /// Stores telemetry rows of a run (one transaction).
    public func insertTelemetry(runID: Int64, rows: [TelemetryRow]) throws {
        guard !rows.isEmpty else { return }
        try sqliteWrite { db in
            try Self.requireRun(db, runID)
            try Self.insertTelemetry(db, runID: runID, rows: rows)
        }
    }

    /// `insertTelemetry` inside a caller's transaction (the run is known to exist).
    static func insertTelemetry(_ db: Database, runID: Int64, rows: [TelemetryRow]) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO thermal_readings (run_id, sample_sequence, kind, label, value, unit, note) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        for r in rows {
            try statement.execute(arguments: [runID, r.sampleSequence, r.kind, r.label, r.value, r.unit, r.note])
        }
    }

    /// Telemetry rows of a run, in insertion order.
    public func telemetry(runID: Int64) throws -> [TelemetryRow] {
        try sqliteRead { db in
            try Row.fetchAll(db, sql: "SELECT sample_sequence, kind, label, value, unit, note FROM thermal_readings WHERE run_id = ? ORDER BY id",
                             arguments: [runID]).map { r in
                TelemetryRow(sampleSequence: r[0], kind: r[1], label: r[2], value: r[3], unit: r[4], note: r[5])
            }
        }
    }
}
