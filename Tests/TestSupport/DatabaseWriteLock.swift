// A second connection that holds a results database's write lock, for tests of what fusebench does
// while another process has the database locked (busy timeout, results kept, nothing lost).
import GRDB

/// Holds SQLite's write lock on `path` (`BEGIN IMMEDIATE` on its own connection) until `release()`.
public final class DatabaseWriteLock: Sendable {
    private let queue: DatabaseQueue

    /// Opens `path` and takes its write lock.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.allowsUnsafeTransactions = true  // the transaction outlives one access, on purpose
        queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.inDatabase { db in try db.execute(sql: "BEGIN IMMEDIATE") }
    }

    /// Gives the lock back (rolls the empty transaction back); a second call does nothing.
    public func release() throws {
        try queue.inDatabase { db in
            if !db.isInsideTransaction { return }
            try db.execute(sql: "ROLLBACK")
        }
    }
}
