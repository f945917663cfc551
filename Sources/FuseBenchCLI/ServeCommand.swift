// `fusebench serve`: the read-only results dashboard (module Serve, hummingbird) over one store — a
// SQLite file or, with the Fleet trait, a PostgreSQL URL. Prints `serving http://HOST:PORT/` once it
// listens; SIGINT/SIGTERM stop it gracefully (exit 0). Triage is enabled by FUSEBENCH_SERVE_TOKEN.
// Without the Fleet trait the command exists and says how to build it (exit 3). See docs/fleet.md.
import ArgumentParser
import FuseBench
import Foundation
#if Fleet
import Serve
#endif

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a read-only web dashboard of the results: series, change points, run reports, baselines.",
        discussion: """
            Prints `serving http://HOST:PORT/` once it listens; Ctrl-C or SIGTERM stops it (exit 0). Pages: / (series and their \
            latest change points), /series/ID (history chart, runs, change points), /runs, /runs/RUN (the run's report), \
            /baselines, /healthz, /api/series. Triage (POST /change-points/ID/triage) needs FUSEBENCH_SERVE_TOKEN set to a \
            secret and `Authorization: Bearer TOKEN`; without it triage is refused (403). Exit 3: unusable database, port in use. \
            Needs a build with the Fleet trait (`swift build -c release --traits Fleet`).
            """)

    @Option(help: "Address to listen on (default 127.0.0.1: this machine only).")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on (0 to 65535; 0 picks a free one).")
    var port: Int = 8080

    @OptionGroup var database: DatabaseOptions

    /// What a build without the Fleet trait says.
    static let withoutFleet = "built without the Fleet trait; build with `swift build -c release --traits Fleet`"

    func run() throws {
        #if Fleet
        try OptionRange.check(port, "--port", in: 0...65_535)
        guard !host.isEmpty else { throw UsageError("--host must not be empty") }
        let token = ProcessInfo.processInfo.environment[DashboardOptions.tokenVariable].flatMap { $0.isEmpty ? nil : $0 }
        let location = database.path
        let isURL = DatabaseURL.isPostgres(location)
        // Serving only reads (triage aside): a missing database is an error, not a new empty file.
        if !isURL, !FileManager.default.fileExists(atPath: location) {
            throw UsageError("\(location): no results database there (run `\(programName) run` first, or pass --db)")
        }
        // Triage writes its state: the store is opened for writing only when triage is enabled.
        let store = try token == nil ? database.openForReading() : database.open()
        let options = DashboardOptions(token: token, location: isURL ? DatabaseURL.redacted(location) : location)
        let server = DashboardServer(dashboard: Dashboard(store: store, options: options))
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let host = self.host, port = self.port
        Task.detached {
            do {
                try await server.run(host: host, port: port, handleSignals: true) { bound in
                    let shown = host.contains(":") ? "[\(host)]" : host
                    FileHandle.standardOutput.write(Data("serving http://\(shown):\(bound)/\n".utf8))
                }
            } catch {
                outcome.set(error)
            }
            done.signal()
        }
        done.wait()
        if let error = outcome.error { throw UsageError((error as? DashboardServerError)?.description ?? "\(error)") }
        #else
        throw UsageError(Self.withoutFleet)
        #endif
    }
}

/// The error the server task ended with, read by the main thread after it finished.
private final class Outcome: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: (any Error)?

    func set(_ error: any Error) { lock.withLock { stored = error } }
    var error: (any Error)? { lock.withLock { stored } }
}
