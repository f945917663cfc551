// Helpers of the PostgreSQL tests: one server per test class (started on first use, stopped in the
// class's tearDown), a fresh database per test, and a snapshot of what a database holds (to check
// that refusing it changed nothing).
#if Fleet
import Foundation
import XCTest
import TestSupport

/// A test class's PostgreSQL server, started when first asked for.
final class PostgresServerSlot: @unchecked Sendable {
    private let lock = NSLock()
    private var server: PostgresServer?
    private var counter = 0
    private let password: String?

    /// A slot whose server (when started) requires `password` for TCP logins.
    init(password: String? = nil) { self.password = password }

    /// The server (started now if needed).
    ///
    /// - Throws: `XCTSkip` without server binaries (not on CI), or the start failure.
    func get() throws -> PostgresServer {
        lock.lock()
        defer { lock.unlock() }
        if let server { return server }
        let started = try PostgresServer.start(password: password)
        server = started
        return started
    }

    /// A new database on the server, named after `test`; returns the server and the database's name.
    func freshDatabase(_ test: XCTestCase) throws -> (server: PostgresServer, name: String) {
        let server = try get()
        lock.lock()
        counter += 1
        let number = counter
        lock.unlock()
        let base = test.name.lowercased().filter { $0.isLetter || $0.isNumber }.suffix(40)
        let name = "t\(number)_\(base)"
        try server.createDatabase(name)
        return (server, name)
    }

    /// Stops the server (class tearDown).
    func stop() {
        lock.lock()
        let running = server
        server = nil
        lock.unlock()
        running?.stop()
    }
}

extension PostgresServer {
    /// Table names, views and `fusebench_migrations` rows of `database`: equal before and after
    /// an operation that must change nothing.
    func snapshot(_ database: String) throws -> String {
        let tables = try psql("""
            SELECT table_type || ' ' || table_name FROM information_schema.tables
            WHERE table_schema = 'public' ORDER BY table_name
            """, database: database)
        let hasMigrations = try psql("SELECT to_regclass('public.fusebench_migrations') IS NOT NULL", database: database) == "t"
        let migrations = hasMigrations ? try psql("SELECT identifier FROM fusebench_migrations ORDER BY identifier", database: database) : "-"
        let functions = try psql("SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY proname",
                                 database: database)
        return "tables:\n\(tables)\nmigrations:\n\(migrations)\nfunctions:\n\(functions)"
    }
}
#endif
