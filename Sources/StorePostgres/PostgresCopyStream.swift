// PostgresCopyStream: one `COPY table (columns) FROM STDIN` fed row by row from the calling thread
// while the server inserts. Rows are encoded here (PostgresCopyText) into buffers of about 1 MB that
// an async task on the connection's event loop writes; at most `buffersInFlight` wait, so a slow
// server holds the caller back instead of growing memory. Before this, rows were collected and
// copied 5 000 at a time, the client and the server taking turns (docs/results.md, "Fleet").
// PostgresRowInserter is `StoreDatabase.rowInserter` on PostgreSQL: a few rows go in as INSERT
// statements, `copyThreshold` rows or more start a stream.
#if Fleet
import Foundation
import NIOCore
import PostgresNIO
import Store

/// One streamed `COPY ... FROM STDIN` inside the caller's transaction (rows in the given columns'
/// order; `PostgresRowInserter` checks their width).
final class PostgresCopyStream: StoreRowInserter {
    /// Encoded bytes per buffer handed to the writer task (by default).
    static let defaultBufferBytes = 1 << 20
    /// Buffers encoded but not yet written to the connection, at most.
    static let buffersInFlight = 4

    private let database: PostgresStoreDatabase
    private let bufferBytes: Int
    private var buffer = ByteBuffer()
    private var continuation: AsyncThrowingStream<ByteBuffer, any Error>.Continuation?
    private var future: EventLoopFuture<Void>?
    private let slots = DispatchSemaphore(value: PostgresCopyStream.buffersInFlight)
    private let ended = CopyEnded()
    private let table: String
    private let columns: [String]

    init(database: PostgresStoreDatabase, table: String, columns: [String], bufferBytes: Int = PostgresCopyStream.defaultBufferBytes) {
        self.database = database
        self.table = table
        self.columns = columns
        self.bufferBytes = max(1, bufferBytes)
        buffer.reserveCapacity(self.bufferBytes + (self.bufferBytes >> 4))
    }

    /// Encodes one row; hands a full buffer to the writer (starting the `COPY` with the first).
    func append(_ row: [StoreValue]) throws {
        PostgresCopyText.appendRow(row, to: &buffer)
        if buffer.readableBytes >= bufferBytes { try send() }
    }

    /// Sends what is left, ends the `COPY` and waits for the server's answer.
    ///
    /// - Throws: the server's error (a bad value, a failed check), or `PostgresFailure.connectionLost`.
    func finish() throws {
        if buffer.readableBytes > 0 { try send() }
        continuation?.finish()
        continuation = nil
        guard let future else { return }
        try PostgresEngine.wait(future, timeout: database.answerTimeout, closing: database.connection)
    }

    /// Fails the `COPY` (the server leaves copy mode; nothing of it is kept) and waits for that, so
    /// the caller's rollback is the connection's next statement.
    func abort() {
        guard let continuation else { return }
        continuation.finish(throwing: CopyAborted())
        self.continuation = nil
        if let future { _ = try? PostgresEngine.wait(future, timeout: 30, closing: database.connection) }
    }

    /// Queues the current buffer for the writer, waiting while `buffersInFlight` are queued.
    private func send() throws {
        let connection = database.connection
        if continuation == nil { try start(connection) }
        let deadline = Date().addingTimeInterval(database.answerTimeout)
        // A turn, or the stream's end (an error from the server, a closed connection).
        while slots.wait(timeout: .now() + .milliseconds(200)) == .timedOut {
            if ended.isSet || connection.isClosed { break }
            if Date() > deadline {
                _ = connection.close() as EventLoopFuture<Void>
                throw PostgresFailure.connectionLost
            }
        }
        if ended.isSet || connection.isClosed {
            // The writer stopped early: its error says why.
            if let future { try PostgresEngine.wait(future, timeout: 30, closing: connection) }
            throw PostgresFailure.connectionLost
        }
        continuation?.yield(buffer)
        buffer = ByteBuffer()
        buffer.reserveCapacity(bufferBytes + (bufferBytes >> 4))
    }

    /// Starts the `COPY` and its writer task.
    private func start(_ connection: PostgresConnection) throws {
        if connection.isClosed { throw PostgresFailure.connectionLost }
        let (stream, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        self.continuation = continuation
        let (table, columns, slots, ended) = (table, columns, slots, ended)
        let promise = connection.eventLoop.makePromise(of: Void.self)
        promise.completeWithTask {
            try await connection.copyFrom(table: table, columns: columns, logger: PostgresEngine.logger) { writer in
                for try await chunk in stream {
                    try await writer.write(chunk)
                    slots.signal()
                }
            }
        }
        // Wakes a waiting `send`; and buffers the writer never took (it stopped on an error) give
        // their turns back, so the semaphore ends at or above its initial value (libdispatch requires it).
        promise.futureResult.whenComplete { _ in
            ended.set()
            for _ in 0..<PostgresCopyStream.buffersInFlight { slots.signal() }
        }
        future = promise.futureResult
    }
}

/// `StoreDatabase.rowInserter` on PostgreSQL: rows are held until there are `copyThreshold` of
/// them; fewer go in as INSERT statements at `finish()`, more start a `PostgresCopyStream`.
final class PostgresRowInserter: StoreRowInserter {
    private let database: PostgresStoreDatabase
    private let table: String
    private let columns: [String]
    private var held: [[StoreValue]] = []
    private var stream: PostgresCopyStream?

    init(database: PostgresStoreDatabase, table: String, columns: [String]) {
        self.database = database
        self.table = table
        self.columns = columns
    }

    func append(_ row: [StoreValue]) throws {
        guard row.count == columns.count else {
            throw StoreError.unusable(path: database.engine.location, reason: "a row for \(table) has \(row.count) values for \(columns.count) columns")
        }
        if let stream {
            try stream.append(row)
            return
        }
        held.append(row)
        if held.count >= PostgresStoreDatabase.copyThreshold {
            let started = PostgresCopyStream(database: database, table: table, columns: columns)
            stream = started
            for row in held { try started.append(row) }
            held = []
        }
    }

    func finish() throws {
        if let stream {
            try stream.finish()
            self.stream = nil
            try database.moveIdentityPastInsertedIDs(table: table, columns: columns)
        } else {
            try database.insertRows(table: table, columns: columns, rows: held)
            held = []
        }
    }

    func abort() {
        stream?.abort()
        stream = nil
        held = []
    }
}

/// Set once, from the event loop, when the `COPY` task ended.
private final class CopyEnded: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }

    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }
}

/// The error that fails an aborted `COPY` (never reaches the user: the caller's error does).
private struct CopyAborted: Error {}
#endif
