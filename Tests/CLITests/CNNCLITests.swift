// CLI errors for CNN `[[edge]]` entries: an unknown layout variant, and a non-finite weight in
// the model file — both exit 3 with the suite's file:line (and the model's file:line).
import Foundation
import Testing

@Suite struct CNNEdgeCLITests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func suite(model: String, variants: String) -> String {
        """
        [suite]
        name = "c"
        [[edge]]
        name = "digits_cnn"
        model = "\(model)"
        data = "\(Self.root.path)/data/digits/digits.csv"
        variants = \(variants)
        """
    }

    @Test func unknownVariantExitsThreeWithLocation() throws {
        let dir = try CLI.tempDir()
        let path = dir.appendingPathComponent("cnn.toml")
        try suite(model: "\(Self.root.path)/data/digits/cnn.json", variants: #"["nchw", "nhwc_blocked"]"#)
            .write(to: path, atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", path.path, "--db", dir.appendingPathComponent("x.sqlite").path, "--quiet"])
        #expect(r.status == 3)
        #expect(r.stderr.hasPrefix("error: \(path.path):7:"), "\(r.stderr)")
        #expect(r.stderr.contains("no variant 'nhwc_blocked'"))
    }

    @Test func nanWeightExitsThreeNamingModelLine() throws {
        let dir = try CLI.tempDir()
        var lines = try String(contentsOfFile: Self.root.path + "/data/digits/cnn.json", encoding: .utf8).components(separatedBy: "\n")
        lines[4] = "[[[NaN" + lines[4].drop(while: { $0 != "," })  // line 5: conv1, output channel 2
        let model = dir.appendingPathComponent("cnn.json")
        try lines.joined(separator: "\n").write(to: model, atomically: true, encoding: .utf8)
        let path = dir.appendingPathComponent("cnn.toml")
        try suite(model: model.path, variants: #"["nchw"]"#).write(to: path, atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", path.path, "--db", dir.appendingPathComponent("x.sqlite").path, "--quiet"])
        #expect(r.status == 3)
        #expect(r.stderr.hasPrefix("error: \(path.path):5:"), "\(r.stderr)")
        #expect(r.stderr.contains("\(model.path):5: layers[0] (conv1): weight[2][0][0][0] is not finite (nan)"), "\(r.stderr)")
        #expect(!r.stderr.contains("Fatal error"))
    }
}
