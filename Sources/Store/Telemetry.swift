import BenchModel
import Foundation

extension ResultStore {
    /// Stores telemetry rows of a run (one transaction).
    public func insertTelemetry(runID: Int64, rows: [TelemetryRow]) throws {
        guard !rows.isEmpty else { return }
        try write { db in
            try Self.requireRun(db, runID)
            try Self.insertTelemetry(db, runID: runID, rows: rows)
        }
    }

    /// `insertTelemetry` inside a caller's transaction (the run is known to exist).
    static func insertTelemetry(_ db: any StoreDatabase, runID: Int64, rows: [TelemetryRow]) throws {
        try db.insertRows(table: "thermal_readings", columns: ["run_id", "sample_sequence", "kind", "label", "value", "unit", "note"],
                          rows: rows.map { r in
                              [.integer(runID), r.sampleSequence.storeValue, .text(r.kind), .text(r.label), r.value.storeValue,
                               .text(r.unit), .text(r.note)]
                          })
    }

    /// Telemetry rows of a run, in insertion order.
    public func telemetry(runID: Int64) throws -> [TelemetryRow] {
        try read { db in
            try db.fetchAll(sql: "SELECT sample_sequence, kind, label, value, unit, note FROM thermal_readings WHERE run_id = ? ORDER BY id",
                            arguments: [runID]).map { r in
                TelemetryRow(sampleSequence: try r.get(at: 0), kind: try r.get(at: 1), label: try r.get(at: 2), value: try r.get(at: 3),
                             unit: try r.get(at: 4), note: try r.get(at: 5))
            }
        }
    }
}
