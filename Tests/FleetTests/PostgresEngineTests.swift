// The PostgreSQL engine against a real server (started by the tests): the schema it creates matches
// SQLite's, refused databases are left unchanged, values round-trip, and connection faults give a
// clear error naming the URL without its password.
#if Fleet
import Foundation
import XCTest
import Store
@testable import StorePostgres
import TestSupport

final class PostgresEngineTests: XCTestCase {
    static let slot = PostgresServerSlot()

    override class func tearDown() {
        slot.stop()
        super.tearDown()
    }

    /// Opens a fresh database of this test.
    private func freshEngine(access: ResultStore.Access = .readWrite) throws -> (PostgresEngine, PostgresServer, String) {
        let (server, name) = try Self.slot.freshDatabase(self)
        let engine = try PostgresEngine.open(url: server.url(database: name), access: access, timeout: 5)
        return (engine, server, name)
    }

    /// The user tables, columns (in order) and views of the SQLite schema, from a fresh in-memory store.
    private func sqliteSchema() throws -> (tables: [String: [String]], views: Set<String>, indexes: Set<String>) {
        let store = try ResultStore.inMemory()
        return try store.engine.read { db in
            var tables: [String: [String]] = [:]
            let names = try db.fetchAll(String.self, sql: """
                SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'grdb_migrations'
                """)
            for name in names {
                tables[name] = try db.fetchAll(String.self, sql: "SELECT name FROM pragma_table_info(?) ORDER BY cid", arguments: [name])
            }
            let views = Set(try db.fetchAll(String.self, sql: "SELECT name FROM sqlite_master WHERE type = 'view'"))
            let indexes = Set(try db.fetchAll(String.self, sql: """
                SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%'
                """))
            return (tables, views, indexes)
        }
    }

    func testSchemaMatchesSQLiteAndListsEveryMigration() throws {
        let (engine, _, _) = try freshEngine()
        defer { engine.close() }
        let expected = try sqliteSchema()
        try engine.read { db in
            let applied = try db.fetchAll(String.self, sql: "SELECT identifier FROM fusebench_migrations")
            XCTAssertEqual(Set(applied), Set(StoreSchema.migrationIdentifiers))
            XCTAssertEqual(applied.count, StoreSchema.migrationIdentifiers.count)

            var tables: [String: [String]] = [:]
            let names = try db.fetchAll(String.self, sql: """
                SELECT table_name FROM information_schema.tables
                WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name != 'fusebench_migrations'
                """)
            for name in names {
                tables[name] = try db.fetchAll(String.self, sql: """
                    SELECT column_name FROM information_schema.columns
                    WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position
                    """, arguments: [name])
            }
            XCTAssertEqual(tables, expected.tables)
            let views = Set(try db.fetchAll(String.self, sql: """
                SELECT table_name FROM information_schema.views WHERE table_schema = current_schema()
                """))
            XCTAssertEqual(views, expected.views)
            let indexes = Set(try db.fetchAll(String.self, sql: "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"))
            XCTAssertTrue(expected.indexes.isSubset(of: indexes), "missing: \(expected.indexes.subtracting(indexes).sorted())")
            let triggers = try db.fetchAll(String.self, sql: """
                SELECT DISTINCT trigger_name FROM information_schema.triggers WHERE event_object_table = 'samples'
                """)
            XCTAssertEqual(Set(triggers), ["samples_delete_counters", "samples_check_ops_insert", "samples_check_ops_update"])
            // Every view can be read.
            for view in views.sorted() {
                _ = try db.fetchAll(sql: "SELECT * FROM \(view) LIMIT 1")
            }
        }
    }

    func testEveryMigrationHasAPostgreSQLForm() {
        let covered = Set(PostgresSchema.baseIdentifiers).union(PostgresSchema.migrations.map(\.identifier))
        let missing = StoreSchema.migrationIdentifiers.filter { !covered.contains($0) }
        XCTAssertEqual(missing, [], "migrations without PostgreSQL SQL in PostgresSchema.swift")
        XCTAssertEqual(Array(StoreSchema.migrationIdentifiers.prefix(PostgresSchema.baseIdentifiers.count)), PostgresSchema.baseIdentifiers)
    }

    func testReopeningACurrentDatabaseChangesNothing() throws {
        let (engine, server, name) = try freshEngine()
        engine.close()
        let before = try server.snapshot(name)
        let again = try PostgresEngine.open(url: server.url(database: name), access: .readWrite, timeout: 5)
        again.close()
        let reader = try PostgresEngine.open(url: server.url(database: name), access: .readOnly, timeout: 5)
        reader.close()
        XCTAssertEqual(try server.snapshot(name), before)
    }

    func testNewerSchemaIsRefusedAndLeftUnchanged() throws {
        let (engine, server, name) = try freshEngine()
        engine.close()
        _ = try server.psql("INSERT INTO fusebench_migrations VALUES ('v99-from-the-future')", database: name)
        let before = try server.snapshot(name)
        for access in [ResultStore.Access.readWrite, .readOnly] {
            XCTAssertThrowsError(try PostgresEngine.open(url: server.url(database: name), access: access, timeout: 5)) { error in
                guard case let .newerSchema(found, known, path)? = error as? StoreError else { return XCTFail("\(error)") }
                XCTAssertEqual(found, StoreSchema.migrationIdentifiers.count + 1)
                XCTAssertEqual(known, StoreSchema.migrationIdentifiers.count)
                XCTAssertTrue(path.hasPrefix("postgres://postgres@127.0.0.1:"), path)
            }
        }
        XCTAssertEqual(try server.snapshot(name), before)
    }

    func testAnotherProgramsDatabaseIsRefusedAndLeftUnchanged() throws {
        let (server, name) = try Self.slot.freshDatabase(self)
        _ = try server.psql("CREATE TABLE players (id BIGINT PRIMARY KEY, name TEXT); INSERT INTO players VALUES (7, 'x')", database: name)
        let before = try server.snapshot(name)
        for access in [ResultStore.Access.readWrite, .readOnly] {
            XCTAssertThrowsError(try PostgresEngine.open(url: server.url(database: name), access: access, timeout: 5)) { error in
                let text = String(describing: error)
                XCTAssertTrue(text.contains("another program (tables players)"), text)
                XCTAssertTrue(text.contains("cannot use this PostgreSQL database"), text)
            }
        }
        XCTAssertEqual(try server.snapshot(name), before)
        XCTAssertEqual(try server.psql("SELECT count(*) FROM players", database: name), "1")
    }

    func testReadOnlyNeverCreatesTheSchema() throws {
        let (server, name) = try Self.slot.freshDatabase(self)
        let before = try server.snapshot(name)
        XCTAssertThrowsError(try PostgresEngine.open(url: server.url(database: name), access: .readOnly, timeout: 5)) { error in
            XCTAssertTrue(String(describing: error).contains("no fusebench schema yet; push a run first"), "\(error)")
        }
        XCTAssertEqual(try server.snapshot(name), before)
    }

    func testEightConcurrentOpenersCreateTheSchemaOnce() throws {
        let (server, name) = try Self.slot.freshDatabase(self)
        let url = server.url(database: name)
        let errors = LockedErrors()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            do {
                let engine = try PostgresEngine.open(url: url, access: .readWrite, timeout: 30)
                engine.close()
            } catch {
                errors.append(error)
            }
        }
        XCTAssertEqual(errors.all.map { String(describing: $0) }, [])
        XCTAssertEqual(try server.psql("SELECT count(*) FROM fusebench_migrations", database: name), "\(StoreSchema.migrationIdentifiers.count)")
    }

    func testValuesRoundTrip() throws {
        let (engine, _, _) = try freshEngine()
        defer { engine.close() }
        let blob = Data([0, 1, 2, 255])
        let row = try engine.write { db -> StoreRow? in
            try db.execute(sql: "CREATE TABLE scratch (i BIGINT, r DOUBLE PRECISION, t TEXT, b BYTEA, n BIGINT)")
            let changed = try db.execute(sql: "INSERT INTO scratch VALUES (?, ?, ?, ?, ?)",
                                         arguments: [Int64.max, 0.1, "it's ? \"quoted\" é", blob, Int64?.none])
            XCTAssertEqual(changed, 1)
            return try db.fetchOne(sql: "SELECT i, r, t, b, n, '?' AS q, true AS yes, 7::smallint AS small, 2::integer AS four, "
                + "1.5::real AS single, SUM(i / 2) AS total, AVG(r) AS mean, 'x'::name AS nm FROM scratch GROUP BY i, r, t, b, n")
        }
        let values = try XCTUnwrap(row)
        XCTAssertEqual(try values.get("i", as: Int64.self), Int64.max)
        XCTAssertEqual(try values.get("r", as: Double.self), 0.1)
        XCTAssertEqual(try values.get("t", as: String.self), "it's ? \"quoted\" é")
        XCTAssertEqual(try values.get("b", as: Data.self), blob)
        XCTAssertEqual(values.value("n"), .null)
        XCTAssertEqual(try values.get("q", as: String.self), "?")
        XCTAssertEqual(values.value("yes"), .integer(1))
        XCTAssertEqual(values.value("small"), .integer(7))
        XCTAssertEqual(values.value("four"), .integer(2))
        XCTAssertEqual(values.value("single"), .real(1.5))
        XCTAssertEqual(values.value("total"), .real(Double(Int64.max / 2)))
        XCTAssertEqual(values.value("mean"), .real(0.1))
        XCTAssertEqual(values.value("NM"), .text("x"))
    }

    func testUnsupportedColumnTypesAreAClearError() throws {
        let (engine, _, _) = try freshEngine()
        defer { engine.close() }
        XCTAssertThrowsError(try engine.read { db in try db.fetchAll(sql: "SELECT now() AS stamp") }) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("column 'stamp' has PostgreSQL type"), text)
        }
    }

    func testScriptsAndRollback() throws {
        let (engine, _, _) = try freshEngine()
        defer { engine.close() }
        try engine.write { db in
            try db.execute(sql: """
                CREATE TABLE scratch (x BIGINT);
                CREATE FUNCTION scratch_double() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    NEW.x := NEW.x * 2;  -- a comment; with a semicolon
                    RETURN NEW;
                END;
                $$;
                CREATE TRIGGER scratch_double BEFORE INSERT ON scratch FOR EACH ROW EXECUTE FUNCTION scratch_double();
                INSERT INTO scratch VALUES (21);
                """)
        }
        XCTAssertThrowsError(try engine.write { db in
            try db.execute(sql: "INSERT INTO scratch VALUES (?)", arguments: [Int64(1)])
            throw StoreError.invalidName("stop")
        })
        XCTAssertEqual(try engine.read { db in try db.fetchAll(Int64.self, sql: "SELECT x FROM scratch") }, [42])
    }

    func testInsertRowsInChunksAndIdentityContinuesAfterExplicitIds() throws {
        let (engine, _, _) = try freshEngine()
        defer { engine.close() }
        try engine.write { db in
            try db.execute(sql: "CREATE TABLE scratch (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v TEXT, n BIGINT)")
            var rows: [[StoreValue]] = []
            for index in 1...2500 {
                let n: StoreValue = index % 3 == 0 ? .null : .integer(Int64(index))
                rows.append([.integer(Int64(index * 2)), .text("r\(index)"), n])
            }
            try db.insertRows(table: "scratch", columns: ["id", "v", "n"], rows: rows)
            let id = try db.fetchOne(Int64.self, sql: "INSERT INTO scratch (v) VALUES (?) RETURNING id", arguments: ["next"])
            XCTAssertEqual(id, 5001)
        }
        let counts = try engine.read { db in
            try db.fetchOne(sql: "SELECT COUNT(*) AS rows, COUNT(n) AS filled, MAX(id) AS top FROM scratch")
        }
        XCTAssertEqual(counts?.value("rows"), .integer(2501))
        XCTAssertEqual(counts?.value("filled"), .integer(1667))
        XCTAssertEqual(counts?.value("top"), .integer(5001))
    }

    /// Bulk inserts of `copyThreshold` rows or more go through COPY's text format, smaller ones through
    /// INSERT statements: both store every value exactly, escapes and all.
    func testCopyAndInsertStatementsStoreTheSameValues() throws {
        let (engine, _, _) = try freshEngine()
        defer { engine.close() }
        let texts = ["plain", "tab\there", "line\nbreak", "carriage\rreturn", #"back\slash \N not null"#, "é ü 漢字", "", "\\x00"]
        let reals: [Double] = [0.1, -0.0, 1e-300, 1.7976931348623157e308, 3, -2.5, .pi, 123_456_789_012_345.67, .infinity, -.infinity]
        func rows(_ count: Int) -> [[StoreValue]] {
            (0..<count).map { i in
                [.integer(Int64(i)), i % 7 == 0 ? .null : .text(texts[i % texts.count]), .real(reals[i % reals.count]),
                 i % 5 == 0 ? .null : .blob(Data((0..<(i % 9)).map { UInt8(($0 * 37 + i) & 0xff) })),
                 .integer(i % 2 == 0 ? Int64.min + Int64(i) : Int64.max - Int64(i)), .real(Double(i))]
            }
        }
        let small = rows(PostgresStoreDatabase.copyThreshold - 1), large = rows(PostgresStoreDatabase.copyThreshold + 500)
        try engine.write { db in
            for table in ["small", "large"] {
                try db.execute(sql: "CREATE TABLE \(table) (id BIGINT PRIMARY KEY, t TEXT, r DOUBLE PRECISION, b BYTEA, big BIGINT, whole BIGINT)")
            }
            let columns = ["id", "t", "r", "b", "big", "whole"]
            try db.insertRows(table: "small", columns: columns, rows: small)
            try db.insertRows(table: "large", columns: columns, rows: large)
        }
        for (table, expected) in [("small", small), ("large", large)] {
            let stored = try engine.read { db in try db.fetchAll(sql: "SELECT id, t, r, b, big, whole FROM \(table) ORDER BY id").map(\.values) }
            XCTAssertEqual(stored.count, expected.count, table)
            for (got, want) in zip(stored, expected) {
                // An integral double written into a BIGINT column reads back as an integer (either path).
                var want = want
                if case let .real(v) = want[5] { want[5] = .integer(Int64(v)) }
                // (-0.0 == 0.0 for Equatable: the sign of zero is checked below.)
                if got != want {
                    XCTFail("\(table): stored \(got), wrote \(want)")
                    break
                }
            }
            let negativeZero = try engine.read { db in try db.fetchOne(Double.self, sql: "SELECT r FROM \(table) WHERE id = 1") }
            XCTAssertEqual(negativeZero?.sign, .minus, table)
        }
        XCTAssertEqual(PostgresCopyText.text(3), "3")
        XCTAssertEqual(PostgresCopyText.text(.nan), "NaN")
        XCTAssertEqual(PostgresCopyText.text(0.1), "0.1")
    }

    /// A COPY stream with small buffers goes through many more of them than may wait at once (the
    /// writer's turns hold the producer back) and stores every row.
    func testCopyStreamWaitsForItsTurnsAndStoresEveryRow() throws {
        let (engine, _, _) = try freshEngine()
        defer { engine.close() }
        try engine.write { db in
            try db.execute(sql: "CREATE TABLE scratch (id BIGINT PRIMARY KEY, t TEXT)")
            let database = try XCTUnwrap(db as? PostgresStoreDatabase)
            let stream = PostgresCopyStream(database: database, table: "scratch", columns: ["id", "t"], bufferBytes: 512)
            for i in 0..<20_000 { try stream.append([.integer(Int64(i)), .text("row \(i)\\\n")]) }  // ~300 buffers
            try stream.finish()
        }
        let rows = try engine.read { db in try db.fetchAll(sql: "SELECT id, t FROM scratch ORDER BY id").map(\.values) }
        XCTAssertEqual(rows.count, 20_000)
        XCTAssertEqual(rows.last, [.integer(19_999), .text("row 19999\\\n")])
        XCTAssertEqual(rows.enumerated().filter { $0.element != [.integer(Int64($0.offset)), .text("row \($0.offset)\\\n")] }.count, 0)
    }

    /// A row inserter streams one COPY past the threshold, stores every row, and moves the identity
    /// past explicit ids; an aborted one leaves nothing after the rollback and the connection usable.
    func testRowInserterStreamsAndAbortLeavesNothing() throws {
        let (engine, _, _) = try freshEngine()
        defer { engine.close() }
        let rows = 3 * PostgresStoreDatabase.copyThreshold
        let padding = String(repeating: "x", count: 190)
        try engine.write { db in
            try db.execute(sql: "CREATE TABLE scratch (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, t TEXT, n BIGINT)")
            let inserter = db.rowInserter(table: "scratch", columns: ["id", "t", "n"], batchSize: 7)
            for i in 1...rows { try inserter.append([.integer(Int64(i)), .text("\(i)\t\(padding)"), .integer(Int64(i) * 3)]) }
            try inserter.finish()
            XCTAssertEqual(try db.fetchOne(Int64.self, sql: "INSERT INTO scratch (t) VALUES ('next') RETURNING id"), Int64(rows + 1))
        }
        let summary = try engine.read { db in try db.fetchOne(sql: "SELECT COUNT(*) AS c, SUM(n) AS s, MIN(length(t)) AS shortest FROM scratch") }
        XCTAssertEqual(summary?.value("c"), .integer(Int64(rows + 1)))
        XCTAssertEqual(summary?.value("s"), .real(Double(3 * rows * (rows + 1) / 2)))
        XCTAssertEqual(summary?.value("shortest"), .integer(4))

        XCTAssertThrowsError(try engine.write { db in
            let inserter = db.rowInserter(table: "scratch", columns: ["t", "n"], batchSize: 5000)
            for i in 1...rows { try inserter.append([.text(padding), .integer(Int64(i))]) }
            inserter.abort()
            throw StoreError.invalidName("stop")
        }) { error in XCTAssertTrue(String(describing: error).contains("stop"), "\(error)") }
        XCTAssertEqual(try engine.read { db in try db.fetchOne(Int64.self, sql: "SELECT COUNT(*) FROM scratch") }, Int64(rows + 1))
        // Fewer rows than the COPY threshold go in as INSERT statements at finish.
        try engine.write { db in
            let inserter = db.rowInserter(table: "scratch", columns: ["t", "n"], batchSize: 5000)
            for i in 1...10 { try inserter.append([.text("few"), .integer(Int64(i))]) }
            XCTAssertEqual(try db.fetchOne(Int64.self, sql: "SELECT COUNT(*) FROM scratch WHERE t = 'few'"), 0)
            try inserter.finish()
        }
        XCTAssertEqual(try engine.read { db in try db.fetchOne(Int64.self, sql: "SELECT COUNT(*) FROM scratch WHERE t = 'few'") }, 10)
    }

    /// A value the server refuses in the middle of a streamed COPY ends the insert with the server's
    /// error (not a hang), nothing of it is kept, and the engine works afterwards.
    func testRowInserterStopsOnAServerErrorMidStream() throws {
        let (engine, _, _) = try freshEngine()
        defer { engine.close() }
        try engine.write { db in try db.execute(sql: "CREATE TABLE scratch (t TEXT, n BIGINT CHECK (n < 30000))") }
        let padding = String(repeating: "y", count: 300)  // 60 000 rows, 18 MB: the error arrives while buffers are sent
        XCTAssertThrowsError(try engine.write { db in
            let inserter = db.rowInserter(table: "scratch", columns: ["t", "n"], batchSize: 5000)
            do {
                for i in 0..<60_000 { try inserter.append([.text(padding), .integer(Int64(i))]) }
                try inserter.finish()
            } catch {
                inserter.abort()
                throw error
            }
        }) { error in
            XCTAssertTrue(String(describing: error).contains("scratch_n_check"), "\(error)")
        }
        XCTAssertEqual(try engine.read { db in try db.fetchOne(Int64.self, sql: "SELECT COUNT(*) FROM scratch") }, 0)
    }

    /// v18: samples.op_id is checked per statement (an unknown op is refused on insert and update, as
    /// the foreign key did), and deleting a run still deletes its ops' samples and their counters.
    func testSamplesOpIDCheckAndDeleteCascade() throws {
        let (engine, _, _) = try freshEngine()
        defer { engine.close() }
        let store = try ResultStore(engine: engine)
        let runID = try Synthetic.run(store, ops: [Synthetic.op("gemm", median: 1000, seed: 7)])
        let (sample, samples) = try engine.read { db in
            (try db.fetchOne(sql: "SELECT * FROM samples ORDER BY id LIMIT 1"), try db.fetchOne(Int64.self, sql: "SELECT COUNT(*) FROM samples"))
        }
        let first = try XCTUnwrap(sample)
        XCTAssertGreaterThan(samples ?? 0, 0)
        try engine.write { db in
            try db.execute(sql: "INSERT INTO counter_values (id, sample_id, event, value, raw, time_enabled, time_running, backend) "
                + "VALUES (?, ?, 'instructions', 1, 1, 1, 1, 'sim')", arguments: [try first.get("id", as: Int64.self) * 1024, try first.get("id", as: Int64.self)])
        }
        for statement in ["INSERT INTO samples (run_id, op_id, variant, sequence, process, iterations, wall_ns, cpu_ns, overhead_ns, flags) "
                          + "VALUES (\(runID), 987654, 'reference', 0, 0, 1, 1, 1, 0, 0)",
                          "UPDATE samples SET op_id = 987654 WHERE id = \(try first.get("id", as: Int64.self))"] {
            XCTAssertThrowsError(try engine.write { db in try db.execute(sql: statement) }) { error in
                XCTAssertTrue(String(describing: error).contains("samples_op_id"), "\(error)")
            }
        }
        XCTAssertEqual(try engine.read { db in try db.fetchOne(Int64.self, sql: "SELECT COUNT(*) FROM samples") }, samples)
        try engine.write { db in try db.execute(sql: "DELETE FROM runs WHERE id = ?", arguments: [runID]) }
        let left = try engine.read { db in
            [try db.fetchOne(Int64.self, sql: "SELECT COUNT(*) FROM samples"), try db.fetchOne(Int64.self, sql: "SELECT COUNT(*) FROM counter_values"),
             try db.fetchOne(Int64.self, sql: "SELECT COUNT(*) FROM ops")]
        }
        XCTAssertEqual(left, [0, 0, 0])
    }

    /// Rows arrive in chunks while the query runs: all of them in order, or up to where the body
    /// stops or throws — and the connection answers the next statement either way.
    func testForEachRowStreamsStopsEarlyAndStaysUsable() throws {
        let (engine, _, _) = try freshEngine()
        defer { engine.close() }
        let total = 5 * PostgresRowFeed.chunkRows + 17
        try engine.read { db in
            let sql = "SELECT g AS n, 'row ' || g AS t FROM generate_series(1, ?) AS g ORDER BY g"
            var seen: [Int64] = []
            try db.forEachRow(sql: sql, arguments: [Int64(total)]) { row in
                seen.append(try row.get("n", as: Int64.self))
                return true
            }
            XCTAssertEqual(seen, (1...Int64(total)).map { $0 })
            var visited = 0
            try db.forEachRow(sql: sql, arguments: [Int64(total)]) { _ in
                visited += 1
                return visited < 1500
            }
            XCTAssertEqual(visited, 1500)
            XCTAssertEqual(try db.fetchOne(Int64.self, sql: "SELECT 41 + 1"), 42)
            struct Stop: Error {}
            XCTAssertThrowsError(try db.forEachRow(sql: sql, arguments: [Int64(total)]) { row in
                if try row.get("n", as: Int64.self) == 3000 { throw Stop() }
                return true
            }) { error in XCTAssertTrue(error is Stop, "\(error)") }
            XCTAssertEqual(try db.fetchOne(String.self, sql: "SELECT t FROM (\(sql)) q WHERE n = 7", arguments: [Int64(total)]), "row 7")
            // A column type the store does not read, in the middle of a long result: the error, then a usable connection.
            XCTAssertThrowsError(try db.forEachRow(sql: "SELECT g, CASE WHEN g < 2000 THEN NULL ELSE now() END AS stamp FROM generate_series(1, 4000) g",
                                                   arguments: []) { _ in true }) { error in
                XCTAssertTrue(String(describing: error).contains("stamp"), "\(error)")
            }
            XCTAssertEqual(try db.fetchOne(Int64.self, sql: "SELECT 2"), 2)
        }
    }

    func testWritesAreRefusedOnAReadOnlyEngine() throws {
        let (engine, server, name) = try freshEngine()
        engine.close()
        let reader = try PostgresEngine.open(url: server.url(database: name), access: .readOnly, timeout: 5)
        defer { reader.close() }
        XCTAssertThrowsError(try reader.write { db in try db.execute(sql: "DELETE FROM runs") }) { error in
            XCTAssertTrue(String(describing: error).contains("opened for reading only"), "\(error)")
        }
        // A read transaction is READ ONLY on the server too.
        XCTAssertThrowsError(try reader.read { db in try db.execute(sql: "DELETE FROM runs") }) { error in
            XCTAssertTrue(String(describing: error).contains("read-only transaction"), "\(error)")
        }
    }

    func testLockWaitsEndWithLockedAfterTheBusyTimeout() throws {
        let (engine, server, name) = try freshEngine()
        defer { engine.close() }
        let impatient = try PostgresEngine.open(url: server.url(database: name), access: .readWrite, timeout: 0.2)
        defer { impatient.close() }
        // Another session holds a table lock; the impatient engine's statement waits for it.
        let holder = try PostgresEngine.open(url: server.url(database: name), access: .readWrite, timeout: 5)
        defer { holder.close() }
        let started = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let thread = Thread {
            _ = try? holder.write { db in
                try db.execute(sql: "LOCK TABLE sim_cache IN ACCESS EXCLUSIVE MODE")
                started.signal()
                release.wait()
            }
        }
        thread.start()
        started.wait()
        XCTAssertThrowsError(try impatient.write { db in try db.execute(sql: "DELETE FROM sim_cache") }) { error in
            guard case let .locked(path, seconds)? = error as? StoreError else { return XCTFail("\(error)") }
            XCTAssertEqual(seconds, 0.2)
            XCTAssertTrue(path.hasPrefix("postgres://"), path)
        }
        release.signal()
    }

    // MARK: - Connection faults

    func testMissingDatabase() throws {
        let server = try Self.slot.get()
        let url = server.url(database: "no_such_database", user: "postgres", password: "hunter2")
        XCTAssertThrowsError(try PostgresEngine.open(url: url, access: .readWrite, timeout: 5)) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("database no_such_database does not exist"), text)
            XCTAssertFalse(text.contains("hunter2"), text)
        }
    }

    func testUnreachablePortIsRefusedQuickly() throws {
        let port = try closedPort()
        let url = "postgres://fleet:hunter2@127.0.0.1:\(port)/results"
        let started = Date()
        XCTAssertThrowsError(try PostgresEngine.open(url: url, access: .readWrite, timeout: 5)) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.hasPrefix("postgres://fleet@127.0.0.1:\(port)/results: "), text)
            XCTAssertTrue(text.contains("connection refused"), text)
            XCTAssertFalse(text.contains("hunter2"), text)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
    }

    func testSilentServerTimesOutAfterConnectTimeout() throws {
        // A socket that accepts connections (the kernel's backlog) but never answers.
        let (fd, port) = try listeningSocket()
        defer { close(fd) }
        let url = "postgres://fleet:hunter2@127.0.0.1:\(port)/results?connect_timeout=0.5"
        let started = Date()
        XCTAssertThrowsError(try PostgresEngine.open(url: url, access: .readWrite, timeout: 5)) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("no answer within 0.5 s"), text)
            XCTAssertFalse(text.contains("hunter2"), text)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 4)
    }
}

/// Errors collected from several threads.
final class LockedErrors: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [any Error] = []

    func append(_ error: any Error) {
        lock.lock()
        errors.append(error)
        lock.unlock()
    }

    var all: [any Error] {
        lock.lock()
        defer { lock.unlock() }
        return errors
    }
}

/// A listening TCP socket on 127.0.0.1 that never accepts, and its port.
func listeningSocket() throws -> (Int32, Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EIO) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard ok else {
        close(fd)
        throw POSIXError(.EADDRINUSE)
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

/// A port on 127.0.0.1 with nothing listening (bound, then released).
func closedPort() throws -> Int {
    let (fd, port) = try listeningSocket()
    close(fd)
    return port
}
#endif
