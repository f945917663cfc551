// PostgresSQL: placeholder numbering and script splitting skip quoted text and comments.
#if Fleet
import XCTest
import StorePostgres

final class PostgresSQLTests: XCTestCase {
    func testPlaceholdersAreNumberedOutsideQuotesAndComments() {
        let (sql, count) = PostgresSQL.numberPlaceholders("""
            SELECT ?, '?''?', "a?b", x -- what?
            /* ? /* nested ? */ ? */ FROM t WHERE a = ? AND b = $$?$$ AND c = $tag$ ? $tag$ AND d = ?
            """)
        XCTAssertEqual(count, 3)
        XCTAssertEqual(sql, """
            SELECT $1, '?''?', "a?b", x -- what?
            /* ? /* nested ? */ ? */ FROM t WHERE a = $2 AND b = $$?$$ AND c = $tag$ ? $tag$ AND d = $3
            """)
    }

    func testNoPlaceholdersAndUnterminatedQuotes() {
        XCTAssertEqual(PostgresSQL.numberPlaceholders("SELECT 1").count, 0)
        let (sql, count) = PostgresSQL.numberPlaceholders("SELECT ? FROM t WHERE a = 'unterminated ?")
        XCTAssertEqual(count, 1)
        XCTAssertEqual(sql, "SELECT $1 FROM t WHERE a = 'unterminated ?")
    }

    func testScriptsSplitAtSemicolonsOutsideQuotesAndBodies() {
        let statements = PostgresSQL.statements("""
            -- a comment; with a semicolon
            CREATE TABLE a (x TEXT DEFAULT ';');
            CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                DELETE FROM a WHERE x = 'y;';
                RETURN NULL;
            END;
            $$;
            ;
            /* only a comment */;
            INSERT INTO "we;ird" VALUES (1)
            """)
        XCTAssertEqual(statements.count, 3, "\(statements)")
        XCTAssertEqual(statements.first, "-- a comment; with a semicolon\nCREATE TABLE a (x TEXT DEFAULT ';')")
        XCTAssertTrue(statements[1].hasPrefix("CREATE FUNCTION f()"))
        XCTAssertTrue(statements[1].hasSuffix("END;\n$$"))
        XCTAssertEqual(statements[2], "INSERT INTO \"we;ird\" VALUES (1)")
    }

    func testDollarParametersAreNotQuotes() {
        let statements = PostgresSQL.statements("SELECT $1; SELECT a$b$c; SELECT 2")
        XCTAssertEqual(statements, ["SELECT $1", "SELECT a$b$c", "SELECT 2"])
    }
}
#endif
