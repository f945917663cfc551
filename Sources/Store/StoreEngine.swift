// The store's engine seam: every query of the results store goes through `StoreDatabase` (one
// transaction's connection) obtained from a `StoreEngine` (SQLite here, PostgreSQL in the
// `StorePostgres` module). Queries are written once, in SQL both engines accept: `?` placeholders
// (the PostgreSQL engine numbers them), `INSERT ... ON CONFLICT ... DO NOTHING/UPDATE` (never
// `INSERT OR IGNORE/REPLACE`), `RETURNING id` (never a last-insert rowid), `COALESCE`, no
// SQLite-only functions (`strftime`, `julianday`, `printf`, scalar `MAX(a, b)`). The rare query that
// must differ asks `dialect`. Values cross the seam as `StoreValue`; rows come back as `StoreRow`.
import Foundation

/// Which SQL engine a `StoreDatabase` talks to, for the few queries that must differ.
public enum SQLDialect: String, Sendable {
    /// SQLite (the embedded default: one file).
    case sqlite
    /// PostgreSQL (the shared fleet store).
    case postgres
}

/// One value bound to a statement or read from a row. Integers are 64-bit, reals are doubles;
/// booleans are stored as integers 0/1 on both engines.
public enum StoreValue: Sendable, Hashable {
    /// SQL NULL.
    case null
    /// A 64-bit integer (SQLite INTEGER, PostgreSQL BIGINT/INTEGER/SMALLINT/BOOLEAN).
    case integer(Int64)
    /// A double (SQLite REAL, PostgreSQL DOUBLE PRECISION/REAL/NUMERIC).
    case real(Double)
    /// Text (UTF-8).
    case text(String)
    /// Bytes (SQLite BLOB, PostgreSQL BYTEA).
    case blob(Data)
}

/// A Swift value that can be bound to a statement.
public protocol StoreEncodable {
    /// The value as bound to a statement.
    var storeValue: StoreValue { get }
}

/// A Swift value that can be read from a row column. `init(storeValue:)` returns nil when the
/// stored value has another type (or is NULL for a non-optional type).
public protocol StoreDecodable {
    /// Converts a stored value, or nil when it cannot represent one of these.
    init?(storeValue: StoreValue)
}

extension Int64: StoreEncodable, StoreDecodable {
    public var storeValue: StoreValue { .integer(self) }
    public init?(storeValue: StoreValue) {
        switch storeValue {
        case let .integer(value): self = value
        case let .real(value) where value.rounded() == value && abs(value) < 9.2e18: self = Int64(value)
        default: return nil
        }
    }
}

extension Int: StoreEncodable, StoreDecodable {
    public var storeValue: StoreValue { .integer(Int64(self)) }
    public init?(storeValue: StoreValue) {
        guard let value = Int64(storeValue: storeValue) else { return nil }
        self = Int(value)
    }
}

extension Int32: StoreEncodable, StoreDecodable {
    public var storeValue: StoreValue { .integer(Int64(self)) }
    public init?(storeValue: StoreValue) {
        guard let value = Int64(storeValue: storeValue), let narrow = Int32(exactly: value) else { return nil }
        self = narrow
    }
}

extension Double: StoreEncodable, StoreDecodable {
    public var storeValue: StoreValue { .real(self) }
    public init?(storeValue: StoreValue) {
        switch storeValue {
        case let .real(value): self = value
        case let .integer(value): self = Double(value)
        default: return nil
        }
    }
}

extension Bool: StoreEncodable, StoreDecodable {
    public var storeValue: StoreValue { .integer(self ? 1 : 0) }
    public init?(storeValue: StoreValue) {
        guard let value = Int64(storeValue: storeValue) else { return nil }
        self = value != 0
    }
}

extension String: StoreEncodable, StoreDecodable {
    public var storeValue: StoreValue { .text(self) }
    public init?(storeValue: StoreValue) {
        guard case let .text(value) = storeValue else { return nil }
        self = value
    }
}

extension Data: StoreEncodable, StoreDecodable {
    public var storeValue: StoreValue { .blob(self) }
    public init?(storeValue: StoreValue) {
        guard case let .blob(value) = storeValue else { return nil }
        self = value
    }
}

extension StoreValue: StoreEncodable, StoreDecodable {
    public var storeValue: StoreValue { self }
    public init?(storeValue: StoreValue) { self = storeValue }
}

extension Optional: StoreEncodable where Wrapped: StoreEncodable {
    public var storeValue: StoreValue { self?.storeValue ?? .null }
}

extension Optional: StoreDecodable where Wrapped: StoreDecodable {
    public init?(storeValue: StoreValue) {
        if case .null = storeValue {
            self = .none
            return
        }
        guard let value = Wrapped(storeValue: storeValue) else { return nil }
        self = .some(value)
    }
}

/// A stored value that did not have the type a query expected, or a column a row does not have.
/// `ResultStore` reports it as `StoreError.unusable` naming the database.
public struct StoreRowError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, e.g. `column 'id': expected Int64, found text "x"`.
    public let description: String

    /// Creates the error with its sentence.
    public init(_ description: String) { self.description = description }
}

/// One result row: column names (shared by all rows of a statement) and values.
/// Column lookup ignores case (PostgreSQL folds unquoted names to lower case).
public struct StoreRow: Sendable {
    /// Column names and their positions, shared by every row of one statement.
    public final class Columns: Sendable {
        /// Names as the engine reported them.
        public let names: [String]
        /// Lower-cased name → first position.
        let positions: [String: Int]

        /// Creates the column list of a statement.
        public init(_ names: [String]) {
            self.names = names
            var positions: [String: Int] = [:]
            for (index, name) in names.enumerated() where positions[name.lowercased()] == nil {
                positions[name.lowercased()] = index
            }
            self.positions = positions
        }
    }

    /// The statement's columns.
    public let columns: Columns
    /// The values, in column order.
    public let values: [StoreValue]

    /// Creates a row; `values.count` must equal `columns.names.count`.
    public init(columns: Columns, values: [StoreValue]) {
        self.columns = columns
        self.values = values
    }

    /// The raw value of `column` (nil when the row has no such column).
    public func value(_ column: String) -> StoreValue? {
        guard let index = columns.positions[column.lowercased()], index < values.count else { return nil }
        return values[index]
    }

    /// The value of `column` as `T` (use an optional `T` for nullable columns).
    ///
    /// - Throws: `StoreRowError` when the row has no such column or its value is not a `T`.
    public func get<T: StoreDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        guard let raw = value(column) else {
            throw StoreRowError("no column '\(column)' in the result (columns: \(columns.names.joined(separator: ", ")))")
        }
        guard let decoded = T(storeValue: raw) else {
            throw StoreRowError("column '\(column)': expected \(T.self), found \(Self.describe(raw))")
        }
        return decoded
    }

    /// The value at position `index` as `T`.
    ///
    /// - Throws: `StoreRowError` when out of range or not a `T`.
    public func get<T: StoreDecodable>(at index: Int, as type: T.Type = T.self) throws -> T {
        guard index >= 0, index < values.count else {
            throw StoreRowError("no column at position \(index) (the result has \(values.count))")
        }
        guard let decoded = T(storeValue: values[index]) else {
            throw StoreRowError("column \(index + 1) ('\(columns.names[index])'): expected \(T.self), found \(Self.describe(values[index]))")
        }
        return decoded
    }

    /// A short description of a stored value for error messages.
    static func describe(_ value: StoreValue) -> String {
        switch value {
        case .null: return "NULL"
        case let .integer(v): return "integer \(v)"
        case let .real(v): return "real \(v)"
        case let .text(v): return "text \"\(v.prefix(40))\""
        case let .blob(v): return "\(v.count) bytes"
        }
    }
}

/// One connection inside one transaction (or one read snapshot). Not thread-safe and never kept
/// beyond the `StoreEngine.read`/`write` closure that supplied it.
public protocol StoreDatabase {
    /// The engine's SQL dialect.
    var dialect: SQLDialect { get }

    /// Runs one statement (or, with no arguments, a script of several) and returns the number of
    /// rows it changed.
    @discardableResult
    func execute(sql: String, arguments: [any StoreEncodable]) throws -> Int

    /// Runs a query and calls `body` for each row until it returns false. Rows are streamed, not
    /// collected: use it for large results.
    func forEachRow(sql: String, arguments: [any StoreEncodable], _ body: (StoreRow) throws -> Bool) throws

    /// Inserts many rows into `table` (columns in order); `rows` are already `StoreValue`s. The
    /// engine picks its fastest path (a prepared statement reused, or multi-row statements).
    func insertRows(table: String, columns: [String], rows: [[StoreValue]]) throws

    /// A bulk insert into `table` fed one row at a time, for row counts too large to collect
    /// first (a pushed run's million samples). The engine sends rows as they come: PostgreSQL
    /// streams them in one `COPY`, so the caller's reading and encoding overlap the server's
    /// inserting; the default collects `batchSize` rows per `insertRows` call. The caller ends it
    /// with `finish()`, or with `abort()` after a failure (then rolls its transaction back).
    func rowInserter(table: String, columns: [String], batchSize: Int) -> any StoreRowInserter
}

/// Rows inserted one at a time into one table, inside the transaction of the `StoreDatabase` that
/// made it (`StoreDatabase.rowInserter`). Used from that transaction's thread only.
public protocol StoreRowInserter: AnyObject {
    /// Adds one row, values in the inserter's column order.
    ///
    /// - Throws: a store error (the insert is then unusable: call `abort()`).
    func append(_ row: [StoreValue]) throws
    /// Inserts the rows still held and ends the insert.
    func finish() throws
    /// Ends an unfinished insert after a failure, dropping the rows still held; the caller's
    /// transaction must then be rolled back (rows already sent may be in it).
    func abort()
}

extension StoreRowInserter {
    /// Appends every row of `rows`, then finishes; after a failure, aborts and rethrows.
    public func insertAll(_ rows: [[StoreValue]]) throws {
        do {
            for row in rows { try append(row) }
            try finish()
        } catch {
            abort()
            throw error
        }
    }
}

/// The default `StoreRowInserter`: `insertRows` calls of `batchSize` rows.
final class BatchingRowInserter: StoreRowInserter {
    private let database: any StoreDatabase
    private let table: String
    private let columns: [String]
    private let batchSize: Int
    private var rows: [[StoreValue]] = []

    init(database: any StoreDatabase, table: String, columns: [String], batchSize: Int) {
        self.database = database
        self.table = table
        self.columns = columns
        self.batchSize = max(1, batchSize)
        rows.reserveCapacity(self.batchSize)
    }

    func append(_ row: [StoreValue]) throws {
        rows.append(row)
        if rows.count >= batchSize { try flush() }
    }

    func finish() throws { try flush() }

    func abort() { rows = [] }

    private func flush() throws {
        guard !rows.isEmpty else { return }
        try database.insertRows(table: table, columns: columns, rows: rows)
        rows.removeAll(keepingCapacity: true)
    }
}

extension StoreDatabase {
    /// `insertRows` calls of `batchSize` rows (engines without a streaming path).
    public func rowInserter(table: String, columns: [String], batchSize: Int) -> any StoreRowInserter {
        BatchingRowInserter(database: self, table: table, columns: columns, batchSize: batchSize)
    }

    /// Runs a statement without arguments (or a script).
    @discardableResult
    public func execute(sql: String) throws -> Int {
        try execute(sql: sql, arguments: [])
    }

    /// All rows of a query.
    public func fetchAll(sql: String, arguments: [any StoreEncodable] = []) throws -> [StoreRow] {
        var rows: [StoreRow] = []
        try forEachRow(sql: sql, arguments: arguments) { rows.append($0); return true }
        return rows
    }

    /// The first row of a query, or nil.
    public func fetchOne(sql: String, arguments: [any StoreEncodable] = []) throws -> StoreRow? {
        var first: StoreRow?
        try forEachRow(sql: sql, arguments: arguments) { first = $0; return false }
        return first
    }

    /// The first column of the first row as `T`, or nil when there is no row or the value is NULL.
    ///
    /// - Throws: `StoreRowError` when the value is not a `T`.
    public func fetchOne<T: StoreDecodable>(_ type: T.Type, sql: String, arguments: [any StoreEncodable] = []) throws -> T? {
        guard let row = try fetchOne(sql: sql, arguments: arguments) else { return nil }
        return try row.get(at: 0, as: T?.self)
    }

    /// The first column of every row as `T` (NULLs skipped).
    ///
    /// - Throws: `StoreRowError` when a value is not a `T`.
    public func fetchAll<T: StoreDecodable>(_ type: T.Type, sql: String, arguments: [any StoreEncodable] = []) throws -> [T] {
        var values: [T] = []
        try forEachRow(sql: sql, arguments: arguments) { row in
            if let value = try row.get(at: 0, as: T?.self) { values.append(value) }
            return true
        }
        return values
    }
}

/// A database engine holding a fusebench results store: opens connections, runs transactions,
/// and maps its own errors to `StoreError`. Implementations: `SQLiteEngine` (this module) and the
/// PostgreSQL engine (module `StorePostgres`, `Fleet` trait).
public protocol StoreEngine: Sendable {
    /// What messages name: a file path, or a URL without its password.
    var location: String { get }
    /// The engine's SQL dialect.
    var dialect: SQLDialect { get }
    /// True when the store was opened for reading only; `write` then refuses.
    var isReadOnly: Bool { get }

    /// Runs `body` in one read transaction (a consistent snapshot).
    func read<T>(_ body: (any StoreDatabase) throws -> T) throws -> T

    /// Runs `body` in one write transaction: committed when it returns, rolled back when it throws.
    func write<T>(_ body: (any StoreDatabase) throws -> T) throws -> T

    /// Number of schema migrations applied to the database (SQLite: `PRAGMA user_version`;
    /// PostgreSQL: the identifiers recorded in `fusebench_migrations`). Engine errors may be
    /// thrown unmapped (callers pass them through `mapped`).
    func schemaVersion() throws -> Int

    /// Turns an engine error into a `StoreError` naming `location` (`locked`, `unusable`, ...);
    /// other errors pass through unchanged.
    func mapped(_ error: any Error) -> any Error

    /// Closes the connection(s). Later calls fail.
    func close()
}

/// SQL text the store's queries share.
enum StoreSQL {
    /// `?, ?, …` for `count` parameters.
    static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ", ")
    }
}

/// The schema every engine holds: the same named migrations, oldest first. An engine records the
/// identifiers it has applied and refuses a database listing one this build does not know (written
/// by a newer fusebench) or holding another program's tables, before changing anything.
public enum StoreSchema {
    /// Identifiers of the migrations this build knows, oldest first (append only).
    public static var migrationIdentifiers: [String] { Schema.migrations.map(\.identifier) }
    /// Number of migrations this build knows.
    public static var knownVersion: Int { Schema.knownVersion }
    /// Counter values one sample can hold: `counter_values.id = sample_id * limit + position`.
    public static var countersPerSampleLimit: Int64 { Schema.countersPerSampleLimit }
}
