// Benchmark identity. An op is identified by its suite and its name (`SUITE/OP`), one measured
// benchmark by that plus its variant (`SUITE/OP/VARIANT`). Two suites may use the same op name
// (e.g. `gemm_128` in `smoke` and in `default`): every module keys samples, statistics, report
// rows, comparisons and run metadata by these types, never by a bare op name.

/// Identity of one op of a run: its suite and its name, written `SUITE/OP`.
public struct OpKey: Hashable, Codable, Sendable, Comparable, CustomStringConvertible {
    /// Suite name (letters, digits, `_`, `-`, `.`; never contains `/`).
    public var suite: String
    /// Op name, unique within its suite.
    public var op: String

    /// Creates the key of op `op` of suite `suite`.
    public init(suite: String, op: String) {
        self.suite = suite
        self.op = op
    }

    /// `SUITE/OP`.
    public var description: String { "\(suite)/\(op)" }

    /// The benchmark of `variant` of this op.
    public func variant(_ variant: String) -> BenchmarkKey { BenchmarkKey(suite: suite, op: op, variant: variant) }

    /// Orders by suite, then op name.
    public static func < (a: OpKey, b: OpKey) -> Bool { (a.suite, a.op) < (b.suite, b.op) }

    /// Parses `SUITE/OP` (the suite is the text before the first `/`); nil when either part is empty.
    public static func parse(_ text: String) -> OpKey? {
        guard let slash = text.firstIndex(of: "/") else { return nil }
        let suite = String(text[..<slash]), op = String(text[text.index(after: slash)...])
        guard !suite.isEmpty, !op.isEmpty else { return nil }
        return OpKey(suite: suite, op: op)
    }

    /// Whether `name` — a bare op name (`OP`) or a qualified one (`SUITE/OP`) — names this op.
    /// A bare name names the op of that name in every suite.
    public func matches(_ name: String) -> Bool {
        name == op || name == description
    }
}

/// Identity of one benchmark: one variant of one op of a suite, written `SUITE/OP/VARIANT` in
/// tables, exports, comparisons and run metadata.
public struct BenchmarkKey: Hashable, Codable, Sendable, Comparable, CustomStringConvertible {
    /// Suite name.
    public var suite: String
    /// Op name within the suite.
    public var op: String
    /// Variant name (`reference`, `optimized`, `layer:NAME`, ...).
    public var variant: String

    /// Whether `variant` names a part of an op timed alone (`layer:NAME`: one layer of a model's
    /// unfused plan, or a fused group of layers `A+B+…`) rather than a variant of the op: parts are
    /// shown and compared, but never adopted, rejected or used as the op's speedup.
    public static func isPart(variant: String) -> Bool { variant.hasPrefix("layer:") }

    /// `isPart(variant:)` of this benchmark's variant.
    public var isPart: Bool { BenchmarkKey.isPart(variant: variant) }

    /// Creates the key of `variant` of op `op` of suite `suite`.
    public init(suite: String, op: String, variant: String) {
        self.suite = suite
        self.op = op
        self.variant = variant
    }

    /// The op this benchmark measures.
    public var opKey: OpKey {
        get { OpKey(suite: suite, op: op) }
        set {
            suite = newValue.suite
            op = newValue.op
        }
    }

    /// `SUITE/OP/VARIANT`.
    public var description: String { "\(suite)/\(op)/\(variant)" }

    /// Orders by suite, then op name, then variant.
    public static func < (a: BenchmarkKey, b: BenchmarkKey) -> Bool {
        (a.suite, a.op, a.variant) < (b.suite, b.op, b.variant)
    }

    /// Parses `SUITE/OP/VARIANT`: the suite is the text before the first `/`, the variant the text
    /// after the last one, the op what lies between. Nil when a part is empty or missing.
    public static func parse(_ text: String) -> BenchmarkKey? {
        guard let first = text.firstIndex(of: "/"), let last = text.lastIndex(of: "/"), first < last else { return nil }
        let suite = String(text[..<first])
        let op = String(text[text.index(after: first)..<last])
        let variant = String(text[text.index(after: last)...])
        guard !suite.isEmpty, !op.isEmpty, !variant.isEmpty else { return nil }
        return BenchmarkKey(suite: suite, op: op, variant: variant)
    }
}

/// Names of `run_meta` keys shared across modules; the per-benchmark ones embed the full `SUITE/OP/VARIANT`.
public enum RunMetaKey {
    /// Lowercase hex content hash (`ContentHash.file(atPath:)`, FNV-1a 64) of the executable that
    /// measured the run's side: this binary, the `gate --against` executable, or a user's
    /// executable built on FuseBenchCLI. Written at run start.
    public static let binaryHash = "binary.hash"

    /// `OP=PCT,...` of a run measured with `--inject-slowdown` (absent otherwise): such runs time
    /// deliberately slowed kernels and are not A/A history.
    public static let injectSlowdown = "inject_slowdown"

    /// Bytes one iteration of a fused model's variant moves, by the planner's own figure:
    /// `fusion.bytes.SUITE/OP/VARIANT`.
    public static func fusionBytes(_ key: BenchmarkKey) -> String { "\(fusionBytesPrefix)\(key)" }

    /// Prefix of the `fusionBytes` keys.
    public static let fusionBytesPrefix = "fusion.bytes."

    /// Roofline figures stored with a run: `derived.SUITE/OP/VARIANT`.
    public static func derived(_ key: BenchmarkKey) -> String { "derived.\(key)" }
}

/// A record that belongs to one benchmark and stores its identity as three fields (`suite`, `op`,
/// `variant`, the columns of the database): samples, accuracy checks, variant decisions. Gives
/// them `key` and `opKey`, so no record type re-derives identity on its own.
public protocol BenchmarkIdentified {
    /// Suite name.
    var suite: String { get set }
    /// Op name within the suite.
    var op: String { get set }
    /// Variant name.
    var variant: String { get set }
}

extension BenchmarkIdentified {
    /// The benchmark of this record (`SUITE/OP/VARIANT`).
    public var key: BenchmarkKey {
        get { BenchmarkKey(suite: suite, op: op, variant: variant) }
        set {
            suite = newValue.suite
            op = newValue.op
            variant = newValue.variant
        }
    }

    /// The op of this record (`SUITE/OP`).
    public var opKey: OpKey { OpKey(suite: suite, op: op) }
}
