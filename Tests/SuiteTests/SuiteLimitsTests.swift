// Limits on what a suite may ask for: documented numeric ranges, shapes checked against the
// machine's memory before anything is allocated, overflow-safe shape products, bounded file size,
// CRLF line positions and a linear source scan.
import BenchModel
import Foundation
import FuseBench
import Kernels
import Testing
@testable import Suite

private func suite(defaults: String = "", op: String = "") -> String {
    """
    [suite]
    name = "lim"

    [defaults]
    \(defaults)

    [[op]]
    name = "g"
    kind = "gemm"
    shape = { m = 8, n = 8, k = 8 }
    \(op)
    """
}

/// 16 GiB: a machine size the tests fix, so results do not depend on the test machine.
private let sixteenGiB: UInt64 = 16 << 30

private func expectError(_ text: String, memory: UInt64 = sixteenGiB, line: Int, contains fragments: [String],
                         sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        _ = try SuiteLoader.parse(text: text, path: "x.toml", memoryBytes: memory)
        Issue.record("expected a SuiteError containing \(fragments)", sourceLocation: sourceLocation)
    } catch let e as SuiteError {
        #expect(e.line == line, "\(e)", sourceLocation: sourceLocation)
        for f in fragments { #expect(e.message.contains(f), "\(e)", sourceLocation: sourceLocation) }
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct SuiteLimitsTests {
    init() { OpFamilies.registerBuiltIn() }

    @Test func numericSettingsHaveRanges() {
        // [defaults] is line 4, its key line 5.
        expectError(suite(defaults: "samples = 9999999999999"), line: 5, contains: ["'samples' must be between 2 and 100000", "9999999999999"])
        expectError(suite(defaults: "samples = 1"), line: 5, contains: ["between 2 and 100000"])
        expectError(suite(defaults: "batch_ms = 1e300"), line: 5, contains: ["'batch_ms' must be a finite number greater than 0 and at most 60000"])
        expectError(suite(defaults: "batch_ms = 0"), line: 5, contains: ["'batch_ms'"])
        expectError(suite(defaults: "batch_ms = nan"), line: 5, contains: ["'batch_ms'", "nan"])
        expectError(suite(defaults: "warmup_ms = inf"), line: 5, contains: ["'warmup_ms' must be a finite number between 0 and 600000", "inf"])
        expectError(suite(defaults: "warmup_ms = -1"), line: 5, contains: ["'warmup_ms'"])
        expectError(suite(defaults: "warmup_ms = nan"), line: 5, contains: ["'warmup_ms'"])
        expectError(suite(defaults: "threshold = \"500%\""), line: 5, contains: ["'threshold' must be a fraction greater than 0 and at most 1"])
        expectError(suite(defaults: "instructions_threshold = nan"), line: 5, contains: ["'instructions_threshold'"])
        // Per op, on the op's own line (the op header is line 7; shape 10; the extra key 11).
        expectError(suite(op: "samples = -3"), line: 11, contains: ["'samples' must be between 2 and 100000"])
        expectError(suite(op: "tolerance = { abs = inf }"), line: 11, contains: ["finite"])
    }

    @Test func boundsAreAccepted() throws {
        let s = try SuiteLoader.parse(text: suite(defaults: "samples = 100000\nbatch_ms = 60000\nwarmup_ms = 0"), path: "x.toml")
        #expect(s.defaults.samples == 100_000)
        #expect(s.defaults.batchNs == 60_000 * 1e6)
        #expect(s.defaults.warmupNs == 0)
    }

    @Test func shapesAreCheckedAgainstMemory() throws {
        // GEMM 32768³: A, B and C are 4 GiB each, twice (reference and optimized) = 24 GiB.
        let big = """
        [suite]
        name = "big"

        [[op]]
        name = "huge"
        kind = "gemm"
        shape = { m = 32768, n = 32768, k = 32768 }
        """
        expectError(big, line: 7, contains: ["op 'huge': needs about 24.0 GiB", "2 instance(s) × 12.0 GiB", "at most 16.0 GiB of memory"])
        // The same op fits a 32 GiB machine.
        _ = try SuiteLoader.parse(text: big, path: "x.toml", memoryBytes: 32 << 30)
        // One variant needs half.
        expectError(big + "\nvariants = [\"optimized\"]", memory: 8 << 30, line: 7, contains: ["2 instance(s)"])
    }

    @Test func modelInputsAreCheckedAgainstMemory() {
        let model = """
        [suite]
        name = "m"

        [[model]]
        name = "wide"
        input = { rows = 1, cols = 1073741824 }
        [[model.layer]]
        name = "a"
        op = "relu"
        """
        // 2^30 elements: 4 GiB in, 4 GiB out per instance, two instances (unfused and fused).
        expectError(model, memory: 8 << 30, line: 6, contains: ["op 'wide': needs about 16.0 GiB", "8.0 GiB of memory"])
    }

    @Test func layerProductsDoNotOverflow() {
        let model = """
        [suite]
        name = "m"

        [[model]]
        name = "ovf"
        input = { rows = 1073741824, cols = 1 }
        [[model.layer]]
        name = "fc"
        op = "linear"
        out = 4611686018427387904
        """
        expectError(model, line: 7, contains: ["more than"])
    }

    @Test func nonFiniteLayerAttributesAreRefused() {
        let model = """
        [suite]
        name = "m"

        [[model]]
        name = "nf"
        input = { rows = 2, cols = 2 }
        [[model.layer]]
        name = "s"
        op = "scale"
        value = nan
        """
        expectError(model, line: 10, contains: ["'value' must be a finite number"])
    }

    @Test func crlfSuitesReportRealLines() {
        let lf = suite(op: "dtype = \"f64\"")
        let crlf = lf.replacingOccurrences(of: "\n", with: "\r\n")
        #expect(crlf.contains("\r\n"))
        do {
            _ = try SuiteLoader.parse(text: crlf, path: "x.toml")
            Issue.record("expected an error")
        } catch let e as SuiteError {
            #expect(e.line == 11 && e.column == 1, "\(e)")
        } catch {
            Issue.record("\(error)")
        }
        // Inline-table keys keep their column too.
        let loc = SourceLocator(text: "[suite]\r\nname = \"x\"\r\n[[op]]\r\nshape = { m = 1, n = 2 }\r\n")
        #expect(loc.position(of: "op[0].shape.n") == SourceLocator.Position(line: 4, column: 18))
        #expect(loc.position(of: "suite.name") == SourceLocator.Position(line: 2, column: 1))
    }

    @Test func oversizedSuiteFilesAreRefusedWithTheirSize() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-suite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("big.toml").path
        let text = suite() + "\n" + String(repeating: "# padding padding padding\n", count: SuiteLoader.maxFileBytes / 26 + 10)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try SuiteLoader.load(path: path)
            Issue.record("expected the size limit")
        } catch let e as SuiteError {
            #expect(e.file == path)
            #expect(e.message.contains("suite file is \(text.utf8.count) bytes; the limit is 4194304 bytes (4 MiB)"), "\(e)")
        }
        // A FIFO is refused, not waited on.
        let fifo = dir.appendingPathComponent("fifo.toml").path
        #expect(mkfifo(fifo, 0o644) == 0)
        do {
            _ = try SuiteLoader.load(path: fifo)
            Issue.record("expected a refusal")
        } catch let e as SuiteError {
            #expect(e.message.contains("not a regular file (FIFO)"), "\(e)")
        }
    }

    /// One long line full of inline-table keys: the old scan re-copied the line for every key
    /// (quadratic: ~10¹⁰ character copies for this input); the scan is now linear and takes well under a second.
    @Test(.timeLimit(.minutes(1))) func sourceScanIsLinear() {
        let keys = 50_000
        var line = "shape = { "
        line += (0..<keys).map { "k\($0) = 1" }.joined(separator: ", ")
        line += " }"
        let loc = SourceLocator(text: "[[op]]\n" + line + "\n")
        #expect(loc.position(of: "op[0].shape.k0").line == 2)
        #expect(loc.position(of: "op[0].shape.k\(keys - 1)").column > 500_000)
    }
}

extension SuiteLimitsTests {
    /// Attention's reference allocates the seq² score matrix, which its compulsory bytes leave out:
    /// the factory's allocation estimate includes it.
    @Test func attentionCountsItsScoreMatrix() {
        let text = """
        [suite]
        name = "a"

        [[op]]
        name = "att"
        kind = "attention"
        shape = { seq = 32768, head_dim = 1 }
        variants = ["reference"]
        """
        // Q, K, V, O are 512 KiB; the scores 4 GiB.
        expectError(text, memory: 2 << 30, line: 7, contains: ["needs about 4.0 GiB", "1 instance(s)"])
    }
}
