// FuseBenchCLI: the fusebench command line as a library. The `fusebench` executable is one call to
// `FuseBenchCLI.main()`; a user's package calls `FuseBenchCLI.main(kernels: [...])` from its own
// executable, which then is the whole command line with the user's kernel kinds added. Thin: parses
// arguments, calls the modules, maps failures to the documented exit codes (0 ok, 1 regression,
// 2 inconclusive, 3 error, 130 interrupted) and prints errors as `error: FILE:LINE:COL: message`
// when a file is at fault — never a stack trace.
//
// This target is compiled without CPU flags (baseline x86-64, see Package.swift), so the ISA gate at
// the top of `main` runs on any CPU, before any code built for the kernels' CPU.
import ArgumentParser
import CKernels
import CPerfEvent
import FuseBench
import Foundation
import ProcessIO
#if Fleet
import StorePostgres
#endif

/// The fusebench command line, callable from any executable.
///
/// ```swift
/// // Sources/mykernels-bench/main.swift
/// import FuseBenchCLI
/// FuseBenchCLI.main(kernels: [mySGEMM, myScaleAdd])
/// ```
public enum FuseBenchCLI {
    /// Runs the command line on this process's arguments and exits with the documented code.
    ///
    /// Order: refuse a binary built for instructions this CPU lacks (exit 3); register the
    /// built-in op families and then `kernels` and `factories` in `KernelRegistry.shared` (an
    /// invalid definition or a kind that is already taken: `error: ...` on stderr, exit 3); parse
    /// and run the command. Worker processes (`--processes`, `gate --against`) and the callgrind
    /// pass re-execute this same binary, so they see the same kinds.
    ///
    /// The arguments are evaluated after the ISA check (they are autoclosures), so building the
    /// definitions may call code compiled for the kernels' CPU; an error they throw is reported as
    /// `error: ...` with exit 3.
    public static func main(kernels: @autoclosure () throws -> [KernelDefinition] = [],
                            factories: @autoclosure () throws -> [any KernelFactory] = []) -> Never {
        // First: refuse a binary built for instructions this CPU lacks (message on stderr, exit 3),
        // with the baseline C shim's comparison — not the Kernels module, which is built for the
        // kernels' CPU and would die with SIGILL instead.
        if fb_isa_refuse(fb_isa_built(), fb_isa_host(), STDERR_FILENO) != 0 {
            Foundation.exit(ExitStatus.error)
        }
        OpFamilies.registerBuiltIn()
        do {
            try register(kernels: try kernels(), factories: try factories())
        } catch {
            StandardError.write("error: \(error)\n")
            Foundation.exit(ExitStatus.error)
        }
        do {
            var command = try FuseBenchCommand.parseAsRoot()
            try command.run()
            Foundation.exit(StandardOutput.finish(status: ExitStatus.ok))
        } catch let exit as ExitCode {
            Foundation.exit(StandardOutput.finish(status: exit.rawValue))
        } catch let interrupted as RunInterrupted {
            StandardError.write("\(programName): \(interrupted.description)\n")
            Foundation.exit(StandardOutput.finish(status: ExitStatus.interrupted))
        } catch {
            let code = FuseBenchCommand.exitCode(for: error)
            if code == .success || error is CleanExit {
                FuseBenchCommand.exit(withError: error)
            }
            if let message = CLIError.message(for: error) {
                StandardError.write("error: \(message)\n")
                Foundation.exit(ExitStatus.error)
            }
            // Argument-parser usage errors: its own message, but the documented exit code 3.
            StandardError.write(FuseBenchCommand.fullMessage(for: error) + "\n")
            Foundation.exit(ExitStatus.error)
        }
    }

    /// Registers a user's kernel kinds in `registry` (what `main` does before parsing), all or
    /// nothing: when a definition is invalid or any kind is already taken (a built-in kind, or
    /// twice in the lists) nothing is registered and the error names the kind.
    ///
    /// - Throws: `KernelSpecError` (key `kind` or `variants`).
    public static func register(kernels: [KernelDefinition] = [], factories: [any KernelFactory] = [],
                                in registry: KernelRegistry = .shared) throws {
        var seen = Set(kernels.map(\.kind))
        for f in factories {
            if registry.factory(kind: f.kind) != nil {
                throw KernelSpecError(key: "kind", "kernel kind '\(f.kind)' is already registered; give your kernel another kind name")
            }
            guard seen.insert(f.kind).inserted else {
                throw KernelSpecError(key: "kind", "kernel kind '\(f.kind)' is defined twice")
            }
        }
        try UserKernelRegistry.register(kernels, in: registry)   // checks the definitions; all or nothing
        for f in factories { try registry.register(f) }
        let kinds = kernels.map(\.kind) + factories.map(\.kind)
        if registry === KernelRegistry.shared { ExecutableKinds.record(kinds) }
    }
}

/// The documented exit codes.
enum ExitStatus {
    static let ok: Int32 = 0
    static let regression: Int32 = 1
    static let inconclusive: Int32 = 2
    static let error: Int32 = 3
    /// `run` interrupted by SIGINT/SIGTERM (after storing everything completed), as shells expect.
    static let interrupted: Int32 = 130
}

/// Maps module errors to one-line messages.
enum CLIError {
    static func message(for error: Error) -> String? {
        switch error {
        case let e as SuiteError: return e.description
        case let e as StoreError: return e.description
        case let e as RunError: return e.description
        case let e as PlanError: return e.description
        case let e as ISAMismatchError: return e.description
        case let e as UsageError: return e.description
        case let e as CounterError: return e.description
        case let e as CompareError: return e.description
        case let e as HistoryError: return e.description
        case let e as KernelSpecError: return e.description
        default: return nil
        }
    }
}

/// A problem with the command line found after parsing (unknown run, bad flag value).
struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// The name this executable was started as (`fusebench`, or a user's `mykernels-bench`), for usage
/// lines and messages.
let programName: String = {
    let base = CommandLine.arguments.first.map { URL(fileURLWithPath: $0).lastPathComponent } ?? ""
    return base.isEmpty ? "fusebench" : base
}()

struct FuseBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: programName,
        abstract: "Benchmark and profile ML inference kernels: reference vs optimized, under hardware counters, stored in SQLite.",
        discussion: """
            Exit codes: 0 ok/pass, 1 regression, 2 inconclusive, 3 error (bad input, unusable database, environment).
            Database: --db, else $FUSEBENCH_DB, else results/fusebench.sqlite; a SQLite file or a PostgreSQL URL
            postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (builds with --traits Fleet; see docs/fleet.md).
            """,
        subcommands: [RunCommand.self, ListCommand.self, ExportCommand.self, RunsCommand.self, ExecCommand.self, WorkerCommand.self, CompareCommand.self, HistoryCommand.self, BaselineCommand.self, GateCommand.self, FusionCommand.self, VariantsCommand.self, DoctorCommand.self, StoreBenchCommand.self, ReportCommand.self, NoiseCommand.self, PushCommand.self, MergeCommand.self, ServeCommand.self, ReindexCommand.self])
}

/// Options shared by every command that touches the database.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Results database: a SQLite file, or a PostgreSQL URL postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE "
            + "(default: $FUSEBENCH_DB or results/fusebench.sqlite).",
        valueName: "path-or-url"))
    var db: String?

    @Option(name: .customLong("db-busy-timeout"),
            help: "Seconds to wait for another process's lock on the database (PostgreSQL: lock_timeout; default: $FUSEBENCH_DB_BUSY_TIMEOUT or 5).")
    var busyTimeout: String?

    /// The database as given: a file path or a `postgres://` URL (which may hold a password: show
    /// `displayPath` instead).
    var path: String {
        db ?? ProcessInfo.processInfo.environment["FUSEBENCH_DB"] ?? "results/fusebench.sqlite"
    }

    /// True when the database is a PostgreSQL URL rather than a SQLite file.
    var isPostgres: Bool { DatabaseURL.isPostgres(path) }

    /// The database for messages: the path, or the URL without its password.
    var displayPath: String { DatabaseURL.redacted(path) }

    /// `--db-busy-timeout`, else `$FUSEBENCH_DB_BUSY_TIMEOUT`, else the store's default.
    func timeout() throws -> Double {
        if let text = busyTimeout { return try ResultStore.parseBusyTimeout(text, source: "--db-busy-timeout") }
        return try ResultStore.busyTimeout(environment: ProcessInfo.processInfo.environment) ?? ResultStore.defaultBusyTimeout
    }

    /// Opens the database for a command that writes (runs, baselines, decisions).
    func open() throws -> ResultStore { try open(access: .readWrite) }

    /// Opens the database for a command that only reads: works on a read-only file or directory;
    /// on PostgreSQL it never creates the schema.
    func openForReading() throws -> ResultStore { try open(access: .readOnly) }

    /// Opens a SQLite file, or a PostgreSQL database through the `Fleet` build's engine.
    ///
    /// - Throws: `StoreError` (exit 3); for a URL in a build without the `Fleet` trait, one saying so.
    func open(access: ResultStore.Access) throws -> ResultStore {
        let timeout = try timeout()
        guard isPostgres else { return try ResultStore(path: path, access: access, busyTimeout: timeout) }
        _ = try DatabaseURL(path)  // a malformed URL is refused the same way in every build
        #if Fleet
        return try ResultStore(engine: PostgresEngine.open(url: path, access: access, timeout: timeout))
        #else
        throw StoreError.unusable(path: displayPath, reason: Self.withoutPostgres)
        #endif
    }

    /// Why a build without the `Fleet` trait cannot open a PostgreSQL URL.
    static let withoutPostgres = "this fusebench was built without PostgreSQL support; build it with `swift build -c release --traits Fleet`"
}
