// The store's engine seam (StoreEngine.swift, SQLiteEngine.swift): value and row decoding, the
// `StoreDatabase` calls, the store behaviour suite (StoreConformance) on SQLite through both sample
// paths and through an engine that is not `SQLiteEngine`, and a lint keeping SQLite-only SQL out of
// the portable store files.
import BenchModel
import Foundation
import GRDB
import Testing
import TestSupport
@testable import Store

// MARK: - Values and rows

@Test func storeValuesDecodeOnlyWhatTheyRepresent() {
    #expect(Int64(storeValue: .integer(7)) == 7)
    #expect(Int64(storeValue: .real(3.0)) == 3, "an integral real (e.g. a PostgreSQL NUMERIC) reads as an integer")
    #expect(Int64(storeValue: .real(3.5)) == nil)
    #expect(Int64(storeValue: .text("7")) == nil, "no implicit text to integer coercion")
    #expect(Int32(storeValue: .integer(Int64(Int32.max) + 1)) == nil)
    #expect(Double(storeValue: .integer(2)) == 2)
    #expect(Bool(storeValue: .integer(0)) == false)
    #expect(Bool(storeValue: .integer(5)) == true)
    #expect(String(storeValue: .blob(Data([65]))) == nil)
    #expect(Data(storeValue: .blob(Data([1, 2]))) == Data([1, 2]))
    #expect(String?(storeValue: .null) == .some(nil))
    #expect(String?(storeValue: .integer(1)) == nil, "an optional still refuses another type")
    #expect(Int64(storeValue: .null) == nil)
}

@Test func storeRowLooksUpColumnsIgnoringCaseAndThrowsOnMismatch() throws {
    let row = StoreRow(columns: StoreRow.Columns(["id", "Name", "score"]), values: [.integer(1), .text("a"), .null])
    #expect(try row.get("ID", as: Int64.self) == 1)
    #expect(try row.get("name", as: String.self) == "a")
    #expect(try row.get("score", as: Double?.self) == nil)
    #expect(try row.get(at: 1, as: String.self) == "a")
    #expect(throws: StoreRowError.self) { try row.get("score", as: Double.self) }
    #expect(throws: StoreRowError.self) { try row.get("id", as: String.self) }
    #expect(throws: StoreRowError.self) { try row.get("missing", as: Int64.self) }
    #expect(throws: StoreRowError.self) { try row.get(at: 3, as: Int64.self) }
    do {
        _ = try row.get("id", as: String.self)
    } catch let error as StoreRowError {
        #expect(error.description.contains("'id'") && error.description.contains("integer 1"), "\(error)")
    }
}

/// A stored value of the wrong type used to stop the process (GRDB's row subscript traps); through
/// the seam it is `StoreError.unusable` naming the database.
@Test func aStoredValueOfTheWrongTypeIsAnErrorNamingTheDatabase() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-seam-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("results.sqlite").path
    let store = try ResultStore(path: path)
    let runID = try StoreConformance.completeRun(store, wallNs: 1_000)
    try store.sqliteWrite { db in try db.execute(sql: "UPDATE runs SET pid = 'not a pid' WHERE id = ?", arguments: [runID]) }
    do {
        _ = try store.run(id: runID)
        Issue.record("a text pid was read as a run")
    } catch let StoreError.unusable(errorPath, reason) {
        #expect(errorPath == path)
        #expect(reason.contains("expected Int64") && reason.contains("not a pid"), "\(reason)")
    }
}

// MARK: - StoreDatabase calls

@Test func executeReturnsChangedRowsAndInsertRowsWritesEveryRow() throws {
    let store = try ResultStore.inMemory()
    let changed = try store.write { db -> Int in
        try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB)")
        try db.insertRows(table: "t", columns: ["id", "name", "score", "data"], rows: [
            [.integer(1), .text("a"), .real(0.5), .blob(Data([1]))],
            [.integer(2), .null, .real(1.5), .null],
            [.integer(3), .text("c"), .null, .null],
        ])
        try db.insertRows(table: "t", columns: ["id"], rows: [])
        return try db.execute(sql: "UPDATE t SET score = ? WHERE id >= ?", arguments: [9.0, 2])
    }
    #expect(changed == 2)
    let rows = try store.read { db in try db.fetchAll(sql: "SELECT id, name, score, data FROM t ORDER BY id") }
    #expect(rows.map(\.values) == [
        [.integer(1), .text("a"), .real(0.5), .blob(Data([1]))],
        [.integer(2), .null, .real(9), .null],
        [.integer(3), .text("c"), .real(9), .null],
    ])
    #expect(try store.read { db in try db.fetchOne(Int64.self, sql: "SELECT count(*) FROM t") } == 3)
    #expect(try store.read { db in try db.fetchAll(String.self, sql: "SELECT name FROM t ORDER BY id") } == ["a", "c"], "NULLs skipped")
    #expect(try store.read { db in try db.fetchOne(sql: "SELECT id FROM t WHERE id > 99") } == nil)
}

@Test func forEachRowStopsWhenTheBodyReturnsFalse() throws {
    let store = try ResultStore.inMemory()
    var seen: [Int64] = []
    try store.write { db in
        try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY)")
        try db.insertRows(table: "t", columns: ["id"], rows: (1...10).map { [.integer($0)] })
        try db.forEachRow(sql: "SELECT id FROM t ORDER BY id", arguments: []) { row in
            seen.append(try row.get(at: 0))
            return seen.count < 3
        }
    }
    #expect(seen == [1, 2, 3])
}

@Test func aWriteThatThrowsRollsBack() throws {
    let store = try ResultStore.inMemory()
    try store.write { db in _ = try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY)") }
    struct Stop: Error {}
    #expect(throws: Stop.self) {
        try store.write { db in
            try db.execute(sql: "INSERT INTO t (id) VALUES (1)")
            throw Stop()
        }
    }
    #expect(try store.read { db in try db.fetchOne(Int64.self, sql: "SELECT count(*) FROM t") } == 0)
}

// MARK: - The store over an engine

/// An engine that forwards to another: a `StoreEngine` that is not `SQLiteEngine`, as the
/// PostgreSQL engine is not, for the engine-independent paths of `ResultStore`.
private struct ForwardingEngine: StoreEngine {
    let inner: any StoreEngine
    var location: String { "forwarded:" + inner.location }
    var dialect: SQLDialect { inner.dialect }
    var isReadOnly: Bool { inner.isReadOnly }
    func read<T>(_ body: (any StoreDatabase) throws -> T) throws -> T { try inner.read(body) }
    func write<T>(_ body: (any StoreDatabase) throws -> T) throws -> T { try inner.write(body) }
    func schemaVersion() throws -> Int { try inner.schemaVersion() }
    func mapped(_ error: any Error) -> any Error { inner.mapped(error) }
    func close() { inner.close() }
}

@Test func storeBehaviourConformsOnSQLite() throws {
    try StoreConformance.runAll(TestStores.sqlite)
}

@Test func storeBehaviourConformsOnSQLiteThroughThePortableSamplePath() throws {
    try StoreConformance.runAll(TestStores.sqlitePortable)
}

@Test func storeBehaviourConformsOverAnotherEngine() throws {
    try StoreConformance.runAll { try ResultStore(engine: ForwardingEngine(inner: try ResultStore.inMemory().engine)) }
}

@Test func aStoreOverAnEngineUsesItsLocationAndSchemaVersion() throws {
    let inner = try ResultStore.inMemory()
    let store = try ResultStore(engine: ForwardingEngine(inner: inner.engine))
    #expect(store.path == "forwarded::memory:")
    #expect(try store.schemaVersion() == StoreSchema.knownVersion)
    #expect(try inner.schemaVersion() == StoreSchema.knownVersion)
    #expect(store.engine.dialect == .sqlite)
}

@Test func sqliteOnlyFeaturesSayTheyNeedASQLiteFileOnAnotherEngine() throws {
    let store = try ResultStore(engine: ForwardingEngine(inner: try ResultStore.inMemory().engine))
    do {
        _ = try store.journalMode()
        Issue.record("journalMode worked without SQLite")
    } catch let StoreError.unusable(path, reason) {
        #expect(path == "forwarded::memory:")
        #expect(reason.contains("needs a SQLite file") && reason.contains("fusebench push"), "\(reason)")
    }
}

// MARK: - Portable SQL lint

/// Store files that may hold SQLite-only SQL or GRDB (see docs/architecture.md, "Store engines").
private let sqliteOnlyFiles: Set<String> = [
    "SQLiteEngine.swift", "Schema.swift", "SampleWriter.swift", "ResultStore.swift", "RunOwner.swift", "StoreError.swift",
]

/// Text that only SQLite runs (or that bypasses the seam), with what to write instead.
private let sqliteOnlyPatterns: [(text: String, instead: String)] = [
    ("INSERT OR ", "INSERT ... ON CONFLICT (...) DO NOTHING / DO UPDATE"),
    ("strftime(", "times as unix seconds computed in Swift"),
    ("julianday(", "times as unix seconds computed in Swift"),
    ("IFNULL(", "COALESCE("),
    ("lastInsertedRowID", "INSERT ... RETURNING id"),
    ("last_insert_rowid", "INSERT ... RETURNING id"),
    ("changesCount", "the value execute(sql:arguments:) returns"),
    ("import GRDB", "the StoreDatabase seam"),
    ("group_concat(", "aggregate in Swift"),
    ("printf(", "format in Swift"),
]

/// Every occurrence of `sqliteOnlyPatterns` in `text` (lines of file `name`; comment lines, which
/// may name what not to write, are skipped), as `name:line: ...`.
func portableSQLViolations(name: String, text: String) -> [String] {
    var found: [String] = []
    for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        if line.trimmingCharacters(in: .whitespaces).hasPrefix("//") { continue }
        for pattern in sqliteOnlyPatterns where line.range(of: pattern.text, options: .caseInsensitive) != nil {
            found.append("Sources/Store/\(name):\(number + 1): '\(pattern.text)' is SQLite-only; use \(pattern.instead)")
        }
    }
    return found
}

@Test func portableStoreFilesHoldNoSQLiteOnlySQL() throws {
    let directory = BuiltExecutable.packageRoot.appendingPathComponent("Sources/Store")
    let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".swift") }.sorted()
    #expect(names.contains("Runs.swift") && names.contains("Samples.swift"), "Sources/Store not found at \(directory.path)")
    var violations: [String] = []
    for name in names where !sqliteOnlyFiles.contains(name) {
        let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
        violations += portableSQLViolations(name: name, text: text)
    }
    #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
}

@Test func theLintFindsSQLiteOnlySQLWithItsLine() {
    let text = "let a = 1\ntry db.execute(sql: \"insert or ignore INTO t VALUES (1)\")\nlet b = IFNULL(x, 0)\n    // never INSERT OR REPLACE"
    #expect(portableSQLViolations(name: "X.swift", text: text) == [
        "Sources/Store/X.swift:2: 'INSERT OR ' is SQLite-only; use INSERT ... ON CONFLICT (...) DO NOTHING / DO UPDATE",
        "Sources/Store/X.swift:3: 'IFNULL(' is SQLite-only; use COALESCE(",
    ])
}

/// Modules that only a build with the `Fleet` trait has (SwiftNIO, postgres-nio, hummingbird).
private let fleetOnlyModules = ["PostgresNIO", "NIO", "NIOCore", "NIOPosix", "NIOHTTP1", "Hummingbird", "HummingbirdCore", "Logging"]

/// `path:line` of each import of a Fleet-only module outside `#if Fleet` in `text`: the StorePostgres
/// and Serve targets are compiled without the trait too (empty), so such an import breaks the
/// README's first command (`swift build -c release` without traits) while CI, which builds with
/// the trait, stays green.
func fleetImportViolations(path: String, text: String) -> [String] {
    var inFleet = false, violations: [String] = []
    for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let line = raw.trimmingCharacters(in: .whitespaces)
        if line == "#if Fleet" { inFleet = true } else if line == "#endif" { inFleet = false }
        let words = line.split(separator: " ")
        if !inFleet, words.count >= 2, words[0] == "import" || words[0] == "@testable" || words[0] == "@_exported",
           let module = words.last, fleetOnlyModules.contains(String(module)) {
            violations.append("\(path):\(index + 1): 'import \(module)' outside '#if Fleet' breaks the build without the Fleet trait")
        }
    }
    return violations
}

@Test func fleetOnlyImportsAreInsideIfFleet() throws {
    let root = BuiltExecutable.packageRoot
    var violations: [String] = [], files = 0
    for directory in ["Sources/StorePostgres", "Sources/Serve"] {
        let url = root.appendingPathComponent(directory)
        for name in try FileManager.default.contentsOfDirectory(atPath: url.path).filter({ $0.hasSuffix(".swift") }).sorted() {
            files += 1
            violations += fleetImportViolations(path: "\(directory)/\(name)", text: try String(contentsOf: url.appendingPathComponent(name), encoding: .utf8))
        }
    }
    #expect(files >= 8, "found only \(files) files under \(root.path)")
    #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
}

@Test func theFleetImportLintFindsAnUnguardedImportWithItsLine() {
    let text = "// header\nimport Foundation\nimport NIOCore\n#if Fleet\nimport PostgresNIO\n#endif\n"
    #expect(fleetImportViolations(path: "Sources/StorePostgres/X.swift", text: text) == [
        "Sources/StorePostgres/X.swift:3: 'import NIOCore' outside '#if Fleet' breaks the build without the Fleet trait",
    ])
}
