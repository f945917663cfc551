// Suite entry types: how op families other than plain kernels (`[[model]]`, `[[edge]]`, ...) get
// their tables read without the suite loader knowing them. A family registers a `SuiteEntryType`
// for its table name (FuseBench registers the built-in ones); the loader hands each entry to it
// through a `SuiteEntryReader`, whose accessors validate and report errors at the entry's
// file:line:col. See docs/architecture.md, "Op families".
import BenchModel
import Foundation
import Kernels
import TOMLKit

/// Reads one kind of suite entry table (`[[model]]` for `key == "model"`) into ops.
public protocol SuiteEntryType: Sendable {
    /// The top-level key of the array of tables.
    var key: String { get }
    /// Reads one entry. Errors are `SuiteError`s made by `entry.fail(at:_:)`.
    func read(_ entry: SuiteEntryReader) throws -> OpSpec
}

/// The registered suite entry types, by table name (process-wide).
public enum SuiteEntryTypes {
    /// The registrations behind a lock, in registration order.
    private final class Registry: @unchecked Sendable {
        let lock = NSLock()
        var types: [any SuiteEntryType] = []
    }
    private static let registry = Registry()

    /// Registers `type` for its `key`, replacing an earlier registration of the same key (which
    /// keeps its place). Entries are read in registration order, after `[[op]]`.
    public static func register(_ type: any SuiteEntryType) {
        registry.lock.lock()
        defer { registry.lock.unlock() }
        if let i = registry.types.firstIndex(where: { $0.key == type.key }) {
            registry.types[i] = type
        } else {
            registry.types.append(type)
        }
    }

    /// Every registered type, in registration order.
    public static var all: [any SuiteEntryType] {
        registry.lock.lock()
        defer { registry.lock.unlock() }
        return registry.types
    }
}

/// What a family's entry carries into the plan: its validated description (`spec`, e.g. a
/// `ModelSpec`) and how to build the op's factory from it.
public struct OpFamilyEntry: Sendable, Hashable {
    /// The family's description of the op.
    public let spec: any Hashable & Sendable
    private let make: @Sendable () throws -> any KernelFactory

    /// Wraps `spec` and the factory builder.
    public init(spec: any Hashable & Sendable, makeFactory: @escaping @Sendable () throws -> any KernelFactory) {
        self.spec = spec
        self.make = makeFactory
    }

    /// Builds the factory (loads files, validates the graph, ...).
    public func makeFactory() throws -> any KernelFactory { try make() }

    /// Equal when the specs are equal.
    public static func == (a: OpFamilyEntry, b: OpFamilyEntry) -> Bool { AnyHashable(a.spec) == AnyHashable(b.spec) }
    /// Hashes the spec.
    public func hash(into hasher: inout Hasher) { AnyHashable(spec).hash(into: &hasher) }
}

/// A scalar TOML value of an entry (for free-form attributes such as a model layer's).
public enum SuiteScalar: Sendable, Hashable {
    case bool(Bool), int(Int), double(Double), string(String)
}

/// One entry table being read: validated accessors whose errors point at the entry's keys.
/// Keys passed to the accessors are relative to the entry (`name`, `input`); key paths in
/// `fail(at:_:)` are absolute (`model[0].layer[2].out`, see `path(_:)`).
public struct SuiteEntryReader {
    let reader: Reader
    let table: TOMLTable
    /// Key path of the entry, e.g. `model[0]`.
    public let prefix: String
    /// The suite's `[defaults]` settings.
    public let defaults: MeasurementSettings

    init(reader: Reader, table: TOMLTable, prefix: String, defaults: MeasurementSettings) {
        self.reader = reader
        self.table = table
        self.prefix = prefix
        self.defaults = defaults
    }

    /// Path of the suite file as given (entries resolve relative paths against its directory).
    public var suitePath: String { reader.path }
    /// Line of the entry's header.
    public var line: Int { reader.locator.position(of: prefix).line }
    /// Keys present in the entry.
    public var keys: [String] { Array(table.keys) }
    /// The absolute key path of `key` in this entry.
    public func path(_ key: String) -> String { "\(prefix).\(key)" }

    /// An error at the absolute key path `keyPath` (file:line:col of that key).
    public func fail(at keyPath: String, _ message: String) -> SuiteError { reader.fail(keyPath, message) }

    /// Throws for a key outside `allowed` and the per-op measurement settings (`samples`, ...).
    public func checkKeys(allowed: Set<String>) throws {
        try reader.checkKeys(table, at: prefix, allowed: Reader.settingKeys.subtracting(["counters"]).union(allowed))
    }

    /// A string value, nil when absent.
    public func string(_ key: String) throws -> String? { try reader.string(table, key, at: prefix) }
    /// An integer of at least `min`, nil when absent.
    public func int(_ key: String, min: Int) throws -> Int? { try reader.int(table, key, at: prefix, min: min) }
    /// A number (integer or float), nil when absent.
    public func number(_ key: String) throws -> Double? { try reader.number(table, key, at: prefix) }
    /// An array of strings, nil when absent.
    public func strings(_ key: String) throws -> [String]? { try reader.strings(table, key, at: prefix) }
    /// `key` is present.
    public func has(_ key: String) -> Bool { table[key] != nil }

    /// A table of integers (`{ rows = 64, cols = 768 }`), nil when absent.
    public func intTable(_ key: String, what: String) throws -> [String: Int]? {
        guard let v = table[key] else { return nil }
        guard let t = v.table else { throw fail(at: path(key), "\(what): '\(key)' must be a table like { rows = 64, cols = 768 }") }
        var out: [String: Int] = [:]
        for k in t.keys {
            guard let n = t[k]?.int else { throw fail(at: "\(path(key)).\(k)", "\(what): \(key).\(k) must be an integer") }
            out[k] = n
        }
        return out
    }

    /// The entries of a nested array of tables (`[[model.layer]]` for `key == "layer"`), nil when absent.
    public func entries(_ key: String, what: String) throws -> [SuiteEntryReader]? {
        guard let v = table[key] else { return nil }
        guard let a = v.array else { throw fail(at: path(key), "\(what): '\(key)' must be an array of tables") }
        return try a.enumerated().map { j, e in
            let p = "\(path(key))[\(j)]"
            guard let t = e.table else { throw fail(at: p, "\(what): each '\(key)' entry must be a table") }
            return SuiteEntryReader(reader: reader, table: t, prefix: p, defaults: defaults)
        }
    }

    /// A scalar value (boolean, integer, float or string), nil when absent.
    public func scalar(_ key: String, what: String) throws -> SuiteScalar? {
        guard let value = table[key] else { return nil }
        if let b = value.bool { return .bool(b) }
        if let i = value.int { return .int(i) }
        if let d = value.double {
            guard d.isFinite else { throw fail(at: path(key), "\(what): '\(key)' must be a finite number, got \(d)") }
            return .double(d)
        }
        if let s = value.string { return .string(s) }
        throw fail(at: path(key), "\(what): '\(key)' must be a number, boolean or string, got \(value.type)")
    }

    /// Refuses an op whose variants together would allocate more than an op may use (half the
    /// physical RAM by default; `SuiteLoader.load(path:registry:memoryBytes:)`), reported at
    /// `keyPath`. Call it with the validated variants, before the op runs.
    public func checkMemory(_ factory: any KernelFactory, shape: Shape, dtype: String, variants: [String],
                            at keyPath: String, name: String) throws {
        try reader.checkMemory(factory, shape: shape, dtype: dtype, variants: variants, at: keyPath, name: name)
    }

    /// The entry's `name`: present, non-empty, letters, digits, `_`, `-` and `.` only.
    public func name(entryLabel: String) throws -> String {
        guard let name = try string("name"), !name.isEmpty else { throw fail(at: prefix, "[[\(entryLabel)]] needs a non-empty 'name'") }
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }) else {
            throw fail(at: path("name"), "\(entryLabel) name '\(name)' may contain only letters, digits, '_', '-' and '.'")
        }
        return name
    }

    /// `tolerance = { abs, rel, cosine }`, missing fields from `base`; nil when absent.
    public func tolerance(name: String, base: Tolerance) throws -> Tolerance? {
        try reader.tolerance(table, at: prefix, name: name, base: base)
    }

    /// The measurement settings: `[defaults]` overridden by the entry's own keys.
    public func settings() throws -> MeasurementSettings {
        try reader.settings(table, at: prefix, base: defaults)
    }

    /// `variants` (default `all`) validated against `known`: non-empty, known, no duplicates, and
    /// `reference` listed unless a single variant runs; returned with the reference first.
    public func variants(known: [String], default all: [String], reference: String, what: String) throws -> [String] {
        let variants = try strings("variants") ?? all
        guard !variants.isEmpty else { throw fail(at: path("variants"), "\(what): 'variants' is empty") }
        for v in variants where !known.contains(v) {
            throw fail(at: path("variants"), "\(what): no variant '\(v)' (has \(known.joined(separator: ", ")))")
        }
        guard Set(variants).count == variants.count else { throw fail(at: path("variants"), "\(what): duplicate variant") }
        guard variants.contains(reference) || variants.count == 1 else {
            throw fail(at: path("variants"), "\(what): '\(reference)' is the reference the other variants are verified against; list it")
        }
        return variants.contains(reference) ? [reference] + variants.filter { $0 != reference } : variants
    }
}
