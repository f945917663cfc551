// The built-in op families' suite entry types: `[[model]]` (Fusion), `[[edge]]` (Edge) and
// `[[plugin]]` (Plugins, whose entry type lives in its own module). They
// are registered here, in the top module, so the suite loader knows no family (see
// docs/architecture.md, "Op families"). A new family adds its entry type here (or in its own
// module) and registers it in `OpFamilies.registerBuiltIn()`.
import BenchModel
import Edge
import Foundation
import Fusion
import Kernels
import Plugins
import UserKernels
import Suite

/// Registration of the built-in op families with the suite loader.
public enum OpFamilies {
    /// Registers `[[model]]`, `[[edge]]` and `[[plugin]]` (idempotent). The CLI calls it before anything reads a
    /// suite; programs that use the library and read such suites call it first too.
    public static func registerBuiltIn() {
        SuiteEntryTypes.register(ModelEntryType())
        SuiteEntryTypes.register(EdgeEntryType())
        SuiteEntryTypes.register(PluginEntryType())
        // The built-in side of the plug-in overhead figure (tools/plugin-overhead).
        if KernelRegistry.shared.factory(kind: PluginOverheadBaseline.definition.kind) == nil {
            try? UserKernelRegistry.register([PluginOverheadBaseline.definition])
        }
    }
}

extension OpSpec {
    /// The model of a `[[model]]` entry (kind `model`); nil for other entries.
    public var model: ModelSpec? { family?.spec as? ModelSpec }
    /// The edge-inference op of an `[[edge]]` entry (kind `edge`); nil for other entries.
    public var edge: EdgeSpec? { family?.spec as? EdgeSpec }
}

/// `[[model]]` with its `[[model.layer]]`s → an op of kind `model` carrying the validated graph.
struct ModelEntryType: SuiteEntryType {
    var key: String { "model" }

    func read(_ e: SuiteEntryReader) throws -> OpSpec {
        try e.checkKeys(allowed: ["name", "input", "input_name", "outputs", "layer", "variants", "tolerance"])
        let name = try e.name(entryLabel: "model")
        let what = "model '\(name)'"
        guard e.has("input") else { throw e.fail(at: e.prefix, "\(what) needs 'input' (e.g. { rows = 64, cols = 768 })") }
        let input = try e.intTable("input", what: what) ?? [:]
        let inputName = try e.string("input_name") ?? "x"
        let outputs = try e.strings("outputs")
        guard let layerEntries = try e.entries("layer", what: what) else { throw e.fail(at: e.prefix, "\(what) has no layers ([[model.layer]])") }
        var layers: [LayerSpec] = []
        for (j, l) in layerEntries.enumerated() {
            guard let lname = try l.string("name") else { throw l.fail(at: l.prefix, "\(what): layer \(j) needs a 'name'") }
            guard let op = try l.string("op") else { throw l.fail(at: l.prefix, "\(what): layer '\(lname)' needs an 'op'") }
            let inputs = try l.strings("inputs")
            var attributes: [String: AttributeValue] = [:]
            for k in l.keys where !["name", "op", "inputs"].contains(k) {
                switch try l.scalar(k, what: "\(what): layer '\(lname)'") {
                case .bool(let b): attributes[k] = .bool(b)
                case .int(let i): attributes[k] = .int(i)
                case .double(let d): attributes[k] = .double(d)
                case .string(let s): attributes[k] = .string(s)
                case nil: break
                }
            }
            layers.append(LayerSpec(name: lname, op: op, inputs: inputs, attributes: attributes, key: l.prefix))
        }
        let spec = ModelSpec(name: name, inputName: inputName, input: input, outputs: outputs, layers: layers, key: e.prefix)
        let factory: ModelFactory
        do {
            factory = try ModelFactory(spec: spec)
        } catch let error as ModelError {
            throw e.fail(at: error.key, error.message)
        }
        let variants = try e.variants(known: factory.variants, default: ["unfused", "fused"], reference: "unfused", what: what)
        try e.checkMemory(factory, shape: [:], dtype: "f32", variants: variants, at: e.path("input"), name: name)
        let tolerance = try e.tolerance(name: name, base: factory.defaultTolerance(shape: [:], dtype: "f32"))
        let settings = try e.settings()
        return OpSpec(name: name, kind: factory.kind, shape: [:], dtype: "f32", variants: variants, tolerance: tolerance,
                      settings: settings, line: e.line,
                      family: OpFamilyEntry(spec: spec) { try ModelFactory(spec: spec) })
    }
}

/// One `[[edge]]`: `model` and `data` paths (relative to the suite file), `variants`,
/// `accuracy_band` (allowed top-1 drop as a fraction, default 0.01), `exit_threshold` (in [0, 1],
/// default 0.9), `batch` (images per inference, 1 ... test split size, default the whole split)
/// → an op of kind `edge`. The model and data are loaded here, so a bad file is reported at the
/// suite line that names it (with the data/model file's own file:line).
struct EdgeEntryType: SuiteEntryType {
    var key: String { "edge" }

    func read(_ e: SuiteEntryReader) throws -> OpSpec {
        try e.checkKeys(allowed: ["name", "model", "data", "variants", "accuracy_band", "exit_threshold", "batch"])
        let name = try e.name(entryLabel: "edge")
        let what = "edge op '\(name)'"
        let base = URL(fileURLWithPath: e.suitePath).deletingLastPathComponent()
        func resolve(_ key: String) throws -> String {
            guard let p = try e.string(key), !p.isEmpty else { throw e.fail(at: e.prefix, "\(what) needs '\(key)' (a path relative to the suite file)") }
            return p.hasPrefix("/") ? p : URL(fileURLWithPath: p, relativeTo: base).standardizedFileURL.path
        }
        let modelPath = try resolve("model"), dataPath = try resolve("data")
        let band = try e.number("accuracy_band") ?? 0.01
        guard band >= 0, band <= 1 else {
            throw e.fail(at: e.path("accuracy_band"), "\(what): accuracy_band must be in [0, 1] (a fraction of top-1; 0.01 = 1 point), got \(band)")
        }
        let threshold = try e.number("exit_threshold") ?? 0.9
        guard threshold >= 0, threshold <= 1 else {
            throw e.fail(at: e.path("exit_threshold"), "\(what): exit_threshold must be in [0, 1] (a softmax probability), got \(threshold)")
        }
        let batch = try e.int("batch", min: 1)
        var spec = EdgeSpec(modelPath: modelPath, dataPath: dataPath, accuracyBand: band, exitThreshold: threshold)
        let factory: any EdgeOpFactory
        do {
            factory = try EdgeModels.factory(spec: spec)  // EdgeFactory (MLP) or CNNEdgeFactory, by the model's architecture
        } catch let error as EdgeError {
            let key = error.file == dataPath ? "data" : "model"
            throw e.fail(at: e.path(key), "\(what): \(error)")
        }
        if let batch {
            guard batch <= factory.testCount else {
                throw e.fail(at: e.path("batch"), "\(what): batch must be at most the test split's \(factory.testCount) images, got \(batch)")
            }
            spec.batch = batch
        }
        let variants = try e.variants(known: factory.variants, default: factory.variants, reference: factory.referenceVariant, what: what)
        try e.checkMemory(factory, shape: [:], dtype: "f32", variants: variants, at: e.prefix, name: name)
        let settings = try e.settings()
        let built = spec
        // The shape records the images per inference (stored with the op; the variants report reads it).
        return OpSpec(name: name, kind: factory.kind, shape: ["batch": spec.batch ?? factory.testCount], dtype: "f32",
                      variants: variants, tolerance: nil, settings: settings, line: e.line,
                      family: OpFamilyEntry(spec: built) { try EdgeModels.factory(spec: built) })
    }
}
