// Store owns the results database: a SQLite file (WAL, 5 s busy timeout, foreign keys) holding
// machines, runs and their notes, ops, raw samples with counter values, and accuracy checks,
// plus views for humans using the `sqlite3` shell. Schema changes go through named migrations
// (see Schema.swift); a database written by a newer fusebench is refused, never modified.
import Foundation
import GRDB
import BenchModel

/// The fusebench results database. Thread-safe: every call is serialised on one SQLite
/// connection (a GRDB `DatabaseQueue`), and several processes may share the file (WAL mode).
public final class ResultStore: Sendable {
    /// Filesystem path of the database, or `:memory:` for an in-memory store.
    public let path: String
    /// The single connection; all access goes through it.
    let queue: DatabaseQueue

    /// Opens (creating if needed) the database at `path`: creates the parent directory, enables
    /// WAL with `synchronous=NORMAL`, a 5 s busy timeout and foreign keys, and migrates the schema.
    ///
    /// - Throws: `StoreError.newerSchema` when the file was written by a newer fusebench,
    ///   `StoreError.unusable` when the file is not a (fusebench) SQLite database or cannot be opened.
    public init(path: String) throws {
        self.path = path
        let fileManager = FileManager.default
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        do {
            try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError.unusable(path: path, reason: "cannot create directory \(directory.path): \(error.localizedDescription)")
        }
        var isDirectory: ObjCBool = false
        if fileManager.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw StoreError.unusable(path: path, reason: "it is a directory")
        }
        var configuration = Self.configuration()
        configuration.journalMode = .wal
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
            try Schema.prepare(queue, path: path)
        } catch {
            throw StoreError.wrapping(error, path: path)
        }
    }

    /// Opens from an existing connection; used by `inMemory()`.
    private init(path: String, queue: DatabaseQueue) throws {
        self.path = path
        self.queue = queue
        do {
            try Schema.prepare(queue, path: path)
        } catch {
            throw StoreError.wrapping(error, path: path)
        }
    }

    /// A fresh, migrated in-memory store (for tests); its `path` is `:memory:`.
    public static func inMemory() throws -> ResultStore {
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(configuration: configuration())
        } catch {
            throw StoreError.wrapping(error, path: ":memory:")
        }
        return try ResultStore(path: ":memory:", queue: queue)
    }

    /// Connection settings shared by file and in-memory stores.
    private static func configuration() -> Configuration {
        var configuration = Configuration()
        configuration.label = "fusebench.store"
        configuration.busyMode = .timeout(5)
        configuration.foreignKeysEnabled = true
        configuration.prepareDatabase { db in
            // Durable at checkpoints in WAL mode; a power loss can only drop the last commits.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        return configuration
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

    /// Runs `body` in a write transaction, mapping SQLite errors to `StoreError.unusable`.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try queue.write(body)
        } catch {
            throw mapped(error)
        }
    }

    /// Runs `body` with read access, mapping SQLite errors to `StoreError.unusable`.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try queue.read(body)
        } catch {
            throw mapped(error)
        }
    }

    /// Keeps store errors as they are and turns SQLite failures into `StoreError.unusable`
    /// naming the database path; other errors pass through.
    private func mapped(_ error: any Error) -> any Error {
        if error is StoreError { return error }
        if let dbError = error as? DatabaseError {
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
