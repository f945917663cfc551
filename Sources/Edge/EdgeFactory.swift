// The `edge` benchmark op: one model + data set, variants fp32 (reference), int8 (three calibration
// methods), pruned25 / pruned50 (structured, raw), pruned25_ft / pruned50_ft (structured, then
// fine-tuned by the training script), sparse24 (2:4) and early_exit. One iteration is the
// inference of the next `batch` images of the test split (cycling; default: the whole split, 539
// images, as one batch), input scaling / quantization included. Verification is by task accuracy
// (top-1 on the whole test split, `TaskAccuracySource`), not by elementwise closeness of logits.
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
    /// Images per inference (one iteration), in 1 ... test split size; nil = the whole test split.
    public var batch: Int?
    public init(modelPath: String, dataPath: String, accuracyBand: Double = 0.01, exitThreshold: Double = 0.9, batch: Int? = nil) {
        self.modelPath = modelPath
        self.dataPath = dataPath
        self.accuracyBand = accuracyBand
        self.exitThreshold = exitThreshold
        self.batch = batch
    }

    /// Checks the accuracy band (and, for models with an early exit, the exit threshold) are in
    /// [0, 1]; errors name the model file.
    func checkRanges(exitThreshold checkThreshold: Bool) throws {
        if checkThreshold, !(0...1).contains(exitThreshold) {
            throw EdgeError(file: modelPath, "exit_threshold \(exitThreshold) is outside [0, 1]")
        }
        guard accuracyBand >= 0, accuracyBand <= 1 else {
            throw EdgeError(file: modelPath, "accuracy_band \(accuracyBand) is outside [0, 1]")
        }
    }

    /// Checks `batch` fits a test split of `testCount` images; errors name the data file.
    func checkBatch(testCount: Int) throws {
        if let b = batch, !(1...testCount).contains(b) {
            throw EdgeError(file: dataPath, "batch \(b) is outside 1...\(testCount) (the test split has \(testCount) images)")
        }
    }
}

/// Factory of the `edge` op (kind `edge`).
public struct EdgeFactory: EdgeOpFactory {
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
        try spec.checkRanges(exitThreshold: true)
        self.spec = spec
        model = try MLPModel.load(path: spec.modelPath)
        data = try DigitsData.load(path: spec.dataPath)
        test = try data.split("test")
        calibration = try data.split("calibration")
        if !model.exitHeads.contains(where: { $0.afterLayer == 1 }) {
            throw EdgeError(file: spec.modelPath, "the model has no exit head after layer 1 (needed by early_exit)")
        }
        try spec.checkBatch(testCount: test.count)
    }

    /// Images in the test split.
    public var testCount: Int { test.count }

    public var summary: String { "edge-inference variants of a small MLP (fp32, int8 PTQ, pruning, 2:4, early exit), judged by top-1" }

    /// 2·batch·Σ(in·out) of the fp32 model (the same nominal work for every variant).
    public func flops(shape: Shape) -> Double {
        2 * Double(batch) * Double(model.layers.reduce(0) { $0 + $1.inputs * $1.outputs })
    }

    /// Weights (fp32) + input + logits of one iteration's `batch` images.
    public func bytes(shape: Shape, dtype: String) -> Double {
        4 * Double(model.layers.reduce(0) { $0 + $1.inputs * $1.outputs + $1.outputs } + batch * (64 + 10))
    }

    public func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        guard variants.contains(variant) else { throw KernelSpecError(key: "variants", "edge: no variant '\(variant)'") }
        return try EdgeInstance(factory: self, variant: variant, batch: batch)
    }

    /// Predictions and exit heads (1 = exit head, 2 = final layer; 2 for every image of a variant
    /// without early exit) of `variant` over the whole test split, inferred in chunks of `batch`
    /// images exactly as the timed iterations do; when `batch` does not divide the split, the last
    /// partial chunk runs on a second runtime built for the remainder.
    public func inferTestSplit(variant: String) throws -> (predictions: [Int], exits: [Int]) {
        var preds: [Int] = [], exits: [Int] = []
        try TestSplitChunks.run(count: test.count, batch: batch,
                                make: { try EdgeInstance(factory: self, variant: variant, batch: $0) }) { inst, start in
            inst.infer(start: start)
            preds += inst.predictions()
            exits += inst.earlyExit?.lastExits ?? Array(repeating: 2, count: inst.batch)
        }
        return (preds, exits)
    }

    /// Top-1 of `variant` on the whole test split (chunks of `batch`, see `inferTestSplit`).
    public func taskAccuracy(variant: String, seed: UInt64) throws -> (metric: String, value: Double) {
        let preds = try inferTestSplit(variant: variant).predictions
        let correct = zip(preds, test.labels).filter { $0 == $1 }.count
        return ("top-1", Double(correct) / Double(test.count))
    }

    /// Fraction of test images leaving at the exit head (the rest at the final layer).
    public func exitRate() throws -> Double {
        let exits = try inferTestSplit(variant: "early_exit").exits
        return Double(exits.filter { $0 == 1 }.count) / Double(exits.count)
    }
}

/// One runnable variant for `batch` images. Each `run()` infers the next `batch` images of the test
/// split (setting the input — scaling or quantizing it — is part of the iteration, as in
/// deployment), cycling back to image 0 when fewer than `batch` images remain (so with a batch
/// that does not divide the split, the timed cycle covers its first ⌊n / batch⌋·batch images).
final class EdgeInstance: IterationLabeled {
    let variant: String
    var fp32: FP32MLP?
    var int8: Int8MLP?
    var sparse: Sparse24MLP?
    var earlyExit: EarlyExitMLP?
    private let out: UnsafeMutablePointer<Float>
    let batch: Int
    private let pixels: [Float]
    private var cursor: TestSplitCursor
    /// Early exit: the head the image left at (batch 1) or the number of images that left at the
    /// exit head (batch > 1); 0 for the other variants.
    private(set) var lastIterationLabel: Int32 = 0

    init(factory f: EdgeFactory, variant: String, batch: Int) throws {
        self.variant = variant
        let test = f.test
        precondition((1...test.count).contains(batch))
        self.batch = batch
        pixels = test.pixels
        cursor = TestSplitCursor(batch: batch, imageCount: test.count)
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
    }

    deinit { out.deallocate() }

    /// Infers the next `batch` images (cycling through the test split).
    func run() { infer(start: cursor.next()) }

    /// Sets the input to images `start ..< start + batch` and runs one forward pass.
    func infer(start: Int) {
        if let m = fp32 { m.setInput(pixels, start: start); m.forward() }
        if let m = int8 { m.setInput(pixels, start: start); m.forward() }
        if let m = sparse { m.setInput(pixels, start: start); m.forward() }
        if let m = earlyExit {
            m.setInput(pixels, start: start)
            m.forward()
            let exits = m.lastExits
            if batch == 1 {
                lastIterationLabel = Int32(exits[0])
            } else {
                var early: Int32 = 0
                for e in exits where e == 1 { early += 1 }
                lastIterationLabel = early
            }
        }
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

/// Which images the timed iterations infer: `batch` consecutive test images per iteration, cycling
/// back to image 0 when fewer than `batch` remain (so with a batch that does not divide the split,
/// the cycle covers its first ⌊count / batch⌋·batch images).
struct TestSplitCursor {
    let batch: Int
    let imageCount: Int
    private var start = 0

    init(batch: Int, imageCount: Int) {
        precondition((1...imageCount).contains(batch))
        self.batch = batch
        self.imageCount = imageCount
    }

    /// First image of the next iteration.
    mutating func next() -> Int {
        if start + batch > imageCount { start = 0 }
        defer { start += batch }
        return start
    }
}

/// The whole test split in chunks of `batch` images, as the timed iterations infer them; when
/// `batch` does not divide the split, the last partial chunk runs on a second instance built for
/// the remainder (so accuracy always covers every image).
enum TestSplitChunks {
    /// Calls `body(instance, start)` for each chunk in order; `make(size)` builds an instance for
    /// `size` images (at most two are built).
    static func run<I>(count: Int, batch: Int, make: (Int) throws -> I, _ body: (I, Int) throws -> Void) throws {
        let main = try make(batch)
        let remainder = count % batch
        let tail = remainder > 0 ? try make(remainder) : nil
        var start = 0
        while start < count {
            let full = start + batch <= count
            try body(full ? main : tail!, start)
            start += full ? batch : remainder
        }
    }
}
