// The `[[plugin]]` suite entry: one op measuring one kernel of a C ABI plug-in. FuseBench registers
// it with the suite loader (OpFamilies.registerBuiltIn); worker processes read the same suite, so
// they load the same library. Every error is reported at the entry's file:line and names the library.
import BenchModel
import Foundation
import Kernels
import Suite
import UserKernels

/// What a `[[plugin]]` entry carries into the plan: the library (absolute path) and the kernel.
public struct PluginOpSpec: Sendable, Hashable {
    /// Absolute path of the library.
    public var library: String
    /// The kernel inside it.
    public var kernel: String
    /// Content hash of the library when the suite was read (`LoadedPlugin.contentHash`).
    public var contentHash: String
}

/// `[[plugin]]`: `name`, `library` (relative to the suite file), `kernel`, `shape`, optional
/// `variants` (default: the kernel's measured variants; the reference always verifies them and is
/// timed only when listed) and `tolerance`, plus the per-op measurement settings (`samples`, ...).
public struct PluginEntryType: SuiteEntryType {
    /// Creates the entry type.
    public init() {}

    /// The table name, `plugin`.
    public var key: String { "plugin" }

    /// Loads the library, finds the kernel, validates the shape with the plug-in and returns the op.
    public func read(_ e: SuiteEntryReader) throws -> OpSpec {
        try e.checkKeys(allowed: ["name", "library", "kernel", "shape", "variants", "tolerance"])
        let name = try e.name(entryLabel: "plugin")
        let what = "plugin op '\(name)'"
        guard let library = try e.string("library"), !library.isEmpty else {
            throw e.fail(at: e.prefix, "\(what) needs 'library' (the plug-in's shared library, a path relative to the suite file)")
        }
        let path = Self.resolve(library, suitePath: e.suitePath)
        let plugin: LoadedPlugin
        do {
            plugin = try PluginLoader.load(libraryPath: path)
        } catch let error as PluginError {
            throw e.fail(at: e.path("library"), "\(what): \(error)")
        }
        guard let kernelName = try e.string("kernel"), !kernelName.isEmpty else {
            throw e.fail(at: e.prefix, "\(what) needs 'kernel' (plug-in library \(path) has \(plugin.kernels.map(\.name).joined(separator: ", ")))")
        }
        let factory: DefinedKernelFactory
        do {
            factory = try DefinedKernelFactory(plugin.definition(try plugin.kernel(named: kernelName)))
        } catch let error as PluginError {
            throw e.fail(at: e.path("kernel"), "\(what): \(error)")
        }
        let from = "kernel '\(kernelName)' of plug-in library \(path)"
        guard e.has("shape") || factory.shapeKeys.isEmpty else {
            throw e.fail(at: e.prefix, "\(what) needs 'shape' with \(factory.shapeKeys.joined(separator: ", ")) (\(from))")
        }
        let shape = try e.intTable("shape", what: what) ?? [:]
        for k in shape.keys.sorted() where !factory.shapeKeys.contains(k) {
            throw e.fail(at: e.path("shape.\(k)"), "\(what): unknown shape key '\(k)' (\(from) expects \(factory.shapeKeys.joined(separator: ", ")))")
        }
        do {
            try factory.validate(shape: shape, dtype: "f32")
        } catch let error as KernelSpecError {
            // A refusal by the plug-in already names the library; other shape errors get it added.
            let message = error.message.contains(path) ? error.message : "\(error.message) (\(from))"
            throw e.fail(at: e.path(error.key), "\(what): \(message)")
        }
        let variants = try Self.variants(e, factory: factory, what: "\(what) (\(from))")
        try e.checkMemory(factory, shape: shape, dtype: "f32", variants: variants, at: e.path("shape"), name: name)
        let tolerance = try e.tolerance(name: name, base: factory.defaultTolerance(shape: shape, dtype: "f32"))
        let settings = try e.settings()
        let spec = PluginOpSpec(library: plugin.path, kernel: kernelName, contentHash: plugin.contentHash)
        return OpSpec(name: name, kind: factory.kind, shape: shape, dtype: "f32", variants: variants, tolerance: tolerance,
                      settings: settings, line: e.line,
                      family: OpFamilyEntry(spec: spec) {
                          let p = try PluginLoader.load(libraryPath: spec.library)
                          return DefinedKernelFactory(try p.definition(try p.kernel(named: spec.kernel)))
                      })
    }

    /// `library` as an absolute path: as given when absolute, else relative to the suite's folder.
    static func resolve(_ library: String, suitePath: String) -> String {
        if library.hasPrefix("/") { return library }
        let base = URL(fileURLWithPath: suitePath).deletingLastPathComponent()
        return URL(fileURLWithPath: library, relativeTo: base).standardizedFileURL.path
    }

    /// `variants`: non-empty, known, no duplicates; default the kernel's measured variants (every
    /// variant but the reference, which verifies them either way). The reference goes first when listed.
    static func variants(_ e: SuiteEntryReader, factory: DefinedKernelFactory, what: String) throws -> [String] {
        let reference = factory.referenceVariant
        let listed = try e.strings("variants") ?? factory.variants.filter { $0 != reference }
        guard !listed.isEmpty else { throw e.fail(at: e.path("variants"), "\(what): 'variants' is empty") }
        for v in listed where !factory.variants.contains(v) {
            throw e.fail(at: e.path("variants"), "\(what): no variant '\(v)' (has \(factory.variants.joined(separator: ", ")))")
        }
        guard Set(listed).count == listed.count else { throw e.fail(at: e.path("variants"), "\(what): duplicate variant") }
        return listed.contains(reference) ? [reference] + listed.filter { $0 != reference } : listed
    }
}
