// The `edge` benchmark op: one model + data set, variants fp32 (reference), int8 (three calibration
// methods), pruned25 / pruned50 (structured, raw), pruned25_ft / pruned50_ft (structured, then
// fine-tuned by the training script), sparse24 (2:4) and early_exit. One iteration is the
// inference of the whole test split as one batch (539 images). Verification is by task accuracy
// (top-1 on the test split, `TaskAccuracySource`), not by elementwise closeness of logits.
import BenchModel
import Foundation
import Kernels

/// What a suite's `[[edge]]` entry describes.
public struct EdgeSpec: Sendable, Hashable {
    /// Absolute paths.
    public var modelPath: String
    public var dataPath: String
    /// Allowed top-1 drop (fraction; 0.01 = 1 point).
    public var accuracyBand: Double
    /// Softmax-maximum threshold of the early exit, in [0, 1].
    public var exitThreshold: Double
    public init(modelPath: String, dataPath: String, accuracyBand: Double = 0.01, exitThreshold: Double = 0.9) {
        self.modelPath = modelPath
        self.dataPath = dataPath
        self.accuracyBand = accuracyBand
        self.exitThreshold = exitThreshold
    }
}

/// Factory of the `edge` op (kind `edge`).
public struct EdgeFactory: KernelFactory, TaskAccuracySource {
    /// All variants; the first (`fp32`) is the reference.
    public static let allVariants = ["fp32", "int8_minmax", "int8_percentile", "int8_mse", "pruned25", "pruned50",
                                     "pruned25_ft", "pruned50_ft", "sparse24", "early_exit"]
    public let spec: EdgeSpec
    public let model: MLPModel
    public let data: DigitsData
    let test: DigitsSplit
    let calibration: DigitsSplit

    /// Loads and validates the model and data; errors name the file (and line).
    public init(spec: EdgeSpec) throws {
        guard (0...1).contains(spec.exitThreshold) else {
            throw EdgeError(file: spec.modelPath, "exit_threshold \(spec.exitThreshold) is outside [0, 1]")
        }
        guard spec.accuracyBand >= 0, spec.accuracyBand <= 1 else {
            throw EdgeError(file: spec.modelPath, "accuracy_band \(spec.accuracyBand) is outside [0, 1]")
        }
        self.spec = spec
        model = try MLPModel.load(path: spec.modelPath)
        data = try DigitsData.load(path: spec.dataPath)
        test = try data.split("test")
        calibration = try data.split("calibration")
        if !model.exitHeads.contains(where: { $0.afterLayer == 1 }) {
            throw EdgeError(file: spec.modelPath, "the model has no exit head after layer 1 (needed by early_exit)")
        }
    }

    public var kind: String { "edge" }
    public var summary: String { "edge-inference variants of a small MLP (fp32, int8 PTQ, pruning, 2:4, early exit), judged by top-1" }
    public var shapeKeys: [String] { [] }
    public var variants: [String] { Self.allVariants }
    public var dtypes: [String] { ["f32"] }
    public var accuracyBand: Double { spec.accuracyBand }
    public func validate(shape: Shape, dtype: String) throws {}

    /// 2·batch·Σ(in·out) of the fp32 model (the same nominal work for every variant).
    public func flops(shape: Shape) -> Double {
        2 * Double(test.count) * Double(model.layers.reduce(0) { $0 + $1.inputs * $1.outputs })
    }

    /// Weights (fp32) + input + logits.
    public func bytes(shape: Shape, dtype: String) -> Double {
        4 * Double(model.layers.reduce(0) { $0 + $1.inputs * $1.outputs + $1.outputs } + test.count * (64 + 10))
    }

    /// Not used for verification (task accuracy is); recorded as the band.
    public func defaultTolerance(shape: Shape, dtype: String) -> Tolerance {
        Tolerance(abs: spec.accuracyBand, rel: 0, minCosine: 0)
    }

    public func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        guard variants.contains(variant) else { throw KernelSpecError(key: "variants", "edge: no variant '\(variant)'") }
        return try EdgeInstance(factory: self, variant: variant)
    }

    /// Top-1 of `variant` on the test split.
    public func taskAccuracy(variant: String, seed: UInt64) throws -> (metric: String, value: Double) {
        let inst = try EdgeInstance(factory: self, variant: variant)
        inst.run()
        let preds = inst.predictions()
        let correct = zip(preds, test.labels).filter { $0 == $1 }.count
        return ("top-1", Double(correct) / Double(test.count))
    }

    /// Fraction of test images leaving at the exit head (the rest at the final layer).
    public func exitRate() throws -> Double {
        let inst = try EdgeInstance(factory: self, variant: "early_exit")
        inst.run()
        let exits = inst.earlyExit!.lastExits
        return Double(exits.filter { $0 == 1 }.count) / Double(exits.count)
    }
}

/// One runnable variant over the test split.
final class EdgeInstance: KernelInstance {
    let variant: String
    var fp32: FP32MLP?
    var int8: Int8MLP?
    var sparse: Sparse24MLP?
    var earlyExit: EarlyExitMLP?
    private let out: UnsafeMutablePointer<Float>
    private let batch: Int

    init(factory f: EdgeFactory, variant: String) throws {
        self.variant = variant
        let test = f.test
        batch = test.count
        out = .allocate(capacity: batch * 10)
        out.initialize(repeating: 0, count: batch * 10)
        switch variant {
        case "fp32": fp32 = FP32MLP(model: f.model, batch: batch)
        case "pruned25": fp32 = FP32MLP(model: Pruning.structured(f.model, fraction: 0.25), batch: batch)
        case "pruned50": fp32 = FP32MLP(model: Pruning.structured(f.model, fraction: 0.5), batch: batch)
        case "pruned25_ft", "pruned50_ft":
            let fraction = variant == "pruned25_ft" ? 0.25 : 0.5
            guard let p = f.model.finetunedPrunings.first(where: { $0.fraction == fraction }) else {
                throw EdgeError(file: f.spec.modelPath, "variant \(variant) needs a fine-tuned \(Int(fraction * 100))% pruning in 'pruned_finetuned' (run tools/train-digits-mlp)")
            }
            fp32 = FP32MLP(model: p.model, batch: batch)
        case "int8_minmax", "int8_percentile", "int8_mse":
            let method = CalibrationMethod(rawValue: String(variant.dropFirst(5)))!
            int8 = Int8MLP(model: f.model, calibration: f.calibration, method: method, batch: batch)
        case "sparse24": sparse = Sparse24MLP(model: f.model, batch: batch)
        case "early_exit": earlyExit = try EarlyExitMLP(model: f.model, batch: batch, threshold: f.spec.exitThreshold)
        default: throw KernelSpecError(key: "variants", "edge: no variant '\(variant)'")
        }
        fp32?.setInput(test.pixels, start: 0)
        int8?.setInput(test.pixels, start: 0)
        sparse?.setInput(test.pixels, start: 0)
        earlyExit?.setInput(test.pixels, start: 0)
    }

    deinit { out.deallocate() }

    func run() {
        if let m = fp32 { m.forward() }
        if let m = int8 { m.forward() }
        if let m = sparse { m.forward() }
        if let m = earlyExit { m.forward() }
    }

    func predictions() -> [Int] {
        fp32?.predictions() ?? int8?.predictions() ?? sparse?.predictions() ?? earlyExit!.lastPredictions
    }

    /// The predicted classes as floats (task-accuracy verification does not compare outputs).
    func output() -> UnsafeBufferPointer<Float> {
        for (i, p) in predictions().enumerated() { out[i] = Float(p) }
        return UnsafeBufferPointer(start: out, count: batch)
    }
}
