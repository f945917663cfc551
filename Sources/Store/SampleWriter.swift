import Foundation
import GRDB
import BenchModel
#if canImport(GRDBSQLite)
import GRDBSQLite  // the SQLite C API as GRDB links it (Linux, SwiftPM)
#else
import SQLite3  // Apple platforms: GRDB uses the system SQLite
#endif

/// `SQLITE_TRANSIENT`: SQLite copies bound text before the call returns.
private let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

/// Bulk writer for `samples` and `counter_values`: the store's hot path (target ≥ 1M rows/s).
///
/// The two INSERT statements are GRDB cached statements, prepared once per connection; values
/// are bound and stepped through the SQLite C API on `Statement.sqliteStatement`, which skips
/// GRDB's per-execution bookkeeping (argument arrays, observation hooks) that cost about as
/// much as SQLite itself here. Only call `insert` inside a GRDB write transaction.
struct SampleWriter {
    /// The connection, for error messages and the last insert rowid.
    private let db: Database
    /// Kept so the cached statements outlive the raw handles below.
    private let sampleStatement: Statement
    private let counterStatement: Statement

    /// Prepares (or reuses) the insert statements on `db`.
    init(_ db: Database) throws {
        self.db = db
        sampleStatement = try db.cachedStatement(sql: """
            INSERT INTO samples (run_id, op_id, variant, sequence, process, iterations, wall_ns, cpu_ns, overhead_ns, flags)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        counterStatement = try db.cachedStatement(sql: """
            INSERT INTO counter_values (id, sample_id, event, value, raw, time_enabled, time_running, backend)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
    }

    /// Inserts `samples` of op `opID` in run `runID`, each followed by its counter values.
    ///
    /// - Throws: `DatabaseError` from SQLite, or `StoreError.unusable` when a sample carries more
    ///   counter values than `Schema.countersPerSampleLimit` (the transaction then rolls back).
    func insert(runID: Int64, opID: Int64, samples: [Sample], path: String) throws {
        let limit = Schema.countersPerSampleLimit
        let sampleHandle = sampleStatement.sqliteStatement
        let counterHandle = counterStatement.sqliteStatement
        for sample in samples {
            if Int64(sample.counters.count) > limit {
                throw StoreError.unusable(path: path, reason: "sample \(sample.sequence) of op \(sample.op) has "
                    + "\(sample.counters.count) counter values; the store keeps at most \(limit) per sample")
            }
            sqlite3_bind_int64(sampleHandle, 1, runID)
            sqlite3_bind_int64(sampleHandle, 2, opID)
            bindText(sampleHandle, 3, sample.variant)
            sqlite3_bind_int64(sampleHandle, 4, Int64(sample.sequence))
            sqlite3_bind_int64(sampleHandle, 5, Int64(sample.process))
            sqlite3_bind_int64(sampleHandle, 6, Int64(sample.iterations))
            sqlite3_bind_double(sampleHandle, 7, sample.wallNs)
            sqlite3_bind_double(sampleHandle, 8, sample.cpuNs)
            sqlite3_bind_double(sampleHandle, 9, sample.overheadNs)
            sqlite3_bind_int64(sampleHandle, 10, Int64(sample.flags.rawValue))
            try step(sampleHandle, sampleStatement)
            guard !sample.counters.isEmpty else { continue }

            let sampleID = sqlite3_last_insert_rowid(db.sqliteConnection)
            let (firstID, overflow) = sampleID.multipliedReportingOverflow(by: limit)
            if overflow || sampleID < 0 {
                throw StoreError.unusable(path: path, reason: "sample id \(sampleID) is too large to key its counter values")
            }
            for (position, counter) in sample.counters.enumerated() {
                sqlite3_bind_int64(counterHandle, 1, firstID + Int64(position))
                sqlite3_bind_int64(counterHandle, 2, sampleID)
                bindText(counterHandle, 3, counter.event)
                sqlite3_bind_double(counterHandle, 4, counter.value)
                sqlite3_bind_int64(counterHandle, 5, Int64(bitPattern: counter.raw))
                sqlite3_bind_int64(counterHandle, 6, Int64(bitPattern: counter.timeEnabled))
                sqlite3_bind_int64(counterHandle, 7, Int64(bitPattern: counter.timeRunning))
                bindText(counterHandle, 8, counter.backend.rawValue)
                try step(counterHandle, counterStatement)
            }
        }
    }

    /// Binds a Swift string as UTF-8 text (copied by SQLite).
    @inline(__always)
    private func bindText(_ handle: SQLiteStatement, _ index: CInt, _ text: String) {
        var text = text
        text.withUTF8 { bytes in
            _ = bytes.withMemoryRebound(to: CChar.self) { chars in
                sqlite3_bind_text(handle, index, chars.baseAddress, CInt(chars.count), transient)
            }
        }
    }

    /// Runs an INSERT to completion and resets it; a failure becomes a `DatabaseError`.
    @inline(__always)
    private func step(_ handle: SQLiteStatement, _ statement: Statement) throws {
        let code = sqlite3_step(handle)
        guard code == SQLITE_DONE else {
            let extended = sqlite3_extended_errcode(db.sqliteConnection)
            let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
            sqlite3_reset(handle)
            throw DatabaseError(resultCode: ResultCode(rawValue: extended), message: message, sql: statement.sql)
        }
        sqlite3_reset(handle)
    }
}
