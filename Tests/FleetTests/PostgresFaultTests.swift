// Faults with a real PostgreSQL server: a password-protected role (wrong or missing password) and a
// server killed in the middle of a transaction. Each class has its own server (the second one kills it).
#if Fleet
import Foundation
import XCTest
import Store
import StorePostgres
import TestSupport

final class PostgresPasswordTests: XCTestCase {
    static let slot = PostgresServerSlot(password: "right-horse")

    override class func tearDown() {
        slot.stop()
        super.tearDown()
    }

    func testRightPasswordOpensAndWrongOneIsRefusedWithoutShowingIt() throws {
        let (server, name) = try Self.slot.freshDatabase(self)
        let engine = try PostgresEngine.open(url: server.url(database: name), access: .readWrite, timeout: 5)
        engine.close()

        let wrong = server.url(database: name, user: "postgres", password: "battery-staple")
        XCTAssertThrowsError(try PostgresEngine.open(url: wrong, access: .readWrite, timeout: 5)) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("refused the password of role postgres"), text)
            XCTAssertTrue(text.hasPrefix("postgres://postgres@127.0.0.1:\(server.port)/\(name): "), text)
            XCTAssertFalse(text.contains("battery-staple"), text)
            XCTAssertFalse(text.contains("right-horse"), text)
        }
    }

    func testPasswordFromPGPASSWORDIsUsedWhenTheURLHasNone() throws {
        let (server, name) = try Self.slot.freshDatabase(self)
        let bare = "postgres://postgres@127.0.0.1:\(server.port)/\(name)"
        let settings = try DatabaseURL(bare, environment: ["PGPASSWORD": "right-horse"])
        let engine = PostgresEngine(settings: settings, readOnly: false, lockTimeout: 5)
        defer { engine.close() }
        XCTAssertEqual(try engine.write { db in try db.fetchOne(Int64.self, sql: "SELECT 1") }, 1)

        let without = PostgresEngine(settings: try DatabaseURL(bare, environment: [:]), readOnly: false, lockTimeout: 5)
        defer { without.close() }
        XCTAssertThrowsError(try without.read { db in try db.fetchOne(Int64.self, sql: "SELECT 1") }) { error in
            XCTAssertTrue(String(describing: error).contains("asks for a password"), "\(error)")
        }
    }
}

final class PostgresKilledServerTests: XCTestCase {
    func testServerKilledMidTransactionFailsTheCallAndDoesNotHang() throws {
        let server = try PostgresServer.start()
        defer { server.stop() }
        let name = "killed"
        let url = try server.createDatabase(name)
        let engine = try PostgresEngine.open(url: url, access: .readWrite, timeout: 5)
        defer { engine.close() }
        let started = Date()
        XCTAssertThrowsError(try engine.write { db in
            try db.execute(sql: "INSERT INTO sim_cache (key, binary_hash, benchmark, iterations, wall_ns, counters_json, caches, created_at) "
                + "VALUES ('k', 'h', 'b', 1, 1, '[]', '[]', 0)")
            server.kill()
            try db.execute(sql: "INSERT INTO sim_cache (key, binary_hash, benchmark, iterations, wall_ns, counters_json, caches, created_at) "
                + "VALUES ('k2', 'h', 'b', 1, 1, '[]', '[]', 0)")
        }) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("connection to the PostgreSQL server at 127.0.0.1:\(server.port) was lost"), text)
            XCTAssertTrue(text.contains("rolled back"), text)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        // The next call reconnects, and finds no server.
        XCTAssertThrowsError(try engine.read { db in try db.fetchOne(Int64.self, sql: "SELECT 1") }) { error in
            XCTAssertTrue(String(describing: error).contains("connection refused"), "\(error)")
        }
    }
}
#endif
