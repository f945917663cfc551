// The digits data set (data/digits/digits.csv) and the MLP (data/digits/mlp.json) shipped in the
// repository, loaded with errors that name the file (and the line, for the CSV and for non-finite
// numbers in the JSON). See tools/export-digits and tools/train-digits-mlp for how they were made.
import BenchModel
import Foundation

/// Bad input to the edge-inference runtime: names the file and, where known, the line.
public struct EdgeError: Error, CustomStringConvertible, Sendable {
    /// File at fault.
    public var file: String
    /// 1-based line, when the fault is on one line.
    public var line: Int?
    /// What is wrong.
    public var message: String
    /// Creates the error.
    public init(file: String, line: Int? = nil, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }
    /// `file:line: message` (or `file: message`).
    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }

    /// Largest model or data file the edge runtime reads: 64 MiB. The shipped files are well under
    /// 1 MiB; the bound keeps a wrong path (a huge file) from exhausting memory.
    public static let fileLimit = 64 << 20

    /// The bytes of the file at `path` (at most `limit`), or an error naming it. Only regular files
    /// are read: a FIFO or a device is refused instead of blocking; a longer file is an error.
    static func readBounded(_ path: String, what: String, limit: Int = fileLimit) throws -> [UInt8] {
        switch BoundedFile.read(path, limit: limit, truncate: false) {
        case let .success(result): return result.bytes
        case let .failure(error): throw EdgeError(file: path, "cannot read the \(what) file: \(error)")
        }
    }

    /// The bytes of the model file at `path` (at most `limit`), or an error naming it.
    static func readModelFile(_ path: String, limit: Int = fileLimit) throws -> Data {
        Data(try readBounded(path, what: "model", limit: limit))
    }
}

/// One split of the digits data: `count` images of 64 raw pixels (0–16) and their labels.
public struct DigitsSplit: Sendable {
    /// Pixels, row-major [count × 64], raw values 0–16 (the model scales them).
    public var pixels: [Float] = []
    /// Labels 0–9.
    public var labels: [Int] = []
    /// Number of images.
    public var count: Int { labels.count }
}

/// The digits data set, by split (`train`, `calibration`, `test`).
public struct DigitsData: Sendable {
    /// Pixels per image.
    public static let features = 64
    /// Split names, in file order of preference.
    public static let splitNames = ["train", "calibration", "test"]
    /// Splits by name (all three present, possibly empty).
    public var splits: [String: DigitsSplit]
    /// Path it was loaded from.
    public var path: String

    /// The split `name`; throws when it is empty (e.g. a file without calibration rows).
    public func split(_ name: String) throws -> DigitsSplit {
        guard let s = splits[name], s.count > 0 else {
            throw EdgeError(file: path, "the \(name) split is empty (no rows with split = \(name))")
        }
        return s
    }

    /// Loads `split,label,p0..p63` rows. Every malformed row is an error naming file:line.
    /// - Parameter limit: largest file read (`EdgeError.fileLimit`; tests pass a smaller one).
    public static func load(path: String, limit: Int = EdgeError.fileLimit) throws -> DigitsData {
        let bytes = try EdgeError.readBounded(path, what: "data", limit: limit)
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw EdgeError(file: path, "cannot read the data file: not valid UTF-8")
        }
        return try parse(text, path: path)
    }

    /// Parses CSV text (see `load`); `path` is used in error messages.
    public static func parse(_ text: String, path: String) throws -> DigitsData {
        var splits = Dictionary(uniqueKeysWithValues: splitNames.map { ($0, DigitsSplit()) })
        var lineNo = 0
        var sawHeader = false
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.isEmpty { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            if !sawHeader {
                let want = ["split", "label"] + (0..<features).map { "p\($0)" }
                guard fields.map(String.init) == want else {
                    throw EdgeError(file: path, line: lineNo, "expected the header 'split,label,p0,...,p63' (\(want.count) columns), got \(fields.count) columns starting '\(fields.prefix(3).joined(separator: ","))'")
                }
                sawHeader = true
                continue
            }
            guard fields.count == features + 2 else {
                throw EdgeError(file: path, line: lineNo, "wrong shape: expected \(features + 2) columns (split, label, 64 pixels), got \(fields.count)")
            }
            let name = String(fields[0])
            guard splits[name] != nil else {
                throw EdgeError(file: path, line: lineNo, "unknown split '\(name)' (expected train, calibration or test)")
            }
            guard let label = Int(fields[1]), (0...9).contains(label) else {
                throw EdgeError(file: path, line: lineNo, "label '\(fields[1])' is not an integer 0–9")
            }
            splits[name]!.labels.append(label)
            for (i, f) in fields.dropFirst(2).enumerated() {
                guard let v = Int(f), (0...16).contains(v) else {
                    throw EdgeError(file: path, line: lineNo, "pixel p\(i) = '\(f)' is not an integer 0–16")
                }
                splits[name]!.pixels.append(Float(v))
            }
        }
        guard sawHeader else { throw EdgeError(file: path, "the data file is empty") }
        return DigitsData(splits: splits, path: path)
    }
}

/// One dense layer y = act(x·Wᵀ + b): `weight` is [out × in] row-major (row = output neuron).
public struct DenseLayer: Sendable {
    /// Inputs.
    public var inputs: Int
    /// Outputs (neurons).
    public var outputs: Int
    /// Whether a ReLU follows.
    public var relu: Bool
    /// [outputs × inputs], row-major.
    public var weight: [Float]
    /// [outputs].
    public var bias: [Float]
    /// Creates the layer (shapes are the caller's responsibility; `MLPModel.load` validates them).
    public init(inputs: Int, outputs: Int, relu: Bool, weight: [Float], bias: [Float]) {
        self.inputs = inputs
        self.outputs = outputs
        self.relu = relu
        self.weight = weight
        self.bias = bias
    }
}

/// The digits MLP: dense layers, optional exit heads, and what the training script recorded.
public struct MLPModel: Sendable {
    /// Layers in order.
    public var layers: [DenseLayer]
    /// Early-exit heads: (after which layer, 1-based; the head).
    public var exitHeads: [(afterLayer: Int, head: DenseLayer)]
    /// x = pixel · inputScale.
    public var inputScale: Float
    /// Training seed.
    public var seed: Int
    /// Test top-1 recorded by the training script (fraction), and its correct / total counts.
    public var recordedTestAccuracy: Double
    public var recordedTestCorrect: Int
    public var recordedTestCount: Int
    /// Path it was loaded from.
    public var path: String
    /// Structurally pruned and fine-tuned copies written by the training script (`pruned_finetuned`).
    public var finetunedPrunings: [FinetunedPruning] = []

    private struct LayerFile: Decodable {
        var `in`: Int
        var out: Int
        var activation: String?
        var weight: [[Double]]
        var bias: [Double]
    }
    private struct HeadFile: Decodable {
        var after_layer: Int
        var `in`: Int
        var out: Int
        var weight: [[Double]]
        var bias: [Double]
    }
    private struct PrunedFile: Decodable {
        var fraction: Double
        var kept: [[Int]]
        var epochs: Int
        var layers: [LayerFile]
        var test_correct_before_finetune: Int
        var test_correct: Int
    }
    private struct File: Decodable {
        var pruned_finetuned: [PrunedFile]?
        var format: String
        var seed: Int
        var input_scale: Double
        var layers: [LayerFile]
        var exit_heads: [HeadFile]?
        var test_accuracy: Double
        var test_correct: Int
        var test_count: Int
    }

    /// Loads and validates `mlp.json`: shapes chain 64 → … → 10, every number finite.
    /// - Parameter limit: largest file read (`EdgeError.fileLimit`; tests pass a smaller one).
    public static func load(path: String, limit: Int = EdgeError.fileLimit) throws -> MLPModel {
        try parse(EdgeError.readModelFile(path, limit: limit), path: path)
    }

    /// Parses model JSON (see `load`); `path` is used in error messages.
    public static func parse(_ data: Data, path: String) throws -> MLPModel {
        let text = String(decoding: data, as: UTF8.self)
        // Python's json writes NaN / Infinity literals, which are not JSON: report them by line.
        for token in ["NaN", "Infinity"] {
            if let r = text.range(of: token) {
                let line = text[..<r.lowerBound].reduce(1) { $1 == "\n" ? $0 + 1 : $0 }
                throw EdgeError(file: path, line: line, "non-finite number '\(token)' in the model (weights and biases must be finite)")
            }
        }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw EdgeError(file: path, "missing key '\(key.stringValue)' at \(ctx.codingPath.map(\.stringValue).joined(separator: "."))")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw EdgeError(file: path, "wrong type at '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))': \(ctx.debugDescription)")
        } catch {
            throw EdgeError(file: path, "not a valid model JSON file: \(error)")
        }
        guard file.format == "fusebench-mlp-v1" else {
            throw EdgeError(file: path, "unknown format '\(file.format)' (expected fusebench-mlp-v1)")
        }
        guard !file.layers.isEmpty else { throw EdgeError(file: path, "the model has no layers") }
        func dense(_ what: String, _ inputs: Int, _ outputs: Int, _ w: [[Double]], _ b: [Double], relu: Bool) throws -> DenseLayer {
            guard inputs > 0, outputs > 0 else { throw EdgeError(file: path, "\(what): in and out must be positive, got \(inputs)→\(outputs)") }
            guard w.count == outputs else { throw EdgeError(file: path, "\(what): wrong shape: weight has \(w.count) rows, expected out = \(outputs)") }
            if let bad = w.firstIndex(where: { $0.count != inputs }) {
                throw EdgeError(file: path, "\(what): wrong shape: weight row \(bad) has \(w[bad].count) values, expected in = \(inputs)")
            }
            guard b.count == outputs else { throw EdgeError(file: path, "\(what): wrong shape: bias has \(b.count) values, expected \(outputs)") }
            let flat = w.flatMap { $0 }.map(Float.init)
            let bias = b.map(Float.init)
            if let i = flat.firstIndex(where: { !$0.isFinite }) {
                throw EdgeError(file: path, "\(what): weight[\(i / inputs)][\(i % inputs)] is not finite (\(flat[i]))")
            }
            if let i = bias.firstIndex(where: { !$0.isFinite }) {
                throw EdgeError(file: path, "\(what): bias[\(i)] is not finite (\(bias[i]))")
            }
            return DenseLayer(inputs: inputs, outputs: outputs, relu: relu, weight: flat, bias: bias)
        }
        /// Layers chaining 64 pixels → … → 10 classes; `what` prefixes error messages.
        func chain(_ files: [LayerFile], _ what: String) throws -> [DenseLayer] {
            var layers: [DenseLayer] = []
            var expectedIn = DigitsData.features
            for (i, l) in files.enumerated() {
                guard l.in == expectedIn else {
                    throw EdgeError(file: path, "\(what)[\(i)]: wrong shape: in = \(l.in), expected \(expectedIn) (\(i == 0 ? "64 pixels" : "outputs of \(what)[\(i - 1)]"))")
                }
                let act = l.activation ?? "none"
                guard act == "relu" || act == "none" else { throw EdgeError(file: path, "\(what)[\(i)]: unknown activation '\(act)' (relu or none)") }
                layers.append(try dense("\(what)[\(i)]", l.in, l.out, l.weight, l.bias, relu: act == "relu"))
                expectedIn = l.out
            }
            guard expectedIn == 10 else { throw EdgeError(file: path, "\(what): wrong shape: the last layer has \(expectedIn) outputs, expected 10 classes") }
            return layers
        }
        let layers = try chain(file.layers, "layers")
        var heads: [(Int, DenseLayer)] = []
        for (i, h) in (file.exit_heads ?? []).enumerated() {
            guard (1..<layers.count).contains(h.after_layer) else {
                throw EdgeError(file: path, "exit_heads[\(i)]: after_layer = \(h.after_layer) must be 1..\(layers.count - 1)")
            }
            guard h.in == layers[h.after_layer - 1].outputs, h.out == 10 else {
                throw EdgeError(file: path, "exit_heads[\(i)]: wrong shape \(h.in)→\(h.out), expected \(layers[h.after_layer - 1].outputs)→10")
            }
            heads.append((h.after_layer, try dense("exit_heads[\(i)]", h.in, h.out, h.weight, h.bias, relu: false)))
        }
        guard file.input_scale.isFinite, file.input_scale > 0 else { throw EdgeError(file: path, "input_scale must be positive and finite") }
        var model = MLPModel(layers: layers, exitHeads: heads, inputScale: Float(file.input_scale), seed: file.seed,
                             recordedTestAccuracy: file.test_accuracy, recordedTestCorrect: file.test_correct,
                             recordedTestCount: file.test_count, path: path)
        for (i, p) in (file.pruned_finetuned ?? []).enumerated() {
            let what = "pruned_finetuned[\(i)]"
            guard p.fraction > 0, p.fraction < 1 else { throw EdgeError(file: path, "\(what): fraction \(p.fraction) must be in (0, 1)") }
            let prunedLayers = try chain(p.layers, "\(what).layers")
            guard prunedLayers.count == layers.count, p.kept.count == layers.count - 1 else {
                throw EdgeError(file: path, "\(what): \(prunedLayers.count) layers and \(p.kept.count) kept lists, expected \(layers.count) and \(layers.count - 1)")
            }
            for (l, kept) in p.kept.enumerated() {
                guard kept.count == prunedLayers[l].outputs, kept == kept.sorted(), Set(kept).count == kept.count,
                      kept.allSatisfy({ (0..<layers[l].outputs).contains($0) }) else {
                    throw EdgeError(file: path, "\(what).kept[\(l)]: must be \(prunedLayers[l].outputs) distinct ascending neuron indices of layers[\(l)] (0..<\(layers[l].outputs))")
                }
            }
            var pruned = model
            pruned.layers = prunedLayers
            pruned.exitHeads = []
            pruned.recordedTestCorrect = p.test_correct
            pruned.recordedTestAccuracy = Double(p.test_correct) / Double(max(1, file.test_count))
            model.finetunedPrunings.append(FinetunedPruning(fraction: p.fraction, kept: p.kept, epochs: p.epochs,
                                                            recordedCorrectBeforeFinetune: p.test_correct_before_finetune, model: pruned))
        }
        return model
    }
}

/// A structurally pruned copy of an `MLPModel`, fine-tuned by the training script: which neurons
/// of each hidden layer were kept (by L1 norm, the rule of `Pruning.keptNeurons`) and the weights
/// after fine-tuning. The `pruned25_ft` / `pruned50_ft` edge variants run it.
public struct FinetunedPruning: Sendable {
    /// Fraction of each hidden layer's neurons removed.
    public var fraction: Double
    /// Per hidden layer, the kept neuron indices of the unpruned model (ascending).
    public var kept: [[Int]]
    /// Fine-tuning epochs.
    public var epochs: Int
    /// Test top-1 count the script measured right after pruning, before fine-tuning.
    public var recordedCorrectBeforeFinetune: Int
    /// The fine-tuned pruned model (no exit heads); its `recordedTestCorrect` is after fine-tuning.
    public var model: MLPModel
}
