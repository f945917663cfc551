// The command line against a PostgreSQL database (a real server the test starts): reading commands
// given `--db postgres://...` or `FUSEBENCH_DB` show runs and baselines stored through the store API,
// and faults exit 3 with the URL's password hidden.
#if Fleet
import Foundation
import XCTest
import Store
import StorePostgres
import TestSupport

final class PostgresCLITests: XCTestCase {
    static let slot = PostgresServerSlot(password: "cli-secret")

    override class func tearDown() {
        slot.stop()
        super.tearDown()
    }

    /// The built `fusebench`.
    private func binary() throws -> URL {
        try XCTUnwrap(BuiltExecutable.fusebench, "fusebench not built")
    }

    /// Runs fusebench; returns exit status, stdout, stderr.
    private func fusebench(_ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = try binary()
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["FUSEBENCH_NO_COUNTERS"] = "1"
        env.removeValue(forKey: "PGPASSWORD")
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    func testRunsAndBaselinesOfADatabasePreparedThroughTheStore() throws {
        let (server, name) = try Self.slot.freshDatabase(self)
        let url = server.url(database: name)
        let store = try ResultStore(engine: PostgresEngine.open(url: url, access: .readWrite, timeout: 5))
        let first = try Synthetic.run(store, ops: [Synthetic.op("gemm_16", median: 1000, seed: 1)], label: "pg-first")
        let second = try Synthetic.run(store, ops: [Synthetic.op("gemm_16", median: 1000, seed: 2)], label: "pg-second")
        try store.setBaseline(name: "main", runID: first)
        store.engine.close()

        let (status, stdout, stderr) = try fusebench(["runs", "--db", url])
        XCTAssertEqual(status, 0, stderr)
        XCTAssertTrue(stdout.contains("pg-first") && stdout.contains("pg-second"), stdout)
        XCTAssertTrue(stdout.contains("\(second)"), stdout)

        // The URL from FUSEBENCH_DB, the password from PGPASSWORD.
        let bare = "postgres://postgres@127.0.0.1:\(server.port)/\(name)"
        let (listStatus, list, listErr) = try fusebench(["baseline", "list"], environment: ["FUSEBENCH_DB": bare, "PGPASSWORD": "cli-secret"])
        XCTAssertEqual(listStatus, 0, listErr)
        XCTAssertTrue(list.contains("main"), list)
        XCTAssertTrue(list.contains("\(first)"), list)
    }

    func testWrongPasswordAndMissingDatabaseExit3WithoutThePassword() throws {
        let server = try Self.slot.get()
        let wrong = server.url(database: "postgres", user: "postgres", password: "not-the-one")
        let (status, _, stderr) = try fusebench(["runs", "--db", wrong])
        XCTAssertEqual(status, 3, stderr)
        XCTAssertTrue(stderr.hasPrefix("error: postgres://postgres@127.0.0.1:\(server.port)/postgres: cannot use this PostgreSQL database: "
            + "the server refused the password of role postgres"), stderr)
        XCTAssertFalse(stderr.contains("not-the-one"), stderr)

        let missing = server.url(database: "nowhere")
        let (missingStatus, _, missingErr) = try fusebench(["baseline", "list", "--db", missing])
        XCTAssertEqual(missingStatus, 3, missingErr)
        XCTAssertTrue(missingErr.contains("database nowhere does not exist"), missingErr)
        XCTAssertFalse(missingErr.contains("cli-secret"), missingErr)
    }

    func testReadingAnEmptyDatabaseCreatesNothing() throws {
        let (server, name) = try Self.slot.freshDatabase(self)
        let (status, _, stderr) = try fusebench(["runs", "--db", server.url(database: name)])
        XCTAssertEqual(status, 3, stderr)
        XCTAssertTrue(stderr.contains("no fusebench schema yet; push a run first"), stderr)
        XCTAssertEqual(try server.psql("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'", database: name), "0")
    }

    func testUnreachableServerExits3Quickly() throws {
        let port = try closedPort()
        let started = Date()
        let (status, _, stderr) = try fusebench(["runs", "--db", "postgres://fleet:hunter2@127.0.0.1:\(port)/results"])
        XCTAssertEqual(status, 3, stderr)
        XCTAssertTrue(stderr.contains("cannot reach the PostgreSQL server at 127.0.0.1:\(port): connection refused"), stderr)
        XCTAssertFalse(stderr.contains("hunter2"), stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
    }
}
#endif
