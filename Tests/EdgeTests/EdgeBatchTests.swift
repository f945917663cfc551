// Per-image (batch) mode of the edge op: cycling through the test split, accuracy over the whole
// split with a partial last chunk, and the early-exit iteration labels.
import Foundation
import Kernels
import Testing
@testable import Edge

@Suite struct EdgeBatchTests {
    func factory(batch: Int?) throws -> EdgeFactory {
        try EdgeFactory(spec: EdgeSpec(modelPath: modelPath, dataPath: csvPath, batch: batch))
    }

    @Test func accuracyCoversTheWholeSplitForAnyBatch() throws {
        let whole = try factory(batch: nil)
        for b in [1, 10, 539] {  // 10 leaves a partial last chunk of 9 images
            let f = try factory(batch: b)
            #expect(f.batch == b)
            let (preds, exits) = try f.inferTestSplit(variant: "fp32")
            #expect(preds.count == 539 && exits.count == 539)
            #expect(try f.taskAccuracy(variant: "fp32", seed: 1).value == whole.taskAccuracy(variant: "fp32", seed: 1).value)
            #expect(try f.inferTestSplit(variant: "early_exit").predictions == whole.inferTestSplit(variant: "early_exit").predictions)
            // int8: every image's integer arithmetic is the same at any batch size: identical predictions.
            #expect(try f.inferTestSplit(variant: "int8_mse").predictions == whole.inferTestSplit(variant: "int8_mse").predictions)
            // fp32 kernels change summation order with the batch size (SIMD lanes vs tails): top-1 may move by one image.
            for v in ["sparse24", "pruned25"] {
                let a = try f.taskAccuracy(variant: v, seed: 1).value, w = try whole.taskAccuracy(variant: v, seed: 1).value
                #expect(abs(a - w) <= 1.0 / 539 + 1e-12, "\(v) batch \(b)")
            }
        }
        #expect(try factory(batch: 1).flops(shape: [:]) * 539 == whole.flops(shape: [:]))
    }

    @Test func batchOutsideTheSplitIsAnError() {
        #expect { try factory(batch: 0) } throws: { "\($0)".contains("batch 0 is outside 1...539") }
        #expect { try factory(batch: 540) } throws: { "\($0)".contains("batch 540 is outside 1...539") }
    }

    @Test func earlyExitLabelsAreTheExitHeadsOfTheImagesInOrder() throws {
        let f = try factory(batch: 1)
        let exits = try f.inferTestSplit(variant: "early_exit").exits
        #expect(Set(exits) == [1, 2], "both modes occur at threshold 0.9")
        let inst = try #require(try f.make(variant: "early_exit", shape: [:], dtype: "f32", seed: 1) as? any IterationLabeled)
        var labels: [Int] = []
        for _ in 0..<(539 + 3) {
            inst.run()
            labels.append(Int(inst.lastIterationLabel))
        }
        #expect(Array(labels.prefix(539)) == exits)
        #expect(Array(labels.suffix(3)) == Array(exits.prefix(3)), "cycles back to image 0")
        // Other variants label every iteration 0.
        let fp32 = try #require(try f.make(variant: "fp32", shape: [:], dtype: "f32", seed: 1) as? any IterationLabeled)
        fp32.run()
        #expect(fp32.lastIterationLabel == 0)
    }

    @Test func batchedEarlyExitLabelCountsEarlyExits() throws {
        let f = try factory(batch: 10)
        let exits = try f.inferTestSplit(variant: "early_exit").exits
        let inst = try #require(try f.make(variant: "early_exit", shape: [:], dtype: "f32", seed: 1) as? any IterationLabeled)
        for chunk in 0..<53 {  // 53 full chunks of 10; the 9 remaining images are skipped by the cycle
            inst.run()
            let expected = exits[(chunk * 10)..<(chunk * 10 + 10)].filter { $0 == 1 }.count
            #expect(Int(inst.lastIterationLabel) == expected)
        }
        inst.run()
        #expect(Int(inst.lastIterationLabel) == exits[0..<10].filter { $0 == 1 }.count, "wraps to image 0")
    }
}

/// The cycling and chunking both edge factories use: iterations wrap to image 0 before a partial
/// chunk; the accuracy pass covers every image once, the remainder on its own instance.
@Suite struct TestSplitCyclingTests {
    @Test func cursorWrapsBeforeAPartialChunk() {
        var c = TestSplitCursor(batch: 100, imageCount: 539)
        #expect((0..<7).map { _ in c.next() } == [0, 100, 200, 300, 400, 0, 100])
        var one = TestSplitCursor(batch: 1, imageCount: 3)
        #expect((0..<5).map { _ in one.next() } == [0, 1, 2, 0, 1])
        var whole = TestSplitCursor(batch: 539, imageCount: 539)
        #expect((0..<3).map { _ in whole.next() } == [0, 0, 0])
    }

    @Test func chunksCoverTheSplitWithARemainderInstance() throws {
        var made: [Int] = [], visits: [(size: Int, start: Int)] = []
        try TestSplitChunks.run(count: 539, batch: 100, make: { (size: Int) -> Int in made.append(size); return size }) { size, start in
            visits.append((size, start))
        }
        #expect(made == [100, 39])
        #expect(visits.map(\.start) == [0, 100, 200, 300, 400, 500] && visits.map(\.size) == [100, 100, 100, 100, 100, 39])
        made = []
        try TestSplitChunks.run(count: 539, batch: 539, make: { (size: Int) -> Int in made.append(size); return size }) { _, _ in }
        #expect(made == [539])
    }

    /// The CNN instance follows the same cursor: its 6th iteration at batch 100 is images 0–99 again.
    @Test func cnnInstanceWrapsLikeTheMLP() throws {
        let cnnPath = repoRoot.appendingPathComponent("data/digits/cnn.json").path
        let f = try CNNEdgeFactory(spec: EdgeSpec(modelPath: cnnPath, dataPath: csvPath, batch: 100))
        let inst = try #require(try f.make(variant: "nhwc_packed", shape: [:], dtype: "f32", seed: 1) as? CNNEdgeInstance)
        inst.run()
        let first = Array(inst.output())
        for _ in 0..<4 { inst.run() }
        #expect(Array(inst.output()) != first)
        inst.run()
        #expect(Array(inst.output()) == first)
    }
}
