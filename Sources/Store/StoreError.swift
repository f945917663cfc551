import Foundation
import GRDB

/// Why the results database could not be used. Every description is a full sentence meant for
/// `error: ...` output on stderr; errors about the file name the database path.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    /// The database was written by a newer fusebench (its schema version, or its applied
    /// migrations, are beyond what this build knows). Nothing was changed.
    case newerSchema(found: Int, known: Int, path: String)
    /// A run reference (`42`, `latest`, `latest~N`) did not match any run.
    case unknownRun(String)
    /// The database holds no complete run, so `latest` cannot be resolved.
    case noRuns
    /// The file (or PostgreSQL database, `path` then being its URL without password) cannot be used
    /// as a results database (not SQLite, unreadable, foreign schema, corrupt rows, server
    /// unreachable); `reason` says why.
    case unusable(path: String, reason: String)
    /// No baseline has this name (or it cannot be rolled back).
    case unknownBaseline(String)
    /// A name or value given by the user is not acceptable; the text says why.
    case invalidName(String)
    /// Another process kept the database locked for longer than the busy timeout (`seconds`).
    case locked(path: String, seconds: Double)
    /// Measured results could not be stored (the database stayed locked); they were written to
    /// `sideFile` instead, so nothing measured is lost. `reason` says why the store failed.
    case keptInSideFile(path: String, sideFile: String, samples: Int, reason: String)

    /// Human-readable explanation, naming the database path where one is known.
    public var description: String {
        switch self {
        case let .newerSchema(found, known, path):
            return "\(DatabaseURL.redacted(path)): database schema version \(found) is newer than this fusebench knows (\(known)); "
                + "upgrade fusebench or use another --db"
        case let .unknownRun(ref):
            return "no run matches '\(ref)'; use a run id, a baseline name, 'latest' or 'latest~N' (the N-th complete run before the latest)"
        case .noRuns:
            return "the results database has no complete run yet; run `fusebench run` first or pass a run id"
        case let .unusable(path, reason):
            if DatabaseURL.isPostgres(path) {
                return "\(DatabaseURL.redacted(path)): cannot use this PostgreSQL database: \(reason)"
            }
            return "\(path): cannot use this file as a fusebench results database: \(reason)"
        case let .unknownBaseline(name):
            return "no baseline named \(name); see `fusebench baseline list`"
        case let .invalidName(text):
            return text
        case let .locked(path, seconds):
            return "\(DatabaseURL.redacted(path)): the database stayed locked by another process for more than \(ResultStore.formatSeconds(seconds)) "
                + "(wait longer with --db-busy-timeout SECONDS or FUSEBENCH_DB_BUSY_TIMEOUT)"
        case let .keptInSideFile(path, sideFile, samples, reason):
            return "\(path): \(samples) measured sample(s) could not be stored (\(reason)); they were written to \(sideFile) "
                + "(JSON, one entry per op) instead"
        }
    }

    /// Wraps any error raised while opening or migrating `path` into `.unusable` (`.locked` when
    /// the database stayed busy past `busyTimeout` seconds), keeping `StoreError`s as they are.
    static func wrapping(_ error: any Error, path: String, busyTimeout: Double) -> StoreError {
        if let storeError = error as? StoreError { return storeError }
        if let dbError = error as? DatabaseError {
            if isBusy(dbError) { return .locked(path: path, seconds: busyTimeout) }
            return .unusable(path: path, reason: reason(for: dbError))
        }
        return .unusable(path: path, reason: String(describing: error))
    }

    /// Whether SQLite gave up waiting for another connection's lock.
    static func isBusy(_ error: DatabaseError) -> Bool {
        error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED
    }

    /// Short reason for a SQLite failure, in words rather than result codes where possible.
    static func reason(for error: DatabaseError) -> String {
        switch error.resultCode {
        case .SQLITE_NOTADB:
            return "the file is not a SQLite database"
        case .SQLITE_CORRUPT:
            return "the database file is corrupt (\(error.message ?? "SQLITE_CORRUPT"))"
        case .SQLITE_CANTOPEN:
            return "the file cannot be opened (check that the path and its directory are readable and writable)"
        case .SQLITE_READONLY, .SQLITE_PERM:
            return "the database is read-only (\(error.message ?? "permission denied"))"
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return "the database stayed locked by another process"
        default:
            return error.message ?? "\(error.resultCode)"
        }
    }
}
