// The series a stored run belongs to (one per benchmark it measured), for reports that draw the
// history of one run's benchmarks without listing every series of the database.
import BenchModel
import Foundation
import GRDB

extension ResultStore {
    /// The series of every benchmark run `runID` has samples of (`op_variants`), sorted
    /// (`SeriesKey.<`); a read of the run's own rows only.
    ///
    /// - Throws: `StoreError.unknownRun` when the run does not exist.
    public func seriesKeys(runID: Int64) throws -> [SeriesKey] {
        let rows = try sqliteRead { db -> [Row]? in
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?)", arguments: [runID]) == true else { return nil }
            return try Row.fetchAll(db, sql: """
                SELECT DISTINCT o.suite, o.name, v.variant, m.id, m.key, m.cpu_model, r.counter_mode, r.isa_built
                FROM runs r JOIN machines m ON m.id = r.machine_id
                     JOIN ops o ON o.run_id = r.id
                     JOIN op_variants v ON v.op_id = o.id
                WHERE r.id = ?
                """, arguments: [runID])
        }
        guard let rows else { throw StoreError.unknownRun(String(runID)) }
        return rows.map { row in
            SeriesKey(benchmark: BenchmarkKey(suite: row[0], op: row[1], variant: row[2]), machineID: row[3],
                      machineKey: row[4], cpuModel: row[5], counterMode: row[6], isaBuilt: row[7])
        }.sorted()
    }
}
