// The SQLite engine of the store seam (StoreEngine.swift): GRDB's `DatabaseQueue` (one connection,
// serialised) behind `StoreEngine`, and GRDB's `Database` behind `StoreDatabase`. Statements are
// prepared once per connection (GRDB's statement cache), so a query run in a loop costs no parse.
import Foundation
import GRDB
#if canImport(GRDBSQLite)
import GRDBSQLite  // the SQLite C API as GRDB links it (Linux, SwiftPM)
#else
import SQLite3  // Apple platforms: GRDB uses the system SQLite
#endif

/// `SQLITE_TRANSIENT`: SQLite copies bound text and blobs before the call returns.
private let sqliteTransient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

/// A `StoreEngine` over one SQLite file (or an in-memory database) through GRDB.
struct SQLiteEngine: StoreEngine {
    /// The single connection; all access goes through it.
    let queue: DatabaseQueue
    /// File path, or `:memory:`.
    let location: String
    /// Seconds a statement waits for another process's lock.
    let busyTimeout: Double
    /// True for stores opened for reading only.
    let isReadOnly: Bool

    var dialect: SQLDialect { .sqlite }

    func read<T>(_ body: (any StoreDatabase) throws -> T) throws -> T {
        do {
            return try queue.read { db in try body(SQLiteConnection(db: db)) }
        } catch {
            throw mapped(error)
        }
    }

    func write<T>(_ body: (any StoreDatabase) throws -> T) throws -> T {
        if isReadOnly {
            throw StoreError.unusable(path: location, reason: "it was opened for reading only (a command that only reads tried to write)")
        }
        do {
            return try queue.write { db in try body(SQLiteConnection(db: db)) }
        } catch {
            throw mapped(error)
        }
    }

    func schemaVersion() throws -> Int {
        try queue.read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0 }
    }

    /// Keeps store errors as they are and turns SQLite failures into `StoreError.locked` (busy past
    /// the timeout) or `StoreError.unusable`, and row type errors into `unusable`, naming the path.
    func mapped(_ error: any Error) -> any Error {
        if error is StoreError { return error }
        if let rowError = error as? StoreRowError {
            return StoreError.unusable(path: location, reason: rowError.description)
        }
        if let dbError = error as? DatabaseError {
            if StoreError.isBusy(dbError) { return StoreError.locked(path: location, seconds: busyTimeout) }
            return StoreError.unusable(path: location, reason: StoreError.reason(for: dbError))
        }
        return error
    }

    func close() {
        try? queue.close()
    }
}

/// GRDB's `Database` as a `StoreDatabase`.
struct SQLiteConnection: StoreDatabase {
    /// The GRDB connection, valid only inside the transaction closure that supplied it.
    let db: Database

    var dialect: SQLDialect { .sqlite }

    @discardableResult
    func execute(sql: String, arguments: [any StoreEncodable]) throws -> Int {
        if arguments.isEmpty {
            try db.execute(sql: sql)
        } else {
            try db.cachedStatement(sql: sql).execute(arguments: Self.arguments(arguments))
        }
        return db.changesCount
    }

    /// Read-only statements (every SELECT) are stepped and decoded through the SQLite C API, one
    /// value buffer reused while the body keeps no row: reading samples costs what GRDB's own row
    /// cursor did. Other statements (`INSERT ... RETURNING`) go through GRDB's cursor.
    func forEachRow(sql: String, arguments: [any StoreEncodable], _ body: (StoreRow) throws -> Bool) throws {
        let statement = try db.cachedStatement(sql: sql)
        let columns = StoreRow.Columns(statement.columnNames)
        let handle = statement.sqliteStatement
        if sqlite3_stmt_readonly(handle) != 0 {
            try statement.setArguments(Self.arguments(arguments))
            defer { sqlite3_reset(handle) }  // also after an early stop: no read left open
            let count = Int32(columns.names.count)
            var values: [StoreValue] = []
            values.reserveCapacity(Int(count))
            while true {
                let code = sqlite3_step(handle)
                if code == SQLITE_DONE { return }
                guard code == SQLITE_ROW else {
                    throw DatabaseError(resultCode: ResultCode(rawValue: sqlite3_extended_errcode(db.sqliteConnection)),
                                        message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
                }
                values.removeAll(keepingCapacity: true)  // reuses the buffer unless the last row was kept
                for index in 0..<count {
                    values.append(Self.column(handle, index))
                }
                if try !body(StoreRow(columns: columns, values: values)) { return }
            }
        }
        let cursor = try Row.fetchCursor(statement, arguments: Self.arguments(arguments))
        let count = columns.names.count
        while let row = try cursor.next() {
            var values: [StoreValue] = []
            values.reserveCapacity(count)
            for index in 0..<count {
                values.append(Self.storeValue(row[index] as DatabaseValue))
            }
            if try !body(StoreRow(columns: columns, values: values)) { break }
        }
    }

    /// One prepared INSERT per (table, columns), values bound and stepped through the SQLite C API
    /// (as `SampleWriter` does): GRDB's per-execution argument handling cost more than SQLite
    /// itself when push copied a million-sample run.
    func insertRows(table: String, columns: [String], rows: [[StoreValue]]) throws {
        guard !rows.isEmpty else { return }
        let sql = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(StoreSQL.placeholders(columns.count)))"
        let statement = try db.cachedStatement(sql: sql)
        let handle = statement.sqliteStatement
        defer { sqlite3_reset(handle) }
        for row in rows {
            guard row.count == columns.count else {
                throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "a row for \(table) has \(row.count) values for \(columns.count) columns", sql: sql)
            }
            sqlite3_reset(handle)
            for (index, value) in row.enumerated() {
                let position = Int32(index + 1)
                let code: Int32
                switch value {
                case .null: code = sqlite3_bind_null(handle, position)
                case let .integer(v): code = sqlite3_bind_int64(handle, position, v)
                case let .real(v): code = sqlite3_bind_double(handle, position, v)
                case let .text(v): code = v.withCString { sqlite3_bind_text(handle, position, $0, Int32(v.utf8.count), sqliteTransient) }
                case let .blob(v):
                    code = v.withUnsafeBytes { bytes in
                        // A zero-length blob (not NULL): SQLite needs a non-null pointer for that.
                        sqlite3_bind_blob(handle, position, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(bytes.count), sqliteTransient)
                    }
                }
                guard code == SQLITE_OK else { throw lastError(sql) }
            }
            guard sqlite3_step(handle) == SQLITE_DONE else { throw lastError(sql) }
        }
    }

    /// The connection's last error as GRDB's `DatabaseError` (mapped like any other by the engine).
    private func lastError(_ sql: String) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: sqlite3_extended_errcode(db.sqliteConnection)),
                      message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
    }

    /// Statement arguments for GRDB.
    static func arguments(_ values: [any StoreEncodable]) -> StatementArguments {
        StatementArguments(values.map { databaseValue($0.storeValue) })
    }

    /// A store value as GRDB's value.
    static func databaseValue(_ value: StoreValue) -> DatabaseValue {
        switch value {
        case .null: return .null
        case let .integer(v): return v.databaseValue
        case let .real(v): return v.databaseValue
        case let .text(v): return v.databaseValue
        case let .blob(v): return v.databaseValue
        }
    }

    /// Column `index` of the current row of `handle` as a store value (text read before its length,
    /// as SQLite asks).
    @inline(__always)
    static func column(_ handle: SQLiteStatement, _ index: Int32) -> StoreValue {
        switch sqlite3_column_type(handle, index) {
        case SQLITE_NULL:
            return .null
        case SQLITE_INTEGER:
            return .integer(sqlite3_column_int64(handle, index))
        case SQLITE_FLOAT:
            return .real(sqlite3_column_double(handle, index))
        case SQLITE_TEXT:
            guard let text = sqlite3_column_text(handle, index) else { return .text("") }
            let length = Int(sqlite3_column_bytes(handle, index))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: length), as: UTF8.self))
        default:
            let blob = sqlite3_column_blob(handle, index)
            let length = Int(sqlite3_column_bytes(handle, index))
            guard let blob, length > 0 else { return .blob(Data()) }
            return .blob(Data(bytes: blob, count: length))
        }
    }

    /// GRDB's value as a store value.
    static func storeValue(_ value: DatabaseValue) -> StoreValue {
        switch value.storage {
        case .null: return .null
        case let .int64(v): return .integer(v)
        case let .double(v): return .real(v)
        case let .string(v): return .text(v)
        case let .blob(v): return .blob(v)
        }
    }
}
