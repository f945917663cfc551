// Store owns the results database: a SQLite file (WAL, a configurable busy timeout, foreign keys)
// holding machines, runs and their notes, ops, raw samples with counter values, and accuracy checks,
// plus views for humans using the `sqlite3` shell. Schema changes go through named migrations
// (see Schema.swift). Opening is race-free and refusing is harmless: a database written by a
// newer fusebench, or by another program, is refused before anything in it is changed.
import Foundation
import GRDB
import BenchModel

/// The fusebench results database. Thread-safe: every call is serialised on one SQLite
/// connection (a GRDB `DatabaseQueue`), and several processes may share the file (WAL mode).
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

    /// Filesystem path of the database, or `:memory:` for an in-memory store.
    public let path: String
    /// Seconds a statement waits for another process's lock before failing with `StoreError.locked`.
    public let busyTimeout: Double
    /// Whether the store refuses writes: true for stores opened with `Access.readOnly`.
    public let isReadOnly: Bool
    /// The single connection; all access goes through it.
    let queue: DatabaseQueue
    /// Per-run owner locks on the database file (nil for an in-memory store).
    let runLocks: RunLockFile?

    /// The engine behind this store, for code written against the engine seam (StoreEngine.swift).
    public var engine: any StoreEngine {
        SQLiteEngine(queue: queue, location: path, busyTimeout: busyTimeout, isReadOnly: isReadOnly)
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
    public init(path: String, access: Access = .readWrite, busyTimeout: Double = ResultStore.defaultBusyTimeout) throws {
        self.path = path
        self.busyTimeout = Self.clampedTimeout(busyTimeout)
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        let exists = fileManager.fileExists(atPath: path, isDirectory: &isDirectory)
        if exists, isDirectory.boolValue {
            throw StoreError.unusable(path: path, reason: "it is a directory")
        }
        let size = exists ? ((try? fileManager.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0) : 0
        do {
            if access == .readOnly, size > 0 {
                (queue, isReadOnly) = try Self.openForReading(path: path, busyTimeout: self.busyTimeout)
            } else {
                queue = try Self.openForWriting(path: path, busyTimeout: self.busyTimeout)
                isReadOnly = access == .readOnly
            }
        } catch {
            throw StoreError.wrapping(error, path: path, busyTimeout: self.busyTimeout)
        }
        runLocks = isReadOnly ? nil : RunLockFile.shared(databasePath: path)
        if !isReadOnly { try fillFingerprintIDsIfNeeded() }
    }

    /// Opens from an existing connection; used by `inMemory()`.
    private init(path: String, queue: DatabaseQueue) throws {
        self.path = path
        self.queue = queue
        self.busyTimeout = Self.defaultBusyTimeout
        self.isReadOnly = false
        self.runLocks = nil
        do {
            try Schema.prepare(queue, path: path)
        } catch {
            throw StoreError.wrapping(error, path: path, busyTimeout: busyTimeout)
        }
    }

    /// A fresh, migrated in-memory store (for tests); its `path` is `:memory:`.
    public static func inMemory() throws -> ResultStore {
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(configuration: configuration(busyTimeout: defaultBusyTimeout))
        } catch {
            throw StoreError.wrapping(error, path: ":memory:", busyTimeout: defaultBusyTimeout)
        }
        return try ResultStore(path: ":memory:", queue: queue)
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

    /// Schema version of the database (`PRAGMA user_version`, the number of applied migrations).
    public func schemaVersion() throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0 }
    }

    /// SQLite journal mode in effect (`wal` for file databases, `memory` in memory).
    public func journalMode() throws -> String {
        try read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    // MARK: - Access helpers

    /// Runs `body` in a write transaction, mapping SQLite errors to `StoreError`.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        if isReadOnly {
            throw StoreError.unusable(path: path, reason: "it was opened for reading only (a command that only reads tried to write)")
        }
        do {
            return try queue.write(body)
        } catch {
            throw mapped(error)
        }
    }

    /// Runs `body` with read access, mapping SQLite errors to `StoreError`.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try queue.read(body)
        } catch {
            throw mapped(error)
        }
    }

    /// Keeps store errors as they are and turns SQLite failures into `StoreError.locked` (busy past
    /// the timeout) or `StoreError.unusable`, naming the database path; other errors pass through.
    func mapped(_ error: any Error) -> any Error {
        if error is StoreError { return error }
        if let dbError = error as? DatabaseError {
            if StoreError.isBusy(dbError) { return StoreError.locked(path: path, seconds: busyTimeout) }
            return StoreError.unusable(path: path, reason: StoreError.reason(for: dbError))
        }
        return error
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
