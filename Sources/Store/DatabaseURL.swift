// DatabaseURL: the `postgres://` / `postgresql://` URLs that `--db` and `FUSEBENCH_DB` accept for the
// shared fleet store, parsed into connection settings (no networking here: the PostgreSQL engine
// lives in `StorePostgres`, built with the `Fleet` trait). Also the one place that hides passwords:
// every message naming a database URL goes through `DatabaseURL.redacted`.
import Foundation

/// A parsed PostgreSQL connection URL:
/// `postgres://[USER[:PASSWORD]@][HOST][:PORT][/DATABASE][?sslmode=…&connect_timeout=…&host=…&sslrootcert=…&password=…]`.
///
/// Defaults: user `$PGUSER` or `postgres`; password `$PGPASSWORD` when the URL has none; host
/// `127.0.0.1`; port 5432; database = the user name (as libpq does); `sslmode=disable`;
/// `connect_timeout=10` seconds. A host that is a path (`host=/run/postgresql` in the query, or a
/// percent-encoded `%2Frun%2Fpostgresql` host) names a Unix-socket directory.
///
/// `sslmode`: `disable` (no TLS, the default: a fleet database usually sits on a private network or
/// loopback), `prefer` (TLS when the server offers it) or `require` (TLS or fail). Both TLS modes
/// verify the server's certificate against the system's trust roots, or against `sslrootcert=PATH`
/// (stricter than libpq's `require`, which does not verify).
public struct DatabaseURL: Sendable, Equatable {
    /// How TLS is used.
    public enum SSLMode: String, Sendable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS when the server supports it, plain otherwise.
        case prefer
        /// TLS or fail.
        case require
    }

    /// Role to log in as.
    public var user: String
    /// Password (from the URL, else `$PGPASSWORD`); nil = none.
    public var password: String?
    /// Host name or IP address; for Unix sockets, the socket directory (see `socketPath`).
    public var host: String
    /// TCP port (also names the Unix socket file `.s.PGSQL.PORT`).
    public var port: Int
    /// Database name.
    public var database: String
    /// TLS use.
    public var sslMode: SSLMode
    /// PEM file of the certificate authorities trusted for TLS (nil = the system's).
    public var sslRootCertificate: String?
    /// Seconds to wait for the connection (and login) before giving up.
    public var connectTimeout: Double

    /// Default seconds to wait for a connection.
    public static let defaultConnectTimeout: Double = 10
    /// Query parameters the URL may carry.
    public static let parameters = ["sslmode", "connect_timeout", "host", "sslrootcert", "password"]

    /// The Unix socket file when `host` is a directory (starts with `/`), else nil.
    public var socketPath: String? {
        guard host.hasPrefix("/") else { return nil }
        return (host.hasSuffix("/") ? host : host + "/") + ".s.PGSQL.\(port)"
    }

    /// The URL as messages show it: no password.
    public var display: String {
        var text = "postgres://\(Self.encode(user))@"
        if socketPath == nil {
            text += host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        } else {
            text += ":\(port)"
        }
        text += "/\(Self.encode(database))"
        var query: [String] = []
        if socketPath != nil { query.append("host=\(Self.encode(host))") }
        if sslMode != .disable { query.append("sslmode=\(sslMode.rawValue)") }
        return query.isEmpty ? text : text + "?" + query.joined(separator: "&")
    }

    /// Whether `text` is a PostgreSQL URL (`postgres://` or `postgresql://`, any case) rather than a
    /// SQLite file path.
    public static func isPostgres(_ text: String) -> Bool {
        let lower = text.prefix(13).lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    /// `text` with any password replaced by `***`: the `USER:PASSWORD@` part of a URL and a
    /// `password=` query parameter. Works on malformed URLs too (best effort on what is there);
    /// text that is not a URL is returned unchanged.
    public static func redacted(_ text: String) -> String {
        guard let schemeEnd = text.range(of: "://") else { return text }
        var result = String(text[..<schemeEnd.upperBound])
        let rest = text[schemeEnd.upperBound...]
        // The authority ends at the first '/', '?' or '#' after the last '@' (a password may hold '/').
        let authorityEnd: String.Index
        if let at = rest.lastIndex(of: "@") {
            authorityEnd = rest[at...].firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        } else {
            authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        }
        let authority = rest[..<authorityEnd]
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            if let colon = userInfo.firstIndex(of: ":") {
                result += userInfo[..<colon] + ":***"
            } else {
                result += userInfo
            }
            result += authority[at...]
        } else {
            result += authority
        }
        var tail = String(rest[authorityEnd...])
        if let question = tail.firstIndex(of: "?") {
            let path = tail[..<question]
            let query = tail[tail.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false).map { item -> String in
                item.lowercased().hasPrefix("password=") ? "password=***" : String(item)
            }
            tail = path + "?" + query.joined(separator: "&")
        }
        return result + tail
    }

    /// Parses a `postgres://` URL; `environment` supplies `PGUSER` and `PGPASSWORD`.
    ///
    /// - Throws: `StoreError.invalidName` naming the URL (password hidden) and what is wrong.
    public init(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        func invalid(_ reason: String) -> StoreError {
            StoreError.invalidName("invalid PostgreSQL URL \(Self.redacted(text)): \(reason)")
        }
        guard Self.isPostgres(text), let schemeEnd = text.range(of: "://") else {
            throw invalid("it must start with postgres:// or postgresql://")
        }
        var rest = Substring(text[schemeEnd.upperBound...])
        // The user information first, up to the last '@': a password with an unencoded '?', '#' or
        // '/' must not be split as if it were the query or path (and then shown in a message).
        var userInfo: Substring?
        if let at = rest.lastIndex(of: "@") {
            userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        var queryText: Substring = ""
        if let question = rest.firstIndex(of: "?") {
            queryText = rest[rest.index(after: question)...]
            rest = rest[..<question]
        }
        // Authority up to the first '/'.
        var authority = rest
        var pathText: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            pathText = rest[rest.index(after: slash)...]
        }
        var user: String?
        var password: String?
        let hostPort = authority
        if let userInfo {
            if let colon = userInfo.firstIndex(of: ":") {
                guard let name = Self.decode(userInfo[..<colon]), let secret = Self.decode(userInfo[userInfo.index(after: colon)...]) else {
                    throw invalid("bad percent-encoding in the user or password")
                }
                user = name
                password = secret
            } else {
                guard let name = Self.decode(userInfo) else { throw invalid("bad percent-encoding in the user name") }
                user = name
            }
        }
        var host = ""
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw invalid("unclosed '[' in the host") }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("unexpected '\(after)' after the host") }
                portText = after.dropFirst()
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            guard let decoded = Self.decode(hostPort[..<colon]) else { throw invalid("bad percent-encoding in the host") }
            host = decoded
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            guard let decoded = Self.decode(hostPort) else { throw invalid("bad percent-encoding in the host") }
            host = decoded
        }
        var port = 5432
        if let portText, !portText.isEmpty {
            guard portText.allSatisfy(\.isASCII), let value = Int(portText), (1...65535).contains(value) else {
                throw invalid("port '\(portText)' is not a number in 1...65535")
            }
            port = value
        }
        if pathText.contains("/") { throw invalid("the path must be a single database name") }
        guard let database = Self.decode(pathText) else { throw invalid("bad percent-encoding in the database name") }

        var sslMode = SSLMode.disable
        var connectTimeout = Self.defaultConnectTimeout
        var rootCertificate: String?
        for item in queryText.split(separator: "&") where !item.isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = parts[0].lowercased()
            guard parts.count == 2 else { throw invalid("query item '\(item)' is not KEY=VALUE") }
            guard let value = Self.decode(parts[1]) else { throw invalid("bad percent-encoding in parameter \(key)") }
            switch key {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw invalid("sslmode must be one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", ")), got '\(value)'")
                }
                sslMode = mode
            case "connect_timeout":
                guard let seconds = Double(value), seconds.isFinite, seconds > 0, seconds <= 3600 else {
                    throw invalid("connect_timeout must be a number of seconds in (0, 3600], got '\(value)'")
                }
                connectTimeout = seconds
            case "host":
                guard !value.isEmpty else { throw invalid("host= is empty") }
                host = value
            case "password":
                password = value
            case "sslrootcert":
                guard !value.isEmpty else { throw invalid("sslrootcert= is empty") }
                rootCertificate = value
            default:
                throw invalid("unknown parameter '\(key)' (accepted: \(Self.parameters.joined(separator: ", ")))")
            }
        }
        let resolvedUser = user.flatMap { $0.isEmpty ? nil : $0 } ?? environment["PGUSER"].flatMap { $0.isEmpty ? nil : $0 } ?? "postgres"
        self.user = resolvedUser
        self.password = password ?? environment["PGPASSWORD"]
        self.host = host.isEmpty ? "127.0.0.1" : host
        self.port = port
        self.database = database.isEmpty ? resolvedUser : database
        self.sslMode = sslMode
        self.sslRootCertificate = rootCertificate
        self.connectTimeout = connectTimeout
    }

    /// Percent-decodes a URL part (nil when the encoding is broken).
    private static func decode(_ text: Substring) -> String? {
        text.contains("%") ? String(text).removingPercentEncoding : String(text)
    }

    /// Percent-encodes a user or database name for `display`.
    private static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
