// Store owns the results database: a SQLite file (WAL, a configurable busy timeout, foreign keys)
// holding machines, runs and their notes, ops, raw samples with counter values, and accuracy checks,
// plus views for humans using the `sqlite3` shell. Schema changes go through named migrations
// (see Schema.swift). Opening is race-free and refusing is harmless: a database written by a
// newer fusebench, or by another program, is refused before anything in it is changed.
import Foundation
import GRDB
import BenchModel

/// The fusebench results database. Every query goes through its `engine` (StoreEngine.swift):
/// SQLite (one connection, a GRDB `DatabaseQueue`; several processes may share the file in WAL
/// mode) or PostgreSQL. Thread-safe: the engine serialises or pools its connections.
public final class ResultStore: Sendable {
    /// How a command uses the database.
    public enum Access: Sendable {
        /// Commands that store results or baselines: creates and migrates the file, enables WAL.
        case readWrite
        /// Commands that only read (`runs`, `compare`, `export`, ...): never write to an existing
        /// file, so they work on a read-only file or directory. A missing or empty file is
        /// created as `readWrite` would; a file needing a migration is migrated when writable.
        case readOnly
    }

    /// Busy timeout used unless the caller gives one: how long to wait for another process's lock.
    public static let defaultBusyTimeout: Double = 5
    /// Longest accepted busy timeout (one hour).
    public static let maximumBusyTimeout: Double = 3600

    /// Filesystem path of the database, `:memory:` for an in-memory store, or the engine's location
    /// (a PostgreSQL URL without its password) for other engines; messages name it.
    public let path: String
    /// Seconds a statement waits for another process's lock before failing with `StoreError.locked`.
    public let busyTimeout: Double
    /// Whether the store refuses writes: true for stores opened with `Access.readOnly`.
    public let isReadOnly: Bool
    /// The engine every query goes through (StoreEngine.swift): SQLite for files, PostgreSQL for URLs.
    public let engine: any StoreEngine
    /// The engine when it is SQLite, for the few SQLite-only paths (the sample writer's hot path,
    /// journal mode, run owner locks); nil on other engines.
    let sqlite: SQLiteEngine?
    /// Per-run owner locks on the database file (nil for an in-memory store and other engines).
    let runLocks: RunLockFile?
    /// Whether samples go through `SampleWriter` on SQLite (false only in tests of the portable path).
    let nativeSampleWriter: Bool

    /// A store over an engine whose schema the engine has already checked and migrated (each engine
    /// owns schema preparation: SQLite through `Schema`, PostgreSQL through its own DDL).
    ///
    /// - Throws: `StoreError` when the store cannot be used.
    public convenience init(engine: any StoreEngine) throws {
        try self.init(engine: engine, nativeSampleWriter: true)
    }

    /// `init(engine:)`, choosing whether SQLite stores write samples through `SampleWriter`.
    init(engine: any StoreEngine, nativeSampleWriter: Bool) throws {
        self.engine = engine
        self.nativeSampleWriter = nativeSampleWriter
        self.path = engine.location
        self.isReadOnly = engine.isReadOnly
        if let sqlite = engine as? SQLiteEngine {
            self.sqlite = sqlite
            self.busyTimeout = sqlite.busyTimeout
            self.runLocks = sqlite.isReadOnly || sqlite.location == ":memory:" ? nil : RunLockFile.shared(databasePath: sqlite.location)
        } else {
            self.sqlite = nil
            self.busyTimeout = Self.defaultBusyTimeout
            self.runLocks = nil
        }
        // Machines stored before schema v16 get their fingerprint id (SQL migrations cannot hash),
        // ended runs stored before v17 their series points (SeriesPoints.swift).
        if !isReadOnly {
            do {
                try fillFingerprintIDsIfNeeded()
                try indexMissingPointsIfNeeded()
            } catch {
                throw mapped(error)
            }
        }
    }

    /// Opens (creating if needed) the database at `path`.
    ///
    /// `.readWrite`: creates the parent directory and the file, checks and migrates the schema under
    /// an exclusive lock (concurrent openers wait, then see the migrated schema), then enables WAL
    /// with `synchronous=NORMAL`. `.readOnly`: see `Access.readOnly`. Foreign keys are on and every
    /// statement waits up to `busyTimeout` seconds for another process's lock.
    ///
    /// A refused file (newer schema, unknown migration, another program's tables) is left
    /// byte-identical: no journal mode change and no `-wal`/`-shm` files left behind.
    ///
    /// - Throws: `StoreError.newerSchema` when the file was written by a newer fusebench,
    ///   `StoreError.locked` when another process held the database past the busy timeout,
    ///   `StoreError.unusable` when the file is not a (fusebench) SQLite database or cannot be opened.
    public convenience init(path: String, access: Access = .readWrite, busyTimeout: Double = ResultStore.defaultBusyTimeout) throws {
        let timeout = Self.clampedTimeout(busyTimeout)
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        let exists = fileManager.fileExists(atPath: path, isDirectory: &isDirectory)
        if exists, isDirectory.boolValue {
            throw StoreError.unusable(path: path, reason: "it is a directory")
        }
        let size = exists ? ((try? fileManager.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0) : 0
        let queue: DatabaseQueue
        let readOnly: Bool
        do {
            if access == .readOnly, size > 0 {
                (queue, readOnly) = try Self.openForReading(path: path, busyTimeout: timeout)
            } else {
                queue = try Self.openForWriting(path: path, busyTimeout: timeout)
                readOnly = access == .readOnly
            }
        } catch {
            throw StoreError.wrapping(error, path: path, busyTimeout: timeout)
        }
        try self.init(engine: SQLiteEngine(queue: queue, location: path, busyTimeout: timeout, isReadOnly: readOnly))
    }

    /// A fresh, migrated in-memory store (for tests); its `path` is `:memory:`. With
    /// `nativeSampleWriter` false, samples are written through the portable path other engines take
    /// (`INSERT ... RETURNING id`, `insertRows`) instead of SQLite's `SampleWriter`, so tests cover it.
    public static func inMemory(nativeSampleWriter: Bool = true) throws -> ResultStore {
        let path = ":memory:"
        do {
            let queue = try DatabaseQueue(configuration: configuration(busyTimeout: defaultBusyTimeout))
            try Schema.prepare(queue, path: path)
            return try ResultStore(engine: SQLiteEngine(queue: queue, location: path, busyTimeout: defaultBusyTimeout, isReadOnly: false),
                                   nativeSampleWriter: nativeSampleWriter)
        } catch {
            throw StoreError.wrapping(error, path: path, busyTimeout: defaultBusyTimeout)
        }
    }

    /// The busy timeout named by `FUSEBENCH_DB_BUSY_TIMEOUT` in `environment` (seconds, decimal),
    /// or nil when unset.
    ///
    /// - Throws: `StoreError.invalidName` when the value is not a number in 0...3600.
    public static func busyTimeout(environment: [String: String]) throws -> Double? {
        guard let text = environment["FUSEBENCH_DB_BUSY_TIMEOUT"] else { return nil }
        return try parseBusyTimeout(text, source: "FUSEBENCH_DB_BUSY_TIMEOUT")
    }

    /// Parses a busy timeout in seconds (`source` names the flag or variable in the error).
    ///
    /// - Throws: `StoreError.invalidName` when `text` is not a number in 0...3600.
    public static func parseBusyTimeout(_ text: String, source: String) throws -> Double {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let value = Double(trimmed), value.isFinite, value >= 0, value <= maximumBusyTimeout else {
            throw StoreError.invalidName("\(source) must be a number of seconds between 0 and \(Int(maximumBusyTimeout)), got '\(text)'")
        }
        return value
    }

    /// `seconds` as text for messages: `5 s`, `0.25 s`.
    static func formatSeconds(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
    }

    /// A finite timeout within 0...maximumBusyTimeout.
    private static func clampedTimeout(_ seconds: Double) -> Double {
        seconds.isFinite ? min(max(seconds, 0), maximumBusyTimeout) : defaultBusyTimeout
    }

    /// Connection settings shared by file and in-memory stores. Nothing here writes to the file.
    private static func configuration(busyTimeout: Double, readonly: Bool = false) -> Configuration {
        var configuration = Configuration()
        configuration.label = "fusebench.store"
        configuration.readonly = readonly
        configuration.busyMode = .timeout(busyTimeout)
        configuration.foreignKeysEnabled = true
        configuration.prepareDatabase { db in
            // Durable at checkpoints in WAL mode; a power loss can only drop the last commits.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        return configuration
    }

    /// Writers: create the directory, check and migrate under an exclusive lock, then WAL.
    /// The connection is closed (so SQLite removes any `-wal`/`-shm` it created) when refused.
    private static func openForWriting(path: String, busyTimeout: Double) throws -> DatabaseQueue {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: path) {
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            } catch {
                throw StoreError.unusable(path: path, reason: "cannot create directory \(directory.path): \(error.localizedDescription)")
            }
        }
        let queue = try DatabaseQueue(path: path, configuration: configuration(busyTimeout: busyTimeout))
        do {
            try Schema.prepare(queue, path: path)
            try Schema.enableWAL(queue, busyTimeout: busyTimeout)
        } catch {
            try? queue.close()
            throw error
        }
        return queue
    }

    /// Readers of an existing, non-empty file. When the file and its directory are writable the
    /// connection is read-write (so SQLite removes the `-wal`/`-shm` it creates when it closes, and
    /// an outdated schema can be migrated first) and the store refuses writes itself (`write`);
    /// otherwise it is opened read-only (`Configuration.readonly`), and a WAL database whose `-shm`
    /// cannot be created (read-only directory, no writer) is read as immutable.
    /// Returns the queue and whether it refuses writes (always true).
    private static func openForReading(path: String, busyTimeout: Double) throws -> (DatabaseQueue, Bool) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let writable = access(path, W_OK) == 0 && access(directory.isEmpty ? "." : directory, W_OK) == 0
        if writable {
            let queue = try DatabaseQueue(path: path, configuration: configuration(busyTimeout: busyTimeout))
            do {
                if try Schema.check(queue, path: path) == .outdated {
                    try Schema.prepare(queue, path: path)
                }
            } catch {
                try? queue.close()
                throw error
            }
            return (queue, true)
        }
        let readonly = configuration(busyTimeout: busyTimeout, readonly: true)
        var queue: DatabaseQueue
        var state: Schema.State
        do {
            queue = try DatabaseQueue(path: path, configuration: readonly)
            state = try Schema.check(queue, path: path)
        } catch let error as DatabaseError where (error.resultCode == .SQLITE_CANTOPEN || error.resultCode == .SQLITE_READONLY)
                    && access(directory.isEmpty ? "." : directory, W_OK) != 0
                    && !FileManager.default.fileExists(atPath: path + "-wal") {
            // A WAL database whose -shm cannot be created (SQLITE_CANTOPEN on a read-only mount,
            // SQLITE_READONLY_CANTINIT in a directory we may not write): no writer can exist either (it
            // would need a -wal file here), so reading the file as immutable is safe and creates nothing.
            queue = try DatabaseQueue(path: immutableURI(path), configuration: readonly)
            state = try Schema.check(queue, path: path)
        }
        if state == .outdated {
            try? queue.close()
            throw StoreError.unusable(path: path, reason: "its schema (version below \(Schema.knownVersion)) needs an upgrade and the file "
                + "or its directory is read-only; run any fusebench command once with write access to upgrade it")
        }
        return (queue, true)
    }

    /// `file:PATH?immutable=1`, with the characters URIs reserve escaped.
    private static func immutableURI(_ path: String) -> String {
        var escaped = ""
        for c in path {
            switch c {
            case "%": escaped += "%25"
            case "?": escaped += "%3f"
            case "#": escaped += "%23"
            default: escaped.append(c)
            }
        }
        return "file:\(escaped)?immutable=1"
    }

    /// Schema version of the database: the number of applied migrations (SQLite's
    /// `PRAGMA user_version`; the identifiers recorded on other engines).
    public func schemaVersion() throws -> Int {
        do {
            return try engine.schemaVersion()
        } catch {
            throw mapped(error)
        }
    }

    /// SQLite journal mode in effect (`wal` for file databases, `memory` in memory).
    ///
    /// - Throws: `StoreError.unusable` on an engine other than SQLite.
    public func journalMode() throws -> String {
        try sqliteRead("the journal mode") { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    // MARK: - Access helpers

    /// Runs `body` in one write transaction of the engine, mapping engine errors to `StoreError`.
    func write<T>(_ body: (any StoreDatabase) throws -> T) throws -> T {
        if isReadOnly {
            throw StoreError.unusable(path: path, reason: "it was opened for reading only (a command that only reads tried to write)")
        }
        do {
            return try engine.write(body)
        } catch {
            throw mapped(error)
        }
    }

    /// Runs `body` in one read transaction of the engine, mapping engine errors to `StoreError`.
    func read<T>(_ body: (any StoreDatabase) throws -> T) throws -> T {
        do {
            return try engine.read(body)
        } catch {
            throw mapped(error)
        }
    }

    /// Runs `body` in a GRDB write transaction: only for what is SQLite-only by design (the sample
    /// writer's hot path, tests reaching into the file). `what` names the feature in the error.
    ///
    /// - Throws: `StoreError.unusable` on another engine.
    func sqliteWrite<T>(_ what: String = "this operation", _ body: (Database) throws -> T) throws -> T {
        if isReadOnly {
            throw StoreError.unusable(path: path, reason: "it was opened for reading only (a command that only reads tried to write)")
        }
        let sqlite = try requireSQLite(what)
        do {
            return try sqlite.queue.write(body)
        } catch {
            throw mapped(error)
        }
    }

    /// Runs `body` with GRDB read access (SQLite only; see `sqliteWrite`).
    ///
    /// - Throws: `StoreError.unusable` on another engine.
    func sqliteRead<T>(_ what: String = "this operation", _ body: (Database) throws -> T) throws -> T {
        let sqlite = try requireSQLite(what)
        do {
            return try sqlite.queue.read(body)
        } catch {
            throw mapped(error)
        }
    }

    /// The SQLite engine, or `StoreError.unusable` saying that `what` needs a SQLite file.
    func requireSQLite(_ what: String) throws -> SQLiteEngine {
        guard let sqlite else {
            throw StoreError.unusable(path: path, reason: "\(what) needs a SQLite file; PostgreSQL receives runs by `fusebench push`")
        }
        return sqlite
    }

    /// Keeps store errors as they are and turns engine failures into `StoreError.locked` (busy past
    /// the timeout) or `StoreError.unusable`, and row type errors into `unusable`, naming the
    /// database; other errors pass through.
    func mapped(_ error: any Error) -> any Error {
        if error is StoreError { return error }
        if let rowError = error as? StoreRowError {
            return StoreError.unusable(path: path, reason: rowError.description)
        }
        return engine.mapped(error)
    }

    /// Whether table `name` exists (a file of an older schema opened read-only is not migrated, so it
    /// may lack newer tables). Dialects differ here: SQLite lists tables in `sqlite_master`,
    /// PostgreSQL in `information_schema.tables` (the current schema).
    static func tableExists(_ db: any StoreDatabase, _ name: String) throws -> Bool {
        switch db.dialect {
        case .sqlite:
            return try db.fetchOne(Int64.self, sql: "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", arguments: [name]) != nil
        case .postgres:
            return try db.fetchOne(Int64.self, sql: """
                SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?
                """, arguments: [name]) != nil
        }
    }

    /// Decodes a JSON column, naming the run/column in the error when the text is malformed.
    func decodeJSON<T: Decodable>(_ type: T.Type, _ text: String, what: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(text.utf8))
        } catch {
            throw StoreError.unusable(path: path, reason: "\(what) is not valid JSON (\(error))")
        }
    }

    /// Encodes a value as JSON with sorted keys, so equal values give equal text.
    func encodeJSON<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// Whether process `pid` exists, using `kill(pid, 0)`; a process owned by another user
/// (`EPERM`) counts as alive. Non-positive pids are never alive.
public func defaultPidAlive(_ pid: Int32) -> Bool {
    guard pid > 0 else { return false }
    if kill(pid, 0) == 0 { return true }
    return errno == EPERM
}
