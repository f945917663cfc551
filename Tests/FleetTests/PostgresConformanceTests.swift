// The store behaviour suite (TestSupport/StoreConformance.swift) on PostgreSQL: every check on a
// fresh database of a real server, through `ResultStore(engine: PostgresEngine)`.
#if Fleet
import Foundation
import XCTest
import Store
import StorePostgres
import TestSupport

final class PostgresConformanceTests: XCTestCase {
    static let slot = PostgresServerSlot()

    override class func tearDown() {
        slot.stop()
        super.tearDown()
    }

    func testStoreConformanceOnPostgreSQL() throws {
        var failures: [String] = []
        for check in StoreConformance.checks {
            let (server, name) = try Self.slot.freshDatabase(self)
            let store = try ResultStore(engine: PostgresEngine.open(url: server.url(database: name), access: .readWrite, timeout: 5))
            do {
                try check.run(store)
            } catch {
                failures.append("\(check.name): \(error)")
            }
            store.engine.close()
        }
        XCTAssertEqual(failures, [])
    }
}
#endif
