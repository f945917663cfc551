// The series a stored run belongs to (one per benchmark it measured), for reports that draw the
// history of one run's benchmarks without listing every series of the database.
import BenchModel
import Foundation

extension ResultStore {
    /// The series of every benchmark run `runID` has samples of (`op_variants`), sorted
    /// (`SeriesKey.<`); a read of the run's own rows only.
    ///
    /// - Throws: `StoreError.unknownRun` when the run does not exist.
    public func seriesKeys(runID: Int64) throws -> [SeriesKey] {
        let rows = try read { db -> [StoreRow]? in
            guard try db.fetchOne(Int64.self, sql: "SELECT 1 FROM runs WHERE id = ?", arguments: [runID]) != nil else { return nil }
            return try db.fetchAll(sql: """
                SELECT DISTINCT o.suite, o.name, v.variant, m.id, m.key, m.cpu_model, r.counter_mode, r.isa_built
                FROM runs r JOIN machines m ON m.id = r.machine_id
                     JOIN ops o ON o.run_id = r.id
                     JOIN op_variants v ON v.op_id = o.id
                WHERE r.id = ?
                """, arguments: [runID])
        }
        guard let rows else { throw StoreError.unknownRun(String(runID)) }
        return try rows.map { try Self.seriesKey($0) }.sorted()
    }
}
