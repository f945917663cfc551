// The `edge` op of a CNN model (an `[[edge]]` entry whose model JSON says "architecture": "cnn"):
// layout variants nchw (reference) / nhwc / nchw_packed / nhwc_packed of the same fp32 network,
// judged by top-1 on the whole test split (`TaskAccuracySource`). One iteration = inference of the
// next `batch` images of the test split (cycling; default the whole split as one batch), input
// scaling included, as for the MLP. Also the dispatch from a model file to its factory (`EdgeModels`).
import BenchModel
import Foundation
import Kernels

/// Factory of the `edge` op for a CNN model (kind `edge`, so `fusebench variants` shows it).
public struct CNNEdgeFactory: EdgeOpFactory {
    /// All variants; the first (`nchw`, the textbook layout) is the reference.
    public static let allVariants = CNNLayout.allCases.map(\.rawValue)
    public let spec: EdgeSpec
    public let model: CNNModel
    let test: DigitsSplit

    /// Loads and validates the model and data; errors name the file (and line).
    public init(spec: EdgeSpec) throws {
        try spec.checkRanges(exitThreshold: false)
        self.spec = spec
        model = try CNNModel.load(path: spec.modelPath)
        test = try DigitsData.load(path: spec.dataPath).split("test")
        try spec.checkBatch(testCount: test.count)
    }

    /// Images in the test split.
    public var testCount: Int { test.count }

    public var summary: String { "edge-inference layout variants of a small CNN (NCHW / NHWC, unpacked / pre-packed weights), judged by top-1" }

    /// 2·batch·(conv + dense multiply-accumulates); the max-pool's comparisons are not counted.
    public func flops(shape: Shape) -> Double {
        2 * Double(batch) * Double(model.macsPerImage)
    }

    /// Compulsory bytes: the weights and biases once (fp32; the runtime re-reads them per image, from
    /// cache) + the input pixels and logits of `batch` images.
    public func bytes(shape: Shape, dtype: String) -> Double {
        4 * Double(model.parameterCount + batch * (DigitsData.features + 10))
    }

    public func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        try CNNEdgeInstance(factory: self, variant: variant, batch: batch)
    }

    /// Predictions of `variant` over the whole test split, inferred in chunks of `batch` images as
    /// the timed iterations do (a partial last chunk runs on a runtime built for the remainder).
    public func inferTestSplit(variant: String) throws -> [Int] {
        var preds: [Int] = []
        try TestSplitChunks.run(count: test.count, batch: batch,
                                make: { try CNNEdgeInstance(factory: self, variant: variant, batch: $0) }) { inst, start in
            inst.infer(start: start)
            preds += inst.runtime.predictions()
        }
        return preds
    }

    /// Top-1 of `variant` on the whole test split (chunks of `batch`, see `inferTestSplit`).
    public func taskAccuracy(variant: String, seed: UInt64) throws -> (metric: String, value: Double) {
        let correct = zip(try inferTestSplit(variant: variant), test.labels).filter { $0 == $1 }.count
        return ("top-1", Double(correct) / Double(test.count))
    }
}

/// One runnable layout variant for `batch` images: each `run()` sets the input to the next `batch`
/// images of the test split (scaling included) and runs the forward pass, cycling back to image 0
/// when fewer than `batch` images remain.
final class CNNEdgeInstance: IterationLabeled {
    let runtime: FP32CNN
    private let pixels: [Float]
    private var cursor: TestSplitCursor
    /// Nothing to label per iteration (no early exit).
    let lastIterationLabel: Int32 = 0

    init(factory f: CNNEdgeFactory, variant: String, batch: Int) throws {
        guard let layout = CNNLayout(rawValue: variant) else {
            throw KernelSpecError(key: "variants", "edge (cnn): no variant '\(variant)' (has \(CNNEdgeFactory.allVariants.joined(separator: ", ")))")
        }
        cursor = TestSplitCursor(batch: batch, imageCount: f.test.count)
        runtime = FP32CNN(model: f.model, batch: batch, layout: layout)
        pixels = f.test.pixels
    }

    /// Infers the next `batch` images (cycling through the test split).
    func run() { infer(start: cursor.next()) }

    /// Sets the input to images `start ..< start + batch` and runs one forward pass.
    func infer(start: Int) {
        runtime.setInput(pixels, start: start)
        runtime.forward()
    }

    /// The logits [batch × 10] of the last run.
    func output() -> UnsafeBufferPointer<Float> { runtime.lastLogits }
}

/// An `edge` op factory: task-accuracy verified, over the digits test split.
public protocol EdgeOpFactory: KernelFactory, TaskAccuracySource, OpFamilyExtras {
    /// The suite entry.
    var spec: EdgeSpec { get }
    /// Images in the test split (the largest allowed `batch`).
    var testCount: Int { get }
    /// All variants; the first is the reference.
    static var allVariants: [String] { get }
}

/// What every edge op shares: kind `edge`, no shape keys (the shape is the stored `batch`), fp32,
/// variants from the model type, and verification by task accuracy within `accuracy_band`.
extension EdgeOpFactory {
    /// Images per iteration.
    public var batch: Int { spec.batch ?? testCount }
    public var kind: String { "edge" }
    public var shapeKeys: [String] { [] }
    public var variants: [String] { Self.allVariants }
    public var dtypes: [String] { ["f32"] }
    public var accuracyBand: Double { spec.accuracyBand }
    /// Edge instances time every inference (`IterationLabeled`).
    public var instancesTimeIterations: Bool { true }
    public func validate(shape: Shape, dtype: String) throws {}
    /// Not used for verification (task accuracy is); recorded as the band.
    public func defaultTolerance(shape: Shape, dtype: String) -> Tolerance {
        Tolerance(abs: spec.accuracyBand, rel: 0, minCosine: 0)
    }
}


/// The factory for an `[[edge]]` entry, chosen by the model file's architecture.
public enum EdgeModels {
    /// `CNNEdgeFactory` when the model JSON has `"architecture": "cnn"`, else `EdgeFactory` (MLP).
    public static func factory(spec: EdgeSpec) throws -> any EdgeOpFactory {
        switch try EdgeArchitecture.of(modelPath: spec.modelPath) {
        case .cnn: return try CNNEdgeFactory(spec: spec)
        case .mlp: return try EdgeFactory(spec: spec)
        }
    }
}
