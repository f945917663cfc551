// Tests of the digits CNN: the loader's located errors, the four layout variants against each
// other and against a naive double-precision reference, top-1 against the training script's
// record, and the CNN edge factory (dispatch by architecture, variant validation).
import Foundation
import Kernels
import Testing
@testable import Edge

let cnnPath = repoRoot.appendingPathComponent("data/digits/cnn.json").path
let cnnText = try! String(contentsOfFile: cnnPath, encoding: .utf8)
let shippedCNN = try! CNNModel.load(path: cnnPath)

/// The shipped cnn.json with line `n` (1-based) transformed.
func cnnText(line n: Int, _ edit: (String) -> String) -> String {
    var lines = cnnText.components(separatedBy: "\n")
    lines[n - 1] = edit(lines[n - 1])
    return lines.joined(separator: "\n")
}

/// Replaces the first number of a line that starts with brackets (`[[[-0.28,...` → `[[[NaN,...`).
func replacingFirstNumber(_ line: String, with token: String) -> String {
    let brackets = line.prefix(while: { $0 == "[" })
    let rest = line.dropFirst(brackets.count)
    return String(brackets) + token + rest.drop(while: { $0 != "," })
}

/// Naive double-precision forward pass of one image (NCHW, OIHW, CHW flatten), for checking.
func naiveLogits(_ m: CNNModel, pixels: ArraySlice<Float>) -> [Double] {
    var x = pixels.map { Double($0) * Double(m.inputScale) }  // [1][8][8]
    var c = 1
    for conv in m.convs {
        var y = [Double](repeating: 0, count: conv.outChannels * 64)
        let (k, p) = (conv.kernel, conv.padding)
        for o in 0..<conv.outChannels {
            for oy in 0..<8 {
                for ox in 0..<8 {
                    var acc = Double(conv.bias[o])
                    for ci in 0..<c {
                        for ky in 0..<k {
                            for kx in 0..<k {
                                let iy = oy + ky - p, ix = ox + kx - p
                                guard (0..<8).contains(iy), (0..<8).contains(ix) else { continue }
                                acc += Double(conv.weight[((o * c + ci) * k + ky) * k + kx]) * x[(ci * 8 + iy) * 8 + ix]
                            }
                        }
                    }
                    y[(o * 8 + oy) * 8 + ox] = conv.relu ? max(acc, 0) : acc
                }
            }
        }
        x = y
        c = conv.outChannels
    }
    var f = [Double](repeating: 0, count: c * 16)
    for ch in 0..<c {
        for py in 0..<4 {
            for px in 0..<4 {
                f[(ch * 4 + py) * 4 + px] = [(0, 0), (0, 1), (1, 0), (1, 1)].map { x[(ch * 8 + 2 * py + $0.0) * 8 + 2 * px + $0.1] }.max()!
            }
        }
    }
    for d in m.dense {
        f = (0..<d.outputs).map { o in
            let s = (0..<d.inputs).reduce(Double(d.bias[o])) { $0 + Double(d.weight[o * d.inputs + $1]) * f[$1] }
            return d.relu ? max(s, 0) : s
        }
    }
    return f
}

@Suite struct CNNModelLoadingTests {
    @Test func shippedModelShapes() {
        let m = shippedCNN
        #expect(m.convs.map(\.outChannels) == [8, 16] && m.convs.map(\.inChannels) == [1, 8])
        #expect(m.convs.allSatisfy { $0.kernel == 3 && $0.padding == 1 && $0.relu })
        #expect(m.dense.count == 1 && m.dense[0].inputs == 256 && m.dense[0].outputs == 10 && !m.dense[0].relu)
        #expect(m.seed == 9 && m.inputScale == 0.0625)
        #expect(m.macsPerImage == 64 * (8 * 9 + 16 * 72) + 2560)
    }

    @Test func architectureDispatch() throws {
        #expect(try EdgeArchitecture.of(modelPath: cnnPath) == .cnn)
        #expect(try EdgeArchitecture.of(modelPath: modelPath) == .mlp)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("rnn.json")
        try "{\"format\":\"x\",\n\"architecture\":\"rnn\"}".write(to: bad, atomically: true, encoding: .utf8)
        #expect { try EdgeArchitecture.of(modelPath: bad.path) } throws: { "\($0)" == "\(bad.path):2: unknown architecture 'rnn' (mlp or cnn)" }
    }

    @Test func nanWeightNamesFileAndLine() {
        // Line 5 holds conv1's kernel of output channel 2.
        let text = cnnText(line: 5) { replacingFirstNumber($0, with: "NaN") }
        #expect { try CNNModel.parse(Data(text.utf8), path: "cnn.json") } throws: {
            "\($0)" == "cnn.json:5: layers[0] (conv1): weight[2][0][0][0] is not finite (nan)"
        }
        // Line 33 holds row 1 of the dense layer; 1e300 overflows float32.
        let inf = cnnText(line: 33) { replacingFirstNumber($0, with: "1e300") }
        #expect { try CNNModel.parse(Data(inf.utf8), path: "cnn.json") } throws: {
            "\($0)" == "cnn.json:33: layers[3] (fc): weight[1][0] is not finite (inf)"
        }
    }

    @Test func wrongShapesNameFileAndLine() {
        // Drop one tap from conv2's kernel of output channel 1 (line 14).
        let short = cnnText(line: 14) { $0.replacingFirst(",", with: "],[") }
        #expect { try CNNModel.parse(Data(short.utf8), path: "cnn.json") } throws: {
            "\($0)".hasPrefix("cnn.json:14: wrong shape: layers[1] (conv2): weight[1][0]")
        }
        let wrongIn = cnnText.replacingOccurrences(of: "\"in\":256", with: "\"in\":255")
        #expect { try CNNModel.parse(Data(wrongIn.utf8), path: "cnn.json") } throws: {
            "\($0)" == "cnn.json:31: layers[3] (fc): wrong shape: in = 255, expected 256 (16×4×4 pooled features)"
        }
        let wrongChannels = cnnText.replacingOccurrences(of: "\"name\":\"conv2\",\"in_channels\":8", with: "\"name\":\"conv2\",\"in_channels\":4")
        #expect { try CNNModel.parse(Data(wrongChannels.utf8), path: "cnn.json") } throws: {
            "\($0)".hasPrefix("cnn.json:12: layers[1] (conv2): wrong shape: in_channels = 4, expected 8")
        }
    }

    @Test func missingKeysAndBadJSON() {
        let noScale = cnnText.replacingOccurrences(of: "\"input_scale\":0.0625,", with: "")
        #expect { try CNNModel.parse(Data(noScale.utf8), path: "cnn.json") } throws: { "\($0)" == "cnn.json:1: missing key 'input_scale'" }
        let noBias = cnnText(line: 29) { $0.replacingOccurrences(of: "\"bias\":", with: "\"bais\":") }
        #expect { try CNNModel.parse(Data(noBias.utf8), path: "cnn.json") } throws: { "\($0)" == "cnn.json:12: layers[1] (conv2): missing key 'bias'" }
        let doubledComma = cnnText(line: 40) { $0.replacingFirst(",", with: ",,") }
        #expect { try CNNModel.parse(Data(doubledComma.utf8), path: "cnn.json") } throws: { "\($0)".hasPrefix("cnn.json:40: not valid JSON") }
    }
}

extension String {
    /// The string with its first occurrence of `target` replaced.
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let r = range(of: target) else { return self }
        return replacingCharacters(in: r, with: replacement)
    }
}

@Suite struct CNNRuntimeTests {
    func logits(_ m: CNNModel, _ layout: CNNLayout, pixels: [Float], batch: Int, start: Int = 0) -> [Float] {
        let r = FP32CNN(model: m, batch: batch, layout: layout)
        r.setInput(pixels, start: start)
        return Array(r.forward())
    }

    @Test(arguments: CNNLayout.allCases)
    func topOneMatchesTrainingScript(layout: CNNLayout) throws {
        let test = try shipped.0.split("test")
        let r = FP32CNN(model: shippedCNN, batch: test.count, layout: layout)
        r.setInput(test.pixels, start: 0)
        r.forward()
        let correct = zip(r.predictions(), test.labels).filter { $0 == $1 }.count
        #expect(test.count == shippedCNN.recordedTestCount)
        #expect(correct == shippedCNN.recordedTestCorrect, "\(layout): \(correct) vs recorded \(shippedCNN.recordedTestCorrect)")
        #expect(abs(Double(correct) / Double(test.count) - shippedCNN.recordedTestAccuracy) < 1e-9)
    }

    @Test func allLayoutsAgreeOnTheTestSplit() throws {
        let test = try shipped.0.split("test")
        let ref = logits(shippedCNN, .nchw, pixels: test.pixels, batch: test.count)
        for i in [0, 1, 77, 538] {
            let naive = naiveLogits(shippedCNN, pixels: test.pixels[(i * 64)..<((i + 1) * 64)])
            for j in 0..<10 { #expect(abs(Double(ref[i * 10 + j]) - naive[j]) < 1e-4, "image \(i) logit \(j)") }
        }
        for layout in CNNLayout.allCases.dropFirst() {
            let l = logits(shippedCNN, layout, pixels: test.pixels, batch: test.count)
            let maxDiff = zip(ref, l).map { abs($0 - $1) }.max()!
            #expect(maxDiff < 1e-4, "\(layout): max |Δlogit| = \(maxDiff)")
            let preds = (0..<test.count).map { i in (0..<10).max(by: { l[i * 10 + $0] < l[i * 10 + $1] })! }
            let refPreds = (0..<test.count).map { i in (0..<10).max(by: { ref[i * 10 + $0] < ref[i * 10 + $1] })! }
            #expect(preds == refPreds, "\(layout)")
        }
    }

    @Test(arguments: CNNLayout.allCases)
    func batchOfOneAtAnyStartMatchesTheFullBatch(layout: CNNLayout) throws {
        let test = try shipped.0.split("test")
        let full = logits(shippedCNN, layout, pixels: test.pixels, batch: test.count)
        let one = FP32CNN(model: shippedCNN, batch: 1, layout: layout)
        for i in [0, 5, 300, test.count - 1] {
            one.setInput(test.pixels, start: i)
            let l = Array(one.forward())
            #expect(l == Array(full[(i * 10)..<((i + 1) * 10)]), "\(layout) image \(i)")
            #expect(one.predictions().count == 1)
        }
    }

    /// Other geometries than the shipped model: kernels 5 and 1 (halo 2); 8, 24, 32 and 16 output
    /// channels, so the NHWC kernels run 1-vector and 2-vector tiles of SIMD8 and SIMD16; two
    /// dense layers — every layout, with the SIMD8 and the SIMD16 tiles, against the naive reference.
    @Test func otherGeometriesAgreeWithNaiveReference() {
        var g = SeededGenerator(seed: UInt64(#line))
        func rand(_ n: Int, _ s: Float) -> [Float] { (0..<n).map { _ in Float.random(in: -s...s, using: &g) } }
        let convs = [
            CNNConvLayer(inChannels: 1, outChannels: 8, kernel: 5, relu: true, weight: rand(8 * 25, 0.4), bias: rand(8, 0.1)),
            CNNConvLayer(inChannels: 8, outChannels: 24, kernel: 3, relu: true, weight: rand(24 * 72, 0.2), bias: rand(24, 0.1)),
            CNNConvLayer(inChannels: 24, outChannels: 32, kernel: 3, relu: true, weight: rand(32 * 24 * 9, 0.1), bias: rand(32, 0.1)),
            CNNConvLayer(inChannels: 32, outChannels: 16, kernel: 1, relu: false, weight: rand(16 * 32, 0.3), bias: rand(16, 0.1)),
        ]
        let dense = [DenseLayer(inputs: 256, outputs: 20, relu: true, weight: rand(20 * 256, 0.1), bias: rand(20, 0.1)),
                     DenseLayer(inputs: 20, outputs: 10, relu: false, weight: rand(200, 0.3), bias: rand(10, 0.1))]
        let m = CNNModel(convs: convs, dense: dense, inputScale: 1.0 / 16, seed: 0, recordedTestAccuracy: 0,
                         recordedTestCorrect: 0, recordedTestCount: 0, path: "synthetic")
        let pixels = (0..<(3 * 64)).map { _ in Float(Int.random(in: 0...16, using: &g)) }
        for layout in CNNLayout.allCases {
            for wide in [false, true] {  // SIMD8 (AVX2) and SIMD16 (AVX-512) tiles
                let r = FP32CNN(model: m, batch: 3, layout: layout, wide: wide)
                r.setInput(pixels, start: 0)
                let l = Array(r.forward())
                for i in 0..<3 {
                    let naive = naiveLogits(m, pixels: pixels[(i * 64)..<((i + 1) * 64)])
                    for j in 0..<10 { #expect(abs(Double(l[i * 10 + j]) - naive[j]) < 1e-4, "\(layout) wide \(wide) image \(i) logit \(j)") }
                }
            }
        }
    }
}

@Suite struct CNNEdgeFactoryTests {
    var spec: EdgeSpec { EdgeSpec(modelPath: cnnPath, dataPath: csvPath, accuracyBand: 0.01) }

    @Test func dispatchAndVariants() throws {
        let f = try EdgeModels.factory(spec: spec)
        #expect(f is CNNEdgeFactory && f.kind == "edge")
        #expect(f.variants == ["nchw", "nhwc", "nchw_packed", "nhwc_packed"] && f.referenceVariant == "nchw")
        #expect(try EdgeModels.factory(spec: EdgeSpec(modelPath: modelPath, dataPath: csvPath)) is EdgeFactory)
        #expect(f.flops(shape: [:]) == 2 * 539 * Double(shippedCNN.macsPerImage))
    }

    @Test func unknownVariantIsRejected() throws {
        let f = try CNNEdgeFactory(spec: spec)
        #expect { _ = try f.make(variant: "nchw_tiled", shape: [:], dtype: "f32", seed: 1) } throws: {
            ($0 as? KernelSpecError)?.key == "variants" && "\($0)".contains("no variant 'nchw_tiled'")
        }
    }

    /// Per-image latency mode and batches that do not divide the split: the whole-split top-1 is
    /// the same, and `run()` cycles through the test images.
    @Test(arguments: [1, 100])
    func batchedFactoryKeepsTopOne(batch: Int) throws {
        let f = try CNNEdgeFactory(spec: EdgeSpec(modelPath: cnnPath, dataPath: csvPath, batch: batch))
        #expect(f.batch == batch && f.testCount == 539)
        #expect(f.flops(shape: [:]) == 2 * Double(batch) * Double(shippedCNN.macsPerImage))
        let (_, value) = try f.taskAccuracy(variant: "nhwc_packed", seed: 1)
        #expect(abs(value - shippedCNN.recordedTestAccuracy) < 1e-12)
        let inst = try #require(try f.make(variant: "nchw", shape: [:], dtype: "f32", seed: 1) as? CNNEdgeInstance)
        let test = try shipped.0.split("test")
        let reference = FP32CNN(model: shippedCNN, batch: batch)
        for start in [0, batch, 2 * batch] {
            inst.run()
            reference.setInput(test.pixels, start: start)
            #expect(Array(inst.output()) == Array(reference.forward()), "iteration at image \(start)")
        }
        #expect(inst.lastIterationLabel == 0)
        #expect { _ = try CNNEdgeFactory(spec: EdgeSpec(modelPath: cnnPath, dataPath: csvPath, batch: 540)) } throws: {
            "\($0)".contains("batch 540 is outside 1...539")
        }
    }

    @Test func taskAccuracyIsTheRecordedTopOne() throws {
        let f = try CNNEdgeFactory(spec: spec)
        let (metric, value) = try f.taskAccuracy(variant: "nhwc_packed", seed: 1)
        #expect(metric == "top-1" && abs(value - shippedCNN.recordedTestAccuracy) < 1e-12)
        let inst = try f.make(variant: "nchw_packed", shape: [:], dtype: "f32", seed: 1)
        inst.run()
        #expect(inst.output().count == 539 * 10)
    }
}
