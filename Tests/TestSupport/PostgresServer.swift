// A throwaway PostgreSQL server for tests: initdb into a temporary directory, started on a free
// loopback port with its Unix socket in that directory, torn down afterwards. No mocks: the store's
// PostgreSQL tests, push/merge and the dashboard run against a real server. Needs the server
// binaries (`/usr/lib/postgresql/*/bin`, Debian package `postgresql`, installed by `tools/setup --deps`);
// without them a test is skipped locally and fails on CI (`CI` set). PostgreSQL refuses to run as
// root, so as root the server binaries run as the `postgres` user (`runuser -u postgres --`).
import Foundation
import ProcessIO
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL server of its own for a test (class): `start()`, use `url` / `createDatabase`, `stop()`.
public final class PostgresServer: @unchecked Sendable {
    /// A server that could not be set up; the text names the log to read.
    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong.
        public let description: String
    }

    /// Directory of the server binaries (`initdb`, `pg_ctl`, `psql`, ...).
    public let binaries: String
    /// Temporary directory holding the data directory, the socket and the logs.
    public let directory: String
    /// TCP port on 127.0.0.1 (also the socket's port number).
    public let port: Int
    /// Password of the `postgres` role (nil: the server trusts every local connection).
    public let password: String?
    /// Pid of the postmaster.
    public let pid: pid_t
    private let runAsPostgres: Bool
    private let lock = NSLock()
    private var stopped = false

    /// `postgres://postgres[:PASSWORD]@127.0.0.1:PORT/postgres`: the superuser on the default database.
    public var url: String { url(database: "postgres") }

    /// The URL of `database` on this server (superuser, with the password when one was set).
    public func url(database: String, user: String = "postgres", password: String? = nil) -> String {
        let secret = password ?? (user == "postgres" ? self.password : nil)
        let userInfo = secret.map { "\(user):\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)" } ?? user
        return "postgres://\(userInfo)@127.0.0.1:\(port)/\(database)"
    }

    /// The server's log file (read it when something fails).
    public var logPath: String { directory + "/postgres.log" }

    /// The directory of the newest installed PostgreSQL server binaries (`$FUSEBENCH_PG_BIN` first),
    /// or nil when there are none.
    public static func findBinaries() -> String? {
        let fileManager = FileManager.default
        if let explicit = ProcessInfo.processInfo.environment["FUSEBENCH_PG_BIN"],
           fileManager.isExecutableFile(atPath: explicit + "/initdb") {
            return explicit
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? fileManager.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap { name -> (Int, String)? in
                guard let version = Int(name), fileManager.isExecutableFile(atPath: "\(root)/\(name)/bin/initdb"),
                      fileManager.isExecutableFile(atPath: "\(root)/\(name)/bin/postgres") else { return nil }
                return (version, "\(root)/\(name)/bin")
            }
        return versions.max { $0.0 < $1.0 }?.1
    }

    /// Creates a cluster in a new temporary directory and starts it on a free port (`pg_ctl -w`).
    /// With `password`, the `postgres` role needs it over TCP (scram-sha-256); without, TCP
    /// connections are trusted. One retry on another port when the port was taken meanwhile.
    ///
    /// - Throws: `XCTSkip` when the server binaries are missing (a failure instead when `CI` is
    ///   set), `Failure` (naming the log) when the server cannot be set up.
    public static func start(password: String? = nil) throws -> PostgresServer {
        guard let binaries = findBinaries() else {
            let message = "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin (install the Debian package "
                + "`postgresql`, e.g. with tools/setup --deps)"
            if ProcessInfo.processInfo.environment["CI"] != nil { throw Failure(description: message) }
            throw XCTSkip(message)
        }
        let runAsPostgres = geteuid() == 0
        if runAsPostgres, getpwnam("postgres") == nil {
            throw Failure(description: "running as root, and there is no `postgres` user to run the server as (PostgreSQL refuses root)")
        }
        let directory = try makeDirectory()
        do {
            if runAsPostgres { try run("/bin/chown", ["-R", "postgres:postgres", directory], log: nil) }
            var initArguments = ["-D", directory + "/data", "-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync",
                                 "--auth-local=trust"]
            if let password {
                let passwordFile = directory + "/pwfile"
                guard FileManager.default.createFile(atPath: passwordFile, contents: Data((password + "\n").utf8),
                                                     attributes: [.posixPermissions: 0o600]) else {
                    throw Failure(description: "cannot write \(passwordFile)")
                }
                if runAsPostgres { try run("/bin/chown", ["postgres:postgres", passwordFile], log: nil) }
                initArguments += ["--auth-host=scram-sha-256", "--pwfile=" + passwordFile]
            } else {
                initArguments += ["--auth-host=trust"]
            }
            try run(binaries + "/initdb", initArguments, asPostgres: runAsPostgres, log: directory + "/initdb.log")
            var lastError: (any Error)?
            for _ in 0..<2 {
                let port = try freePort()
                do {
                    let pid = try startServer(binaries: binaries, directory: directory, port: port, asPostgres: runAsPostgres)
                    return PostgresServer(binaries: binaries, directory: directory, port: port, password: password, pid: pid,
                                          runAsPostgres: runAsPostgres)
                } catch {
                    lastError = error
                }
            }
            throw lastError ?? Failure(description: "the server did not start")
        } catch let error as XCTSkip {
            throw error
        } catch {
            // Keep the directory: its logs say what went wrong.
            throw Failure(description: "cannot start a test PostgreSQL server in \(directory) (logs kept there): \(error)")
        }
    }

    private init(binaries: String, directory: String, port: Int, password: String?, pid: pid_t, runAsPostgres: Bool) {
        self.binaries = binaries
        self.directory = directory
        self.port = port
        self.password = password
        self.pid = pid
        self.runAsPostgres = runAsPostgres
    }

    deinit { stop() }

    /// Creates database `name` (letters, digits, `_`) and returns its URL.
    ///
    /// - Throws: `Failure` when `createdb` fails.
    @discardableResult
    public func createDatabase(_ name: String) throws -> String {
        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw Failure(description: "database name '\(name)' must be letters, digits and _")
        }
        _ = try psql("CREATE DATABASE \(name)")
        return url(database: name)
    }

    /// Runs `sql` with `psql` (unaligned, tuples only, stop on error) as the superuser on `database`
    /// and returns its output: one line per row, columns separated by `|`.
    ///
    /// - Throws: `Failure` with psql's message when it fails.
    public func psql(_ sql: String, database: String = "postgres") throws -> String {
        var environment = ProcessInfo.processInfo.environment
        environment["PGPASSWORD"] = password
        environment["PGCONNECT_TIMEOUT"] = "10"
        environment["PSQLRC"] = "/dev/null"
        let child = try ChildProcess(executable: binaries + "/psql",
                                     arguments: ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", "\(port)",
                                                 "-U", "postgres", "-d", database, "-c", sql],
                                     environment: environment)
        let output = try child.communicate()
        let text = String(decoding: output.stdout, as: UTF8.self)
        guard output.termination == .exited(0) else {
            throw Failure(description: "psql \(sql.prefix(80)): \(output.termination): \(String(decoding: output.stderr, as: UTF8.self))")
        }
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    /// Stops the server at once (`pg_ctl -m immediate`) and removes its directory. Later calls do nothing.
    public func stop() {
        lock.lock()
        let wasStopped = stopped
        stopped = true
        lock.unlock()
        if wasStopped { return }
        if Self.isAlive(pid) {
            do {
                try Self.run(binaries + "/pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "-t", "20", "stop"],
                             asPostgres: runAsPostgres, log: nil)
            } catch {
                killAll()
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Kills the postmaster and its backends with SIGKILL (a server crash, for fault tests); the
    /// clients' connections drop. The directory stays until `stop()`.
    public func kill() {
        killAll()
    }

    /// SIGKILLs the postmaster and every child of it, then waits (up to 5 s) until they are gone.
    private func killAll() {
        let children = Self.children(of: pid)
        signalProcess(pid, SIGKILL)
        for child in children { signalProcess(child, SIGKILL) }
        for _ in 0..<500 where Self.isAlive(pid) || children.contains(where: Self.isAlive) {
            usleep(10_000)
        }
    }

    /// Whether `pid` is a live (not zombie) process.
    private static func isAlive(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state != "Z" && state != "X"
    }

    /// Pids whose parent is `pid` (from /proc).
    private static func children(of pid: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { name -> pid_t? in
            guard let child = pid_t(name),
                  let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, pid_t(fields[1]) == pid else { return nil }
            return child
        }
    }

    /// A new temporary directory, short enough for a Unix socket path.
    private static func makeDirectory() throws -> String {
        var base = NSTemporaryDirectory()
        if base.count > 60 { base = "/tmp/" }
        if !base.hasSuffix("/") { base += "/" }
        var template = Array((base + "fusebench-pg-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let start = buffer.baseAddress, mkdtemp(start) != nil else { return nil }
            return String(cString: start)
        }
        guard let made else {
            throw Failure(description: "cannot create a temporary directory in \(base): \(String(cString: strerror(errno)))")
        }
        return made
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                bind(fd, sockaddrPointer, length) == 0 && getsockname(fd, sockaddrPointer, &length) == 0
            }
        }
        guard bound else { throw Failure(description: "bind to a free port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Starts the server (`pg_ctl -w start`) and returns the postmaster's pid.
    private static func startServer(binaries: String, directory: String, port: Int, asPostgres: Bool) throws -> pid_t {
        let options = "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            + "-c full_page_writes=off -c max_connections=60 -c shared_buffers=32MB"
        try run(binaries + "/pg_ctl", ["-D", directory + "/data", "-l", directory + "/postgres.log", "-w", "-t", "60",
                                       "-o", options, "start"],
                asPostgres: asPostgres, log: directory + "/pg_ctl.log")
        let pidFile = directory + "/data/postmaster.pid"
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
              let first = text.split(separator: "\n").first, let pid = pid_t(first) else {
            throw Failure(description: "the server started but \(pidFile) names no pid")
        }
        return pid
    }

    /// Runs a program to its end (as `postgres` when `asPostgres`), appending its output to `log`.
    ///
    /// - Throws: `Failure` with the end of its output when it does not exit 0.
    private static func run(_ program: String, _ arguments: [String], asPostgres: Bool = false, log: String?) throws {
        let (executable, argv) = asPostgres ? ("/usr/sbin/runuser", ["-u", "postgres", "--", program] + arguments) : (program, arguments)
        var environment = ProcessInfo.processInfo.environment
        environment["LC_ALL"] = "C"
        let child = try ChildProcess(executable: executable, arguments: argv, environment: environment)
        let output = try child.communicate()
        let text = String(decoding: output.stdout + output.stderr, as: UTF8.self)
        if let log {
            let existing = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            try? (existing + text).write(toFile: log, atomically: false, encoding: .utf8)
        }
        guard output.termination == .exited(0) else {
            var detail = String(text.suffix(1500))
            if let serverLog = arguments.firstIndex(of: "-l").map({ arguments[$0 + 1] }),
               let serverText = try? String(contentsOfFile: serverLog, encoding: .utf8) {
                detail += "\nserver log \(serverLog):\n" + serverText.suffix(1500)
            }
            throw Failure(description: "\((program as NSString).lastPathComponent) \(output.termination): \(detail)")
        }
    }
}

/// Sends `signal` to `pid` (the C function; `PostgresServer.kill()` shadows the name inside the class).
private func signalProcess(_ pid: pid_t, _ signal: Int32) {
    _ = kill(pid, signal)
}
