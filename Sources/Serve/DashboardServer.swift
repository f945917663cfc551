// The dashboard's HTTP server: hummingbird's `Application` with one responder that hands every
// request to `Dashboard` (run on a dispatch queue, never on an event loop: store calls block), bound
// to a host and port (0 = a free one), with a graceful stop on SIGINT/SIGTERM or task cancellation.
#if Fleet
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle

/// Why the dashboard could not serve (exit 3 at the CLI).
public struct DashboardServerError: Error, CustomStringConvertible, Sendable {
    /// The sentence shown to the user.
    public var description: String
    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}

/// Serves a `Dashboard` over HTTP/1.1.
public struct DashboardServer: Sendable {
    /// What is served.
    public let dashboard: Dashboard

    /// A server for `dashboard`.
    public init(dashboard: Dashboard) {
        self.dashboard = dashboard
    }

    /// Listens on `host`:`port` (0 = a free port), calls `onListening` with the bound port once
    /// connections are accepted, and serves until the task is cancelled or, with `handleSignals`,
    /// SIGINT or SIGTERM arrives; then stops gracefully (requests in flight are answered) and returns.
    ///
    /// - Throws: `DashboardServerError` when the address cannot be bound (port in use, unknown host)
    ///   or the server fails.
    public func run(host: String, port: Int, handleSignals: Bool, onListening: @escaping @Sendable (Int) -> Void) async throws {
        try await serve(host: host, port: port, handleSignals: handleSignals, started: { _ in }, onListening: onListening)
    }

    /// `run`, handing the service group to `started` first (so `RunningDashboard.stop` can shut it down gracefully).
    func serve(host: String, port: Int, handleSignals: Bool, started: @Sendable (ServiceGroup) async -> Void,
               onListening: @escaping @Sendable (Int) -> Void) async throws {
        let listening = ListeningFlag()
        var logger = Logger(label: "fusebench.serve") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let app = Application(responder: DashboardResponder(dashboard: dashboard),
                              configuration: .init(address: .hostname(host, port: port), serverName: "fusebench"),
                              onServerRunning: { channel in
                                  listening.set()
                                  onListening(channel.localAddress?.port ?? port)
                              },
                              logger: logger)
        do {
            let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
                                                          logger: logger))
            await started(group)
            try await group.run()
        } catch {
            if listening.isSet { throw DashboardServerError("the dashboard server stopped: \(Dashboard.sentence(error))") }
            let text = String(describing: error)
            if text.contains("Address already in use") || text.contains("EADDRINUSE") {
                throw DashboardServerError("cannot listen on \(host):\(port): the port is in use by another program "
                    + "(choose another with --port, or --port 0 for a free one)")
            }
            throw DashboardServerError("cannot listen on \(host):\(port): \(Dashboard.sentence(error))")
        }
    }

    /// Starts serving on `host`:`port` in a task of its own (no signal handling) and returns once it
    /// listens; `stop()` ends it. For tests and embedding.
    ///
    /// - Throws: `DashboardServerError` when it cannot listen.
    public func start(host: String = "127.0.0.1", port: Int = 0) async throws -> RunningDashboard {
        let (events, continuation) = AsyncStream<StartEvent>.makeStream()
        let task = Task {
            defer { continuation.finish() }
            try await serve(host: host, port: port, handleSignals: false, started: { continuation.yield(.group($0)) },
                            onListening: { continuation.yield(.listening($0)) })
        }
        var group: ServiceGroup?
        for await event in events {
            switch event {
            case .group(let g): group = g
            case .listening(let bound):
                if let group { return RunningDashboard(host: host, port: bound, group: group, task: task) }
            }
        }
        try await task.value
        throw DashboardServerError("the dashboard server ended before it listened")
    }
}

/// A dashboard served by `DashboardServer.start`.
public struct RunningDashboard: Sendable {
    /// The address it listens on.
    public let host: String
    public let port: Int
    let group: ServiceGroup
    let task: Task<Void, any Error>

    /// `http://HOST:PORT/`.
    public var url: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)/" }

    /// Stops the server gracefully and waits until it has stopped.
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

/// What `DashboardServer.start` waits for.
private enum StartEvent: Sendable {
    case group(ServiceGroup)
    case listening(Int)
}

/// Set once the server listens (written from the server's task, read after `run` failed).
private final class ListeningFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

/// Hands requests to `Dashboard` on a concurrent dispatch queue and converts its answers.
struct DashboardResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let dashboard: Dashboard

    /// Store calls block: they run here, never on an event loop or the cooperative pool.
    static let queue = DispatchQueue(label: "fusebench.serve.store", attributes: .concurrent)

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        var body: [UInt8] = []
        if request.method == .post {
            // At most one byte past the limit is kept: enough for `Dashboard` to refuse it (413).
            for try await chunk in request.body {
                body += chunk.readableBytesView.prefix(Dashboard.maximumBody + 1 - body.count)
                if body.count > Dashboard.maximumBody { break }
            }
        }
        let question = DashboardRequest(method: request.method.rawValue, path: request.uri.path, query: request.uri.query,
                                        authorization: request.headers[.authorization], contentType: request.headers[.contentType],
                                        body: body)
        let dashboard = self.dashboard
        let answer = await withCheckedContinuation { (done: CheckedContinuation<DashboardResponse, Never>) in
            Self.queue.async { done.resume(returning: dashboard.respond(to: question)) }
        }
        var headers = HTTPFields()
        headers[.contentType] = answer.contentType
        for (name, value) in answer.headers.sorted(by: { $0.key < $1.key }) {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        return Response(status: HTTPResponse.Status(code: answer.status), headers: headers,
                        body: ResponseBody(byteBuffer: ByteBuffer(string: answer.body)))
    }
}
#endif
