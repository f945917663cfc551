// The runner with kernels defined outside fusebench (UserKernels): the verifier consults the
// instances' output integrity (canaries, unwritten elements), and a definition's provenance
// reaches the run notes as KEY.SUITE/OP.
import BenchModel
import Foundation
import Kernels
import Suite
import Testing
import UserKernels
@testable import Runner

@Suite struct UserKernelRunnerTests {
    /// relu verified against fusebench's: a correct variant, one writing a float past the end of
    /// y (into the canary: n = 5 floats leave 44 bytes of slack), one writing nothing.
    static func factory() throws -> DefinedKernelFactory {
        let ok = KernelVariant("ok") { b in
            let x = b.input(0, as: Float.self), y = b.output(as: Float.self)
            for i in 0..<x.count { y[i] = x[i] < 0 ? 0 : x[i] }
        }
        let overrun = KernelVariant("overrun") { b in
            let x = b.input(0, as: Float.self), y = b.output(as: Float.self)
            for i in 0..<x.count { y[i] = x[i] < 0 ? 0 : x[i] }
            y.baseAddress.map { ($0 + y.count).pointee = 0 }
        }
        let lazy = KernelVariant("lazy") { _ in }
        var def = try KernelDefinition(kind: "my_relu", summary: "test relu", verifiedAgainst: "relu", variants: [ok, overrun, lazy])
        def.provenance = ["plugin.library": "/tmp/libmine.so"]
        return DefinedKernelFactory(def)
    }

    static func spec(variants: [String]) -> OpSpec {
        var settings = MeasurementSettings()
        settings.samples = 2
        settings.batchNs = 50_000
        settings.warmupNs = 1_000_000
        return OpSpec(name: "act", kind: "my_relu", shape: ["n": 5], dtype: "f32", variants: variants, tolerance: nil, settings: settings, line: 1)
    }

    @Test func outOfBoundsAndUnwrittenOutputsFailVerification() throws {
        let f = try Self.factory()
        let op = PlannedOp(suite: "t", suitePath: "/t.toml", spec: Self.spec(variants: f.variants), factory: f,
                           tolerance: f.defaultTolerance(shape: ["n": 5], dtype: "f32"))
        let timer = BatchTimer(counters: nil)
        let calibration = try Calibrator.calibrate(timer: timer, targetBatchNs: 50_000)
        let result = try OpMeasurer(timer: timer, calibration: calibration, quiet: true, spinNs: 0)
            .measure(op: op, index: 0, of: 1, slowdown: nil)
        #expect(result.timed == ["reference", "ok"])
        let checks = Dictionary(uniqueKeysWithValues: result.checks.map { ($0.variant, $0) })
        #expect(checks["ok"]?.passed == true)
        // Its values are right: only the canary tells.
        #expect(checks["overrun"]?.passed == false)
        #expect(checks["overrun"]?.maxAbsError == 0)
        #expect(checks["overrun"]?.reason == "wrote 4 bytes past the end of output 'y'")
        #expect(checks["lazy"]?.passed == false)
        #expect(checks["lazy"]?.reason?.hasPrefix("left 5 of 5 elements of output 'y' unwritten") == true)
    }

    @Test func provenanceBecomesRunNotesPerOp() throws {
        let dir = try LockedStoreRunnerTests().freshDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try Self.factory()
        var config = RunConfig()
        config.quiet = true
        let op = PlannedOp(suite: "t", suitePath: "/t.toml", spec: Self.spec(variants: ["reference"]), factory: f,
                           tolerance: Tolerance(abs: 0, rel: 0))
        let context = try LockedStoreRunnerTests().context(op: op, config: config, dir: dir, notes: LockedRunNotes())
        var extras = FamilyExtras.Output()
        try FamilyExtras(context: context).run(op: op, side: 0, result: OpResult(samples: [], checks: [], interrupted: false),
                                               progress: ProgressLine(quiet: true), into: &extras)
        #expect(extras.runMeta == ["plugin.library.t/act": "/tmp/libmine.so"])
    }
}
