// The `batch` key of `[[edge]]` entries: images per inference, validated with file:line:col.
import Foundation
import FuseBench
import Suite
import Testing

@Suite struct EdgeBatchSuiteTests {
    init() { OpFamilies.registerBuiltIn() }

    static let suitesDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("suites")
    var suitePath: String { Self.suitesDir.appendingPathComponent("edge-batch-test.toml").path }

    func suite(_ extra: String) -> String {
        """
        [suite]
        name = "e"

        [[edge]]
        name = "digits"
        model = "../data/digits/mlp.json"
        data = "../data/digits/digits.csv"
        variants = ["fp32", "early_exit"]
        \(extra)
        """
    }

    @Test func batchIsStoredInSpecAndShape() throws {
        let s = try SuiteLoader.parse(text: suite("batch = 1"), path: suitePath)
        #expect(s.ops[0].edge?.batch == 1)
        #expect(s.ops[0].shape == ["batch": 1])
        let whole = try SuiteLoader.parse(text: suite("batch = 539"), path: suitePath)
        #expect(whole.ops[0].edge?.batch == 539)
        // Default: the whole test split (backward compatible), recorded in the shape.
        let def = try SuiteLoader.parse(text: suite(""), path: suitePath)
        #expect(def.ops[0].edge?.batch == nil)
        #expect(def.ops[0].shape == ["batch": 539])
    }

    @Test func zeroBatchIsLocated() {
        #expect { try SuiteLoader.parse(text: suite("batch = 0"), path: suitePath) } throws: {
            "\($0)".hasPrefix("\(suitePath):9:") && "\($0)".contains("'batch' must be at least 1, got 0")
        }
    }

    @Test func batchAboveTheSplitIsLocated() {
        #expect { try SuiteLoader.parse(text: suite("batch = 540"), path: suitePath) } throws: {
            "\($0)".hasPrefix("\(suitePath):9:") && "\($0)".contains("batch must be at most the test split's 539 images, got 540")
        }
    }

    @Test func nonIntegerBatchIsLocated() {
        #expect { try SuiteLoader.parse(text: suite("batch = 1.5"), path: suitePath) } throws: {
            "\($0)".hasPrefix("\(suitePath):9:") && "\($0)".contains("'batch' must be an integer")
        }
        #expect { try SuiteLoader.parse(text: suite("batch = \"1\""), path: suitePath) } throws: {
            "\($0)".hasPrefix("\(suitePath):9:") && "\($0)".contains("'batch' must be an integer")
        }
    }
}
