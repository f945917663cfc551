import BenchModel
import Foundation
import Testing
@testable import Counters

func fixture(_ name: String) throws -> String {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
    return try String(contentsOf: url, encoding: .utf8)
}

@Suite struct CallgrindOutputTests {
    /// Real output of callgrind 3.19 (`--cache-sim=yes --branch-sim=yes`, collection toggled
    /// around a 10 × 4096-float summation loop).
    @Test func parsesTotalsWithOmittedTrailingZeros() throws {
        let out = try CallgrindOutput(text: try fixture("callgrind.out.elementwise"))
        #expect(out.totals["Ir"] == 245_794)
        #expect(out.totals["Dr"] == 40_960)
        #expect(out.totals["D1mr"] == 256)
        #expect(out.totals["DLmr"] == 256)
        #expect(out.totals["Bc"] == 40_970)
        #expect(out.totals["Bcm"] == 33)
        // `totals:` has 11 numbers for 13 events: the last two (Bi, Bim) are zero.
        #expect(out.totals["Bi"] == 0 && out.totals["Bim"] == 0)
        #expect(out.caches.count == 3)
        #expect(out.caches[1] == "D1 cache: 49152 B, 64 B, 12-way associative")
    }

    @Test func mapsToHardwareEventNames() throws {
        let values = try CallgrindOutput(text: try fixture("callgrind.out.elementwise")).counterValues()
        func v(_ e: String) -> Double? { values.first { $0.event == e }?.value }
        #expect(v("instructions") == 245_794)
        #expect(v("L1-dcache-load-misses") == 256)
        #expect(v("cache-misses") == 257)   // ILmr 1 + DLmr 256 + DLmw 0
        #expect(v("branches") == 40_970)
        #expect(v("branch-misses") == 33)
        #expect(v("callgrind::Ir") == 245_794)
        #expect(values.allSatisfy { $0.backend == .sim && !$0.multiplexed })
    }

    @Test func summaryOnlyOlderFormat() throws {
        let out = try CallgrindOutput(text: try fixture("callgrind.out.summary-only"))
        #expect(out.totals == ["Ir": 1_234_567])
        let names = out.counterValues().map(\.event)
        #expect(names == ["instructions", "callgrind::Ir"])
    }

    @Test func malformedInputIsAnError() {
        #expect(throws: CallgrindOutput.ParseError.self) { try CallgrindOutput(text: "hello\n") }
        #expect(throws: CallgrindOutput.ParseError.self) { try CallgrindOutput(text: "events: Ir Dr\n") }
        #expect(throws: CallgrindOutput.ParseError.self) { try CallgrindOutput(text: "events: Ir\ntotals: 12x\n") }
        #expect(throws: CallgrindOutput.ParseError.self) { try CallgrindOutput(text: "events: Ir\ntotals: 1 2 3\n") }
    }

    @Test func commandLineTogglesCollection() {
        let cg = Callgrind(valgrind: "/usr/bin/valgrind", executable: "/x/fusebench.valgrind")
        let cmd = cg.command(outputFile: "/tmp/o")
        #expect(cmd.contains("--instr-atstart=no") && cmd.contains("--collect-atstart=no"))
        #expect(cmd.contains("--cache-sim=yes") && cmd.contains("--branch-sim=yes"))
        #expect(cmd.last == "/x/fusebench.valgrind")
    }

    @Test func missingValgrindIsReported() {
        #expect(throws: Callgrind.Unavailable.self) { try Callgrind.prepare(executable: "/bin/true", environment: ["PATH": "/nonexistent"]) }
    }
}

struct TemporaryDirectoryCheckTests {
    /// An unusable TMPDIR is reported by name before anything runs (it used to surface as a raw
    /// NSCocoaErrorDomain error from the callgrind pass).
    @Test func unusableTemporaryDirectoryIsNamed() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-tmpcheck-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: base) }
        let file = base.appendingPathComponent("file").path
        #expect(FileManager.default.createFile(atPath: file, contents: Data()))
        for bad in [base.appendingPathComponent("missing").path, file] {
            #expect {
                try Callgrind.usableTemporaryDirectory(environment: ["TMPDIR": bad])
            } throws: { error in
                "\(error)".contains("TMPDIR \(bad) is not usable")
            }
        }
        #expect(try Callgrind.usableTemporaryDirectory(environment: ["TMPDIR": base.path]) == base.path)
        #expect(try Callgrind.usableTemporaryDirectory(environment: [:]) == "/tmp")
    }
}
