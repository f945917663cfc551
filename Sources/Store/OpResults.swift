// Storing what a run measured, one op at a time, without ever losing it to a locked database:
// each op's results go in one transaction; when another process keeps the database locked past
// the busy timeout the transaction is retried, then the results are kept in memory and stored with
// a later op or at the end of the run, and as a last resort written to a side file named in the error.
import Foundation
import BenchModel

/// Everything measured for one op in one run, stored together in one transaction.
public struct OpResults: Codable, Sendable, Hashable {
    /// The run the op belongs to.
    public var runID: Int64
    /// The op (recorded once per run, suite and name).
    public var op: OpRecord
    /// Accuracy checks of its variants.
    public var checks: [AccuracyCheck]
    /// Raw samples, with counters and per-iteration latencies.
    public var samples: [Sample]
    /// Telemetry rows measured with the samples.
    public var telemetry: [TelemetryRow]
    /// The op family's decision log (e.g. the fusion planner's decisions behind a `[[model]]`).
    public var fusionDecisions: [FusionDecision]
    /// Run notes the op adds (e.g. `fusion.bytes.SUITE/OP/VARIANT`), set (replacing) with the op.
    public var runMeta: [String: String]

    /// Memberwise initialiser.
    public init(runID: Int64, op: OpRecord, checks: [AccuracyCheck] = [], samples: [Sample], telemetry: [TelemetryRow] = [],
                fusionDecisions: [FusionDecision] = [], runMeta: [String: String] = [:]) {
        self.runID = runID
        self.op = op
        self.checks = checks
        self.samples = samples
        self.telemetry = telemetry
        self.fusionDecisions = fusionDecisions
        self.runMeta = runMeta
    }

    /// Decodes results; the decision log and run notes may be absent (side files of older builds).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        runID = try c.decode(Int64.self, forKey: .runID)
        op = try c.decode(OpRecord.self, forKey: .op)
        checks = try c.decode([AccuracyCheck].self, forKey: .checks)
        samples = try c.decode([Sample].self, forKey: .samples)
        telemetry = try c.decode([TelemetryRow].self, forKey: .telemetry)
        fusionDecisions = try c.decodeIfPresent([FusionDecision].self, forKey: .fusionDecisions) ?? []
        runMeta = try c.decodeIfPresent([String: String].self, forKey: .runMeta) ?? [:]
    }

    /// `SUITE/OP`, for messages.
    var qualifiedName: String { "\(op.suite)/\(op.name)" }
}

extension ResultStore {
    /// Records the op and stores its checks, samples, telemetry, decision log and run notes in one
    /// transaction; returns the op id. Nothing is written when it throws.
    ///
    /// - Throws: `StoreError.locked` when the database stayed locked past the busy timeout,
    ///   `StoreError.unknownRun` when the run does not exist, `StoreError.unusable` otherwise.
    @discardableResult
    public func storeOpResults(_ results: OpResults) throws -> Int64 {
        let shape = try encodeJSON(results.op.shape)
        let layers = try results.fusionDecisions.map { try encodeJSON($0.group) }
        return try write { db in
            let opID = try Self.recordOp(db, runID: results.runID, op: results.op, shape: shape)
            for check in results.checks {
                try Self.insertAccuracy(db, runID: results.runID, opID: opID, check: check)
            }
            if !results.samples.isEmpty {
                try writeSamples(db, runID: results.runID, opID: opID, samples: results.samples)
            }
            try Self.insertTelemetry(db, runID: results.runID, rows: results.telemetry)
            try Self.insertFusionDecisions(db, runID: results.runID, decisions: results.fusionDecisions, layers: layers)
            for (key, value) in results.runMeta.sorted(by: { $0.key < $1.key }) {
                try Self.setRunMeta(db, runID: results.runID, key: key, value: value)
            }
            return opID
        }
    }
}

/// Stores each op's results as the run produces them and never discards them.
///
/// `store(_:)` first stores results kept from earlier ops, then the new ones; a transaction that
/// fails because the database stayed locked is retried once, and when still locked its results are
/// kept in memory (the op fails with a message, the run goes on). `finish()` makes a last attempt
/// and writes whatever is still unstored to a side file next to the database (or in the temporary
/// directory), named in the error it throws. Use from one thread (the runner's).
public final class OpResultSpool {
    /// The store written to.
    public let store: ResultStore
    /// Results not stored yet, oldest first.
    public private(set) var pending: [OpResults] = []

    /// A spool writing to `store`.
    public init(store: ResultStore) {
        self.store = store
    }

    /// Stores earlier kept results, then `results`. Returns a line for the user when something was
    /// kept in memory or stored late, else nil.
    ///
    /// - Throws: any store error other than the database being locked (results are then kept too).
    public func store(_ results: OpResults) throws -> String? {
        pending.append(results)
        let before = pending.count
        let lateOps = pending.dropLast().map(\.qualifiedName)
        let locked = try flush()
        guard let locked else {
            return before > 1 ? "stored the results of \(lateOps.joined(separator: ", ")) late, once the database was free again" : nil
        }
        let samples = pending.reduce(0) { $0 + $1.samples.count }
        return "\(results.qualifiedName): not stored: \(locked.description). Its results are kept in memory "
            + "(\(pending.count) op(s), \(samples) sample(s)) and will be stored with the next op or at the end of the run"
    }

    /// Stores everything still kept. Returns a line for the user when results were stored late.
    ///
    /// - Throws: `StoreError.keptInSideFile` naming the file the unstored results were written to
    ///   when the database stayed locked; other store errors as they are.
    public func finish() throws -> String? {
        guard !pending.isEmpty else { return nil }
        let names = pending.map(\.qualifiedName)
        if let locked = try flush() {
            throw writeSideFile(reason: locked.description)
        }
        return "stored the results of \(names.joined(separator: ", ")) late, once the database was free again"
    }

    /// Writes whatever is still kept to a side file (without touching the database) and returns
    /// the error describing it, or nil when nothing is kept. For failure paths.
    public func salvage(reason: String) -> StoreError? {
        guard !pending.isEmpty else { return nil }
        return writeSideFile(reason: reason)
    }

    /// Stores `pending` in order, removing what was stored; returns the lock error that stopped
    /// it (after one retry of the failing transaction), or nil when everything was stored.
    private func flush() throws -> StoreError? {
        while let next = pending.first {
            var lastLock: StoreError?
            for _ in 0..<2 {
                do {
                    try store.storeOpResults(next)
                    lastLock = nil
                    break
                } catch let error as StoreError {
                    guard case .locked = error else { throw error }
                    lastLock = error
                }
            }
            if let lastLock { return lastLock }
            pending.removeFirst()
        }
        return nil
    }

    /// Writes `pending` as JSON to `DB.unsaved-<time>-<pid>.json` (or the temporary directory when
    /// that fails), empties it and returns the error naming the file.
    private func writeSideFile(reason: String) -> StoreError {
        let samples = pending.reduce(0) { $0 + $1.samples.count }
        let stamp = Int(Date().timeIntervalSince1970)
        let name = "\(URL(fileURLWithPath: store.path).lastPathComponent).unsaved-\(stamp)-\(getpid()).json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let candidates = [
            URL(fileURLWithPath: store.path).deletingLastPathComponent().appendingPathComponent(name),
            FileManager.default.temporaryDirectory.appendingPathComponent(name),
        ]
        do {
            let data = try encoder.encode(pending)
            for url in candidates {
                if (try? data.write(to: url, options: [.atomic])) != nil {
                    pending.removeAll()
                    return .keptInSideFile(path: store.path, sideFile: url.path, samples: samples, reason: reason)
                }
            }
        } catch {
            return .unusable(path: store.path, reason: "\(samples) measured sample(s) could not be stored (\(reason)) nor encoded: \(error)")
        }
        return .unusable(path: store.path, reason: "\(samples) measured sample(s) could not be stored (\(reason)) nor written to "
            + candidates.map(\.path).joined(separator: " or "))
    }
}
