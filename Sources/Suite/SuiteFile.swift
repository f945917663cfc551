import BenchModel
import Foundation
import Kernels

/// A validation or parse error in a suite file, printed as `FILE:LINE:COL: message`.
public struct SuiteError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var line: Int
    public var column: Int
    /// Key path at fault (`op[1].shape.k`), empty for whole-file errors.
    public var key: String
    public var message: String

    public init(file: String, line: Int, column: Int, key: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.message = message
    }

    public var description: String { "\(file):\(line):\(column): \(message)" }
}

/// Measurement settings; `[defaults]` in a suite, overridable per op.
public struct MeasurementSettings: Codable, Sendable, Hashable {
    /// Minimum duration of one sample batch (ns). Batches are sized to last at least this long.
    public var batchNs: Double = 2_000_000
    /// Measured batches per variant.
    public var samples: Int = 20
    /// Upper bound on warmup time per variant (ns); warmup stops earlier once times are stable.
    public var warmupNs: Double = 200_000_000
    /// Counter events to collect (when the machine can count).
    public var counters: [String] = MeasurementSettings.defaultCounters
    /// Whether `counters` came from the suite (unsupported events are then errors) or the default.
    public var countersExplicit: Bool = false
    /// Regression threshold on wall time, as a fraction (0.05 = 5%).
    public var threshold: Double = 0.05
    /// Regression threshold on instruction counts, as a fraction.
    public var instructionsThreshold: Double = 0.01
    /// Seed of the deterministic input generator.
    public var seed: UInt64 = 42

    /// Accepted `samples` (measured batches per variant): at least 2 for a spread, at most
    /// 100 000 (the samples of one op are held in memory and stored in one transaction).
    public static let samplesRange: ClosedRange<Int> = 2...100_000
    /// Accepted `batch_ms`: more than 0, at most 60 000 (one minute per batch).
    public static let batchMsRange: ClosedRange<Double> = 0...60_000
    /// Accepted `warmup_ms`: 0 (no warmup) to 600 000 (ten minutes).
    public static let warmupMsRange: ClosedRange<Double> = 0...600_000
    /// Largest `threshold` / `instructions_threshold` (a fraction: 1 = 100%).
    public static let maxThreshold = 1.0

    /// Events collected when a suite does not name any: the ones the run table derives metrics from.
    public static let defaultCounters = ["cycles", "instructions", "cache-misses", "branch-misses", "L1-dcache-load-misses"]

    public init() {}
}

/// One `[[op]]` entry after validation.
public struct OpSpec: Sendable, Hashable {
    public var name: String
    public var kind: String
    public var shape: [String: Int]
    public var dtype: String
    /// Variants to run; the first is the reference the others are verified against.
    public var variants: [String]
    /// Explicit accuracy band, or nil for the kernel's default.
    public var tolerance: Tolerance?
    public var settings: MeasurementSettings
    /// Line of the `[[op]]` header, for messages.
    public var line: Int
    /// The op family's description of an entry read by a registered `SuiteEntryType`
    /// (`[[model]]`, `[[edge]]`, ...); nil for `[[op]]`.
    public var family: OpFamilyEntry? = nil

    /// Creates a validated op description.
    public init(name: String, kind: String, shape: [String: Int], dtype: String, variants: [String], tolerance: Tolerance?,
                settings: MeasurementSettings, line: Int, family: OpFamilyEntry? = nil) {
        self.name = name
        self.kind = kind
        self.shape = shape
        self.dtype = dtype
        self.variants = variants
        self.tolerance = tolerance
        self.settings = settings
        self.line = line
        self.family = family
    }

    /// The factory that runs this op: the family's for a registered entry type, else the
    /// registry's factory for `kind`.
    public func factory(registry: KernelRegistry = .shared) -> (any KernelFactory)? {
        if let family { return try? family.makeFactory() }
        return registry.factory(kind: kind)
    }
}

/// A parsed and validated suite file.
public struct SuiteFile: Sendable {
    /// Path as given by the user.
    public var path: String
    public var name: String
    public var description: String
    public var defaults: MeasurementSettings
    public var ops: [OpSpec]
    /// Raw file contents (hashed into the run's suite hash).
    public var contents: Data
    /// Line and column of `[defaults] counters` when the suite sets it (for errors about an event).
    public var countersPosition: SourceLocator.Position? = nil

    /// The error for an event of `counters` that is not known, located at the `counters` key.
    public func unknownEventError(_ event: String, reason: String) -> SuiteError {
        let p = countersPosition ?? SourceLocator.Position(line: 1, column: 1)
        return SuiteError(file: path, line: p.line, column: p.column, key: "defaults.counters",
                          message: "unknown counter event '\(event)' in 'counters': \(reason)")
    }
}
