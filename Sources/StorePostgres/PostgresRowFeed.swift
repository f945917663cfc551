// PostgresRowFeed: the rows of one query handed from the connection's event loop to the thread
// that called `forEachRow`, in chunks, while the query still runs. postgres-nio's collecting
// `query` future copies its whole row array each time rows arrive (quadratic in the result: an
// export of a 1M-sample run spent 43 % of its time retaining and releasing rows on the event loop,
// docs/results.md); its `onRow` callback hands over each row once. Rows are converted to
// `StoreValue`s on the event loop and consumed by the caller as they come (no back-pressure: a
// consumer slower than the server holds at most what the collecting future held).
#if Fleet
import Foundation
import NIOCore
import PostgresNIO
import Store

/// Chunks of converted rows between the event loop (producer) and the calling thread (consumer).
final class PostgresRowFeed: @unchecked Sendable {
    /// Rows per chunk handed over.
    static let chunkRows = 1024

    private let lock = NSLock()
    private let ready = DispatchSemaphore(value: 0)
    private var chunks: [[[StoreValue]]] = []
    private var current: [[StoreValue]] = []
    private var columns: StoreRow.Columns?
    private var ended = false
    private var failure: (any Error)?
    private var stopped = false

    /// Event loop: converts `row` and queues it (dropped once the consumer stopped).
    func receive(_ row: PostgresRow) throws {
        lock.lock()
        let drop = stopped
        let needColumns = columns == nil
        lock.unlock()
        if drop { return }
        var values: [StoreValue] = []
        values.reserveCapacity(row.count)
        for cell in row { values.append(try PostgresValues.storeValue(cell)) }
        lock.lock()
        if needColumns, columns == nil { columns = StoreRow.Columns(row.map(\.columnName)) }
        current.append(values)
        var handed = false
        if current.count >= Self.chunkRows {
            chunks.append(current)
            current = []
            current.reserveCapacity(Self.chunkRows)
            handed = true
        }
        lock.unlock()
        if handed { ready.signal() }
    }

    /// Event loop: the query ended (with its error, if it failed).
    func finish(_ result: Result<PostgresQueryMetadata, any Error>) {
        lock.lock()
        if !current.isEmpty {
            chunks.append(current)
            current = []
        }
        ended = true
        if case let .failure(error) = result { failure = error }
        lock.unlock()
        ready.signal()
    }

    /// Consumer: stops taking rows (the rest of the result is received and dropped).
    func stop() {
        lock.lock()
        stopped = true
        chunks = []
        current = []
        lock.unlock()
    }

    /// Consumer: the next chunk and the result's columns, nil at the end; waits for rows.
    ///
    /// - Throws: the query's error once its rows are consumed; `PostgresFailure.connectionLost`
    ///   (after closing `connection`) when nothing arrives for `timeout` seconds.
    func next(timeout: Double, closing connection: PostgresConnection) throws -> (columns: StoreRow.Columns, rows: [[StoreValue]])? {
        while true {
            lock.lock()
            if !chunks.isEmpty, let columns {
                let chunk = chunks.removeFirst()
                lock.unlock()
                return (columns, chunk)
            }
            if ended {
                let error = failure
                lock.unlock()
                if let error { throw error }
                return nil
            }
            lock.unlock()
            if ready.wait(timeout: .now() + timeout) == .timedOut {
                _ = connection.close() as EventLoopFuture<Void>
                throw PostgresFailure.connectionLost
            }
        }
    }

    /// Consumer: waits until the query has ended (after `stop`, so the connection is idle again).
    func waitForEnd(timeout: Double, closing connection: PostgresConnection) throws {
        while true {
            lock.lock()
            let done = ended
            lock.unlock()
            if done { return }
            if ready.wait(timeout: .now() + timeout) == .timedOut {
                _ = connection.close() as EventLoopFuture<Void>
                throw PostgresFailure.connectionLost
            }
        }
    }
}
#endif
