// `[[edge]]` entries whose model is a CNN ("architecture": "cnn"): dispatch to the CNN factory,
// reference variant nchw first, unknown variants located at the suite's file:line.
import Edge
import Foundation
import FuseBench
import Testing
@testable import Suite

@Suite struct CNNEdgeSuiteTests {
    init() { OpFamilies.registerBuiltIn() }

    var suitePath: String { EdgeSuiteTests.suitesDir.appendingPathComponent("cnn-test.toml").path }

    func suite(variants: String) -> String {
        """
        [suite]
        name = "c"

        [[edge]]
        name = "digits_cnn"
        model = "../data/digits/cnn.json"
        data = "../data/digits/digits.csv"
        variants = \(variants)
        accuracy_band = 0.01
        """
    }

    @Test func cnnEntryIsAnEdgeOpWithNCHWReferenceFirst() throws {
        let s = try SuiteLoader.parse(text: suite(variants: #"["nhwc_packed", "nchw", "nhwc"]"#), path: suitePath)
        #expect(s.ops.count == 1 && s.ops[0].kind == "edge")
        #expect(s.ops[0].variants == ["nchw", "nhwc_packed", "nhwc"])
        #expect(s.ops[0].factory() is CNNEdgeFactory)
    }

    @Test func batchKeyAppliesToTheCNN() throws {
        let s = try SuiteLoader.parse(text: suite(variants: #"["nchw", "nhwc_packed"]"#) + "\nbatch = 1", path: suitePath)
        #expect(s.ops[0].edge?.batch == 1 && s.ops[0].shape == ["batch": 1])
        #expect((s.ops[0].factory() as? CNNEdgeFactory)?.batch == 1)
        #expect { try SuiteLoader.parse(text: suite(variants: #"["nchw"]"#) + "\nbatch = 600", path: suitePath) } throws: {
            "\($0)".hasPrefix("\(suitePath):10:") && "\($0)".contains("batch must be at most the test split's 539 images")
        }
    }

    @Test func unknownVariantIsLocated() {
        #expect { try SuiteLoader.parse(text: suite(variants: #"["nchw", "nchw_tiled"]"#), path: suitePath) } throws: {
            "\($0)".hasPrefix("\(suitePath):8:") && "\($0)".contains("no variant 'nchw_tiled' (has nchw, nhwc, nchw_packed, nhwc_packed)")
        }
        // MLP variant names are not CNN variants.
        #expect { try SuiteLoader.parse(text: suite(variants: #"["fp32"]"#), path: suitePath) } throws: {
            "\($0)".hasPrefix("\(suitePath):8:") && "\($0)".contains("no variant 'fp32'")
        }
    }

    @Test func referenceMustBeListed() {
        #expect { try SuiteLoader.parse(text: suite(variants: #"["nhwc", "nhwc_packed"]"#), path: suitePath) } throws: {
            "\($0)".hasPrefix("\(suitePath):8:") && "\($0)".contains("'nchw' is the reference")
        }
    }
}
