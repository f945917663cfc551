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
    private let latencyStatement: Statement
    private let functionStatement: Statement

    /// Prepares (or reuses) the insert statements on `db`.
    init(_ db: Database) throws {
        self.db = db
        sampleStatement = try db.cachedStatement(sql: """
            INSERT INTO samples (run_id, op_id, variant, sequence, process, iterations, wall_ns, cpu_ns, overhead_ns, flags)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        counterStatement = try db.cachedStatement(sql: Self.insertSQL("counter_values", Self.counterColumns))
        latencyStatement = try db.cachedStatement(sql: Self.insertSQL("iteration_latencies", Self.latencyColumns))
        functionStatement = try db.cachedStatement(sql: Self.insertSQL("sim_functions", Self.functionColumns))
    }

    /// Columns of `counter_values` rows, in binding order (shared with the portable path).
    static let counterColumns = ["id", "sample_id", "event", "value", "raw", "time_enabled", "time_running", "backend"]
    /// Columns of `iteration_latencies` rows.
    static let latencyColumns = ["sample_id", "iterations", "overhead_ns", "ns", "labels"]
    /// Columns of `sim_functions` rows.
    static let functionColumns = ["sample_id", "rank", "function", "symbol", "object", "file", "functions", "ir", "d1_misses",
                                  "ll_misses", "branch_misses"]

    /// `INSERT INTO table (columns) VALUES (?, ...)`.
    static func insertSQL(_ table: String, _ columns: [String]) -> String {
        "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(StoreSQL.placeholders(columns.count)))"
    }

    /// Refuses a sample with more counter values than a sample can key, or latencies (labels) that
    /// do not match its iterations, before anything of it is written.
    static func validate(_ sample: Sample, path: String) throws {
        let limit = Schema.countersPerSampleLimit
        if Int64(sample.counters.count) > limit {
            throw StoreError.unusable(path: path, reason: "sample \(sample.sequence) of \(sample.key) has "
                + "\(sample.counters.count) counter values; the store keeps at most \(limit) per sample")
        }
        if let l = sample.iterationLatencies, l.ns.count != sample.iterations || (!l.labels.isEmpty && l.labels.count != l.ns.count) {
            throw StoreError.unusable(path: path, reason: "sample \(sample.sequence) of \(sample.key) has "
                + "\(l.ns.count) iteration latencies and \(l.labels.count) labels for \(sample.iterations) iterations")
        }
    }

    /// The kept functions of a profile with their ranks (0...), then the rest (rank -1).
    static func rankedFunctions(_ profile: FunctionProfile) -> [(rank: Int64, cost: FunctionCost)] {
        var rows: [(rank: Int64, cost: FunctionCost)] = profile.functions.enumerated().map { (Int64($0.offset), $0.element) }
        if let rest = profile.rest { rows.append((-1, rest)) }
        return rows
    }

    /// `sim_functions` rows of a profile (columns `functionColumns`), for the portable path.
    static func functionRows(_ profile: FunctionProfile, sampleID: Int64) -> [[StoreValue]] {
        rankedFunctions(profile).map { rank, f in
            let costs = [f.instructions, f.d1Misses, f.llMisses, f.branchMisses].map { value -> StoreValue in
                value.map { .integer(Int64(bitPattern: $0)) } ?? .null
            }
            return [.integer(sampleID), .integer(rank), .text(f.function), .text(f.symbol), .text(f.object), .text(f.file),
                    .integer(Int64(f.count))] + costs
        }
    }

    /// Inserts `samples` of op `opID` in run `runID`, each followed by its counter values.
    ///
    /// - Throws: `DatabaseError` from SQLite, or `StoreError.unusable` when a sample carries more
    ///   counter values than `Schema.countersPerSampleLimit` (the transaction then rolls back).
    func insert(runID: Int64, opID: Int64, samples: [Sample], path: String) throws {
        let limit = Schema.countersPerSampleLimit
        let sampleHandle = sampleStatement.sqliteStatement
        let counterHandle = counterStatement.sqliteStatement
        let latencyHandle = latencyStatement.sqliteStatement
        for sample in samples {
            try Self.validate(sample, path: path)
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
            let sampleID = sqlite3_last_insert_rowid(db.sqliteConnection)
            if let l = sample.iterationLatencies {
                sqlite3_bind_int64(latencyHandle, 1, sampleID)
                sqlite3_bind_int64(latencyHandle, 2, Int64(l.ns.count))
                sqlite3_bind_double(latencyHandle, 3, l.overheadNs)
                bindText(latencyHandle, 4, LatencyJSON.encode(l.ns))
                if l.labels.contains(where: { $0 != 0 }) {
                    bindText(latencyHandle, 5, LatencyJSON.encode(l.labels))
                } else {
                    sqlite3_bind_null(latencyHandle, 5)
                }
                try step(latencyHandle, latencyStatement)
            }
            if let profile = sample.functionProfile {
                try insert(profile, sampleID: sampleID)
            }
            guard !sample.counters.isEmpty else { continue }

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
        // The op's variants and its series, so series are listed without scanning samples (Series.swift).
        var variants = Set<String>()
        for sample in samples where variants.insert(sample.variant).inserted {
            try ResultStore.recordSeries(SQLiteConnection(db: db), opID: opID, variant: sample.variant)
        }
    }

    /// Inserts the rows of a sample's per-function profile (`sim_functions`): rank 0... for the
    /// kept functions, -1 for the rest.
    private func insert(_ profile: FunctionProfile, sampleID: Int64) throws {
        let handle = functionStatement.sqliteStatement
        for (rank, f) in Self.rankedFunctions(profile) {
            sqlite3_bind_int64(handle, 1, sampleID)
            sqlite3_bind_int64(handle, 2, rank)
            bindText(handle, 3, f.function)
            bindText(handle, 4, f.symbol)
            bindText(handle, 5, f.object)
            bindText(handle, 6, f.file)
            sqlite3_bind_int64(handle, 7, Int64(f.count))
            let costs: [(CInt, UInt64?)] = [(8, f.instructions), (9, f.d1Misses), (10, f.llMisses), (11, f.branchMisses)]
            for (index, value) in costs {
                if let value {
                    sqlite3_bind_int64(handle, index, Int64(bitPattern: value))
                } else {
                    sqlite3_bind_null(handle, index)
                }
            }
            try step(handle, functionStatement)
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

/// Fast JSON arrays of integers for `iteration_latencies` (`[12,34,...]`), written and read
/// without Foundation's JSON machinery (a sample can hold tens of thousands of values).
enum LatencyJSON {
    /// `[v0,v1,...]`.
    static func encode<T: BinaryInteger>(_ values: [T]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 6 + 2)
        bytes.append(UInt8(ascii: "["))
        var digits = [UInt8](repeating: 0, count: 24)
        for (i, v) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            var x = Int64(v)
            if x < 0 {
                bytes.append(UInt8(ascii: "-"))
                x = -x
            }
            var n = 0
            repeat {
                digits[n] = UInt8(ascii: "0") + UInt8(x % 10)
                x /= 10
                n += 1
            } while x > 0
            while n > 0 {
                n -= 1
                bytes.append(digits[n])
            }
        }
        bytes.append(UInt8(ascii: "]"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses `[int,int,...]` (whitespace allowed); nil when the text is not such an array.
    static func decode(_ text: String) -> [Int64]? {
        var out: [Int64] = []
        var text = text
        let ok: Bool = text.withUTF8 { u in
            var i = 0
            func skip() { while i < u.count, u[i] == 0x20 || u[i] == 0x0A || u[i] == 0x09 || u[i] == 0x0D { i += 1 } }
            skip()
            guard i < u.count, u[i] == UInt8(ascii: "[") else { return false }
            i += 1
            skip()
            if i < u.count, u[i] == UInt8(ascii: "]") { return true }
            while true {
                skip()
                var negative = false
                if i < u.count, u[i] == UInt8(ascii: "-") {
                    negative = true
                    i += 1
                }
                var v: Int64 = 0, n = 0
                while i < u.count, u[i] >= 0x30, u[i] <= 0x39 {
                    v = v &* 10 &+ Int64(u[i] - 0x30)
                    i += 1
                    n += 1
                }
                guard n > 0 else { return false }
                out.append(negative ? -v : v)
                skip()
                guard i < u.count else { return false }
                if u[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                return u[i] == UInt8(ascii: "]")
            }
        }
        return ok ? out : nil
    }
}
