import BenchModel
import Foundation
import Kernels
import TOMLKit

/// Reads and validates suite files against the kernel registry.
public enum SuiteLoader {
    /// Largest suite file accepted (4 MiB; the shipped suites are a few KiB). Bounds the parse's
    /// time and memory; a larger file is an error naming its size.
    public static let maxFileBytes = 4 << 20

    /// Loads the suite at `path`. Throws `SuiteError` (with file:line:col) for any problem.
    ///
    /// The file is read through `BoundedFile`: a FIFO or device is refused instead of blocking,
    /// and a file over `maxFileBytes` is refused with its size.
    /// - Parameter memoryBytes: memory an op may use (all its variants' allocations together);
    ///   `MachineMemory.opBudgetBytes` (half the physical RAM) by default.
    public static func load(path: String, registry: KernelRegistry = .shared,
                            memoryBytes: UInt64 = MachineMemory.opBudgetBytes) throws -> SuiteFile {
        let data: Data
        switch BoundedFile.read(path, limit: maxFileBytes, truncate: false) {
        case let .success((bytes, _)):
            data = Data(bytes)
        case let .failure(.tooLarge(size, limit)):
            let what = size > 0 ? "\(size) bytes" : "more than \(limit) bytes"
            throw SuiteError(file: path, line: 1, column: 1, key: "",
                             message: "suite file is \(what); the limit is \(limit) bytes (\(limit >> 20) MiB)")
        case let .failure(e):
            throw SuiteError(file: path, line: 0, column: 0, key: "", message: "cannot read suite file: \(e)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw SuiteError(file: path, line: 1, column: 1, key: "", message: "suite file is not valid UTF-8")
        }
        return try parse(text: text, path: path, data: data, registry: registry, memoryBytes: memoryBytes)
    }

    /// Parses suite text (exposed for tests); `path` is used in messages only.
    /// - Parameter memoryBytes: see `load(path:registry:memoryBytes:)`.
    public static func parse(text: String, path: String, data: Data? = nil, registry: KernelRegistry = .shared,
                             memoryBytes: UInt64 = MachineMemory.opBudgetBytes) throws -> SuiteFile {
        guard text.utf8.count <= maxFileBytes else {
            throw SuiteError(file: path, line: 1, column: 1, key: "",
                             message: "suite file is \(text.utf8.count) bytes; the limit is \(maxFileBytes) bytes (\(maxFileBytes >> 20) MiB)")
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            throw SuiteError(file: path, line: e.source.begin.line, column: e.source.begin.column, key: "",
                             message: "invalid TOML: \(e.description)")
        }
        var reader = Reader(path: path, locator: SourceLocator(text: text), memoryBytes: memoryBytes)
        return try reader.suite(table, data: data ?? Data(text.utf8), registry: registry)
    }
}

/// The machine's memory, for refusing shapes that cannot fit before anything is allocated.
public enum MachineMemory {
    /// Physical RAM in bytes: `sysconf(_SC_PHYS_PAGES) × page size`, else `MemTotal` from
    /// `/proc/meminfo`, else `UInt64.max` (unknown: nothing is refused).
    public static let physicalBytes: UInt64 = {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        if pages > 0, size > 0 {
            let (b, o) = UInt64(pages).multipliedReportingOverflow(by: UInt64(size))
            return o ? UInt64.max : b
        }
        if case let .success((bytes, _)) = BoundedFile.read("/proc/meminfo"),
           let line = String(decoding: bytes, as: UTF8.self).split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
           let kb = line.split(separator: " ").dropFirst().first.flatMap({ UInt64($0) }) {
            return kb.multipliedReportingOverflow(by: 1024).overflow ? UInt64.max : kb * 1024
        }
        return UInt64.max
    }()

    /// Memory one op may use: half the physical RAM. The rest is left to the OS, the page cache,
    /// the result store and the harness's own copies (outputs kept for verification, samples).
    public static let opBudgetBytes: UInt64 = physicalBytes == UInt64.max ? UInt64.max : physicalBytes / 2

    /// `bytes` as `12.0 GiB` / `512.0 MiB`.
    public static func format(_ bytes: Double) -> String {
        if bytes >= Double(1 << 30) { return String(format: "%.1f GiB", bytes / Double(1 << 30)) }
        return String(format: "%.1f MiB", bytes / Double(1 << 20))
    }
}

/// Validating walker over the TOML tree; knows where every key is.
struct Reader {
    let path: String
    let locator: SourceLocator
    /// Memory one op may use; see `SuiteLoader.load(path:registry:memoryBytes:)`.
    let memoryBytes: UInt64

    func fail(_ key: String, _ message: String) -> SuiteError {
        let p = locator.position(of: key)
        return SuiteError(file: path, line: p.line, column: p.column, key: key, message: message)
    }

    func checkKeys(_ t: TOMLTable, at prefix: String, allowed: Set<String>) throws {
        for k in t.keys where !allowed.contains(k) {
            let known = allowed.sorted().joined(separator: ", ")
            throw fail("\(prefix).\(k)", "unknown key '\(k)' in [\(prefix.replacingOccurrences(of: "[", with: "#").replacingOccurrences(of: "]", with: ""))] (known: \(known))")
        }
    }

    func string(_ t: TOMLTable, _ key: String, at prefix: String) throws -> String? {
        guard let v = t[key] else { return nil }
        guard let s = v.string else { throw fail("\(prefix).\(key)", "'\(key)' must be a string, got \(v.type)") }
        return s
    }

    func int(_ t: TOMLTable, _ key: String, at prefix: String, min: Int) throws -> Int? {
        guard let v = t[key] else { return nil }
        guard let i = v.int else { throw fail("\(prefix).\(key)", "'\(key)' must be an integer, got \(v.type)") }
        guard i >= min else { throw fail("\(prefix).\(key)", "'\(key)' must be at least \(min), got \(i)") }
        return i
    }

    func number(_ t: TOMLTable, _ key: String, at prefix: String) throws -> Double? {
        guard let v = t[key] else { return nil }
        if let d = v.double { return d }
        if let i = v.int { return Double(i) }
        throw fail("\(prefix).\(key)", "'\(key)' must be a number, got \(v.type)")
    }

    /// An integer key within `range` (inclusive); the message states the range.
    func int(_ t: TOMLTable, _ key: String, at prefix: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let v = t[key] else { return nil }
        guard let i = v.int else { throw fail("\(prefix).\(key)", "'\(key)' must be an integer, got \(v.type)") }
        guard range.contains(i) else {
            throw fail("\(prefix).\(key)", "'\(key)' must be between \(range.lowerBound) and \(range.upperBound), got \(i)")
        }
        return i
    }

    /// A finite number within `range`; `lowerOpen` excludes the lower bound. NaN and ±inf are refused.
    func number(_ t: TOMLTable, _ key: String, at prefix: String, in range: ClosedRange<Double>, lowerOpen: Bool = false) throws -> Double? {
        guard let d = try number(t, key, at: prefix) else { return nil }
        let low = lowerOpen ? d > range.lowerBound : d >= range.lowerBound
        guard d.isFinite, low, d <= range.upperBound else {
            let l = Self.show(range.lowerBound), u = Self.show(range.upperBound)
            let bounds = lowerOpen ? "greater than \(l) and at most \(u)" : "between \(l) and \(u)"
            throw fail("\(prefix).\(key)", "'\(key)' must be a finite number \(bounds), got \(d)")
        }
        return d
    }

    /// `2` for 2.0, `0.5` for 0.5.
    static func show(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d) }

    /// A threshold given as a fraction (0.05) or a percent string ("5%").
    func fraction(_ t: TOMLTable, _ key: String, at prefix: String) throws -> Double? {
        guard let v = t[key] else { return nil }
        var f: Double?
        if let s = v.string, s.hasSuffix("%"), let p = Double(s.dropLast().trimmingCharacters(in: .whitespaces)) {
            f = p / 100
        } else if let d = v.double {
            f = d
        } else if let i = v.int {
            f = Double(i)
        }
        guard let frac = f, frac > 0, frac <= MeasurementSettings.maxThreshold else {
            throw fail("\(prefix).\(key)", "'\(key)' must be a fraction greater than 0 and at most 1 (0.05) or a percentage up to 100% (\"5%\")")
        }
        return frac
    }

    func strings(_ t: TOMLTable, _ key: String, at prefix: String) throws -> [String]? {
        guard let v = t[key] else { return nil }
        guard let a = v.array else { throw fail("\(prefix).\(key)", "'\(key)' must be an array of strings, got \(v.type)") }
        return try a.map { e in
            guard let s = e.string else { throw fail("\(prefix).\(key)", "'\(key)' must contain only strings") }
            return s
        }
    }

    func settings(_ t: TOMLTable, at prefix: String, base: MeasurementSettings) throws -> MeasurementSettings {
        var s = base
        let r = MeasurementSettings.self
        if let ms = try number(t, "batch_ms", at: prefix, in: r.batchMsRange, lowerOpen: true) { s.batchNs = ms * 1e6 }
        if let n = try int(t, "samples", at: prefix, in: r.samplesRange) { s.samples = n }
        if let ms = try number(t, "warmup_ms", at: prefix, in: r.warmupMsRange) { s.warmupNs = ms * 1e6 }
        if let c = try strings(t, "counters", at: prefix) {
            s.counters = c
            s.countersExplicit = true
        }
        if let f = try fraction(t, "threshold", at: prefix) { s.threshold = f }
        if let f = try fraction(t, "instructions_threshold", at: prefix) { s.instructionsThreshold = f }
        if let seed = try int(t, "seed", at: prefix, min: 0) { s.seed = UInt64(seed) }
        return s
    }

    /// Refuses an op whose variants together would allocate more than `memoryBytes`: each
    /// variant's instance is alive at once while the runner verifies and times them (plus the
    /// reference when it was not listed). The factory reports what one instance allocates.
    func checkMemory(_ factory: any KernelFactory, shape: Shape, dtype: String, variants: [String], at key: String, name: String) throws {
        let perInstance = factory.allocationBytes(shape: shape, dtype: dtype)
        let instances = variants.count + (variants.contains(factory.referenceVariant) ? 0 : 1)
        let needed = perInstance * Double(instances)
        guard needed.isFinite, needed <= Double(memoryBytes) else {
            throw fail(key,
                       "op '\(name)': needs about \(MachineMemory.format(needed)) (\(instances) instance(s) × \(MachineMemory.format(perInstance))); an op may use at most \(MachineMemory.format(Double(memoryBytes))) of memory (half the machine's physical RAM)")
        }
    }

    static let settingKeys: Set<String> = ["batch_ms", "samples", "warmup_ms", "counters", "threshold", "instructions_threshold", "seed"]

    mutating func suite(_ root: TOMLTable, data: Data, registry: KernelRegistry) throws -> SuiteFile {
        let entryTypes = SuiteEntryTypes.all
        let topKeys = ["suite", "defaults", "op"] + entryTypes.map(\.key)
        for k in root.keys where !topKeys.contains(k) {
            throw fail(k, "unknown top-level key '\(k)' (known: \(topKeys.joined(separator: ", ")))")
        }
        guard let header = root["suite"]?.table else { throw fail("suite", "missing [suite] table with a 'name'") }
        try checkKeys(header, at: "suite", allowed: ["name", "description"])
        guard let name = try string(header, "name", at: "suite"), !name.isEmpty else { throw fail("suite", "[suite] needs a non-empty 'name'") }
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }) else {
            throw fail("suite.name", "suite name '\(name)' may contain only letters, digits, '_', '-' and '.'")
        }
        let description = try string(header, "description", at: "suite") ?? ""
        var defaults = MeasurementSettings()
        if let d = root["defaults"] {
            guard let dt = d.table else { throw fail("defaults", "[defaults] must be a table") }
            try checkKeys(dt, at: "defaults", allowed: Self.settingKeys)
            defaults = try settings(dt, at: "defaults", base: defaults)
        }
        guard topKeys.dropFirst(2).contains(where: { root[$0] != nil }) else {
            throw fail("suite", "suite '\(name)' has no \(topKeys.dropFirst(2).map { "[[\($0)]]" }.joined(separator: ", ")) entries")
        }
        var opsArray: [TOMLValueConvertible] = []
        if let opsValue = root["op"] {
            guard let a = opsValue.array else { throw fail("op", "'op' must be an array of tables ([[op]])") }
            opsArray = Array(a)
        }
        var ops: [OpSpec] = []
        var seen: Set<String> = []
        for (i, v) in opsArray.enumerated() {
            let prefix = "op[\(i)]"
            guard let t = v.table else { throw fail(prefix, "each [[op]] must be a table") }
            let op = try self.op(t, at: prefix, defaults: defaults, registry: registry)
            guard seen.insert(op.name).inserted else { throw fail("\(prefix).name", "duplicate op name '\(op.name)'") }
            ops.append(op)
        }
        // Tables of the registered op families (`[[model]]`, `[[edge]]`, ...), in registration order.
        for type in entryTypes {
            guard let value = root[type.key] else { continue }
            guard let array = value.array else { throw fail(type.key, "'\(type.key)' must be an array of tables ([[\(type.key)]])") }
            for (i, v) in array.enumerated() {
                let prefix = "\(type.key)[\(i)]"
                guard let t = v.table else { throw fail(prefix, "each [[\(type.key)]] must be a table") }
                let op = try type.read(SuiteEntryReader(reader: self, table: t, prefix: prefix, defaults: defaults))
                guard seen.insert(op.name).inserted else {
                    throw fail("\(prefix).name", "duplicate op name '\(op.name)' (all entries of a suite share one namespace)")
                }
                ops.append(op)
            }
        }
        var file = SuiteFile(path: path, name: name, description: description, defaults: defaults, ops: ops, contents: data)
        if defaults.countersExplicit { file.countersPosition = locator.position(of: "defaults.counters") }
        return file
    }

    func op(_ t: TOMLTable, at prefix: String, defaults: MeasurementSettings, registry: KernelRegistry) throws -> OpSpec {
        // `counters` is run-wide (one counter session per run), so only [defaults] may set it.
        try checkKeys(t, at: prefix, allowed: Self.settingKeys.subtracting(["counters"]).union(["name", "kind", "shape", "dtype", "variants", "tolerance"]))
        guard let name = try string(t, "name", at: prefix), !name.isEmpty else { throw fail(prefix, "[[op]] needs a non-empty 'name'") }
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }) else {
            throw fail("\(prefix).name", "op name '\(name)' may contain only letters, digits, '_', '-' and '.'")
        }
        guard let kind = try string(t, "kind", at: prefix) else { throw fail(prefix, "op '\(name)' needs a 'kind'") }
        guard let factory = registry.factory(kind: kind) else {
            let known = registry.all.map(\.kind).sorted().joined(separator: ", ")
            throw fail("\(prefix).kind", "op '\(name)': unknown kind '\(kind)' (known: \(known))")
        }
        var shape: [String: Int] = [:]
        if let sv = t["shape"] {
            guard let st = sv.table else { throw fail("\(prefix).shape", "op '\(name)': 'shape' must be a table like { m = 128, n = 128, k = 128 }") }
            for k in st.keys {
                guard let n = st[k]?.int else { throw fail("\(prefix).shape.\(k)", "op '\(name)': shape.\(k) must be an integer") }
                guard factory.shapeKeys.contains(k) else {
                    throw fail("\(prefix).shape.\(k)", "op '\(name)': unknown shape key '\(k)' for kind '\(kind)' (expects \(factory.shapeKeys.joined(separator: ", ")))")
                }
                shape[k] = n
            }
        }
        let dtype = try string(t, "dtype", at: prefix) ?? "f32"
        guard factory.dtypes.contains(dtype) else {
            throw fail("\(prefix).dtype", "op '\(name)': dtype '\(dtype)' not supported by '\(kind)' (supports \(factory.dtypes.joined(separator: ", ")))")
        }
        do {
            try factory.validate(shape: shape, dtype: dtype)
        } catch let e as KernelSpecError {
            throw fail("\(prefix).\(e.key)", "op '\(name)': \(e.message)")
        }
        let variants = try strings(t, "variants", at: prefix) ?? factory.variants
        guard !variants.isEmpty else { throw fail("\(prefix).variants", "op '\(name)': 'variants' is empty") }
        for v in variants where !factory.variants.contains(v) {
            throw fail("\(prefix).variants", "op '\(name)': kind '\(kind)' has no variant '\(v)' (has \(factory.variants.joined(separator: ", ")))")
        }
        guard Set(variants).count == variants.count else { throw fail("\(prefix).variants", "op '\(name)': duplicate variant") }
        try checkMemory(factory, shape: shape, dtype: dtype, variants: variants, at: "\(prefix).shape", name: name)
        let tolerance = try self.tolerance(t, at: prefix, name: name, base: factory.defaultTolerance(shape: shape, dtype: dtype))
        let s = try settings(t, at: prefix, base: defaults)
        return OpSpec(name: name, kind: kind, shape: shape, dtype: dtype, variants: variants, tolerance: tolerance,
                      settings: s, line: locator.position(of: prefix).line)
    }
}

// MARK: - shared entry helpers

extension Reader {
    /// `tolerance = { abs, rel, cosine }` of an op or model, missing fields from `base`.
    func tolerance(_ t: TOMLTable, at prefix: String, name: String, base: Tolerance) throws -> Tolerance? {
        guard let tv = t["tolerance"] else { return nil }
        guard let tt = tv.table else { throw fail("\(prefix).tolerance", "op '\(name)': 'tolerance' must be a table { abs = ..., rel = ..., cosine = ... }") }
        try checkKeys(tt, at: "\(prefix).tolerance", allowed: ["abs", "rel", "cosine"])
        let abs = try number(tt, "abs", at: "\(prefix).tolerance") ?? base.abs
        let rel = try number(tt, "rel", at: "\(prefix).tolerance") ?? base.rel
        let cos = try number(tt, "cosine", at: "\(prefix).tolerance") ?? base.minCosine
        guard abs >= 0, rel >= 0, abs.isFinite, rel.isFinite else {
            throw fail("\(prefix).tolerance", "op '\(name)': tolerances must be finite and not negative")
        }
        guard cos >= -1, cos <= 1 else { throw fail("\(prefix).tolerance.cosine", "op '\(name)': cosine must be in [-1, 1]") }
        return Tolerance(abs: abs, rel: rel, minCosine: cos)
    }
}
