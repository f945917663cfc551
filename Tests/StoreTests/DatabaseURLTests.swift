// DatabaseURL: parsing of postgres:// URLs, defaults, and that no password is ever shown.
import XCTest
@testable import Store

final class DatabaseURLTests: XCTestCase {
    func testFullURL() throws {
        let url = try DatabaseURL("postgresql://bench:s3cr%40t@db.example.org:6543/fleet?sslmode=require&connect_timeout=2.5",
                                  environment: [:])
        XCTAssertEqual(url.user, "bench")
        XCTAssertEqual(url.password, "s3cr@t")
        XCTAssertEqual(url.host, "db.example.org")
        XCTAssertEqual(url.port, 6543)
        XCTAssertEqual(url.database, "fleet")
        XCTAssertEqual(url.sslMode, .require)
        XCTAssertEqual(url.connectTimeout, 2.5)
        XCTAssertNil(url.socketPath)
        XCTAssertEqual(url.display, "postgres://bench@db.example.org:6543/fleet?sslmode=require")
    }

    func testDefaults() throws {
        let url = try DatabaseURL("postgres://", environment: [:])
        XCTAssertEqual(url.user, "postgres")
        XCTAssertNil(url.password)
        XCTAssertEqual(url.host, "127.0.0.1")
        XCTAssertEqual(url.port, 5432)
        XCTAssertEqual(url.database, "postgres")
        XCTAssertEqual(url.sslMode, .disable)
        XCTAssertEqual(url.connectTimeout, DatabaseURL.defaultConnectTimeout)

        let fromEnvironment = try DatabaseURL("postgres://db/", environment: ["PGUSER": "ci", "PGPASSWORD": "pw"])
        XCTAssertEqual(fromEnvironment.user, "ci")
        XCTAssertEqual(fromEnvironment.password, "pw")
        XCTAssertEqual(fromEnvironment.database, "ci")
        let urlWins = try DatabaseURL("postgres://a:b@db/x", environment: ["PGUSER": "ci", "PGPASSWORD": "pw"])
        XCTAssertEqual(urlWins.user, "a")
        XCTAssertEqual(urlWins.password, "b")
    }

    func testIPv6AndUnixSockets() throws {
        let v6 = try DatabaseURL("postgres://u@[::1]:5433/d", environment: [:])
        XCTAssertEqual(v6.host, "::1")
        XCTAssertEqual(v6.port, 5433)
        XCTAssertEqual(v6.display, "postgres://u@[::1]:5433/d")

        let socket = try DatabaseURL("postgres://u@/d?host=/run/postgresql", environment: [:])
        XCTAssertEqual(socket.socketPath, "/run/postgresql/.s.PGSQL.5432")
        let encoded = try DatabaseURL("postgres://u@%2Ftmp%2Fpg:7000/d", environment: [:])
        XCTAssertEqual(encoded.socketPath, "/tmp/pg/.s.PGSQL.7000")
    }

    /// A password holding an unencoded '?', '#' or '/' is still the password: parsed as such, and
    /// no part of it appears in the message about another part of the URL (review of issue 17).
    func testPasswordWithQueryOrPathCharactersIsNeverShown() throws {
        let url = try DatabaseURL("postgres://bench:pa?ss#wo/rd@db:6543/fleet", environment: [:])
        XCTAssertEqual(url.password, "pa?ss#wo/rd")
        XCTAssertEqual(url.host, "db")
        XCTAssertEqual(url.port, 6543)
        XCTAssertEqual(url.database, "fleet")
        XCTAssertThrowsError(try DatabaseURL("postgres://bench:pa?ss@db:notaport/fleet", environment: [:])) { error in
            let message = String(describing: error)
            XCTAssertTrue(message.contains("notaport"), message)
            XCTAssertFalse(message.contains("pa?ss") || message.contains("ss@") || message.contains("'pa'"), message)
        }
    }

    func testIsPostgres() {
        XCTAssertTrue(DatabaseURL.isPostgres("postgres://h/db"))
        XCTAssertTrue(DatabaseURL.isPostgres("POSTGRESQL://h/db"))
        XCTAssertFalse(DatabaseURL.isPostgres("results/fusebench.sqlite"))
        XCTAssertFalse(DatabaseURL.isPostgres("postgres:/h"))
        XCTAssertFalse(DatabaseURL.isPostgres("mysql://h/db"))
    }

    func testRedacted() {
        XCTAssertEqual(DatabaseURL.redacted("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db")
        XCTAssertEqual(DatabaseURL.redacted("postgres://u:se/cr@t@h/db?sslmode=require"), "postgres://u:***@h/db?sslmode=require")
        XCTAssertEqual(DatabaseURL.redacted("postgres://u@h/db?password=secret&sslmode=disable"),
                       "postgres://u@h/db?password=***&sslmode=disable")
        XCTAssertEqual(DatabaseURL.redacted("postgres://h/db"), "postgres://h/db")
        XCTAssertEqual(DatabaseURL.redacted("results/x.sqlite"), "results/x.sqlite")
        XCTAssertEqual(DatabaseURL.redacted("postgres://u:secret@h:notaport/db"), "postgres://u:***@h:notaport/db")
    }

    func testMalformedURLsAreRefusedWithoutThePassword() {
        let cases: [(String, String)] = [
            ("postgres://u:secret@h:99999/db", "port '99999'"),
            ("postgres://u:secret@h:abc/db", "port 'abc'"),
            ("postgres://u:secret@h/db?sslmode=maybe", "sslmode must be one of"),
            ("postgres://u:secret@h/db?connect_timeout=-1", "connect_timeout"),
            ("postgres://u:secret@h/db?colour=red", "unknown parameter 'colour'"),
            ("postgres://u:secret@h/db/extra", "single database name"),
            ("postgres://u:secret@[::1/db", "unclosed '['"),
            ("postgres://u:secret@h/d%ZZb", "percent-encoding"),
            ("http://u:secret@h/db", "must start with postgres://"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try DatabaseURL(text, environment: [:]), text) { error in
                guard case let .invalidName(message)? = error as? StoreError else {
                    return XCTFail("\(text): unexpected \(error)")
                }
                XCTAssertTrue(message.contains(expected), "\(text): \(message)")
                XCTAssertFalse(message.contains("secret"), "\(text): \(message)")
                XCTAssertTrue(message.contains("u:***@"), "\(text): \(message)")
            }
        }
    }
}
