// PostgresEngine: the store seam (Store/StoreEngine.swift) over one PostgreSQL connection
// (vapor/postgres-nio), built with the `Fleet` trait. The seam is synchronous and postgres-nio is
// asynchronous (SwiftNIO): every call writes its request to the connection's event loop, which
// runs on the engine's own NIO thread, and blocks the calling thread until the answer arrives. The
// caller is never one of those threads, so this cannot deadlock, whether the caller is a plain
// thread or a task of Swift concurrency's pool (which it only occupies while waiting).
#if Fleet
import Foundation
import PostgresNIO
import Store

/// A `StoreEngine` over one PostgreSQL database (a `postgres://` URL): one connection, calls
/// serialised. `read` runs in a `REPEATABLE READ READ ONLY` transaction (one snapshot), `write` in a
/// `READ COMMITTED` one. A lost connection fails the call in progress (the server rolls its
/// transaction back) and is re-opened by the next call.
public final class PostgresEngine: StoreEngine, @unchecked Sendable {
    /// The URL without its password: what messages name.
    public let location: String
    /// Connection settings.
    public let settings: DatabaseURL
    /// True when opened for reading only; `write` then refuses.
    public let isReadOnly: Bool
    /// Seconds a statement waits for another session's lock (`lock_timeout`) before failing with
    /// `StoreError.locked`.
    public let lockTimeout: Double

    public var dialect: SQLDialect { .postgres }

    /// Serialises calls; recursive only so that a nested call is reported instead of deadlocking.
    private let lock = NSRecursiveLock()
    /// The open connection (nil before the first call, after a loss and after `close`); under `lock`.
    private var connection: PostgresConnection?
    /// True inside `read`/`write`; under `lock`.
    private var inTransaction = false
    /// True after `close()`; under `lock`.
    private var closed = false
    /// Rewritten statement text by portable text; under `lock`.
    private var statementCache: [String: (sql: String, count: Int)] = [:]
    /// Identity sequences by table (nil: the table has none); under `lock`.
    private var sequenceCache: [String: String?] = [:]

    /// The NIO thread every engine's connection runs on (never a caller's thread).
    private static let eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// Connects to `url`, then checks the schema and creates or migrates it (see `PostgresSchema`).
    /// `readOnly` never creates anything: an empty database is refused. `timeout` is the lock
    /// timeout in seconds (`--db-busy-timeout`); the connection timeout is the URL's `connect_timeout`.
    ///
    /// - Throws: `StoreError.invalidName` for a malformed URL, `StoreError.unusable` when the server
    ///   cannot be reached or refuses the login or the database (the message says which), or the
    ///   database is another program's, `StoreError.newerSchema` for a newer fusebench's database.
    public static func open(url: String, access: ResultStore.Access, timeout: Double) throws -> PostgresEngine {
        let settings = try DatabaseURL(url)
        let engine = PostgresEngine(settings: settings, readOnly: access == .readOnly, lockTimeout: timeout)
        do {
            try engine.prepareSchema()
        } catch {
            engine.close()
            throw error
        }
        return engine
    }

    /// An engine for `settings`; connects on first use. Prefer `open(url:access:timeout:)`, which
    /// also prepares the schema.
    public init(settings: DatabaseURL, readOnly: Bool, lockTimeout: Double) {
        self.settings = settings
        self.location = settings.display
        self.isReadOnly = readOnly
        self.lockTimeout = lockTimeout.isFinite ? min(max(lockTimeout, 0), 3600) : ResultStore.defaultBusyTimeout
    }

    deinit {
        // postgres-nio requires a connection to be closed before it is released.
        if let connection { _ = try? Self.wait(connection.close() as EventLoopFuture<Void>, timeout: 5) }
    }

    /// Checks the schema in a read-only transaction; creates or migrates it under the advisory lock
    /// when needed (not for read-only engines on an empty database).
    func prepareSchema() throws {
        let state = try transaction(readOnly: true) { db in try PostgresSchema.inspect(db, location: location) }
        switch state {
        case .current:
            return
        case .empty where isReadOnly:
            throw StoreError.unusable(path: location, reason: "the database holds no fusebench schema yet; "
                + "push a run first (`fusebench push --to URL`) or open it with a command that writes")
        case .outdated where isReadOnly:
            // A reading command never changes the database (a SELECT-only role could not anyway).
            throw StoreError.unusable(path: location, reason: "its fusebench schema is older than this build's and needs an upgrade; "
                + "run any writing command (e.g. `fusebench push`) once with a role that owns the tables")
        case .empty, .outdated:
            try transaction(readOnly: false) { db in try PostgresSchema.prepare(db, location: location) }
        }
    }

    public func read<T>(_ body: (any StoreDatabase) throws -> T) throws -> T {
        try transaction(readOnly: true, body)
    }

    public func write<T>(_ body: (any StoreDatabase) throws -> T) throws -> T {
        if isReadOnly {
            throw StoreError.unusable(path: location, reason: "it was opened for reading only (a command that only reads tried to write)")
        }
        return try transaction(readOnly: false, body)
    }

    /// Number of migrations recorded in `fusebench_migrations`.
    public func schemaVersion() throws -> Int {
        try read { db in try db.fetchOne(Int.self, sql: "SELECT COUNT(*) FROM fusebench_migrations") ?? 0 }
    }

    /// Runs `body` in one transaction on the (re)opened connection: committed when it returns,
    /// rolled back when it throws.
    private func transaction<T>(readOnly: Bool, _ body: (any StoreDatabase) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        if closed { throw StoreError.unusable(path: location, reason: "the connection was closed") }
        if inTransaction {
            throw StoreError.unusable(path: location, reason: "a store call was made inside another one's transaction (a fusebench defect)")
        }
        inTransaction = true
        defer { inTransaction = false }
        do {
            let database = PostgresStoreDatabase(engine: self, connection: try openConnection())
            try database.run(readOnly ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN", [])
            let result: T
            do {
                result = try body(database)
            } catch {
                _ = try? database.run("ROLLBACK", [])
                throw error
            }
            try database.run("COMMIT", [])
            return result
        } catch {
            let mapped = self.mapped(error)
            if let connection, connection.isClosed { self.connection = nil }
            throw mapped
        }
    }

    /// The open connection, connecting when there is none (or it was lost). Under `lock`.
    private func openConnection() throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        connection = nil
        let fresh = try Self.connect(settings, lockTimeout: lockTimeout)
        connection = fresh
        return fresh
    }

    /// Opens a connection, giving up after `connect_timeout` (connecting and logging in).
    static func connect(_ settings: DatabaseURL, lockTimeout: Double) throws -> PostgresConnection {
        var configuration: PostgresConnection.Configuration
        if let socket = settings.socketPath {
            configuration = .init(unixSocketPath: socket, username: settings.user, password: settings.password, database: settings.database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch settings.sslMode {
            case .disable:
                tls = .disable
            case .prefer, .require:
                var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
                if let roots = settings.sslRootCertificate { tlsConfiguration.trustRoots = .file(roots) }
                let context: NIOSSLContext
                do {
                    context = try NIOSSLContext(configuration: tlsConfiguration)
                } catch {
                    throw PostgresFailure.tls("\(error)")
                }
                tls = settings.sslMode == .require ? .require(context) : .prefer(context)
            }
            configuration = .init(host: settings.host, port: settings.port, username: settings.user, password: settings.password,
                                  database: settings.database, tls: tls)
        }
        let timeoutMs = Int64((settings.connectTimeout * 1000).rounded())
        configuration.options.connectTimeout = .milliseconds(timeoutMs)
        configuration.options.additionalStartupParameters = [
            ("application_name", "fusebench"),
            ("lock_timeout", "\(Int64((lockTimeout * 1000).rounded()))"),
        ]
        let future = PostgresConnection.connect(on: eventLoopGroup.next(), configuration: configuration, id: 1, logger: logger)
        do {
            return try wait(future, timeout: settings.connectTimeout)
        } catch is PostgresFailure {
            future.whenSuccess { connection in _ = connection.close() as EventLoopFuture<Void> }
            throw PostgresFailure.connectTimeout(settings.connectTimeout)
        }
    }

    /// A logger that stays quiet (fusebench reports errors itself).
    static let logger: Logger = {
        var logger = Logger(label: "fusebench.postgres")
        logger.logLevel = .critical
        return logger
    }()

    /// Longest wait, in seconds, for the server's answer to one statement. A network that drops
    /// silently (no reset) would otherwise block a push or a report forever; past this the
    /// connection is closed and the call fails as a lost connection (exit 3; a run stays in its spool).
    /// Generous: fusebench's statements are small, and a push's streamed `COPY` waits this long at
    /// most for one buffer's turn (4 MB ahead of it) or for the server's answer after the last;
    /// a statement waiting for a lock gets the lock timeout plus a minute. Streamed reads
    /// (`PostgresRowFeed`) wait this long at most between two chunks of rows.
    static let answerDeadline: Double = 600

    /// Blocks until `future` completes (at most `timeout` seconds when given: then a connection
    /// given as `closing` is closed and the wait fails with `connectionLost`, else with `connectTimeout`).
    ///
    /// - Throws: the future's error, or `PostgresFailure.connectTimeout` when the time ran out.
    static func wait<T: Sendable>(_ future: EventLoopFuture<T>, timeout: Double? = nil, closing connection: PostgresConnection? = nil) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        future.whenComplete { result in
            box.set(result)
            done.signal()
        }
        // A request written to a connection that has just closed is never answered: the close ends the wait.
        connection?.closeFuture.whenComplete { _ in
            box.set(.failure(PostgresFailure.connectionLost))
            done.signal()
        }
        if let timeout {
            if done.wait(timeout: .now() + timeout) == .timedOut {
                // No answer in time: a statement's connection is closed (the server rolls the transaction back).
                guard let connection else { throw PostgresFailure.connectTimeout(timeout) }
                _ = connection.close() as EventLoopFuture<Void>
                throw PostgresFailure.connectionLost
            }
        } else {
            done.wait()
        }
        guard let result = box.get() else { throw PostgresFailure.connectTimeout(timeout ?? 0) }
        return try result.get()
    }

    /// Turns driver errors into `StoreError`s naming `location` (see `PostgresErrors`); store errors
    /// and row errors are kept or wrapped as for SQLite.
    public func mapped(_ error: any Error) -> any Error {
        PostgresErrors.mapped(error, location: location, settings: settings, lockTimeout: lockTimeout)
    }

    public func close() {
        lock.lock()
        defer { lock.unlock() }
        closed = true
        if let connection {
            _ = try? Self.wait(connection.close() as EventLoopFuture<Void>, timeout: 5)
        }
        connection = nil
    }

    /// The numbered form of a portable statement (cached). Under `lock`.
    func numbered(_ sql: String) -> (sql: String, count: Int) {
        if let cached = statementCache[sql] { return cached }
        let rewritten = PostgresSQL.numberPlaceholders(sql)
        if statementCache.count > 512 { statementCache.removeAll(keepingCapacity: true) }
        statementCache[sql] = rewritten
        return rewritten
    }

    /// The identity sequence of `table`'s `id` column, or nil (cached). Under `lock`.
    func identitySequence(_ table: String, _ database: PostgresStoreDatabase) throws -> String? {
        if let cached = sequenceCache[table] { return cached }
        let sequence = try database.fetchOne(String.self, sql: "SELECT pg_get_serial_sequence(?, 'id')", arguments: [table])
        sequenceCache[table] = .some(sequence)
        return sequence
    }
}

/// One result, set on the event loop and read by the waiting thread (after the semaphore).
private final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<T, any Error>?

    /// Keeps the first result set.
    func set(_ value: Result<T, any Error>) {
        lock.lock()
        if result == nil { result = value }
        lock.unlock()
    }

    func get() -> Result<T, any Error>? {
        lock.lock()
        defer { lock.unlock() }
        return result
    }
}

/// Failures of the engine itself (not reported by the driver).
enum PostgresFailure: Error {
    /// Connecting and logging in took longer than this many seconds.
    case connectTimeout(Double)
    /// The TLS settings could not be used.
    case tls(String)
    /// The connection closed while a request was waiting for its answer.
    case connectionLost
}

/// The connection inside one transaction, as the store's `StoreDatabase`.
struct PostgresStoreDatabase: StoreDatabase {
    /// The engine (its caches; its lock is held by the caller).
    let engine: PostgresEngine
    /// The connection.
    let connection: PostgresConnection

    /// PostgreSQL's limit on parameters of one statement.
    static let maximumParameters = 65_535

    var dialect: SQLDialect { .postgres }

    @discardableResult
    func execute(sql: String, arguments: [any StoreEncodable]) throws -> Int {
        if arguments.isEmpty {
            let statements = PostgresSQL.statements(sql)
            if statements.count > 1 {
                var changed = 0
                for statement in statements { changed += try run(statement, []).metadata.rows ?? 0 }
                return changed
            }
        }
        return try run(sql, arguments.map(\.storeValue)).metadata.rows ?? 0
    }

    /// Rows are handed over in chunks while the query runs (`PostgresRowFeed`); when `body` stops
    /// early or throws, the rest of the result is received and dropped before this returns, so the
    /// connection is ready for the next statement.
    func forEachRow(sql: String, arguments: [any StoreEncodable], _ body: (StoreRow) throws -> Bool) throws {
        let query = try makeQuery(sql, arguments.map(\.storeValue))
        if connection.isClosed { throw PostgresFailure.connectionLost }
        let feed = PostgresRowFeed()
        connection.query(query, logger: PostgresEngine.logger) { row in try feed.receive(row) }
            .whenComplete { feed.finish($0) }
        do {
            while let (columns, rows) = try feed.next(timeout: answerTimeout, closing: connection) {
                for values in rows {
                    if try body(StoreRow(columns: columns, values: values)) { continue }
                    feed.stop()
                    try feed.waitForEnd(timeout: answerTimeout, closing: connection)
                    return
                }
            }
        } catch {
            feed.stop()
            try? feed.waitForEnd(timeout: answerTimeout, closing: connection)
            throw error
        }
    }

    /// Rows at which `insertRows` switches from multi-row INSERTs to `COPY ... FROM STDIN`: below,
    /// a statement or two; above, COPY's one stream (a 1M-sample push: 40 s of INSERTs, see
    /// docs/results.md) wins.
    static let copyThreshold = 2000

    /// Inserts rows: `COPY ... FROM STDIN` (text format, `PostgresCopyText`) for `copyThreshold`
    /// rows or more, else multi-row `INSERT ... VALUES (...), (...)` statements of at most 1000 rows
    /// and 65 535 parameters each. When `columns` include `id`, the table's identity sequence is
    /// then moved past the largest id, so later inserts without an id do not collide with the
    /// explicit ones.
    func insertRows(table: String, columns: [String], rows: [[StoreValue]]) throws {
        guard !rows.isEmpty, !columns.isEmpty else { return }
        for row in rows where row.count != columns.count {
            throw StoreError.unusable(path: engine.location, reason: "a row for \(table) has \(row.count) values for \(columns.count) columns")
        }
        if rows.count >= Self.copyThreshold {
            try PostgresCopyStream(database: self, table: table, columns: columns).insertAll(rows)
        } else {
            try insertStatements(table: table, columns: columns, rows: rows)
        }
        try moveIdentityPastInsertedIDs(table: table, columns: columns)
    }

    /// Streams rows in one `COPY` once there are `copyThreshold` of them (`PostgresRowInserter`).
    func rowInserter(table: String, columns: [String], batchSize: Int) -> any StoreRowInserter {
        PostgresRowInserter(database: self, table: table, columns: columns)
    }

    /// After rows with explicit ids went into `table` (when `columns` include `id`): moves the
    /// table's identity sequence past the largest id, so later inserts without an id do not collide.
    func moveIdentityPastInsertedIDs(table: String, columns: [String]) throws {
        if columns.contains(where: { $0.lowercased() == "id" }), let sequence = try engine.identitySequence(table, self) {
            try execute(sql: "SELECT setval(CAST(? AS regclass), GREATEST((SELECT MAX(id) FROM \(table)), (SELECT last_value FROM \(sequence))))",
                        arguments: [sequence])
        }
    }

    /// How long a statement's answer, or a `COPY` buffer's turn to be sent, may take.
    var answerTimeout: Double { max(PostgresEngine.answerDeadline, engine.lockTimeout + 60) }

    /// Multi-row INSERT statements (see `insertRows`).
    private func insertStatements(table: String, columns: [String], rows: [[StoreValue]]) throws {
        let perStatement = max(1, min(1000, Self.maximumParameters / columns.count))
        let head = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES "
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(start + perStatement, rows.count)]
            var sql = head
            var values: [StoreValue] = []
            values.reserveCapacity(chunk.count * columns.count)
            var parameter = 0
            for (index, row) in chunk.enumerated() {
                sql += index == 0 ? "(" : ", ("
                for column in 0..<columns.count {
                    parameter += 1
                    sql += column == 0 ? "$\(parameter)" : ", $\(parameter)"
                }
                sql += ")"
                values.append(contentsOf: row)
            }
            _ = try runNumbered(sql, values)
            start += chunk.count
        }
    }

    /// Runs one portable statement (`?` placeholders) with `values`.
    @discardableResult
    func run(_ sql: String, _ values: [StoreValue]) throws -> PostgresQueryResult {
        try runQuery(makeQuery(sql, values))
    }

    /// Runs one statement already using `$n` placeholders.
    func runNumbered(_ sql: String, _ values: [StoreValue]) throws -> PostgresQueryResult {
        try runQuery(Self.boundQuery(sql, values))
    }

    /// A portable statement (`?` placeholders) as a query with `values` bound.
    ///
    /// - Throws: `StoreError.unusable` when the placeholders and values do not match in number.
    func makeQuery(_ sql: String, _ values: [StoreValue]) throws -> PostgresQuery {
        let numbered = engine.numbered(sql)
        guard numbered.count == values.count else {
            throw StoreError.unusable(path: engine.location, reason: "a statement has \(numbered.count) placeholder(s) but \(values.count) "
                + "argument(s) (a fusebench defect): \(sql.prefix(120))")
        }
        return Self.boundQuery(numbered.sql, values)
    }

    /// A statement using `$n` placeholders with `values` bound.
    static func boundQuery(_ sql: String, _ values: [StoreValue]) -> PostgresQuery {
        var binds = PostgresBindings(capacity: values.count)
        for value in values { PostgresValues.bind(value, into: &binds) }
        return PostgresQuery(unsafeSQL: sql, binds: binds)
    }

    /// Runs `query`, collecting its (few) rows.
    private func runQuery(_ query: PostgresQuery) throws -> PostgresQueryResult {
        if connection.isClosed { throw PostgresFailure.connectionLost }
        return try PostgresEngine.wait(connection.query(query, logger: PostgresEngine.logger), timeout: answerTimeout, closing: connection)
    }
}
#endif
