import CKernels
import Foundation
import Kernels
import Testing
@testable import Edge

/// Repository root, from this file's path (Tests/EdgeTests/EdgeTests.swift).
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let csvPath = repoRoot.appendingPathComponent("data/digits/digits.csv").path
let modelPath = repoRoot.appendingPathComponent("data/digits/mlp.json").path

/// Loaded once; the model and data are small.
let shipped: (DigitsData, MLPModel) = (try! DigitsData.load(path: csvPath), try! MLPModel.load(path: modelPath))

let header = "split,label," + (0..<64).map { "p\($0)" }.joined(separator: ",")
func row(_ split: String, _ label: Int, pixels: Int = 64, value: String = "3") -> String {
    "\(split),\(label)," + Array(repeating: value, count: pixels).joined(separator: ",")
}

@Suite struct DataLoadingTests {
    @Test func shippedDataHasThreeSplits() throws {
        let (data, _) = shipped
        #expect(try data.split("train").count == 1078)
        #expect(try data.split("calibration").count == 180)
        #expect(try data.split("test").count == 539)
        #expect(try data.split("test").pixels.count == 539 * 64)
    }

    @Test func wrongShapeRowNamesFileAndLine() {
        let text = [header, row("train", 1), row("test", 2, pixels: 63)].joined(separator: "\n")
        #expect {
            try DigitsData.parse(text, path: "d.csv")
        } throws: { "\($0)".hasPrefix("d.csv:3: wrong shape: expected 66 columns") }
    }

    @Test func badLabelPixelSplitAndHeader() {
        let cases: [(String, String)] = [
            ([header, row("train", 11)].joined(separator: "\n"), "d.csv:2: label '11'"),
            ([header, row("train", 1, value: "17")].joined(separator: "\n"), "d.csv:2: pixel p0 = '17'"),
            ([header, row("validation", 1)].joined(separator: "\n"), "d.csv:2: unknown split 'validation'"),
            ("label,split", "d.csv:1: expected the header"),
            ("", "d.csv: the data file is empty"),
        ]
        for (text, prefix) in cases {
            #expect { try DigitsData.parse(text, path: "d.csv") } throws: { "\($0)".hasPrefix(prefix) }
        }
    }

    @Test func emptyCalibrationSplitIsAnError() throws {
        let data = try DigitsData.parse([header, row("train", 1), row("test", 2)].joined(separator: "\n"), path: "d.csv")
        #expect { try data.split("calibration") } throws: { "\($0)" == "d.csv: the calibration split is empty (no rows with split = calibration)" }
    }
}

@Suite struct ModelLoadingTests {
    func tinyModel(weight: String = "[[0.5]]", inputs: Int = 64) -> String {
        let w = "[" + Array(repeating: "[" + Array(repeating: "0.1", count: inputs).joined(separator: ",") + "]", count: 10).joined(separator: ",") + "]"
        _ = weight
        return """
        {"format":"fusebench-mlp-v1","seed":1,"input_scale":0.0625,
        "layers":[{"in":\(inputs),"out":10,"activation":"none","weight":\(w),"bias":[0,0,0,0,0,0,0,0,0,0]}],
        "test_accuracy":0.5,"test_correct":1,"test_count":2}
        """
    }

    @Test func shippedModelShapes() {
        let (_, m) = shipped
        #expect(m.layers.map(\.outputs) == [128, 64, 10])
        #expect(m.layers.map(\.inputs) == [64, 128, 64])
        #expect(m.exitHeads.count == 1 && m.exitHeads[0].afterLayer == 1)
        #expect(m.seed == 9)
    }

    @Test func tinyModelLoads() throws {
        let m = try MLPModel.parse(Data(tinyModel().utf8), path: "m.json")
        #expect(m.layers.count == 1)
    }

    @Test func nanWeightNamesFileAndLine() {
        let text = tinyModel().replacingOccurrences(of: "\"bias\":[0,", with: "\"bias\":[NaN,")
        #expect { try MLPModel.parse(Data(text.utf8), path: "m.json") } throws: {
            "\($0)".hasPrefix("m.json:2: non-finite number 'NaN'")
        }
    }

    @Test func overflowingWeightIsNotFinite() {
        let text = tinyModel().replacingOccurrences(of: "\"bias\":[0,", with: "\"bias\":[1e300,")
        #expect { try MLPModel.parse(Data(text.utf8), path: "m.json") } throws: {
            "\($0)" == "m.json: layers[0]: bias[0] is not finite (inf)"
        }
    }

    @Test func wrongShapeIsAnError() {
        #expect { try MLPModel.parse(Data(tinyModel(inputs: 63).utf8), path: "m.json") } throws: {
            "\($0)".hasPrefix("m.json: layers[0]: wrong shape: in = 63, expected 64")
        }
        let badBias = tinyModel().replacingOccurrences(of: "\"bias\":[0,", with: "\"bias\":[")
        #expect { try MLPModel.parse(Data(badBias.utf8), path: "m.json") } throws: {
            "\($0)" == "m.json: layers[0]: wrong shape: bias has 9 values, expected 10"
        }
    }
}

@Suite struct RuntimeTests {
    @Test func fp32TopOneMatchesTrainingScript() throws {
        let (data, model) = shipped
        let test = try data.split("test")
        let correct = TopOne.fp32Correct(model: model, split: test)
        #expect(test.count == model.recordedTestCount)
        #expect(correct == model.recordedTestCorrect)
        #expect(abs(Double(correct) / Double(test.count) - model.recordedTestAccuracy) < 1e-9)
    }

    @Test func int8GEMMOptimizedIsExact() {
        var g = SeededGenerator(seed: UInt64(#line))
        for (m, n, k) in [(1, 1, 1), (3, 5, 31), (7, 10, 64), (64, 128, 64), (5, 13, 100), (2, 4, 33), (9, 33, 7), (4, 32, 4), (13, 70, 130)] {
            let a = (0..<(m * k)).map { _ in Int8.random(in: -127...127, using: &g) }
            let w = (0..<(n * k)).map { _ in Int8.random(in: -127...127, using: &g) }
            var r = [Int32](repeating: 0, count: m * n), o = [Int32](repeating: 1, count: m * n)
            Int8GEMM.reference(a: a, w: w, c: &r, m: m, n: n, k: k)
            Int8GEMM.optimized(a: a, w: w, c: &o, m: m, n: n, k: k)
            #expect(r == o, "\(m)×\(n)×\(k)")
            // Pre-packed VNNI kernel (or its fallback): exact too, including ragged m, n, k.
            var p = [Int32](repeating: 7, count: m * n)
            let packed = w.withUnsafeBufferPointer { PackedInt8Weights($0.baseAddress!, n: n, k: k) }
            packed.multiply(a: a, m: m, c: &p)
            #expect(r == p, "packed \(m)×\(n)×\(k) (path: \(Int8KernelPath.selected))")
        }
        // Extreme values: every product 127·127 (or -127·127) summed exactly.
        let k = 96
        let a = [Int8](repeating: 127, count: k), w = [Int8](repeating: -127, count: 2 * k)
        var o = [Int32](repeating: 0, count: 2)
        Int8GEMM.optimized(a: a, w: w, c: &o, m: 1, n: 2, k: k)
        #expect(o == [Int32(-127 * 127 * k), Int32(-127 * 127 * k)])
        let packed = w.withUnsafeBufferPointer { PackedInt8Weights($0.baseAddress!, n: 2, k: k) }
        var p = [Int32](repeating: 0, count: 2)
        packed.multiply(a: a, m: 1, c: &p)
        #expect(p == o)
        let neg = [Int8](repeating: -127, count: k)
        packed.multiply(a: neg, m: 1, c: &p)
        #expect(p == [Int32(127 * 127 * k), Int32(127 * 127 * k)])
    }

    @Test(arguments: [539, 1, 7, 4])
    func int8FusedForwardIsBitIdenticalToReference(batch: Int) throws {
        let (data, model) = shipped
        let test = try data.split("test"), cal = try data.split("calibration")
        for method in CalibrationMethod.allCases {
            let ref = Int8MLP(model: model, calibration: cal, method: method, batch: batch, optimized: false)
            let opt = Int8MLP(model: model, calibration: cal, method: method, batch: batch, optimized: true)
            for start in Set([0, min(3, test.count - batch), test.count - batch]) {
                ref.setInput(test.pixels, start: start)
                opt.setInput(test.pixels, start: start)
                #expect(Array(ref.quantizedInput) == Array(opt.quantizedInput), "\(method) batch \(batch) input")
                let r = ref.forward().map(\.bitPattern), o = opt.forward().map(\.bitPattern)
                #expect(r == o, "\(method) batch \(batch) start \(start) (int8 path \(Int8KernelPath.selected))")
                #expect(ref.predictions() == opt.predictions())
            }
        }
    }

    @Test func vectorizedQuantizerMatchesQuantQuantize() {
        // Random values, exact .5 ties (x / s = i + 0.5 exactly with s a power of two) and clamps.
        var g = SeededGenerator(seed: UInt64(#line))
        var x = (0..<1000).map { _ in Float.random(in: -3...3, using: &g) }
        x += (-300...300).map { Float($0) + 0.5 }
        x += [0, -0, 1e9, -1e9, 127.5, -127.5, 126.5, -126.5]
        for (pre, s): (Float, Float) in [(1, 1), (0.0625, 0.5), (1, 0.013), (0.5, 0.25)] {
            var out = [Int8](repeating: 0, count: x.count)
            fb_quantize_i8(x, Int64(x.count), pre, s, &out)
            let ref = x.map { Quant.quantize($0 * pre, scale: s) }
            #expect(out == ref, "prescale \(pre) scale \(s)")
        }
        var out = [Int8](repeating: 0, count: 4)
        fb_quantize_i8([0.5, 1.5, 2.5, -2.5], 4, 1, 1, &out)
        #expect(out == [0, 2, 2, -2])
    }

    @Test func quantizeRoundTripWithinHalfStep() {
        let scale: Float = 0.013
        for i in -2000...2000 {
            let x = Float(i) * 0.00083
            let q = Quant.quantize(x, scale: scale)
            let back = Quant.dequantize(q, scale: scale)
            if abs(x) <= 127 * scale { #expect(abs(back - x) <= scale / 2 * 1.0001, "x = \(x)") }
            #expect((-127...127).contains(Int(q)))
        }
        #expect(Quant.quantize(1e6, scale: scale) == 127 && Quant.quantize(-1e6, scale: scale) == -127)
        let (q, s) = Quant.perChannel([1, -2, 0.5, 0, 0, 0], rows: 2, cols: 3)
        #expect(s == [2 / 127, 1] && q == [64, -127, 32, 0, 0, 0])
    }

    @Test func calibrationMethodsOrdering() {
        var values = (0..<10_000).map { Float($0 % 100) / 100 }
        values.append(50)  // one outlier
        let mm = CalibrationMethod.minmax.scale(for: values)
        let pc = CalibrationMethod.percentile.scale(for: values)
        let mse = CalibrationMethod.mse.scale(for: values)
        #expect(mm == Float(50) / 127)
        #expect(pc < mm && mse < mm)
        #expect(CalibrationMethod.minmax.scale(for: [0, 0]) == 1)
    }

    @Test(arguments: CalibrationMethod.allCases)
    func int8ModelWithinOnePointOfFP32(method: CalibrationMethod) throws {
        let (data, model) = shipped
        let test = try data.split("test")
        let fp32 = Double(TopOne.fp32Correct(model: model, split: test)) / Double(test.count)
        for optimized in [false, true] {
            let q = Int8MLP(model: model, calibration: try data.split("calibration"), method: method, batch: test.count, optimized: optimized)
            q.setInput(test.pixels, start: 0)
            q.forward()
            let top1 = Double(zip(q.predictions(), test.labels).filter { $0 == $1 }.count) / Double(test.count)
            #expect(top1 >= fp32 - 0.01, "\(method) optimized=\(optimized): \(top1) vs fp32 \(fp32)")
        }
    }
}

@Suite struct PruningTests {
    @Test func keepsTopL1Neurons() {
        // 4 neurons × 2 inputs; L1 norms 3, 0.5, 2, 1 → keeping half keeps neurons 0 and 2.
        let layer = DenseLayer(inputs: 2, outputs: 4, relu: true, weight: [1, -2, 0.5, 0, -1, 1, 0.5, 0.5], bias: [0, 1, 2, 3])
        #expect(Pruning.keptNeurons(layer, fraction: 0.5) == [0, 2])
        #expect(Pruning.keptNeurons(layer, fraction: 0.25) == [0, 2, 3])
        var m = shipped.1
        m.layers = [layer, DenseLayer(inputs: 4, outputs: 10, relu: false, weight: (0..<40).map(Float.init), bias: Array(repeating: 0, count: 10))]
        m.exitHeads = []
        let p = Pruning.structured(m, fraction: 0.5)
        #expect(p.layers[0].outputs == 2 && p.layers[0].weight == [1, -2, -1, 1] && p.layers[0].bias == [0, 2])
        #expect(p.layers[1].inputs == 2 && Array(p.layers[1].weight.prefix(4)) == [0, 2, 4, 6])
    }

    @Test func shippedModelPrunedShapes() {
        let p = Pruning.structured(shipped.1, fraction: 0.5)
        #expect(p.layers.map(\.outputs) == [64, 32, 10])
        #expect(p.layers.map(\.inputs) == [64, 64, 32])
        #expect(p.exitHeads[0].head.inputs == 64)
    }

    /// The training script's neuron selection is the Swift rule, and its fine-tuned copies load
    /// with the pruned shapes and reproduce the recorded top-1 (before and after fine-tuning).
    @Test func finetunedPruningsMatchSwiftSelectionAndRecordedAccuracy() throws {
        let (data, model) = shipped
        let test = try data.split("test")
        #expect(model.finetunedPrunings.map(\.fraction) == [0.25, 0.5])
        for p in model.finetunedPrunings {
            let raw = Pruning.structured(model, fraction: p.fraction)
            var m = model
            for l in 0..<(model.layers.count - 1) {
                #expect(p.kept[l] == Pruning.keptNeurons(m.layers[l], fraction: p.fraction), "fraction \(p.fraction) layer \(l)")
                m.layers[l] = Pruning.selectRows(m.layers[l], p.kept[l])
                m.layers[l + 1] = Pruning.selectColumns(m.layers[l + 1], p.kept[l])
            }
            #expect(p.model.layers.map(\.outputs) == raw.layers.map(\.outputs))
            #expect(p.model.layers.map(\.inputs) == raw.layers.map(\.inputs))
            #expect(TopOne.fp32Correct(model: raw, split: test) == p.recordedCorrectBeforeFinetune)
            #expect(TopOne.fp32Correct(model: p.model, split: test) == p.model.recordedTestCorrect)
            #expect(p.model.exitHeads.isEmpty && p.epochs > 0)
        }
    }

    @Test func finetunedPruningBadInputNamesTheFile() throws {
        let text = try String(contentsOfFile: modelPath, encoding: .utf8)
        // A kept list of the wrong length: the 25% pruning keeps 96 of 128, claim 95.
        let bad = text.replacingOccurrences(of: "\"kept\":[[0,", with: "\"kept\":[[", options: [], range: text.range(of: "\"kept\":[[0,"))
        #expect(bad != text)
        #expect { try MLPModel.parse(Data(bad.utf8), path: "m.json") } throws: {
            "\($0)".hasPrefix("m.json: pruned_finetuned[0].kept[0]: must be 96 distinct ascending neuron indices")
        }
    }

    @Test func sparse24KeepsTwoLargestOfFour() {
        let s = Sparse24([0.1, -3, 2, 0.5, 1, 1, 1, 1], rows: 1, cols: 8)
        #expect(s.dense == [0, -3, 2, 0, 1, 1, 0, 0])
        #expect(s.values == [-3, 2, 1, 1] && s.indices == [1 | 2 << 2, 0 | 1 << 2])
    }

    @Test func sparse24KernelMatchesDenseOnPrunedMatrix() {
        var g = SeededGenerator(seed: UInt64(#line))
        let (rows, cols) = (13, 64)
        for batch in [1, 16, 37] {
            let w = (0..<(rows * cols)).map { _ in Float.random(in: -1...1, using: &g) }
            let bias = (0..<rows).map { _ in Float.random(in: -1...1, using: &g) }
            let x = (0..<(batch * cols)).map { _ in Float.random(in: -1...1, using: &g) }
            let s = Sparse24(w, rows: rows, cols: cols)
            let d = s.dense
            var xT = [Float](repeating: 0, count: cols * batch)
            for b in 0..<batch { for c in 0..<cols { xT[c * batch + b] = x[b * cols + c] } }
            var yT = [Float](repeating: 0, count: rows * batch)
            s.multiply(xT: xT, batch: batch, bias: bias, relu: true, yT: &yT)
            for b in 0..<batch {
                for r in 0..<rows {
                    var acc = Double(bias[r])
                    for c in 0..<cols { acc += Double(d[r * cols + c]) * Double(x[b * cols + c]) }
                    #expect(abs(Double(yT[r * batch + b]) - max(acc, 0)) < 1e-4, "batch \(batch) row \(r)")
                }
            }
        }
    }
}

@Suite struct EdgeFactoryTests {
    var spec: EdgeSpec { EdgeSpec(modelPath: modelPath, dataPath: csvPath) }

    @Test func earlyExitThresholdsAndRates() throws {
        let (data, model) = shipped
        let test = try data.split("test")
        func run(_ t: Double) throws -> EarlyExitMLP {
            let e = try EarlyExitMLP(model: model, batch: test.count, threshold: t)
            e.setInput(test.pixels, start: 0)
            e.forward()
            return e
        }
        // Threshold 0: everything exits at the head, with the head's recorded accuracy.
        let all = try run(0)
        #expect(all.lastExits.allSatisfy { $0 == 1 })
        // Threshold 1: (almost) nothing is certain enough; the full model decides.
        let none = try run(1)
        let full = TopOne.fp32Correct(model: model, split: test)
        let noneCorrect = zip(none.lastPredictions, test.labels).filter { $0 == $1 }.count
        #expect(abs(noneCorrect - full) <= 2)
        #expect { try EarlyExitMLP(model: model, batch: 1, threshold: 1.5) } throws: {
            "\($0)".contains("mlp.json: exit threshold 1.5 is outside [0, 1]")
        }
        let factory = try EdgeFactory(spec: spec)
        let rate = try factory.exitRate()
        #expect(rate > 0 && rate < 1)
    }

    @Test func factoryAccuracyPerVariant() throws {
        let factory = try EdgeFactory(spec: spec)
        let fp32 = try factory.taskAccuracy(variant: "fp32", seed: 1)
        #expect(fp32.metric == "top-1" && abs(fp32.value - shipped.1.recordedTestAccuracy) < 1e-9)
        for v in ["int8_minmax", "int8_percentile", "int8_mse"] {
            #expect(try factory.taskAccuracy(variant: v, seed: 1).value >= fp32.value - 0.01, "\(v)")
        }
        for v in ["pruned25_ft", "pruned50_ft"] {
            #expect(try factory.taskAccuracy(variant: v, seed: 1).value >= fp32.value - 0.01, "\(v)")
        }
        let inst = try factory.make(variant: "sparse24", shape: [:], dtype: "f32", seed: 1)
        inst.run()
        #expect(inst.output().count == 539)
    }

    @Test func factoryErrorsNameTheFile() {
        #expect { try EdgeFactory(spec: EdgeSpec(modelPath: modelPath, dataPath: csvPath, exitThreshold: -0.1)) } throws: {
            "\($0)".hasPrefix("\(modelPath): exit_threshold -0.1 is outside [0, 1]")
        }
        #expect { try EdgeFactory(spec: EdgeSpec(modelPath: "/nonexistent/m.json", dataPath: csvPath)) } throws: {
            "\($0)".hasPrefix("/nonexistent/m.json: cannot read the model file")
        }
    }
}

/// Model and data files are read with a bound and only when regular: a FIFO is refused instead of
/// blocking the run, a file over the limit is an error naming it. Both used to be read unbounded
/// (`Data(contentsOf:)`, `String(contentsOfFile:)`): the FIFO hung, a huge file exhausted memory.
@Suite struct EdgeFileBoundTests {
    static func fifo() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-edge-fifo-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try #require(mkfifo(path, 0o600) == 0)
        return path
    }

    @Test func fifoIsRefusedNotRead() throws {
        let path = try Self.fifo()
        defer { unlink(path) }
        #expect { try DigitsData.load(path: path) } throws: { "\($0)".hasPrefix(path + ":") && "\($0)".contains("FIFO") }
        #expect { try MLPModel.load(path: path) } throws: { "\($0)".hasPrefix(path + ":") && "\($0)".contains("FIFO") }
        #expect { try CNNModel.load(path: path) } throws: { "\($0)".hasPrefix(path + ":") && "\($0)".contains("FIFO") }
        #expect(try EdgeArchitecture.of(modelPath: path) == .mlp)
    }

    @Test func fileOverTheLimitIsAnErrorNamingIt() throws {
        #expect { try DigitsData.load(path: csvPath, limit: 1_024) } throws: {
            "\($0)".hasPrefix(csvPath + ":") && "\($0)".contains("data file")
        }
        #expect { try MLPModel.load(path: modelPath, limit: 1_024) } throws: {
            "\($0)".hasPrefix(modelPath + ":") && "\($0)".contains("model file")
        }
        // Under the limit the same files load.
        #expect(try DigitsData.load(path: csvPath, limit: EdgeError.fileLimit).split("test").count > 0)
    }
}
