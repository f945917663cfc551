// PostgresErrors: what the PostgreSQL engine tells the user when something fails — the driver's
// errors (PSQLError: connection failures, the server's SQLSTATE and message) turned into
// `StoreError`s with a readable sentence that names the database URL without its password.
#if Fleet
import Foundation
import PostgresNIO
import Store

/// Mapping of PostgreSQL and connection errors to `StoreError`.
enum PostgresErrors {
    /// `error` as a `StoreError` naming `location`; store errors pass through unchanged.
    static func mapped(_ error: any Error, location: String, settings: DatabaseURL, lockTimeout: Double) -> any Error {
        if error is StoreError { return error }
        if let rowError = error as? StoreRowError {
            return StoreError.unusable(path: location, reason: rowError.description)
        }
        let server = settings.socketPath ?? (settings.host.contains(":") ? "[\(settings.host)]:\(settings.port)" : "\(settings.host):\(settings.port)")
        if let failure = error as? PostgresFailure {
            switch failure {
            case let .connectTimeout(seconds):
                return StoreError.unusable(path: location, reason: "cannot reach the PostgreSQL server at \(server): no answer within "
                    + "\(format(seconds)) (connect_timeout; is the host up and the port open?)")
            case .connectionLost:
                return StoreError.unusable(path: location, reason: "the connection to the PostgreSQL server at \(server) was lost; "
                    + "the transaction in progress was rolled back by the server (nothing of it was stored)")
            case let .tls(detail):
                return StoreError.unusable(path: location, reason: "the TLS settings cannot be used: \(DatabaseURL.redacted(detail))")
            }
        }
        guard let psql = error as? PSQLError else {
            return StoreError.unusable(path: location, reason: DatabaseURL.redacted(String(describing: error)))
        }
        switch psql.code {
        case .server:
            let state = psql.serverInfo?[.sqlState] ?? ""
            let message = psql.serverInfo?[.message] ?? "unknown server error"
            return serverError(state: state, message: message, detail: psql.serverInfo?[.detail], location: location, settings: settings,
                               lockTimeout: lockTimeout)
        case .connectionError:
            let underlying = psql.underlying.map { String(describing: $0) } ?? "unknown"
            let lower = underlying.lowercased()
            if lower.contains("refused") {
                return StoreError.unusable(path: location, reason: "cannot reach the PostgreSQL server at \(server): connection refused "
                    + "(is the server running and listening on that address and port?)")
            }
            if lower.contains("timeout") || lower.contains("timed out") {
                return StoreError.unusable(path: location, reason: "cannot reach the PostgreSQL server at \(server): no answer within "
                    + "\(format(settings.connectTimeout)) (connect_timeout; is the host up and the port open?)")
            }
            return StoreError.unusable(path: location, reason: "cannot reach the PostgreSQL server at \(server): \(DatabaseURL.redacted(underlying))")
        case .serverClosedConnection, .uncleanShutdown, .clientClosedConnection:
            return StoreError.unusable(path: location, reason: "the connection to the PostgreSQL server at \(server) was lost; "
                + "the transaction in progress was rolled back by the server (nothing of it was stored)")
        case .sslUnsupported:
            return StoreError.unusable(path: location, reason: "the server at \(server) does not support TLS, and sslmode=require asks for it")
        case .failedToAddSSLHandler, .receivedUnencryptedDataAfterSSLRequest:
            return StoreError.unusable(path: location, reason: "TLS with the server at \(server) failed: \(psql.code)")
        case .authMechanismRequiresPassword:
            return StoreError.unusable(path: location, reason: "the server asks for a password for role \(settings.user); "
                + "give it in the URL (postgres://USER:PASSWORD@...) or in PGPASSWORD")
        case .unsupportedAuthMechanism, .saslError:
            return StoreError.unusable(path: location, reason: "logging in as \(settings.user) failed (\(psql.code); "
                + "the server's authentication method is not supported, or the password is wrong)")
        case .tooManyParameters:
            return StoreError.unusable(path: location, reason: "a statement has more than 65535 parameters (a fusebench defect)")
        default:
            let underlying = psql.underlying.map { ": " + DatabaseURL.redacted(String(describing: $0)) } ?? ""
            return StoreError.unusable(path: location, reason: "PostgreSQL driver error \(psql.code)\(underlying)")
        }
    }

    /// A server's error by SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html).
    static func serverError(state: String, message: String, detail: String?, location: String, settings: DatabaseURL,
                            lockTimeout: Double) -> StoreError {
        switch state {
        case "28P01":
            return .unusable(path: location, reason: "the server refused the password of role \(settings.user) (\(message))")
        case "28000":
            return .unusable(path: location, reason: "the server refused the login of role \(settings.user): \(message)")
        case "3D000":
            return .unusable(path: location, reason: "database \(settings.database) does not exist on the server; create it first "
                + "(createdb or CREATE DATABASE \(settings.database)) or fix the URL")
        case "42501":
            return .unusable(path: location, reason: "permission denied: \(message) (see docs/fleet.md for the privileges fusebench needs)")
        case "55P03", "40P01":
            return .locked(path: location, seconds: lockTimeout)
        case "57P01", "57P02", "57P03":
            return .unusable(path: location, reason: "the server is shutting down or starting up (\(message)); "
                + "the transaction in progress was rolled back (nothing of it was stored)")
        case "53300":
            return .unusable(path: location, reason: "the server has no free connection slot (\(message)); try again later or raise max_connections")
        case "25006":
            return .unusable(path: location, reason: "a write was attempted in a read-only transaction (\(message))")
        case "25P02":
            return .unusable(path: location, reason: "a statement failed earlier in this transaction, so the server refuses the rest "
                + "(a fusebench defect: an error was ignored inside a transaction)")
        default:
            var text = message
            if let detail, !detail.isEmpty { text += " (\(detail))" }
            return .unusable(path: location, reason: "the server reported an error: \(text) [SQLSTATE \(state)]")
        }
    }

    /// `10 s`, `0.5 s`.
    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
    }
}
#endif
