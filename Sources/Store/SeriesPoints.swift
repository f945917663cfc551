// Stored series points (schema v17, table `series_points`): when a run ends, the batches each of its
// op variants contributes to its series' history (the batches `compare` decides from) and its median
// instructions per iteration are written once, so `history`, change-point detection and the
// dashboard read one row per run instead of every sample — a 10 000-run series is 10 000 rows, not a
// million samples, which is what keeps a large history (and a PostgreSQL server, where every row
// crosses the network) within a second. The rows are derived data: `seriesPoints` reads the batches
// of any run without a row (stored before v17, or whose row was not written) from `samples`, and
// read-write opens fill missing rows in (`indexMissingPointsIfNeeded`).
import Foundation
import BenchModel

/// The encoding of `series_points.batches`: per batch 12 bytes, the net ns/iteration as a
/// little-endian IEEE-754 double, then the worker process as a little-endian 32-bit integer.
enum StoredPoint {
    /// Bytes per batch.
    static let stride = 12

    /// The column value for `usable` batches (nil, stored as NULL, when none is usable).
    static func encode(_ usable: (samples: [Double], processes: [Int])?) -> Data? {
        guard let usable, !usable.samples.isEmpty else { return nil }
        var data = Data(capacity: usable.samples.count * stride)
        for (value, process) in zip(usable.samples, usable.processes) {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
            withUnsafeBytes(of: Int32(clamping: process).littleEndian) { data.append(contentsOf: $0) }
        }
        return data
    }

    /// The batches of a column value (nil for NULL: no usable batch).
    ///
    /// - Throws: `StoreError.unusable` naming `location` when the length is not a whole number of batches.
    static func decode(_ data: Data?, location: String) throws -> (samples: [Double], processes: [Int])? {
        guard let data, !data.isEmpty else { return nil }
        guard data.count % stride == 0 else {
            throw StoreError.unusable(path: location, reason: "a series_points row holds \(data.count) bytes, not whole \(stride)-byte batches")
        }
        let count = data.count / stride
        var samples: [Double] = [], processes: [Int] = []
        samples.reserveCapacity(count)
        processes.reserveCapacity(count)
        data.withUnsafeBytes { raw in
            for i in 0..<count {
                let bits = raw.loadUnaligned(fromByteOffset: i * stride, as: UInt64.self)
                let process = raw.loadUnaligned(fromByteOffset: i * stride + 8, as: Int32.self)
                samples.append(Double(bitPattern: UInt64(littleEndian: bits)))
                processes.append(Int(Int32(littleEndian: process)))
            }
        }
        return (samples, processes)
    }
}

extension ResultStore {
    /// The stored points of `variant` of the op rows `opIDs` that have one: per op, its usable
    /// batches and instructions, or nil (inner) when the row says no batch is usable.
    static func storedPoints(_ db: any StoreDatabase, opIDs: [Int64], variant: String,
                             location: String) throws -> [Int64: (samples: [Double], processes: [Int], instructions: Double?)?] {
        guard !opIDs.isEmpty else { return [:] }
        var points: [Int64: (samples: [Double], processes: [Int], instructions: Double?)?] = [:]
        try db.forEachRow(sql: """
            SELECT op_id, batches, instructions FROM series_points WHERE variant = ? AND op_id IN (\(StoreSQL.placeholders(opIDs.count)))
            """, arguments: [variant as any StoreEncodable] + opIDs.map { $0 as any StoreEncodable }) { row in
            let usable = try StoredPoint.decode(try row.get(at: 1), location: location)
            let instructions: Double? = try row.get(at: 2)
            points[try row.get(at: 0) as Int64] = .some(usable.map { ($0.samples, $0.processes, instructions) })
            return true
        }
        return points
    }

    /// One `series_points` row.
    struct PointRow {
        var opID: Int64
        var variant: String
        var batches: Data?
        var instructions: Double?
    }

    /// The `series_points` rows of every op variant of run `runID`, computed from its stored batches.
    static func computePoints(_ db: any StoreDatabase, runID: Int64) throws -> [PointRow] {
        var opsByVariant: [String: [Int64]] = [:]
        try db.forEachRow(sql: """
            SELECT v.variant, v.op_id FROM op_variants v JOIN ops o ON o.id = v.op_id WHERE o.run_id = ? ORDER BY v.op_id
            """, arguments: [runID]) { row in
            opsByVariant[try row.get(at: 0), default: []].append(try row.get(at: 1))
            return true
        }
        var rows: [PointRow] = []
        for (variant, allOps) in opsByVariant.sorted(by: { $0.key < $1.key }) {
            for start in stride(from: 0, to: allOps.count, by: pointChunk) {
                let opIDs = Array(allOps[start..<min(allOps.count, start + pointChunk)])
                let batches = try batchesByOp(db, opIDs: opIDs, variant: variant)
                let instructions = try instructionsByOp(db, opIDs: opIDs, variant: variant)
                for opID in opIDs {
                    rows.append(PointRow(opID: opID, variant: variant, batches: StoredPoint.encode(usableBatches(batches[opID] ?? [])),
                                         instructions: instructions[opID]))
                }
            }
        }
        return rows
    }

    /// Writes (replacing) `rows` into `series_points`.
    static func writePoints(_ db: any StoreDatabase, _ rows: [PointRow]) throws {
        for row in rows {
            try db.execute(sql: """
                INSERT INTO series_points (op_id, variant, batches, instructions) VALUES (?, ?, ?, ?)
                ON CONFLICT (op_id, variant) DO UPDATE SET batches = excluded.batches, instructions = excluded.instructions
                """, arguments: [row.opID, row.variant, row.batches, row.instructions])
        }
    }

    /// Writes (replacing) the `series_points` rows of every op variant of run `runID` from its
    /// stored batches; returns the number of rows written.
    static func indexPoints(_ db: any StoreDatabase, runID: Int64) throws -> Int {
        let rows = try computePoints(db, runID: runID)
        try writePoints(db, rows)
        return rows.count
    }

    /// Writes the points of run `runID` after it ended. A failure leaves the run without points,
    /// which costs only speed (`seriesPoints` reads its batches instead, and the next read-write
    /// open fills them in), so it is not an error of the run: the run's status is already stored.
    func indexPointsAfterEnd(runID: Int64) {
        _ = try? write { db in try Self.indexPoints(db, runID: runID) }
    }

    /// Op variants of ended runs without a `series_points` row, from three counts (op variants,
    /// points, op variants of running runs): no join over the history, but the counts read whole
    /// tables on PostgreSQL, so read-write opens use the cheaper `indexMissingPointsIfNeeded` probe.
    public func missingPointCount() throws -> Int64 {
        try read { db in
            let variants = try db.fetchOne(Int64.self, sql: "SELECT COUNT(*) FROM op_variants") ?? 0
            let points = try db.fetchOne(Int64.self, sql: "SELECT COUNT(*) FROM series_points") ?? 0
            let running = try db.fetchOne(Int64.self, sql: """
                SELECT COUNT(*) FROM runs r JOIN ops o ON o.run_id = r.id JOIN op_variants v ON v.op_id = o.id WHERE r.status = 'running'
                """) ?? 0
            return variants - points - running
        }
    }

    /// Writes the missing `series_points` rows of every ended run (runs stored before schema v17, or
    /// whose points were not written when they ended), a transaction per `perTransaction` runs;
    /// returns the runs and rows written. Idempotent: concurrent callers write the same rows.
    @discardableResult
    public func indexMissingPoints(perTransaction: Int = 50) throws -> (runs: Int, points: Int) {
        let runIDs = try read { db in
            try db.fetchAll(Int64.self, sql: """
                SELECT DISTINCT o.run_id FROM op_variants v JOIN ops o ON o.id = v.op_id JOIN runs r ON r.id = o.run_id
                WHERE r.status <> 'running'
                  AND NOT EXISTS (SELECT 1 FROM series_points p WHERE p.op_id = v.op_id AND p.variant = v.variant)
                ORDER BY o.run_id
                """)
        }
        var points = 0
        for start in stride(from: 0, to: runIDs.count, by: max(1, perTransaction)) {
            let slice = runIDs[start..<min(runIDs.count, start + max(1, perTransaction))]
            points += try write { db in try slice.reduce(0) { $0 + (try Self.indexPoints(db, runID: $1)) } }
        }
        return (runIDs.count, points)
    }

    /// `indexMissingPoints()` when the oldest or the newest ended run with ops lacks points — what
    /// an upgrade from before schema v17 leaves (every older run), checked with two index lookups,
    /// not a count over the history; a store with those points written is not written to. Called
    /// by read-write opens. (A run whose points failed to be written when it ended, in between,
    /// is read from its samples until `fusebench reindex`.)
    func indexMissingPointsIfNeeded() throws {
        let missing = try read { db -> Bool in
            for order in ["ASC", "DESC"] {
                guard let runID = try db.fetchOne(Int64.self, sql: """
                    SELECT r.id FROM runs r WHERE r.status <> 'running' AND EXISTS (SELECT 1 FROM ops o WHERE o.run_id = r.id)
                    ORDER BY r.id \(order) LIMIT 1
                    """) else { return false }
                let lacking = try db.fetchOne(Int64.self, sql: """
                    SELECT CASE WHEN EXISTS (
                        SELECT 1 FROM op_variants v JOIN ops o ON o.id = v.op_id
                        WHERE o.run_id = ? AND NOT EXISTS (SELECT 1 FROM series_points p WHERE p.op_id = v.op_id AND p.variant = v.variant)
                    ) THEN 1 ELSE 0 END
                    """, arguments: [runID])
                if lacking == 1 { return true }
            }
            return false
        }
        if missing { try indexMissingPoints() }
    }
}
