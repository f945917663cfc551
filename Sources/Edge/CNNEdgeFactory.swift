// The `edge` op of a CNN model (an `[[edge]]` entry whose model JSON says "architecture": "cnn"):
// layout variants nchw (reference) / nhwc / nchw_packed / nhwc_packed of the same fp32 network,
// judged by top-1 on the test split (`TaskAccuracySource`). One iteration = inference of the whole
// test split as one batch. Also the dispatch from a model file to its factory (`EdgeModels`).
import BenchModel
import Foundation
import Kernels

/// Factory of the `edge` op for a CNN model (kind `edge`, so `fusebench variants` shows it).
public struct CNNEdgeFactory: KernelFactory, TaskAccuracySource {
    /// All variants; the first (`nchw`, the textbook layout) is the reference.
    public static let allVariants = CNNLayout.allCases.map(\.rawValue)
    public let spec: EdgeSpec
    public let model: CNNModel
    let test: DigitsSplit

    /// Loads and validates the model and data; errors name the file (and line).
    public init(spec: EdgeSpec) throws {
        guard spec.accuracyBand >= 0, spec.accuracyBand <= 1 else {
            throw EdgeError(file: spec.modelPath, "accuracy_band \(spec.accuracyBand) is outside [0, 1]")
        }
        self.spec = spec
        model = try CNNModel.load(path: spec.modelPath)
        test = try DigitsData.load(path: spec.dataPath).split("test")
    }

    public var kind: String { "edge" }
    public var summary: String { "edge-inference layout variants of a small CNN (NCHW / NHWC, unpacked / pre-packed weights), judged by top-1" }
    public var shapeKeys: [String] { [] }
    public var variants: [String] { Self.allVariants }
    public var dtypes: [String] { ["f32"] }
    public var accuracyBand: Double { spec.accuracyBand }
    public func validate(shape: Shape, dtype: String) throws {}

    /// 2·batch·(conv + dense multiply-accumulates); the max-pool's comparisons are not counted.
    public func flops(shape: Shape) -> Double {
        2 * Double(test.count) * Double(model.macsPerImage)
    }

    /// Weights and biases (fp32, read once per iteration) + input pixels + logits.
    public func bytes(shape: Shape, dtype: String) -> Double {
        4 * Double(model.parameterCount + test.count * (DigitsData.features + 10))
    }

    /// Not used for verification (task accuracy is); recorded as the band.
    public func defaultTolerance(shape: Shape, dtype: String) -> Tolerance {
        Tolerance(abs: spec.accuracyBand, rel: 0, minCosine: 0)
    }

    public func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        try CNNEdgeInstance(factory: self, variant: variant)
    }

    /// Top-1 of `variant` on the test split.
    public func taskAccuracy(variant: String, seed: UInt64) throws -> (metric: String, value: Double) {
        let inst = try CNNEdgeInstance(factory: self, variant: variant)
        inst.run()
        let correct = zip(inst.runtime.predictions(), test.labels).filter { $0 == $1 }.count
        return ("top-1", Double(correct) / Double(test.count))
    }
}

/// One runnable layout variant over the test split.
final class CNNEdgeInstance: KernelInstance {
    let runtime: FP32CNN

    init(factory f: CNNEdgeFactory, variant: String) throws {
        guard let layout = CNNLayout(rawValue: variant) else {
            throw KernelSpecError(key: "variants", "edge (cnn): no variant '\(variant)' (has \(CNNEdgeFactory.allVariants.joined(separator: ", ")))")
        }
        runtime = FP32CNN(model: f.model, batch: f.test.count, layout: layout)
        runtime.setInput(f.test.pixels, start: 0)
    }

    func run() { runtime.forward() }

    /// The logits [test images × 10] of the last run.
    func output() -> UnsafeBufferPointer<Float> { runtime.lastLogits }
}

/// The factory for an `[[edge]]` entry, chosen by the model file's architecture.
public enum EdgeModels {
    /// `CNNEdgeFactory` when the model JSON has `"architecture": "cnn"`, else `EdgeFactory` (MLP).
    public static func factory(spec: EdgeSpec) throws -> any KernelFactory & TaskAccuracySource {
        switch try EdgeArchitecture.of(modelPath: spec.modelPath) {
        case .cnn: return try CNNEdgeFactory(spec: spec)
        case .mlp: return try EdgeFactory(spec: spec)
        }
    }
}
