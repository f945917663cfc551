// `--db postgres://...` from the command line without a server: a malformed URL is refused in every
// build, and a build without the `Fleet` trait says how to get PostgreSQL support — exit 3, the
// password never shown.
import Foundation
import Testing

@Suite struct PostgresURLCLITests {
    @Test func malformedURLIsRefusedWithoutShowingThePassword() throws {
        let result = try CLI.run(["runs", "--db", "postgres://fleet:hunter2@db.example.org:99999/results"])
        #expect(result.status == 3, "\(result.stderr)")
        #expect(result.stderr.contains("error: invalid PostgreSQL URL postgres://fleet:***@db.example.org:99999/results: port '99999'"),
                "\(result.stderr)")
        #expect(!result.stderr.contains("hunter2"), "\(result.stderr)")
    }

    #if !Fleet
    @Test func buildWithoutFleetSaysHowToGetPostgreSQL() throws {
        for arguments in [["runs", "--db", "postgres://fleet:hunter2@127.0.0.1:1/results"], ["baseline", "list"], ["history"]] {
            let env = arguments.contains("--db") ? [:] : ["FUSEBENCH_DB": "postgresql://fleet:hunter2@127.0.0.1:1/results"]
            let result = try CLI.run(arguments, env: env)
            #expect(result.status == 3, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("this fusebench was built without PostgreSQL support; build it with `swift build -c release --traits Fleet`"),
                    "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("fleet:***@127.0.0.1:1/results"), "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("hunter2"), "\(arguments): \(result.stderr)")
        }
    }
    #endif
}
